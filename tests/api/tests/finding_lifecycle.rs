//! A finding's lifecycle through the simulator and the real sync engine: resolved in SentinelOne → `resolved`;
//! deleted → `closed` after the next complete walk of all threats, and not before; back again → `reopened`;
//! the failed/passed status follows the verdict list throughout; an untrusted complete walk closes nothing.

use api_tests::{parts, Bench, Event, PREFIX};
use connector_store::{FindingFilter, RunStatus, SyncRun, TenantId, Trigger};
use lambda_http::http::StatusCode;
use s1_core::lifecycle::FindingState;
use s1_core::{Finding, FindingStatus};
use s1_simulator::{ListEndpoint, Simulator, TenantSpec};
use serde_json::json;

async fn configure(bench: &Bench, tenant: &str, sim: &s1_simulator::SimHandle) {
    let save = json!({ "consoleUrl": sim.base_url(), "apiToken": sim.token() });
    let (status, saved, _) = parts(
        save_config::handle(
            &bench.save_config(),
            Event::new(
                "PUT",
                format!("{PREFIX}/config"),
                format!("{PREFIX}/config"),
            )
            .tenant(tenant)
            .json(&save)
            .request(),
        )
        .await
        .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK, "{saved}");
}

async fn sync(bench: &Bench, tenant: &str) -> SyncRun {
    let run = SyncRun::new(TenantId::new(tenant).unwrap(), Trigger::OnDemand);
    bench.store.create_run(&run).await.expect("run");
    let run = bench.run_to_end(tenant, &run.id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    run
}

async fn findings_in(bench: &Bench, tenant: &str, state: Option<FindingState>) -> Vec<Finding> {
    let t = TenantId::new(tenant).unwrap();
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = bench
            .store
            .list_findings_in_state(&t, &FindingFilter::default(), state, token.as_deref(), 200)
            .await
            .expect("findings");
        out.extend(page.items);
        match page.next_page_token {
            Some(n) => token = Some(n),
            None => return out,
        }
    }
}

async fn finding(bench: &Bench, tenant: &str, threat: &str) -> Finding {
    findings_in(bench, tenant, None)
        .await
        .into_iter()
        .find(|f| f.threat_id == threat)
        .unwrap_or_else(|| panic!("no finding for threat {threat}"))
}

fn state(f: &Finding) -> FindingState {
    f.lifecycle.as_ref().expect("a lifecycle").state
}

