//! Every query and path parameter of the read API and the custom-fields API is length-bounded at the edge: an
//! over-long value is a 400 problem naming the parameter and its limit (never a DynamoDB key-size error surfacing as
//! a 500, never an echo of the value), and a value at the limit is served.

use api_tests::{parts, Bench, Event, PREFIX};
use lambda_http::http::StatusCode;
use lambda_http::Request;
use serde_json::Value;

const TENANT: &str = "bounds";

fn read(route: &str, query: &[(&str, &str)]) -> Request {
    let mut e = Event::new(
        "GET",
        format!("{PREFIX}{route}"),
        format!("{PREFIX}{route}"),
    )
    .tenant(TENANT);
    for (k, v) in query {
        e = e.query(k, v);
    }
    e.request()
}

async fn answer(bench: &Bench, request: Request) -> (StatusCode, Value, String) {
    parts(
        read_api::handle(&bench.read_api(), request)
            .await
            .expect("handler"),
    )
}

/// Asserts a 400 validation problem whose only error names `field` and `limit`, without echoing the value.
fn assert_refused(
    what: &str,
    (status, problem, text): (StatusCode, Value, String),
    field: &str,
    limit: &str,
    value: &str,
) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {problem}");
    assert_eq!(
        problem["type"], "urn:s1-connector:problem:validation",
        "{what}: {problem}"
    );
    let errors = problem["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{what}: {problem}");
    assert_eq!(errors[0]["field"], field, "{what}: {problem}");
    let message = errors[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(limit),
        "{what}: the message names the limit {limit}: {message}"
    );
    assert!(
        !text.contains(value),
        "{what}: the over-long value is not echoed"
    );
}

#[tokio::test]
async fn every_read_api_parameter_is_bounded() {
    let bench = Bench::new().await;
    let long_name = "n".repeat(2_000);
    let long_token = "t".repeat(5_000);
    let long_keyword = "k".repeat(300);
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        // (route, parameter, value, limit named in the message)
        ("/assets", "name", &long_name, "256"),
        ("/assets", "active", &long_keyword, "32"),
        ("/assets", "limit", &long_keyword, "32"),
        ("/assets", "pageToken", &long_token, "4096"),
        ("/findings", "asset", &long_name, "256"),
        ("/findings", "status", &long_keyword, "32"),
        ("/findings", "severity", &long_keyword, "32"),
        ("/findings", "verdict", &long_keyword, "32"),
        ("/findings", "sort", &long_keyword, "32"),
        ("/findings", "limit", &long_keyword, "32"),
        ("/findings", "pageToken", &long_token, "4096"),
        ("/sync-runs", "limit", &long_keyword, "32"),
        ("/sync-runs", "pageToken", &long_token, "4096"),
    ];
    for (route, param, value, limit) in cases {
        let what = format!("{route}?{param}=<{} chars>", value.len());
        let resp = answer(&bench, read(route, &[(param, value)])).await;
        assert_refused(&what, resp, param, limit, value);
    }

    // Names that fit few characters into many bytes: 251 four-byte characters are under 256 characters but over
    // 1,000 bytes (`ASSET#` + 1,004 bytes would pass DynamoDB's 1,024-byte sort key only just; 257 would not).
    let wide = "😀".repeat(251);
    for (route, param) in [("/assets", "name"), ("/findings", "asset")] {
        let resp = answer(&bench, read(route, &[(param, &wide)])).await;
        assert_refused(
            &format!("{route}?{param}=<wide>"),
            resp,
            param,
            "1000 bytes",
            &wide,
        );
    }

    // Every bad parameter at once, each named.
    let (status, problem, _) = answer(
        &bench,
        read(
            "/findings",
            &[
                ("asset", &long_name),
                ("pageToken", &long_token),
                ("limit", "0"),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    fields.sort();
    assert_eq!(fields, ["asset", "limit", "pageToken"], "{problem}");

    // At the limits, the views answer (an empty page here), not an error.
    let at_limit = "n".repeat(256);
    let wide_at_limit = "😀".repeat(250);
    for (route, param, value) in [
        ("/assets", "name", at_limit.as_str()),
        ("/assets", "name", wide_at_limit.as_str()),
        ("/findings", "asset", at_limit.as_str()),
        ("/findings", "asset", wide_at_limit.as_str()),
    ] {
        let (status, page, _) = answer(&bench, read(route, &[(param, value)])).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{route}?{param} at the limit: {page}"
        );
        assert_eq!(page["items"], serde_json::json!([]));
    }
    // A page token at its length limit that is not a token is the usual invalid-token 400, not a length error.
    let (status, problem, _) =
        answer(&bench, read("/assets", &[("pageToken", &"t".repeat(4096))])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("page token is invalid")),
        "{problem}"
    );

    // The run id in the path: 64 characters at most (the run-id rule); longer is a 400, at the limit a 404.
    let long_id = "r".repeat(65);
    let path = format!("{PREFIX}/sync-runs/{long_id}");
    let request = Event::new("GET", path, format!("{PREFIX}/sync-runs/{{id}}"))
        .tenant(TENANT)
        .path_param("id", &long_id)
        .request();
    assert_refused(
        "sync-runs/{id}",
        answer(&bench, request).await,
        "id",
        "64",
        &long_id,
    );
    let id = "r".repeat(64);
    let request = Event::new(
        "GET",
        format!("{PREFIX}/sync-runs/{id}"),
        format!("{PREFIX}/sync-runs/{{id}}"),
    )
    .tenant(TENANT)
    .path_param("id", &id)
    .request();
    assert_eq!(answer(&bench, request).await.0, StatusCode::NOT_FOUND);
    // Without a route key (a local run), the id comes from the path and is bounded the same way.
    let request = Event::new(
        "GET",
        format!("{PREFIX}/sync-runs/{}", "r".repeat(3_000)),
        "$default",
    )
    .tenant(TENANT)
    .request();
    assert_refused(
        "sync-runs/<3000 chars> by path",
        answer(&bench, request).await,
        "id",
        "64",
        &"r".repeat(3_000),
    );
}

#[tokio::test]
async fn the_custom_field_name_in_the_path_is_bounded() {
    let bench = Bench::new().await;
    let delete = |name: &str| {
        Event::new(
            "DELETE",
            format!("/v1/custom-fields/{name}"),
            "/v1/custom-fields/{name}",
        )
        .tenant(TENANT)
        .path_param("name", name)
        .request()
    };
    for name in ["x".repeat(65), "x".repeat(5_000)] {
        let resp = parts(
            custom_fields::handle(&bench.custom_fields(), delete(&name))
                .await
                .expect("handler"),
        );
        assert_refused("DELETE custom field", resp, "name", "64", &name);
    }
    // At the limit: an unknown name is a 404.
    let (status, problem, _) = parts(
        custom_fields::handle(&bench.custom_fields(), delete(&"x".repeat(64)))
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    // The body's name is bounded by the naming rule (64 characters), as before.
    let post = Event::new("POST", "/v1/custom-fields", "/v1/custom-fields")
        .tenant(TENANT)
        .json(&serde_json::json!({ "name": "x".repeat(2_000) }))
        .request();
    let (status, problem, _) = parts(
        custom_fields::handle(&bench.custom_fields(), post)
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "name");
    assert!(problem["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("64")));
}
