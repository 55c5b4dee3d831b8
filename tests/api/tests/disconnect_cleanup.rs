//! Disconnect removes the tenant's sync state with its configuration: the threats watermark (so a reconnected
//! tenant's next sync walks every threat again), the checkpoint and lease (a worker still running stops at its next
//! heartbeat), and a pending or running run, which ends failed with the reason and frees the run slot.

use std::time::Duration;

use api_tests::{parts, sample_request, Bench, Event, PREFIX};
use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{Checkpoint, RunStatus, StoreError, SyncRun, SyncState, TenantId, Trigger};
use lambda_http::http::StatusCode;
use s1_simulator::{SimHandle, Simulator, TenantSpec};
use sentinelone_client::ClientOptions;
use serde_json::{json, Value};
use sync_engine::on_demand::RUN_SLOT_STALE_AFTER;
use sync_engine::{Budget, Outcome, SyncEngine, SyncMessage};

const REASON: &str = "the SentinelOne connection was removed (disconnected) during the run";

async fn save(bench: &Bench, tenant: &str, sim: &SimHandle) {
    let body = json!({ "consoleUrl": sim.base_url(), "apiToken": sim.token() });
    let request = Event::new(
        "PUT",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(tenant)
    .json(&body)
    .request();
    let (status, v, _) = parts(
        save_config::handle(&bench.save_config(), request)
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK, "{v}");
}

async fn disconnect(bench: &Bench, tenant: &str) {
    let request = sample_request("disconnect", "disconnect.json", tenant, None);
    let (status, v, _) = parts(
        disconnect::handle(&bench.disconnect(), request)
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
}

/// Records a pending run holding the tenant's run slot, as `sync_engine::start_sync` does (without the queue).
async fn start_run(bench: &Bench, tenant: &TenantId) -> SyncRun {
    let run = SyncRun::new(tenant.clone(), Trigger::OnDemand);
    bench
        .store
        .claim_run_slot(tenant, &run.id, RUN_SLOT_STALE_AFTER)
        .await
        .expect("slot free");
    bench.store.create_run(&run).await.expect("run recorded");
    run
}

/// Runs one sync of `tenant` to its end through the real engine (each continuation invoked at once).
async fn sync(bench: &Bench, tenant: &TenantId) -> SyncRun {
    let engine = SyncEngine {
        store: bench.store.clone(),
        vault: bench.vault.clone(),
        url_policy: test_support::dev_loopback_policy(),
        client_options: ClientOptions {
            requests_per_second: 1000.0,
            page_limit: 25,
            ..ClientOptions::default()
        },
        max_retire_percent: sync_engine::DEFAULT_MAX_RETIRE_PERCENT,
    };
    let run = start_run(bench, tenant).await;
    let mut message = SyncMessage::first(tenant.as_str(), &run.id);
    for _ in 0..100 {
        match engine
            .run(&message, Budget::unlimited(), "api-test-worker")
            .await
            .expect("sync invocation")
        {
            Outcome::Finished(run) => return *run,
            Outcome::Continue(next) => message = next,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    panic!("the sync did not finish")
}

/// The tenant's raw `SYNC` item, if any.
async fn sync_item(
    bench: &Bench,
    tenant: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    bench
        .store
        .dynamodb()
        .get_item()
        .table_name(bench.store.table_name())
        .key("pk", AttributeValue::S(format!("T#{tenant}")))
        .key("sk", AttributeValue::S("SYNC".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
}

/// Threats the run walked (each ends created, updated or unchanged).
fn threats_walked(run: &SyncRun) -> u64 {
    let f = run.counters.findings;
    f.created + f.updated + f.unchanged
}

#[tokio::test]
async fn after_disconnect_a_reconnected_tenant_walks_every_threat_again() {
    let sim = Simulator::new(TenantSpec::small().with_agents(30).with_threats(60))
        .start()
        .await
        .expect("simulator");
    let threats = sim.threats_snapshot().len() as u64;
    let bench = Bench::new().await;
    let name = "reconnect";
    let tenant = TenantId::new(name).expect("tenant");

    save(&bench, name, &sim).await;
    let first = sync(&bench, &tenant).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.message);
    assert_eq!(threats_walked(&first), threats);
    assert!(
        bench
            .store
            .load_sync_state(&tenant)
            .await
            .expect("state")
            .watermark
            .is_some(),
        "a completed sync leaves a watermark"
    );
    // Control: while connected, the next sync is incremental: the watermark skips the threats already walked (all
    // but the few inside the engine's overlap window).
    let incremental = sync(&bench, &tenant).await;
    assert_eq!(incremental.status, RunStatus::Succeeded);
    assert!(
        threats_walked(&incremental) < threats / 2,
        "the watermark skips known threats: {} of {threats} walked",
        threats_walked(&incremental)
    );

    disconnect(&bench, name).await;
    assert!(
        sync_item(&bench, name).await.is_none(),
        "the sync-state item is gone"
    );
    assert_eq!(
        bench.store.load_sync_state(&tenant).await.expect("state"),
        SyncState::default()
    );
    assert_eq!(
        bench.store.run_slot_holder(&tenant).await.expect("slot"),
        None
    );
    // The finished runs of the history are left as they were.
    let kept = bench
        .store
        .get_run(&tenant, &first.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(kept.status, RunStatus::Succeeded);

    save(&bench, name, &sim).await;
    let after = sync(&bench, &tenant).await;
    assert_eq!(after.status, RunStatus::Succeeded, "{:?}", after.message);
    assert_eq!(
        threats_walked(&after),
        threats,
        "every threat is walked again: the old watermark is gone"
    );
    // The imported findings were kept through the disconnect, so the walk finds them unchanged.
    assert_eq!(after.counters.findings.created, 0);
}

#[tokio::test]
async fn disconnect_fails_a_pending_run_and_frees_its_slot() {
    let sim = Simulator::new(TenantSpec::small().with_agents(5).with_threats(5))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;
    let name = "pending";
    let tenant = TenantId::new(name).expect("tenant");
    save(&bench, name, &sim).await;
    let run = start_run(&bench, &tenant).await;

    disconnect(&bench, name).await;
    let ended = bench
        .store
        .get_run(&tenant, &run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(ended.status, RunStatus::Failed);
    assert_eq!(ended.message.as_deref(), Some(REASON));
    assert!(ended.finished_at.is_some());
    assert_eq!(
        bench.store.run_slot_holder(&tenant).await.expect("slot"),
        None
    );
    assert!(sync_item(&bench, name).await.is_none());

    // The history shows why, through the read API.
    let request = Event::new(
        "GET",
        format!("{PREFIX}/sync-runs/{}", run.id),
        format!("{PREFIX}/sync-runs/{{id}}"),
    )
    .tenant(name)
    .path_param("id", &run.id)
    .request();
    let (status, view, _) = parts(
        read_api::handle(&bench.read_api(), request)
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "failed");
    assert_eq!(view["message"], REASON);
}

#[tokio::test]
async fn disconnect_during_a_running_sync_fails_it_clears_its_state_and_a_new_sync_can_start() {
    let sim = Simulator::new(TenantSpec::small().with_agents(5).with_threats(5))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;
    let name = "running";
    let tenant = TenantId::new(name).expect("tenant");
    save(&bench, name, &sim).await;

    // A run in the middle of its threat walk: marked running, a worker holding the lease with a checkpoint, and
    // the watermark of an earlier sync.
    let mut run = start_run(&bench, &tenant).await;
    run.mark_running();
    run.phase = Some("threats".into());
    bench.store.update_run(&run).await.expect("running");
    let ttl = Duration::from_secs(300);
    let lease = bench
        .store
        .try_acquire_lease(&tenant, "worker-1", ttl)
        .await
        .expect("lease")
        .expect("free");
    bench
        .store
        .complete_sync(&tenant, &lease, Some("2026-01-01T00:00:00.000000Z"))
        .await
        .expect("earlier watermark");
    let checkpoint = Checkpoint {
        run_id: run.id.clone(),
        phase: "threats".into(),
        cursor: Some("cursor-3".into()),
        page_no: 3,
        counters: Default::default(),
        group_ids: Vec::new(),
        threats_since: Some("2026-01-01T00:00:00.000000Z".into()),
        threats_high_water: None,
        scope: None,
        agent_walk: Default::default(),
        verdicts: None,
        reevaluating_version: None,
        threat_walk: Default::default(),
        vulnerabilities: Default::default(),
    };
    let lease = bench
        .store
        .heartbeat(&tenant, &lease, ttl, Some(&checkpoint))
        .await
        .expect("checkpoint");
    let state = bench.store.load_sync_state(&tenant).await.expect("state");
    assert!(state.watermark.is_some() && state.checkpoint.is_some());

    disconnect(&bench, name).await;

    let ended = bench
        .store
        .get_run(&tenant, &run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(ended.status, RunStatus::Failed);
    assert_eq!(ended.message.as_deref(), Some(REASON));
    assert!(
        ended.errors.iter().any(|e| e == REASON),
        "{:?}",
        ended.errors
    );
    assert!(ended.finished_at.is_some());
    assert_eq!(
        ended.started_at, run.started_at,
        "the rest of the record is kept"
    );
    // Sync state gone: no watermark, no checkpoint, no lease.
    assert!(sync_item(&bench, name).await.is_none());
    assert_eq!(
        bench.store.load_sync_state(&tenant).await.expect("state"),
        SyncState::default()
    );
    // The worker that held the lease is stopped at its next heartbeat and cannot complete the sync.
    assert!(matches!(
        bench
            .store
            .heartbeat(&tenant, &lease, ttl, Some(&checkpoint))
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        bench
            .store
            .complete_sync(&tenant, &lease, Some("2026-02-01T00:00:00.000000Z"))
            .await,
        Err(StoreError::LeaseLost)
    ));
    // The slot is free: once reconnected, a new sync starts and runs to the end.
    assert_eq!(
        bench.store.run_slot_holder(&tenant).await.expect("slot"),
        None
    );
    save(&bench, name, &sim).await;
    let next = sync(&bench, &tenant).await;
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.message);
    assert_eq!(threats_walked(&next), sim.threats_snapshot().len() as u64);
    let listed: Value = {
        let request = Event::new(
            "GET",
            format!("{PREFIX}/sync-runs"),
            format!("{PREFIX}/sync-runs"),
        )
        .tenant(name)
        .request();
        parts(
            read_api::handle(&bench.read_api(), request)
                .await
                .expect("handler"),
        )
        .1
    };
    let statuses: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, ["succeeded", "failed"], "newest first: {listed}");
}
