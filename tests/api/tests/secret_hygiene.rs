//! The API token appears in no log line and no response body: every flow (test connection passing and failing,
//! save, invalid saves, views, custom fields, disconnect) runs with a recognisable token while every log event of
//! every crate, at TRACE level, is captured into a buffer; then the buffer, every response and every table item
//! are searched for the token.

use std::io::Write;
use std::sync::{Arc, Mutex};

use api_tests::{parts, seed_tenant, Bench, Event, PREFIX};
use lambda_http::http::StatusCode;
use s1_simulator::{Permissions, Simulator, TenantSpec};
use serde_json::json;

const TOKEN: &str = "eyJSECRET-HYGIENE.recognisable-token-7f3a9c2e51d84b06";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_is_in_no_log_line_no_response_and_no_table_item() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let sim = Simulator::new(TenantSpec::small().with_agents(10).with_threats(20))
        .start()
        .await
        .expect("simulator");
    sim.add_token(
        TOKEN,
        Permissions::all(),
        time::OffsetDateTime::now_utc() + time::Duration::days(10),
    );
    let bench = Bench::new().await;
    let tenant = "hygiene";
    let mut responses = Vec::new();
    let mut record = |label: &str,
                      r: lambda_http::Response<lambda_http::Body>|
     -> (StatusCode, serde_json::Value) {
        let (status, body, text) = parts(r);
        responses.push((label.to_string(), text));
        (status, body)
    };
    let url = sim.base_url();
    let tc = |body: serde_json::Value| {
        Event::new(
            "POST",
            format!("{PREFIX}/test-connection"),
            format!("{PREFIX}/test-connection"),
        )
        .tenant(tenant)
        .json(&body)
        .request()
    };
    let put = |body: serde_json::Value| {
        Event::new(
            "PUT",
            format!("{PREFIX}/config"),
            format!("{PREFIX}/config"),
        )
        .tenant(tenant)
        .json(&body)
        .request()
    };
    let get = |path: &str| {
        Event::new("GET", format!("{PREFIX}{path}"), format!("{PREFIX}{path}"))
            .tenant(tenant)
            .request()
    };

    // Connection tests: passing (expiry warning: the token expires in 10 days), wrong console, unknown group.
    let (s, b) = record(
        "test ok",
        test_connection::handle(
            &bench.test_connection(),
            tc(json!({ "consoleUrl": url, "apiToken": TOKEN })),
        )
        .await
        .expect("h"),
    );
    assert_eq!(
        (s, b["passed"].clone()),
        (StatusCode::OK, json!(true)),
        "{b}"
    );
    let expiry = b["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == "token_expiry"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        expiry["status"], "warning",
        "a token expiring within 30 days is a warning, not a failure: {expiry}"
    );
    let (s, b) = record(
        "test bad url",
        test_connection::handle(
            &bench.test_connection(),
            tc(json!({ "consoleUrl": "https://169.254.169.254", "apiToken": TOKEN })),
        )
        .await
        .expect("h"),
    );
    assert_eq!((s, b["passed"].clone()), (StatusCode::OK, json!(false)));
    record(
        "test unknown group",
        test_connection::handle(
            &bench.test_connection(),
            tc(json!({ "consoleUrl": url, "apiToken": TOKEN, "groupNames": "Nope" })),
        )
        .await
        .expect("h"),
    );
    // Invalid saves that carry the token (or a token-like value) in the body.
    record(
        "save invalid",
        save_config::handle(
            &bench.save_config(),
            put(json!({ "consoleUrl": "http://x", "apiToken": TOKEN, "autoSyncDays": 99 })),
        )
        .await
        .expect("h"),
    );
    record(
        "save token with space",
        save_config::handle(
            &bench.save_config(),
            put(json!({ "consoleUrl": url, "apiToken": format!("{TOKEN} x") })),
        )
        .await
        .expect("h"),
    );
    record(
        "save unknown field",
        save_config::handle(
            &bench.save_config(),
            put(json!({ "consoleUrl": url, "apiToken": TOKEN, "token": TOKEN })),
        )
        .await
        .expect("h"),
    );
    let truncated = Event::new(
        "PUT",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(tenant)
    .body(format!("{{\"apiToken\":\"{TOKEN}"))
    .request();
    record(
        "save truncated json",
        save_config::handle(&bench.save_config(), truncated)
            .await
            .expect("h"),
    );
    let (s, _) = record(
        "save failing test",
        save_config::handle(
            &bench.save_config(),
            put(json!({ "consoleUrl": url, "apiToken": TOKEN, "groupNames": "Nope" })),
        )
        .await
        .expect("h"),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // The save, the views, an update, the stored-token test, custom fields, disconnect.
    let (s, b) = record(
        "save ok",
        save_config::handle(
            &bench.save_config(),
            put(json!({ "consoleUrl": url, "apiToken": TOKEN })),
        )
        .await
        .expect("h"),
    );
    assert_eq!(s, StatusCode::OK, "{b}");
    seed_tenant(&bench.store, tenant, &sim, &url).await;
    for path in ["/config", "/assets", "/findings", "/sync-runs"] {
        let (s, _) = record(
            path,
            read_api::handle(&bench.read_api(), get(path))
                .await
                .expect("h"),
        );
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    record(
        "test stored",
        test_connection::handle(&bench.test_connection(), tc(json!({})))
            .await
            .expect("h"),
    );
    record(
        "update",
        save_config::handle(
            &bench.save_config(),
            put(json!({ "analystVerdicts": "true_positive" })),
        )
        .await
        .expect("h"),
    );
    let cf = Event::new("POST", "/v1/custom-fields", "/v1/custom-fields")
        .tenant(tenant)
        .json(&json!({ "name": "owner" }))
        .request();
    record(
        "custom field",
        custom_fields::handle(&bench.custom_fields(), cf)
            .await
            .expect("h"),
    );
    let (items, secret) = bench.footprint(tenant).await;
    assert_eq!(
        secret.as_deref(),
        Some(TOKEN),
        "the token is stored in the vault (and only there)"
    );
    for item in &items {
        assert!(!item.contains(TOKEN), "a table item holds the token");
    }
    let del = Event::new(
        "DELETE",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(tenant)
    .request();
    let (s, _) = record(
        "disconnect",
        disconnect::handle(&bench.disconnect(), del)
            .await
            .expect("h"),
    );
    assert_eq!(s, StatusCode::NO_CONTENT);

    // The token did reach the console, and only in the Authorization header (and the token-details body the
    // endpoint requires).
    assert!(
        sim.requests().iter().all(|r| !r.token_in_url),
        "the token never goes into a URL"
    );

    for (label, body) in &responses {
        assert!(
            !body.contains(TOKEN),
            "the response of {label} contains the token"
        );
        assert!(
            !body.contains("eyJSECRET"),
            "the response of {label} contains part of the token"
        );
    }
    let text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(
        text.lines().count() > 50,
        "logs were captured ({} lines)",
        text.lines().count()
    );
    for expected in [
        "configuration saved",
        "connection test run",
        "api token stored",
        "source disconnected",
    ] {
        assert!(
            text.contains(expected),
            "the capture holds the flows' own log lines ({expected:?} missing)"
        );
    }
    let leaking: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(TOKEN) || l.contains("eyJSECRET"))
        .collect();
    assert!(
        leaking.is_empty(),
        "{} log lines contain the token; first: {}",
        leaking.len(),
        leaking[0].chars().take(300).collect::<String>()
    );
}
