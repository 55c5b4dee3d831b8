//! `PUT …/config` through the handler, with the repo's sample event, against the simulator as the console and a
//! fresh table, queue and secret prefix on the local AWS stack. Needs the local stack
//! (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).

use save_config::{handle, Deps};
use serde_json::{json, Value};
use sync_engine::SyncQueue;
use test_support::api::{parts, problem_type, request, ConfigBench};

const EVENT: &str = include_str!("../events/save-config.json");
const WRONG_TOKEN: &str = "eyJ0aGlzLWlzLW5vdC10aGUtdG9rZW4tMDAwMQ";

async fn deps(b: &ConfigBench) -> Deps {
    Deps {
        config: b.service.clone(),
        queue: SyncQueue::new(
            b.stack.sqs.clone(),
            b.stack.fresh_queue().await.expect("queue"),
        ),
        edge: http_api::Edge::new("tenant_id"),
    }
}

fn with_body(body: Value) -> impl FnOnce(&mut Value) {
    move |event| event["body"] = body.to_string().into()
}

#[tokio::test]
async fn a_first_save_tests_the_connection_stores_the_token_and_answers_without_it() {
    let b = ConfigBench::new().await;
    let body =
        json!({ "consoleUrl": b.sim.base_url(), "apiToken": b.sim.token(), "autoSyncDays": 1 });
    let response = handle(
        &deps(&b).await,
        request(EVENT, Some("tenant-a"), with_body(body)),
    )
    .await
    .expect("response");
    let (status, text, saved) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(saved["config"]["tokenSet"], true, "{saved}");
    assert_eq!(saved["config"]["autoSyncDays"], 1);
    assert_eq!(saved["connectionTest"]["passed"], true);
    assert!(
        !text.contains(&b.sim.token()),
        "the token is in the response"
    );
    assert_eq!(
        b.stored_token("tenant-a").await.as_deref(),
        Some(b.sim.token().as_str())
    );
    assert!(
        b.stored_config("tenant-b").await.is_none(),
        "another tenant got a configuration"
    );
}

#[tokio::test]
async fn a_failed_connection_test_is_422_with_the_report_and_saves_nothing() {
    let b = ConfigBench::new().await;
    let body = json!({ "consoleUrl": b.sim.base_url(), "apiToken": WRONG_TOKEN });
    let response = handle(
        &deps(&b).await,
        request(EVENT, Some("tenant-a"), with_body(body)),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 422);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:connection-test-failed"
    );
    let (_, text, problem) = parts(response);
    assert!(problem["connectionTest"]["checks"].is_array(), "{problem}");
    assert!(!text.contains(WRONG_TOKEN), "the token is in the response");
    assert!(b.stored_config("tenant-a").await.is_none());
    assert!(b.stored_token("tenant-a").await.is_none());
}

#[tokio::test]
async fn a_first_save_without_url_and_token_names_both_fields() {
    let b = ConfigBench::new().await;
    // tenant-a's configuration does not make tenant-b's first save a second one.
    b.configure("tenant-a").await;
    let response = handle(
        &deps(&b).await,
        request(EVENT, Some("tenant-b"), with_body(json!({}))),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 400);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:validation"
    );
    let (_, _, problem) = parts(response);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"consoleUrl") && fields.contains(&"apiToken"),
        "{problem}"
    );
}

#[tokio::test]
async fn no_tenant_is_401_and_saves_nothing() {
    let b = ConfigBench::new().await;
    let body = json!({ "consoleUrl": b.sim.base_url(), "apiToken": b.sim.token() });
    let response = handle(&deps(&b).await, request(EVENT, None, with_body(body)))
        .await
        .expect("response");
    assert_eq!(response.status(), 401);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:unauthenticated"
    );
}
