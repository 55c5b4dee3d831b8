//! Every filter combination of the findings view is either served from a key or refused up front: `sort=id` with a
//! filter read in facet order, and `asset` with `attached=false`, are 400 validation problems naming the field;
//! the same filters without `sort` are served.

use api_tests::{parts, Bench, Event, PREFIX};
use lambda_http::http::StatusCode;
use serde_json::Value;

const TENANT: &str = "filter-combinations";

async fn findings(bench: &Bench, query: &[(&str, &str)]) -> (StatusCode, Value) {
    let route = format!("{PREFIX}/findings");
    let mut e = Event::new("GET", route.clone(), route).tenant(TENANT);
    for (k, v) in query {
        e = e.query(k, v);
    }
    let (status, body, _) = parts(
        read_api::handle(&bench.read_api(), e.request())
            .await
            .expect("handler"),
    );
    (status, body)
}

fn assert_refused(what: &str, (status, problem): (StatusCode, Value), field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {problem}");
    assert_eq!(
        problem["type"], "urn:s1-connector:problem:validation",
        "{what}: {problem}"
    );
    let errors = problem["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{what}: {problem}");
    assert_eq!(errors[0]["field"], field, "{what}: {problem}");
}

#[tokio::test]
async fn unserved_combinations_are_refused_and_the_rest_served() {
    let bench = Bench::new().await;
    for (what, query) in [
        (
            "sort=id with status",
            vec![("sort", "id"), ("status", "failed")],
        ),
        (
            "sort=id with state",
            vec![("sort", "id"), ("state", "open")],
        ),
        (
            "sort=id with asset and severity",
            vec![("sort", "id"), ("asset", "srv-a"), ("severity", "high")],
        ),
    ] {
        assert_refused(what, findings(&bench, &query).await, "sort");
    }
    assert_refused(
        "asset with attached=false",
        findings(&bench, &[("asset", "srv-a"), ("attached", "false")]).await,
        "query",
    );
    for query in [
        vec![
            ("status", "failed"),
            ("severity", "high"),
            ("state", "open"),
        ],
        vec![("asset", "srv-a"), ("verdict", "suspicious")],
        vec![("attached", "false"), ("status", "passed")],
        vec![("sort", "id"), ("asset", "srv-a")],
        vec![("sort", "id")],
    ] {
        let (status, body) = findings(&bench, &query).await;
        assert_eq!(status, StatusCode::OK, "{query:?}: {body}");
        assert!(body["items"].is_array(), "{query:?}: {body}");
    }
}
