//! Tenant isolation across queue messages, on-demand concurrency, and data safety: crashes between writes
//! followed by a resume, emptied or failing consoles, partial passes. Runs against moto and the simulator.

// The sync-engine's own end-to-end harness: one wiring of simulator + local stack + worker for every suite.
use test_support::sync as support;

use connector_store::{RunStatus, Trigger};
use s1_simulator::TenantSpec;
use support::Harness;
use sync_engine::{start_sync, Budget, Outcome, StartError, SyncMessage};

fn spec() -> TenantSpec {
    TenantSpec::small()
        .with_seed(11)
        .with_agents(350)
        .with_threats(120)
}

async fn table_items(h: &Harness) -> usize {
    test_support::scan_table(h.store.dynamodb(), h.store.table_name())
        .await
        .len()
}

async fn queue_depth(h: &Harness) -> Vec<String> {
    let out = h
        .stack
        .sqs
        .receive_message()
        .queue_url(h.queue.url())
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .expect("receive");
    out.messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.body.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn forged_and_cross_tenant_messages_do_nothing() {
    let h = Harness::new(TenantSpec::small().with_seed(3)).await;
    let before = table_items(&h).await;

    // A message for a tenant that has no configuration: ignored, nothing written.
    let forged = SyncMessage::first("tenant-never-configured", "run-forged");
    let out = h
        .worker
        .engine
        .run(&forged, Budget::unlimited(), "w1")
        .await
        .expect("no infra error");
    assert!(
        matches!(out, Outcome::Ignored("tenant not configured")),
        "{out:?}"
    );
    assert_eq!(
        table_items(&h).await,
        before,
        "a forged message wrote to the table"
    );

    // Tenant B is configured on the same table with a run of its own; a message naming A with B's run id must
    // neither run B's sync nor write anything under B.
    let b = connector_store::TenantId::new("tenant-b").expect("id");
    connector_store::save_configuration(
        &h.store,
        &h.vault,
        &b,
        connector_store::TenantConfig::new(h.sim.base_url()),
        Some(&s1_core::ApiToken::new(h.sim.token()).expect("token")),
    )
    .await
    .expect("B saved");
    let b_run = start_sync(&h.store, &h.queue, &b, Trigger::OnDemand)
        .await
        .expect("B's run");
    let before = table_items(&h).await;
    let crossed = SyncMessage::first(h.tenant.as_str(), &b_run.id);
    let out = h
        .worker
        .engine
        .run(&crossed, Budget::unlimited(), "w2")
        .await
        .expect("no infra error");
    assert!(matches!(out, Outcome::Ignored("unknown run")), "{out:?}");
    assert_eq!(
        table_items(&h).await,
        before,
        "a cross-tenant message wrote to the table"
    );
    let b_after = h
        .store
        .get_run(&b, &b_run.id)
        .await
        .expect("read")
        .expect("B's run exists");
    assert_eq!(
        b_after.status, b_run.status,
        "B's run changed through A's message"
    );
    assert!(h
        .store
        .list_assets(&b, &Default::default(), None, 10)
        .await
        .expect("list")
        .items
        .is_empty());
}

#[tokio::test]
async fn fifty_concurrent_sync_requests_start_exactly_one_run() {
    let h = Harness::new(TenantSpec::small().with_seed(4)).await;
    let results = futures::future::join_all(
        (0..50).map(|_| start_sync(&h.store, &h.queue, &h.tenant, Trigger::OnDemand)),
    )
    .await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{} runs started", winners.len());
    let winner = &winners[0].id;
    for r in &results {
        match r {
            Ok(_) => {}
            Err(StartError::AlreadyRunning { run_id }) => assert_eq!(run_id, winner),
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    let queued = queue_depth(&h).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert!(queued[0].contains(winner.as_str()));
}

#[tokio::test]
async fn an_emptied_or_failing_console_never_retires_everything() {
    let h = Harness::new(spec()).await;
    assert_eq!(h.sync().await.run.status, RunStatus::Succeeded);
    let before = h.fingerprint().await;
    let active_before = before.0.values().filter(|(_, a)| *a).count();
    assert!(active_before > 0);

    // A console failing half-way through the agent walk: the run fails, nothing is retired, no finding changes.
    h.sim.faults().server_error_burst(3, 10_000, 500);
    let failed = h.sync().await;
    assert_ne!(failed.run.status, RunStatus::Succeeded);
    assert_eq!(
        h.fingerprint().await,
        before,
        "a failed pass changed stored data"
    );
    h.sim.faults().clear();

    // A console whose agent walk breaks after the first page with invalid JSON: also no finalize.
    h.sim.faults().invalid_json_every(2);
    let partial = h.sync().await;
    h.sim.faults().clear();
    if partial.run.status != RunStatus::Succeeded {
        assert_eq!(
            h.fingerprint().await,
            before,
            "a partial pass changed stored data"
        );
    }

    // Even a complete walk of an emptied console retires nothing: a walk that returns no agent while assets are
    // active cannot be told from a console that lost its data or a token that lost its scope. The run says why.
    for a in h.sim.agents_snapshot() {
        let id = a["id"].as_str().expect("agent id").to_string();
        assert!(h.sim.remove_agent(&id));
    }
    let emptied = h.sync().await.run;
    assert_eq!(emptied.status, RunStatus::Succeeded);
    let after = h.fingerprint().await;
    assert_eq!(
        after.0.values().filter(|(_, a)| *a).count(),
        active_before,
        "an empty walk retires nothing"
    );
    assert_eq!(emptied.counters.assets_retired, 0);
    assert_eq!(
        emptied.counters.assets_retirement_withheld,
        active_before as u64
    );
    assert!(
        emptied.warnings.iter().any(|w| w.contains("no agent")),
        "{:?}",
        emptied.warnings
    );
}
