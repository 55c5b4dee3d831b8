//! `DELETE …/config` through the handler, with the repo's sample event, against a fresh table and secret prefix on
//! the local AWS stack. Needs the local stack (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).

use disconnect::{handle, Deps};
use test_support::api::{parts, problem_type, request, ConfigBench};

const EVENT: &str = include_str!("../events/disconnect.json");

fn deps(b: &ConfigBench) -> Deps {
    Deps {
        config: b.service.clone(),
        edge: http_api::Edge::new("tenant_id"),
    }
}

#[tokio::test]
async fn disconnect_removes_the_callers_configuration_and_token_only() {
    let b = ConfigBench::new().await;
    b.configure("tenant-a").await;
    b.configure("tenant-b").await;

    let response = handle(&deps(&b), request(EVENT, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    let (status, text, _) = parts(response);
    assert_eq!(status, 204, "{text}");
    assert!(text.is_empty(), "a 204 has no body: {text}");
    assert!(b.stored_config("tenant-a").await.is_none());
    assert!(
        b.stored_token("tenant-a").await.is_none(),
        "the token stays"
    );
    assert!(
        b.stored_config("tenant-b").await.is_some() && b.stored_token("tenant-b").await.is_some(),
        "disconnecting tenant-a touched tenant-b"
    );

    // Nothing left to remove: 404, not a second 204.
    let response = handle(&deps(&b), request(EVENT, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 404);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:not-found"
    );
}

#[tokio::test]
async fn no_tenant_is_401_and_removes_nothing() {
    let b = ConfigBench::new().await;
    b.configure("tenant-a").await;
    let response = handle(&deps(&b), request(EVENT, None, |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 401);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:unauthenticated"
    );
    assert!(b.stored_config("tenant-a").await.is_some());
}
