//! Every run reads the API token's expiry: within 14 days the run carries a warning and the sync state keeps the
//! date for the configuration view; an expired token fails the run with a message that says to generate a new one.

use api_tests::{parts, Bench, Event, PREFIX};
use connector_store::{RunStatus, SyncRun, TenantId, Trigger};
use lambda_http::http::StatusCode;
use s1_simulator::{Permissions, Simulator, TenantSpec};
use serde_json::json;
use time::{Duration, OffsetDateTime};

async fn save(bench: &Bench, tenant: &str, url: &str, token: &str) {
    let body = json!({ "consoleUrl": url, "apiToken": token, "skipConnectionTest": true });
    let (status, saved, _) = parts(
        save_config::handle(
            &bench.save_config(),
            Event::new(
                "PUT",
                format!("{PREFIX}/config"),
                format!("{PREFIX}/config"),
            )
            .tenant(tenant)
            .json(&body)
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
    bench.run_to_end(tenant, &run.id).await
}

#[tokio::test]
async fn a_token_near_its_expiry_warns_and_an_expired_one_fails_the_run() {
    let sim = Simulator::new(TenantSpec::small().with_agents(3).with_threats(3))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;

    // Five days left: the run succeeds with a warning naming the date, and the date is kept.
    let soon = OffsetDateTime::now_utc() + Duration::days(5);
    sim.add_token("soon-token-0123456789abcdef", Permissions::all(), soon);
    save(
        &bench,
        "soon",
        &sim.base_url(),
        "soon-token-0123456789abcdef",
    )
    .await;
    let run = sync(&bench, "soon").await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("expires on") && w.contains(&soon.date().to_string())),
        "{:?}",
        run.warnings
    );
    let state = bench
        .store
        .load_sync_state(&TenantId::new("soon").unwrap())
        .await
        .unwrap();
    assert!(state
        .token_expires_at
        .is_some_and(|t| t.starts_with(&soon.date().to_string())));

    // A year left: no warning.
    sim.add_token(
        "fine-token-0123456789abcdef",
        Permissions::all(),
        OffsetDateTime::now_utc() + Duration::days(365),
    );
    save(
        &bench,
        "fine",
        &sim.base_url(),
        "fine-token-0123456789abcdef",
    )
    .await;
    let run = sync(&bench, "fine").await;
    assert!(
        run.warnings.iter().all(|w| !w.contains("token")),
        "{:?}",
        run.warnings
    );

    // Expired: the run fails and says to generate a new token.
    sim.add_token(
        "old-token-0123456789abcdef",
        Permissions::all(),
        OffsetDateTime::now_utc() - Duration::days(1),
    );
    save(&bench, "old", &sim.base_url(), "old-token-0123456789abcdef").await;
    let run = sync(&bench, "old").await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let message = run.message.unwrap_or_default();
    assert!(
        message.contains("new") && message.contains("token"),
        "{message}"
    );
}
