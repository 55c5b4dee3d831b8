//! A stored token is only ever sent to the console it was saved for: when the secret holds a token saved for another
//! console than the configured one, the connection test answers 422 saying to save again with this console's token,
//! and a sync fails with the same reason instead of sending the token.

use api_tests::{parts, Bench, Event, PREFIX};
use connector_store::{RunStatus, SyncRun, TenantId, Trigger};
use lambda_http::http::StatusCode;
use s1_core::ApiToken;
use s1_simulator::{Simulator, TenantSpec};
use serde_json::json;

#[tokio::test]
async fn a_token_saved_for_another_console_is_refused_by_the_test_and_the_sync() {
    let sim = Simulator::new(TenantSpec::small().with_agents(3).with_threats(2))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;
    let tenant = "bound-token";
    let save = json!({ "consoleUrl": sim.base_url(), "apiToken": sim.token() });
    let (status, body, _) = parts(
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
    assert_eq!(status, StatusCode::OK, "{body}");
    // The secret now holds a token saved for another console (as a half-undone save could leave it).
    let id = TenantId::new(tenant).expect("tenant");
    bench
        .vault
        .put_token(
            &id,
            "https://other.sentinelone.net",
            &ApiToken::new(sim.token()).expect("token"),
        )
        .await
        .expect("secret written");

    let test = Event::new(
        "POST",
        format!("{PREFIX}/test-connection"),
        format!("{PREFIX}/test-connection"),
    )
    .tenant(tenant)
    .json(&json!({}));
    let (status, problem, _) = parts(
        test_connection::handle(&bench.test_connection(), test.request())
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "urn:s1-connector:problem:unprocessable");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("another console")),
        "{problem}"
    );

    let run = SyncRun::new(id.clone(), Trigger::OnDemand);
    bench.store.create_run(&run).await.expect("run");
    let run = bench.run_to_end(tenant, &run.id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.errors.iter().any(|e| e.contains("another console")),
        "{:?}",
        run.errors
    );
}
