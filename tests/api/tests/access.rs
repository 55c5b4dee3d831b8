//! Least privilege at the edge, route by route as the template deploys them: a caller of the tenant without the
//! admin scope reads every view (200) and is refused every write (403 problem+json, nothing stored changes); the
//! same writes with the scope go through. And each tenant's requests are limited on their own: a tenant over its
//! burst gets 429 with `Retry-After` while another tenant's requests still pass.

use std::collections::BTreeSet;

use api_tests::{parts, seed_tenant, template_routes, Bench, Event, PREFIX};
use connector_store::RateLimit;
use http_api::Edge;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use s1_simulator::{Simulator, TenantSpec};
use serde_json::{json, Value};

/// Every route that changes something, in an order in which each succeeds for an admin (disconnect last), with a
/// body that makes it succeed and the status it answers.
fn writes() -> Vec<(&'static str, &'static str, Value, StatusCode)> {
    vec![
        ("POST", "/test-connection", json!({}), StatusCode::OK),
        (
            "PUT",
            "/config",
            json!({ "autoSyncDays": 7, "skipConnectionTest": true }),
            StatusCode::OK,
        ),
        (
            "PUT",
            "/assets/{computerName}",
            json!({}),
            StatusCode::CREATED,
        ),
        ("POST", "/asset-imports", Value::Null, StatusCode::OK),
        ("POST", "/sync", json!({}), StatusCode::ACCEPTED),
        (
            "POST",
            "custom-fields",
            json!({ "name": "Owner" }),
            StatusCode::CREATED,
        ),
        (
            "DELETE",
            "custom-fields/{name}",
            Value::Null,
            StatusCode::NO_CONTENT,
        ),
        ("DELETE", "/config", Value::Null, StatusCode::NO_CONTENT),
    ]
}

/// The route template as the template names it: `/v1/integrations/sentinelone…` or `/v1/custom-fields…`.
fn full(path: &str) -> String {
    match path.strip_prefix("custom-fields") {
        Some(rest) => format!("/v1/custom-fields{rest}"),
        None => format!("{PREFIX}{path}"),
    }
}

fn event(method: &'static str, template: &str, tenant: &str, run_id: &str, body: &Value) -> Event {
    let path = template
        .replace("{computerName}", "laptop-9")
        .replace("{name}", "Owner")
        .replace("{id}", run_id);
    let mut e = Event::new(method, path, template).tenant(tenant);
    for (param, value) in [
        ("computerName", "laptop-9"),
        ("name", "Owner"),
        ("id", run_id),
    ] {
        if template.contains(&format!("{{{param}}}")) {
            e = e.path_param(param, value);
        }
    }
    if template.ends_with("/asset-imports") {
        e = e
            .content_type("application/x-ndjson")
            .body("{\"computerName\":\"imported-1\"}\n");
    } else if !body.is_null() {
        e = e.json(body);
    }
    e
}

/// The handler the template deploys `route` to.
async fn serve(bench: &Bench, binary: &str, request: Request) -> Response<Body> {
    match binary {
        "test-connection" => test_connection::handle(&bench.test_connection(), request).await,
        "save-config" => save_config::handle(&bench.save_config(), request).await,
        "read-api" => read_api::handle(&bench.read_api(), request).await,
        "disconnect" => disconnect::handle(&bench.disconnect(), request).await,
        "custom-fields" => custom_fields::handle(&bench.custom_fields(), request).await,
        "asset-registry" => asset_registry::handle(&bench.asset_registry(), request).await,
        "on-demand-sync" => on_demand_sync::handle(&bench.on_demand_sync(), request).await,
        other => panic!("{other} serves no API route"),
    }
    .expect("handler")
}