#[tokio::test]
async fn resolve_delete_and_return_move_a_finding_through_its_states() {
    let sim = Simulator::new(TenantSpec::small().with_agents(6).with_threats(20))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;
    let tenant = "lifecycle";
    configure(&bench, tenant, &sim).await;
    // One threat that is unresolved and called a true positive: failed under the default list.
    for t in sim.threats_snapshot() {
        let id = t["id"].as_str().unwrap();
        sim.set_threat_incident_status(id, "unresolved");
        sim.set_threat_verdict(id, "true_positive");
    }
    let record = sim.threats_snapshot()[3].clone();
    let threat = record["id"].as_str().unwrap().to_string();

    let first = sync(&bench, tenant).await;
    assert_eq!(first.counters.findings_closed, 0);
    let all = findings_in(&bench, tenant, None).await;
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|f| state(f) == FindingState::Open));
    let f = finding(&bench, tenant, &threat).await;
    assert_eq!(f.status, FindingStatus::Failed);

    // Resolved in SentinelOne: `resolved`, still failed (the verdict decides that).
    assert!(sim.set_threat_incident_status(&threat, "resolved"));
    let run = sync(&bench, tenant).await;
    assert_eq!(run.counters.findings_resolved, 1, "{:?}", run.counters);
    let f = finding(&bench, tenant, &threat).await;
    assert_eq!(
        (state(&f), f.status),
        (FindingState::Resolved, FindingStatus::Failed)
    );
    assert!(f.lifecycle.as_ref().unwrap().resolved_at.is_some());

    // The analyst calls it a false positive: passed, still resolved.
    assert!(sim.set_threat_verdict(&threat, "false_positive"));
    sync(&bench, tenant).await;
    let f = finding(&bench, tenant, &threat).await;
    assert_eq!(
        (state(&f), f.status),
        (FindingState::Resolved, FindingStatus::Passed)
    );

    // Deleted in the console: the next run walks only changed threats and closes nothing.
    assert!(sim.delete_threat(&threat));
    let run = sync(&bench, tenant).await;
    assert_eq!(run.counters.findings_closed, 0);
    assert_eq!(
        state(&finding(&bench, tenant, &threat).await),
        FindingState::Resolved
    );

    // The complete walk (due every run from now on) closes it, and only it.
    bench
        .store
        .set_full_threat_walk_every(&TenantId::new(tenant).unwrap(), 0)
        .await
        .unwrap();
    let run = sync(&bench, tenant).await;
    assert_eq!(run.counters.findings_closed, 1, "{:?}", run);
    let f = finding(&bench, tenant, &threat).await;
    assert_eq!(
        (state(&f), f.status),
        (FindingState::Closed, FindingStatus::Passed)
    );
    assert!(f.lifecycle.as_ref().unwrap().closed_at.is_some());
    let closed = findings_in(&bench, tenant, Some(FindingState::Closed)).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].threat_id, threat);
    assert_eq!(
        findings_in(&bench, tenant, Some(FindingState::Open))
            .await
            .len(),
        19
    );
    let again = sync(&bench, tenant).await;
    assert_eq!(
        again.counters.findings_closed, 0,
        "a closed finding is not closed twice"
    );

    // Back in the console, unresolved and a true positive again: reopened and failed.
    let mut back = record.clone();
    back["threatInfo"]["incidentStatus"] = json!("unresolved");
    back["threatInfo"]["analystVerdict"] = json!("true_positive");
    assert!(sim.restore_threat(back));
    let run = sync(&bench, tenant).await;
    assert_eq!(run.counters.findings_reopened, 1, "{:?}", run.counters);
    let f = finding(&bench, tenant, &threat).await;
    assert_eq!(
        (state(&f), f.status),
        (FindingState::Reopened, FindingStatus::Failed)
    );
    let l = f.lifecycle.unwrap();
    let history: Vec<FindingState> = l.history.iter().map(|h| h.state).collect();
    assert_eq!(
        history,
        [
            FindingState::Open,
            FindingState::Resolved,
            FindingState::Closed,
            FindingState::Reopened
        ]
    );
    assert!(l.resolved_at.is_some() && l.closed_at.is_some());
    assert_eq!(
        findings_in(&bench, tenant, Some(FindingState::Reopened))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_complete_walk_that_cannot_be_trusted_closes_nothing_and_says_why() {
    let sim = Simulator::new(TenantSpec::small().with_agents(6).with_threats(30))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;
    let tenant = "untrusted";
    configure(&bench, tenant, &sim).await;
    sync(&bench, tenant).await;
    bench
        .store
        .set_full_threat_walk_every(&TenantId::new(tenant).unwrap(), 0)
        .await
        .unwrap();
    let threat = sim.threats_snapshot()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(sim.delete_threat(&threat));
    // The console claims more threats than it serves: the walk is short of its own count.
    sim.set_total_items_offset(ListEndpoint::Threats, 10);
    let run = sync(&bench, tenant).await;
    assert_eq!(run.counters.findings_closed, 0);
    assert_eq!(run.counters.findings_close_withheld, 1);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("no finding was closed") && w.contains("39")),
        "{:?}",
        run.warnings
    );
    assert_ne!(
        state(&finding(&bench, tenant, &threat).await),
        FindingState::Closed
    );

    // Told the truth again, the next complete walk closes it; 1 of 30 is within the share one run may close.
    sim.set_total_items_offset(ListEndpoint::Threats, 0);
    let run = sync(&bench, tenant).await;
    assert_eq!(run.counters.findings_closed, 1, "{run:?}");
}
