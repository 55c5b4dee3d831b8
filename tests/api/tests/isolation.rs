//! Tenant isolation: two tenants configured and synced in one table; every endpoint called as tenant A returns or
//! changes nothing of tenant B, also when handed B's run ids, asset names, custom field names and page tokens.

use std::collections::BTreeSet;

use api_tests::{parts, seed_tenant, Bench, Event, PREFIX};
use lambda_http::http::StatusCode;
use lambda_http::Request;
use s1_simulator::{Simulator, TenantSpec};
use serde_json::{json, Value};

const A: &str = "tenant-a";
const B: &str = "tenant-b";

fn get(tenant: &str, path: &str, route: &str, query: &[(&str, &str)]) -> Request {
    let mut e =
        Event::new("GET", format!("{PREFIX}{path}"), format!("{PREFIX}{route}")).tenant(tenant);
    for (k, v) in query {
        e = e.query(k, v);
    }
    e.request()
}

async fn read(bench: &Bench, request: Request) -> (StatusCode, Value) {
    let (status, body, _) = parts(
        read_api::handle(&bench.read_api(), request)
            .await
            .expect("handler"),
    );
    (status, body)
}

/// Every item of a listing, following page tokens.
async fn all(
    bench: &Bench,
    tenant: &str,
    path: &str,
    field: &str,
    query: &[(&str, &str)],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("limit", "200"));
        if let Some(t) = token.as_deref() {
            q.push(("pageToken", t));
        }
        let (status, page) = read(bench, get(tenant, path, path, &q)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().expect("items") {
            out.insert(item[field].as_str().expect("id").to_string());
        }
        match page["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn tenant_a_sees_and_changes_nothing_of_tenant_b() {
    let sim_a = Simulator::new(
        TenantSpec::small()
            .with_seed(1)
            .with_agents(15)
            .with_threats(30),
    )
    .start()
    .await
    .expect("sim a");
    let sim_b = Simulator::new(
        TenantSpec::small()
            .with_seed(2)
            .with_agents(15)
            .with_threats(30),
    )
    .start()
    .await
    .expect("sim b");
    let bench = Bench::new().await;

    for (tenant, sim) in [(A, &sim_a), (B, &sim_b)] {
        let body =
            json!({ "consoleUrl": sim.base_url(), "apiToken": sim.token(), "autoSyncDays": 7 });
        let put = Event::new(
            "PUT",
            format!("{PREFIX}/config"),
            format!("{PREFIX}/config"),
        )
        .tenant(tenant)
        .json(&body)
        .request();
        let (status, saved, _) = parts(
            save_config::handle(&bench.save_config(), put)
                .await
                .expect("handler"),
        );
        assert_eq!(status, StatusCode::OK, "{saved}");
    }
    let seeded_a = seed_tenant(&bench.store, A, &sim_a, &sim_a.base_url()).await;
    let seeded_b = seed_tenant(&bench.store, B, &sim_b, &sim_b.base_url()).await;
    let second_b = seed_tenant(&bench.store, B, &sim_b, &sim_b.base_url()).await; // B has two runs: pages exist
    let field_b = Event::new("POST", "/v1/custom-fields", "/v1/custom-fields")
        .tenant(B)
        .json(&json!({ "name": "B Only Field" }))
        .request();
    assert_eq!(
        parts(
            custom_fields::handle(&bench.custom_fields(), field_b)
                .await
                .expect("handler")
        )
        .0,
        StatusCode::CREATED
    );
    let b_before = bench.footprint(B).await;
    let b_requests_before = sim_b.requests().len();

    // Config: A's own.
    let (status, config) = read(&bench, get(A, "/config", "/config", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["consoleUrl"], sim_a.base_url());

    // Assets and findings: exactly A's, over every page.
    let a_assets: BTreeSet<String> = seeded_a.asset_keys.iter().cloned().collect();
    assert_eq!(all(&bench, A, "/assets", "key", &[]).await, a_assets);
    let a_findings: BTreeSet<String> = seeded_a.finding_ids.iter().cloned().collect();
    assert_eq!(all(&bench, A, "/findings", "id", &[]).await, a_findings);
    let b_only_assets: Vec<&String> = seeded_b
        .asset_keys
        .iter()
        .filter(|k| !a_assets.contains(*k))
        .collect();
    assert!(
        !b_only_assets.is_empty(),
        "the two simulated tenants share no machine names"
    );
    for key in b_only_assets.iter().take(5) {
        // B's asset names as filters: nothing.
        assert!(
            all(&bench, A, "/findings", "id", &[("asset", key)])
                .await
                .is_empty(),
            "{key}"
        );
        assert!(
            all(&bench, A, "/assets", "key", &[("name", key)])
                .await
                .is_empty(),
            "{key}"
        );
    }

    // Runs: A's only; B's run ids are unknown to A.
    let runs_a = all(&bench, A, "/sync-runs", "id", &[]).await;
    assert_eq!(runs_a, BTreeSet::from([seeded_a.run_id.clone()]));
    for run in [&seeded_b.run_id, &second_b.run_id] {
        let (status, problem) = read(
            &bench,
            Event::new(
                "GET",
                format!("{PREFIX}/sync-runs/{run}"),
                format!("{PREFIX}/sync-runs/{{id}}"),
            )
            .tenant(A)
            .path_param("id", run)
            .request(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    }
    let (status, run_b) = read(
        &bench,
        Event::new(
            "GET",
            format!("{PREFIX}/sync-runs/{}", seeded_b.run_id),
            format!("{PREFIX}/sync-runs/{{id}}"),
        )
        .tenant(B)
        .path_param("id", &seeded_b.run_id)
        .request(),
    )
    .await;
    assert_eq!(
        (status, run_b["id"].as_str()),
        (StatusCode::OK, Some(seeded_b.run_id.as_str())),
        "B reads its own run"
    );
    assert!(run_b.get("tenant").is_none());

    // B's page tokens are refused for A on every listing (and never yield B's items).
    for (path, limit) in [("/assets", "1"), ("/findings", "1"), ("/sync-runs", "1")] {
        let (status, page_b) = read(&bench, get(B, path, path, &[("limit", limit)])).await;
        assert_eq!(status, StatusCode::OK);
        let token = page_b["nextPageToken"]
            .as_str()
            .unwrap_or_else(|| panic!("B has a second page of {path}"))
            .to_string();
        let (status, problem) = read(&bench, get(A, path, path, &[("pageToken", &token)])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "pageToken");
        // And B's token for assets does not open A's findings either (bound to the view).
        if path == "/assets" {
            let (status, _) = read(
                &bench,
                get(B, "/findings", "/findings", &[("pageToken", &token)]),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
        }
    }

    // Custom fields: B's are invisible and cannot be deleted by A; the same name is A's own to define.
    let list = Event::new("GET", "/v1/custom-fields", "/v1/custom-fields")
        .tenant(A)
        .request();
    let (status, fields, _) = parts(
        custom_fields::handle(&bench.custom_fields(), list)
            .await
            .expect("handler"),
    );
    assert_eq!(
        (status, fields["items"].clone()),
        (StatusCode::OK, json!([]))
    );
    let del = Event::new(
        "DELETE",
        "/v1/custom-fields/B%20Only%20Field",
        "/v1/custom-fields/{name}",
    )
    .tenant(A)
    .path_param("name", "B Only Field")
    .request();
    assert_eq!(
        parts(
            custom_fields::handle(&bench.custom_fields(), del)
                .await
                .expect("handler")
        )
        .0,
        StatusCode::NOT_FOUND
    );
    let same = Event::new("POST", "/v1/custom-fields", "/v1/custom-fields")
        .tenant(A)
        .json(&json!({ "name": "b only field" }))
        .request();
    assert_eq!(
        parts(
            custom_fields::handle(&bench.custom_fields(), same)
                .await
                .expect("handler")
        )
        .0,
        StatusCode::CREATED
    );

    // Test connection with the stored settings: A's console only.
    let test = Event::new(
        "POST",
        format!("{PREFIX}/test-connection"),
        format!("{PREFIX}/test-connection"),
    )
    .tenant(A)
    .json(&json!({}))
    .request();
    let (status, report, _) = parts(
        test_connection::handle(&bench.test_connection(), test)
            .await
            .expect("handler"),
    );
    assert_eq!(
        (status, report["passed"].clone()),
        (StatusCode::OK, json!(true)),
        "{report}"
    );

    // Save and disconnect as A: B untouched.
    let update = json!({ "analystVerdicts": ["false_positive"], "autoSyncDays": null, "skipConnectionTest": true });
    let put = Event::new(
        "PUT",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(A)
    .json(&update)
    .request();
    assert_eq!(
        parts(
            save_config::handle(&bench.save_config(), put)
                .await
                .expect("handler")
        )
        .0,
        StatusCode::OK
    );
    let del = Event::new(
        "DELETE",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant(A)
    .request();
    assert_eq!(
        parts(
            disconnect::handle(&bench.disconnect(), del)
                .await
                .expect("handler")
        )
        .0,
        StatusCode::NO_CONTENT
    );

    let b_after = bench.footprint(B).await;
    let changed = b_after.0.iter().filter(|i| !b_before.0.contains(i)).count();
    assert!(
        b_after == b_before,
        "nothing of B may change: {} items before, {} after, {changed} differ; secret unchanged: {}",
        b_before.0.len(),
        b_after.0.len(),
        b_after.1 == b_before.1
    );
    assert_eq!(
        sim_b.requests().len(),
        b_requests_before,
        "no request as A reached B's console"
    );
    let (status, config_b) = read(&bench, get(B, "/config", "/config", &[])).await;
    assert_eq!(
        (status, config_b["consoleUrl"].as_str()),
        (StatusCode::OK, Some(sim_b.base_url().as_str()))
    );
}

#[tokio::test]
async fn routes_outside_the_api_and_requests_without_a_tenant_are_refused() {
    let bench = Bench::new().await;
    let (status, problem) = read(
        &bench,
        api_tests::sample_request("read-api", "unknown-route.json", A, None),
    )
    .await;
    assert_eq!(
        (status, problem["type"].clone()),
        (
            StatusCode::NOT_FOUND,
            json!("urn:s1-connector:problem:not-found")
        )
    );
    let post = Event::new(
        "POST",
        format!("{PREFIX}/assets"),
        format!("{PREFIX}/assets"),
    )
    .tenant(A)
    .request();
    assert_eq!(read(&bench, post).await.0, StatusCode::NOT_FOUND);
    let anonymous = Event::new(
        "GET",
        format!("{PREFIX}/assets"),
        format!("{PREFIX}/assets"),
    )
    .request();
    assert_eq!(read(&bench, anonymous).await.0, StatusCode::UNAUTHORIZED);
    // A claim that is not a usable tenant id (it could break out of a key) is refused like a missing one.
    let forged = Event::new(
        "GET",
        format!("{PREFIX}/config"),
        format!("{PREFIX}/config"),
    )
    .tenant("b#CONFIG")
    .request();
    assert_eq!(read(&bench, forged).await.0, StatusCode::UNAUTHORIZED);
    let bad_filter = get(
        A,
        "/findings",
        "/findings",
        &[
            ("status", "open"),
            ("severity", "urgent"),
            ("verdict", "maybe"),
            ("sort", "name"),
            ("limit", "0"),
        ],
    );
    let (status, problem) = read(&bench, bad_filter).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: BTreeSet<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["status", "severity", "verdict", "sort", "limit"])
    );
    // Every sample event of the read views is answered by its route (here: nothing configured, nothing stored).
    for (file, expect) in [
        ("get-config.json", StatusCode::NOT_FOUND),
        ("list-assets.json", StatusCode::OK),
        ("list-findings.json", StatusCode::OK),
        ("list-sync-runs.json", StatusCode::OK),
        ("get-sync-run.json", StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            read(&bench, api_tests::sample_request("read-api", file, A, None))
                .await
                .0,
            expect,
            "{file}"
        );
    }
    for (file, expect) in [
        ("list-custom-fields.json", StatusCode::OK),
        ("create-custom-field.json", StatusCode::CREATED),
        ("delete-custom-field.json", StatusCode::NO_CONTENT),
    ] {
        let r = api_tests::sample_request("custom-fields", file, A, None);
        assert_eq!(
            parts(
                custom_fields::handle(&bench.custom_fields(), r)
                    .await
                    .expect("handler")
            )
            .0,
            expect,
            "{file}"
        );
    }
    let dup = || {
        Event::new("POST", "/v1/custom-fields", "/v1/custom-fields")
            .tenant(A)
            .json(&json!({ "name": "Owner" }))
            .request()
    };
    assert_eq!(
        parts(
            custom_fields::handle(&bench.custom_fields(), dup())
                .await
                .expect("handler")
        )
        .0,
        StatusCode::CREATED
    );
    let (status, problem, _) = parts(
        custom_fields::handle(&bench.custom_fields(), dup())
            .await
            .expect("handler"),
    );
    assert_eq!(
        (status, problem["type"].clone()),
        (
            StatusCode::CONFLICT,
            json!("urn:s1-connector:problem:conflict")
        )
    );
    let bad = Event::new("POST", "/v1/custom-fields", "/v1/custom-fields")
        .tenant(A)
        .json(&json!({ "name": "a/b" }))
        .request();
    let (status, problem, _) = parts(
        custom_fields::handle(&bench.custom_fields(), bad)
            .await
            .expect("handler"),
    );
    assert_eq!(
        (status, problem["errors"][0]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("name"))
    );
}
