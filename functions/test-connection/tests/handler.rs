//! `POST …/test-connection` through the handler, with the repo's sample event, against the simulator as the console
//! and a fresh table and secret prefix on the local AWS stack. Needs the local stack
//! (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).

use serde_json::{json, Value};
use test_connection::{handle, Deps};
use test_support::api::{parts, problem_type, request, ConfigBench};

const EVENT: &str = include_str!("../events/test-connection.json");
/// Well-formed, but not the token the simulator knows.
const WRONG_TOKEN: &str = "eyJ0aGlzLWlzLW5vdC10aGUtdG9rZW4tMDAwMQ";

fn deps(b: &ConfigBench) -> Deps {
    Deps {
        config: b.service.clone(),
        edge: http_api::Edge::new("tenant_id"),
    }
}

fn with_body(body: Value) -> impl FnOnce(&mut Value) {
    move |event| event["body"] = body.to_string().into()
}

#[tokio::test]
async fn a_test_against_the_console_passes_and_never_echoes_the_token_nor_saves_anything() {
    let b = ConfigBench::new().await;
    let body = json!({ "consoleUrl": b.sim.base_url(), "apiToken": b.sim.token() });
    let response = handle(&deps(&b), request(EVENT, Some("tenant-a"), with_body(body)))
        .await
        .expect("response");
    let (status, text, report) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(report["passed"], true, "{report}");
    assert!(
        !text.contains(&b.sim.token()),
        "the token is in the response"
    );
    assert!(
        b.stored_config("tenant-a").await.is_none() && b.stored_token("tenant-a").await.is_none(),
        "a connection test wrote something"
    );
}

#[tokio::test]
async fn a_rejected_token_is_a_failed_report_not_an_error_and_is_not_echoed() {
    let b = ConfigBench::new().await;
    let body = json!({ "consoleUrl": b.sim.base_url(), "apiToken": WRONG_TOKEN });
    let response = handle(&deps(&b), request(EVENT, Some("tenant-a"), with_body(body)))
        .await
        .expect("response");
    let (status, text, report) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(report["passed"], false, "{report}");
    assert!(
        report["checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["status"] == "failed")),
        "{report}"
    );
    assert!(!text.contains(WRONG_TOKEN), "the token is in the response");
}

#[tokio::test]
async fn the_stored_token_is_never_used_for_another_tenant() {
    let b = ConfigBench::new().await;
    b.configure("tenant-a").await;
    // tenant-b has nothing saved: without a body token there is nothing to test with, whatever tenant-a stored.
    let response = handle(
        &deps(&b),
        request(EVENT, Some("tenant-b"), with_body(json!({}))),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 400);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:validation"
    );
    let (_, text, _) = parts(response);
    assert!(!text.contains(&b.sim.token()), "{text}");

    // tenant-a's own stored token is used for its stored console.
    let response = handle(
        &deps(&b),
        request(EVENT, Some("tenant-a"), with_body(json!({}))),
    )
    .await
    .expect("response");
    let (status, text, report) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(report["passed"], true, "{report}");
    assert!(!text.contains(&b.sim.token()), "{text}");
}

#[tokio::test]
async fn unusable_requests_are_problems() {
    let b = ConfigBench::new().await;
    let response = handle(&deps(&b), request(EVENT, None, |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 401);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:unauthenticated"
    );

    let response = handle(
        &deps(&b),
        request(
            EVENT,
            Some("tenant-a"),
            with_body(json!({ "consoleURL": "x" })),
        ),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 400);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:invalid-body"
    );
}
