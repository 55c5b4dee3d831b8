//! The configuration endpoints through lambda_http requests, against the local AWS stack and the simulator: happy
//! paths, every validation rule (400 naming the field, nothing written), and every connection-test failure cause.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use api_tests::{fixed_http_server, parts, sample_request, seed_tenant, Bench, Event, PREFIX};
use lambda_http::http::StatusCode;
use s1_simulator::{Permissions, Simulator, TenantSpec};
use sentinelone_client::StaticResolver;
use serde_json::{json, Value};

fn small() -> TenantSpec {
    TenantSpec::small().with_agents(20).with_threats(40)
}

fn put_config(tenant: &str, body: &Value) -> lambda_http::Request {
    Event::new(
        "PUT",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(tenant)
    .json(body)
    .request()
}

fn post_test(tenant: &str, body: &Value) -> lambda_http::Request {
    Event::new(
        "POST",
        format!("{PREFIX}/test-connection"),
        format!("{PREFIX}/test-connection"),
    )
    .tenant(tenant)
    .json(body)
    .request()
}

fn get_config(tenant: &str) -> lambda_http::Request {
    Event::new(
        "GET",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(tenant)
    .request()
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == name))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

fn field_names(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn a_group_name(sim: &s1_simulator::SimHandle) -> String {
    sim.groups_snapshot()
        .first()
        .and_then(|g| g["name"].as_str())
        .expect("a group")
        .to_string()
}

#[tokio::test]
async fn test_save_view_update_and_disconnect() {
    let sim = Simulator::new(small()).start().await.expect("simulator");
    let bench = Bench::new().await;
    let tenant = "acme";
    let group = a_group_name(&sim);

    // Test connection: every check passes, the group resolves, nothing is written.
    let body =
        json!({ "consoleUrl": sim.base_url(), "apiToken": sim.token(), "groupNames": group });
    let (status, report, _) = parts(
        test_connection::handle(&bench.test_connection(), post_test(tenant, &body))
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["passed"], true, "{report}");
    assert!(
        report["groups"].as_array().is_some_and(|g| !g.is_empty()),
        "{report}"
    );
    assert_eq!(
        bench.footprint(tenant).await,
        (vec![], None),
        "the connection test writes nothing"
    );

    // First save (the sample event, with the simulator's URL and token).
    let save = json!({ "consoleUrl": sim.base_url(), "apiToken": sim.token(), "autoSyncDays": 1, "groupNames": [group] });
    let (status, saved, text) = parts(
        save_config::handle(
            &bench.save_config(),
            sample_request("save-config", "save-config.json", tenant, Some(&save)),
        )
        .await
        .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert!(!text.contains(&sim.token()));
    assert_eq!(saved["config"]["tokenSet"], true);
    assert_eq!(saved["config"]["autoSyncDays"], 1);
    assert_eq!(
        saved["config"]["analystVerdicts"],
        json!(["true_positive", "suspicious", "undefined"]),
        "default list on first save"
    );
    assert_eq!(saved["connectionTest"]["passed"], true);
    assert_eq!(
        bench.footprint(tenant).await.1.as_deref(),
        Some(sim.token().as_str()),
        "the token is in the vault"
    );

    // The view never carries the token.
    let (status, view, text) = parts(
        read_api::handle(&bench.read_api(), get_config(tenant))
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK);
    assert!(!text.contains(&sim.token()));
    assert!(view.get("apiToken").is_none());
    assert_eq!(view["tokenSet"], true);
    assert!(view["tokenUpdatedAt"].is_string());
    let token_updated_at = view["tokenUpdatedAt"].clone();

    // The stored token is used when omitted.
    let (status, report, _) = parts(
        test_connection::handle(&bench.test_connection(), post_test(tenant, &json!({})))
            .await
            .expect("handler"),
    );
    assert_eq!(
        (status, report["passed"].clone()),
        (StatusCode::OK, json!(true)),
        "{report}"
    );

    // Stored findings, then a verdict-list change: the save only records the new list version and queues a run;
    // the run re-evaluates the statuses (the save request cannot, whatever the tenant's size). Token kept.
    let seeded = seed_tenant(&bench.store, tenant, &sim, &sim.base_url()).await;
    assert!(!seeded.finding_ids.is_empty());
    let findings = |status: &'static str| {
        Event::new(
            "GET",
            format!("{PREFIX}/findings"),
            format!("{PREFIX}/findings"),
        )
        .tenant(tenant)
        .query("status", status)
        .query("limit", "200")
        .request()
    };
    let (_, failed_before, _) = parts(
        read_api::handle(&bench.read_api(), findings("failed"))
            .await
            .expect("handler"),
    );
    let failed_before = failed_before["items"].as_array().map_or(0, Vec::len);
    let requests_before = sim.requests().len();
    let update = json!({ "analystVerdicts": "false_positive", "skipConnectionTest": true });
    let (status, updated, _) = parts(
        save_config::handle(&bench.save_config(), put_config(tenant, &update))
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        sim.requests().len(),
        requests_before,
        "the save with skipConnectionTest calls no SentinelOne endpoint"
    );
    assert_eq!(
        updated["config"]["analystVerdicts"],
        json!(["false_positive"])
    );
    assert_eq!(
        updated["config"]["tokenUpdatedAt"], token_updated_at,
        "token omitted on update keeps the stored one"
    );
    assert_eq!(updated["reevaluation"]["pending"], json!(true), "{updated}");
    let run_id = updated["reevaluation"]["runId"]
        .as_str()
        .expect("the queued run's id")
        .to_string();
    assert!(updated.get("findingsReevaluated").is_none(), "{updated}");
    let failed_now = |bench: Bench| async move {
        let (_, page, _) = parts(
            read_api::handle(&bench.read_api(), findings("failed"))
                .await
                .expect("handler"),
        );
        page["items"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(
        failed_now(bench.clone()).await,
        failed_before,
        "the save itself re-evaluates nothing"
    );
    let run = bench.run_to_end(tenant, &run_id).await;
    assert_eq!(
        run.status,
        connector_store::RunStatus::Succeeded,
        "{:?}",
        run.message
    );
    // The run walked only the configured group's threats; the other seeded findings were flipped by its
    // re-evaluation phase.
    assert!(run.counters.findings_reevaluated > 0, "{:?}", run.counters);
    let failed_after = failed_now(bench.clone()).await;
    assert_ne!(failed_before, failed_after);
    assert!(failed_after + failed_before > 0);
    // The stored findings follow the saved list now: saving again queues nothing.
    let (status, again, _) = parts(
        save_config::handle(&bench.save_config(), put_config(tenant, &update))
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again["reevaluation"],
        json!({ "pending": false }),
        "{again}"
    );

    // A different console URL needs its own token: the stored one never leaves for another host.
    let (status, problem, _) = parts(
        save_config::handle(&bench.save_config(), put_config(tenant, &json!({ "consoleUrl": "https://other.sentinelone.net", "skipConnectionTest": true })))
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(field_names(&problem), ["apiToken"]);
    let (status, problem, _) = parts(
        test_connection::handle(
            &bench.test_connection(),
            post_test(
                tenant,
                &json!({ "consoleUrl": "https://other.sentinelone.net" }),
            ),
        )
        .await
        .expect("handler"),
    );
    assert_eq!(
        (status, field_names(&problem)),
        (StatusCode::BAD_REQUEST, vec!["apiToken".to_string()])
    );

    // Disconnect: config and secret gone, imported data kept and labelled.
    let del = sample_request("disconnect", "disconnect.json", tenant, None);
    let (status, _, _) = parts(
        disconnect::handle(&bench.disconnect(), del)
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        bench.footprint(tenant).await.1,
        None,
        "the secret is deleted"
    );
    let (status, problem, _) = parts(
        read_api::handle(&bench.read_api(), get_config(tenant))
            .await
            .expect("handler"),
    );
    assert_eq!(
        (status, problem["type"].clone()),
        (
            StatusCode::NOT_FOUND,
            json!("urn:s1-connector:problem:not-found")
        )
    );
    let assets = Event::new(
        "GET",
        format!("{PREFIX}/assets"),
        format!("{PREFIX}/assets"),
    )
    .tenant(tenant)
    .request();
    let (status, page, _) = parts(
        read_api::handle(&bench.read_api(), assets)
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        page["items"].as_array().is_some_and(|i| !i.is_empty()),
        "imported assets are kept"
    );
    assert_eq!(page["source"]["state"], "disconnected");
    let del = sample_request("disconnect", "disconnect.json", tenant, None);
    let (status, _, _) = parts(
        disconnect::handle(&bench.disconnect(), del)
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing left to disconnect");
}

#[tokio::test]
async fn every_validation_rule_answers_400_naming_the_field_and_writes_nothing() {
    let bench = Bench::new().await;
    let tenant = "val";
    let ok_token = "eyJhbGciOiJIUzI1NiJ9.validation-token-value";
    let base = json!({ "consoleUrl": "https://usea1-acme.sentinelone.net", "apiToken": ok_token, "skipConnectionTest": true });
    let with = |field: &str, value: Value| {
        let mut b = base.clone();
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = base.clone();
        b.as_object_mut().map(|o| o.remove(field));
        b
    };
    let cases: Vec<(&str, Value)> = vec![
        ("consoleUrl", without("consoleUrl")),
        ("consoleUrl", with("consoleUrl", json!(""))),
        ("consoleUrl", with("consoleUrl", json!(42))),
        ("consoleUrl", with("consoleUrl", json!("not a url"))),
        (
            "consoleUrl",
            with("consoleUrl", json!("http://usea1-acme.sentinelone.net")),
        ),
        ("consoleUrl", with("consoleUrl", json!("https://127.0.0.1"))),
        (
            "consoleUrl",
            with("consoleUrl", json!("https://169.254.169.254")),
        ),
        ("consoleUrl", with("consoleUrl", json!("https://[::1]"))),
        (
            "consoleUrl",
            with("consoleUrl", json!("https://console.example.com")),
        ),
        (
            "consoleUrl",
            with(
                "consoleUrl",
                json!("https://usea1-acme.sentinelone.net:8443"),
            ),
        ),
        (
            "consoleUrl",
            with(
                "consoleUrl",
                json!("https://user:pw@usea1-acme.sentinelone.net"),
            ),
        ),
        (
            "consoleUrl",
            with("consoleUrl", json!("https://xdr.us1.sentinelone.net")),
        ),
        ("apiToken", without("apiToken")),
        ("apiToken", with("apiToken", json!("short"))),
        (
            "apiToken",
            with("apiToken", json!("eyJhbGciOiJIUzI1NiJ9 with spaces inside")),
        ),
        ("apiToken", with("apiToken", json!(12345))),
        ("analystVerdicts", with("analystVerdicts", json!(["maybe"]))),
        ("analystVerdicts", with("analystVerdicts", json!([]))),
        ("analystVerdicts", with("analystVerdicts", json!(5))),
        ("autoSyncDays", with("autoSyncDays", json!(31))),
        ("autoSyncDays", with("autoSyncDays", json!(-1))),
        ("autoSyncDays", with("autoSyncDays", json!(2.5))),
        ("autoSyncDays", with("autoSyncDays", json!("7"))),
        ("autoOnboard", with("autoOnboard", json!("yes"))),
        ("updateMetadata", with("updateMetadata", json!(1))),
        (
            "skipConnectionTest",
            with("skipConnectionTest", json!("true")),
        ),
        ("groupNames", with("groupNames", json!([1]))),
        (
            "groupNames",
            with(
                "groupNames",
                json!((0..101).map(|i| format!("g{i}")).collect::<Vec<_>>()),
            ),
        ),
        ("groupNames", with("groupNames", json!(["x".repeat(257)]))),
        ("groupNames", with("groupNames", json!(["line\nbreak"]))),
    ];
    for (field, body) in cases {
        let (status, problem, _) = parts(
            save_config::handle(&bench.save_config(), put_config(tenant, &body))
                .await
                .expect("handler"),
        );
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{field}: {body} -> {problem}"
        );
        assert_eq!(
            problem["type"], "urn:s1-connector:problem:validation",
            "{problem}"
        );
        assert_eq!(field_names(&problem), [field], "{body} -> {problem}");
        assert_eq!(
            bench.footprint(tenant).await,
            (vec![], None),
            "{field}: nothing written"
        );
    }

    // All at once: every field error in one answer.
    let all = json!({ "consoleUrl": "http://x", "apiToken": "short", "analystVerdicts": "maybe", "autoSyncDays": 99,
                      "autoOnboard": 1, "updateMetadata": "no", "groupNames": 7, "skipConnectionTest": 0 });
    let (status, problem, _) = parts(
        save_config::handle(&bench.save_config(), put_config(tenant, &all))
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut fields = field_names(&problem);
    fields.sort();
    assert_eq!(
        fields,
        [
            "analystVerdicts",
            "apiToken",
            "autoOnboard",
            "autoSyncDays",
            "consoleUrl",
            "groupNames",
            "skipConnectionTest",
            "updateMetadata"
        ]
    );

    // A first save missing its required fields names them together with every other error.
    let (status, problem, _) = parts(
        save_config::handle(
            &bench.save_config(),
            put_config(tenant, &json!({ "autoSyncDays": 99 })),
        )
        .await
        .expect("handler"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut fields = field_names(&problem);
    fields.sort();
    assert_eq!(fields, ["apiToken", "autoSyncDays", "consoleUrl"]);

    // The sample event of invalid input, as `cargo lambda invoke` would send it.
    let (status, problem, _) = parts(
        save_config::handle(
            &bench.save_config(),
            sample_request("save-config", "save-config-invalid.json", tenant, None),
        )
        .await
        .expect("handler"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_names(&problem).len(), 4, "{problem}");

    // Unknown fields, a body that is not JSON, an oversize body, no tenant claim.
    let (status, problem, _) = parts(
        save_config::handle(
            &bench.save_config(),
            put_config(tenant, &with("tenantId", json!("other"))),
        )
        .await
        .expect("handler"),
    );
    assert_eq!(
        (status, problem["type"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("urn:s1-connector:problem:invalid-body")
        )
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("tenantId")),
        "{problem}"
    );
    let not_json = Event::new(
        "PUT",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(tenant)
    .body("{consoleUrl:")
    .request();
    assert_eq!(
        parts(
            save_config::handle(&bench.save_config(), not_json)
                .await
                .expect("handler")
        )
        .0,
        StatusCode::BAD_REQUEST
    );
    let big = with("groupNames", json!("x".repeat(17 * 1024)));
    assert_eq!(
        parts(
            save_config::handle(&bench.save_config(), put_config(tenant, &big))
                .await
                .expect("handler")
        )
        .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let anonymous = Event::new(
        "PUT",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .json(&base)
    .request();
    let (status, problem, _) = parts(
        save_config::handle(&bench.save_config(), anonymous)
            .await
            .expect("handler"),
    );
    assert_eq!(
        (status, problem["type"].clone()),
        (
            StatusCode::UNAUTHORIZED,
            json!("urn:s1-connector:problem:unauthenticated")
        )
    );
    assert_eq!(bench.footprint(tenant).await, (vec![], None));
}

/// Runs the test-connection handler and the save handler with `body`; asserts the test names `failed_check` with
/// `error_kind`, the save answers 422 with the same report, and nothing is written.
async fn assert_refused(bench: &Bench, body: Value, failed_check: &str, error_kind: &str) -> Value {
    let tenant = "fail";
    let (status, report, _) = parts(
        test_connection::handle(&bench.test_connection(), post_test(tenant, &body))
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["passed"], false, "{report}");
    let c = check(&report, failed_check);
    assert_eq!(
        (c["status"].as_str(), c["errorKind"].as_str()),
        (Some("failed"), Some(error_kind)),
        "{report}"
    );
    assert!(
        c["detail"].as_str().is_some_and(|d| d.len() > 20),
        "the cause is explained: {report}"
    );
    let (status, problem, _) = parts(
        save_config::handle(&bench.save_config(), put_config(tenant, &body))
            .await
            .expect("handler"),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:s1-connector:problem:connection-test-failed"
    );
    assert_eq!(
        check(&problem["connectionTest"], failed_check)["errorKind"].as_str(),
        Some(error_kind)
    );
    assert_eq!(
        bench.footprint(tenant).await,
        (vec![], None),
        "a failed test saves nothing"
    );
    report
}

#[tokio::test]
async fn each_connection_test_failure_is_reported_with_its_cause() {
    let sim = Simulator::new(small()).start().await.expect("simulator");
    let bench = Bench::new().await;
    let url = sim.base_url();

    // Bad token: 401.
    let r = assert_refused(
        &bench,
        json!({ "consoleUrl": url, "apiToken": "eyJhbGciOiJIUzI1NiJ9.not-a-known-token" }),
        "token_accepted",
        "unauthorized",
    )
    .await;
    assert!(check(&r, "token_accepted")["detail"]
        .as_str()
        .is_some_and(|d| d.contains("401")));
    assert_eq!(check(&r, "permission_agents")["status"], "skipped");

    // Revoked token: 401 too.
    let revoked = "eyJhbGciOiJIUzI1NiJ9.revoked-token-0001";
    sim.add_token(
        revoked,
        Permissions::all(),
        time::OffsetDateTime::now_utc() + time::Duration::days(90),
    );
    sim.revoke_token(revoked);
    assert_refused(
        &bench,
        json!({ "consoleUrl": url, "apiToken": revoked }),
        "token_accepted",
        "unauthorized",
    )
    .await;

    // No scope: 403 names the missing permission.
    let no_threats = "eyJhbGciOiJIUzI1NiJ9.no-threats-scope-01";
    sim.add_token(
        no_threats,
        Permissions::all().with_threats_view(false),
        time::OffsetDateTime::now_utc() + time::Duration::days(90),
    );
    let r = assert_refused(
        &bench,
        json!({ "consoleUrl": url, "apiToken": no_threats }),
        "permission_threats",
        "forbidden",
    )
    .await;
    assert!(
        check(&r, "permission_threats")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Threats.view")),
        "{r}"
    );
    assert_eq!(check(&r, "permission_agents")["status"], "passed");

    // Unknown group names: every unknown name listed.
    let r = assert_refused(&bench, json!({ "consoleUrl": url, "apiToken": sim.token(), "groupNames": "No Such Group, Nor This" }), "groups_resolved", "unknown_groups").await;
    let detail = check(&r, "groups_resolved")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("No Such Group") && detail.contains("Nor This"),
        "{detail}"
    );

    // 404: not a SentinelOne console.
    let (not_s1, _) = fixed_http_server(
        "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
    )
    .await;
    assert_refused(
        &bench,
        json!({ "consoleUrl": not_s1, "apiToken": sim.token() }),
        "console_reachable",
        "not_found",
    )
    .await;

    // A redirect to the metadata address is reported, not followed.
    let (redirecting, hits) = fixed_http_server(
        "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/meta-data/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    let r = assert_refused(
        &bench,
        json!({ "consoleUrl": redirecting, "apiToken": sim.token() }),
        "console_reachable",
        "redirect",
    )
    .await;
    assert!(
        check(&r, "console_reachable")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("169.254.169.254")),
        "{r}"
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one request per handler call; the redirect was never followed"
    );

    // SSRF targets refused before any connection: reported as the url_allowed check (test) / 400 (save).
    for target in [
        "http://usea1-acme.sentinelone.net",
        "https://127.0.0.1",
        "https://169.254.169.254",
        "https://[::1]",
        "http://10.0.0.1",
    ] {
        let body = json!({ "consoleUrl": target, "apiToken": sim.token() });
        let (status, report, _) = parts(
            test_connection::handle(&bench.test_connection(), post_test("fail", &body))
                .await
                .expect("handler"),
        );
        assert_eq!(status, StatusCode::OK, "{target}: {report}");
        let c = check(&report, "url_allowed");
        assert_eq!(
            (c["status"].as_str(), c["errorKind"].as_str()),
            (Some("failed"), Some("url_refused")),
            "{target}: {report}"
        );
        assert_eq!(check(&report, "console_reachable")["status"], "skipped");
        let (status, problem, _) = parts(
            save_config::handle(&bench.save_config(), put_config("fail", &body))
                .await
                .expect("handler"),
        );
        assert_eq!(
            (status, field_names(&problem)),
            (StatusCode::BAD_REQUEST, vec!["consoleUrl".to_string()]),
            "{target}"
        );
    }
    assert_eq!(bench.footprint("fail").await, (vec![], None));

    // Timeout: the console answers slower than the client waits.
    let slow = Bench::new()
        .await
        .with_short_timeouts(Duration::from_millis(300));
    sim.faults().latency(Duration::from_secs(2));
    assert_refused(
        &slow,
        json!({ "consoleUrl": url, "apiToken": sim.token() }),
        "console_reachable",
        "timeout",
    )
    .await;
    sim.faults().clear();
}

#[tokio::test]
async fn a_host_resolving_to_a_private_address_is_refused_before_connecting() {
    let private: IpAddr = "10.1.2.3".parse().expect("ip");
    let metadata: IpAddr = "169.254.169.254".parse().expect("ip");
    let resolver = StaticResolver::new()
        .with("internal.sentinelone.net", &[private])
        .with(
            "sneaky.sentinelone.net",
            &["93.184.216.34".parse().expect("ip"), metadata],
        );
    let bench = Bench::with_resolver(Arc::new(resolver)).await;
    for (host, ip) in [
        ("internal.sentinelone.net", "10.1.2.3"),
        ("sneaky.sentinelone.net", "169.254.169.254"),
    ] {
        let r = assert_refused(
            &bench,
            json!({ "consoleUrl": format!("https://{host}"), "apiToken": "eyJhbGciOiJIUzI1NiJ9.private-address-token" }),
            "url_allowed",
            "url_refused",
        )
        .await;
        assert!(
            check(&r, "url_allowed")["detail"]
                .as_str()
                .is_some_and(|d| d.contains(ip)),
            "{r}"
        );
        assert_eq!(check(&r, "console_reachable")["status"], "skipped");
    }
    // A host that does not resolve: the DNS failure is the url_allowed check's cause.
    let r = assert_refused(
        &bench,
        json!({ "consoleUrl": "https://nxdomain-console.sentinelone.net", "apiToken": "eyJhbGciOiJIUzI1NiJ9.private-address-token" }),
        "url_allowed",
        "dns",
    )
    .await;
    let detail = check(&r, "url_allowed")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("nxdomain-console.sentinelone.net") && detail.contains("resolve"),
        "{detail}"
    );
}