#[tokio::test]
async fn a_read_only_caller_reads_every_view_and_is_refused_every_write() {
    let sim = Simulator::new(TenantSpec::small().with_agents(4).with_threats(3))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;
    let tenant = "least-privilege";
    // A configured tenant with data and a run, saved by an admin.
    let save = json!({ "consoleUrl": sim.base_url(), "apiToken": sim.token() });
    let response = serve(
        &bench,
        "save-config",
        event("PUT", &full("/config"), tenant, "", &save).request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let seeded = seed_tenant(&bench.store, tenant, &sim, &sim.base_url()).await;

    let routes = template_routes();
    let write_routes: BTreeSet<String> = routes
        .keys()
        .filter(|r| !r.starts_with("GET "))
        .cloned()
        .collect();
    let listed: BTreeSet<String> = writes()
        .iter()
        .map(|(m, p, _, _)| format!("{m} {}", full(p)))
        .collect();
    assert_eq!(
        listed, write_routes,
        "every write route the template deploys is checked here"
    );

    // Reads: only the tenant.
    let mut reads = 0;
    for (route, binary) in routes.iter().filter(|(r, _)| r.starts_with("GET ")) {
        let template = &route["GET ".len()..];
        if !template.starts_with("/v1/") {
            continue; // the console's public files
        }
        // The detail routes name a record the tenant has: its first asset, its first finding.
        let detail = match template {
            t if t.ends_with("/assets/{computerName}") => {
                Some(("computerName", &seeded.asset_keys[0]))
            }
            t if t.ends_with("/findings/{id}") => Some(("id", &seeded.finding_ids[0])),
            _ => None,
        };
        let request = match detail {
            Some((param, value)) => Event::new(
                "GET",
                template.replace(&format!("{{{param}}}"), value),
                template,
            )
            .tenant(tenant)
            .path_param(param, value),
            None => event("GET", template, tenant, &seeded.run_id, &Value::Null),
        }
        .read_only()
        .request();
        let (status, body, _) = parts(serve(&bench, binary, request).await);
        assert_eq!(status, StatusCode::OK, "read-only {route}: {body}");
        reads += 1;
    }
    assert_eq!(reads, 9, "nine read routes");

    // Writes without the scope: 403 problem+json naming the scope, and nothing written.
    let before = bench.footprint(tenant).await;
    for (method, path, body, _) in writes() {
        let route = format!("{method} {}", full(path));
        let request = event(method, &full(path), tenant, "", &body)
            .read_only()
            .request();
        let response = serve(&bench, &routes[&route], request).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "read-only {route}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let (_, problem, _) = parts(response);
        assert_eq!(problem["type"], "urn:s1-connector:problem:forbidden");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(http_api::DEFAULT_ADMIN_SCOPE)),
            "{problem}"
        );
    }
    assert_eq!(
        bench.footprint(tenant).await,
        before,
        "a refused write changes nothing"
    );

    // The same writes with the admin scope succeed.
    for (method, path, body, expected) in writes() {
        let route = format!("{method} {}", full(path));
        let request = event(method, &full(path), tenant, "", &body).request();
        let (status, answer, _) = parts(serve(&bench, &routes[&route], request).await);
        assert_eq!(status, expected, "admin {route}: {answer}");
    }
}

#[tokio::test]
async fn a_tenant_over_its_request_limit_gets_429_with_retry_after_and_another_tenant_does_not() {
    let mut bench = Bench::new().await;
    // One request every 100 s, three at once: the test's requests all fall inside one interval.
    let limit = RateLimit::new(0.01, 3).expect("limit");
    bench.edge = Edge::new("tenant_id").with_limit(bench.store.clone(), limit);
    let fields = |tenant: &str| {
        Event::new("GET", "/v1/custom-fields", "/v1/custom-fields")
            .tenant(tenant)
            .read_only()
            .request()
    };
    for i in 0..3 {
        let response = custom_fields::handle(&bench.custom_fields(), fields("busy"))
            .await
            .expect("handler");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "request {i} of the burst"
        );
    }
    // The fourth, through another function: the bucket is the tenant's, not a function's.
    let response = read_api::handle(
        &bench.read_api(),
        Event::new(
            "GET",
            format!("{PREFIX}/sync-runs"),
            format!("{PREFIX}/sync-runs"),
        )
        .tenant("busy")
        .request(),
    )
    .await
    .expect("handler");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=100).contains(&retry_after), "{retry_after}");
    let (_, problem, _) = parts(response);
    assert_eq!(
        problem["type"],
        "urn:s1-connector:problem:too-many-requests"
    );
    assert_eq!(problem["retryAfterSeconds"], retry_after);

    // A write over the limit is refused too, and writes nothing.
    let before = bench.footprint("busy").await;
    let response = custom_fields::handle(
        &bench.custom_fields(),
        Event::new("POST", "/v1/custom-fields", "/v1/custom-fields")
            .tenant("busy")
            .json(&json!({ "name": "Owner" }))
            .request(),
    )
    .await
    .expect("handler");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(bench.footprint("busy").await, before);

    // Another tenant's requests are not affected.
    for i in 0..3 {
        let response = custom_fields::handle(&bench.custom_fields(), fields("quiet"))
            .await
            .expect("handler");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "other tenant, request {i}"
        );
    }
}
