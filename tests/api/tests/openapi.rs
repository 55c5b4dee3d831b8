//! The API document and the deployment agree: every HttpApi route of `infra/template.yaml` is documented in
//! `docs/openapi.yaml` and every documented route is deployed; and every route deployed to one of these handlers is
//! actually served by it (not answered with the handler's unknown-route problem).

use std::collections::BTreeSet;
use std::path::PathBuf;

use api_tests::{parts, template_routes, Bench, Event};
use lambda_http::http::StatusCode;
use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn documented_routes() -> BTreeSet<String> {
    let doc = yaml("docs/openapi.yaml");
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true),
        "OpenAPI 3.1"
    );
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        let path = path.as_str().expect("path");
        for (method, _) in item.as_mapping().expect("path item") {
            let method = method.as_str().expect("method");
            if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&method) {
                routes.insert(format!("{} {path}", method.to_ascii_uppercase()));
            }
        }
    }
    routes
}

#[test]
fn every_deployed_route_is_documented_and_every_documented_route_is_deployed() {
    let deployed: BTreeSet<String> = template_routes().into_keys().collect();
    let documented = documented_routes();
    assert!(deployed.len() >= 12, "{deployed:?}");
    let undocumented: Vec<_> = deployed.difference(&documented).collect();
    let undeployed: Vec<_> = documented.difference(&deployed).collect();
    assert!(
        undocumented.is_empty() && undeployed.is_empty(),
        "undocumented: {undocumented:?}; documented but not deployed: {undeployed:?}"
    );
}

#[test]
fn every_problem_type_the_edge_emits_is_documented() {
    let doc = yaml("docs/openapi.yaml");
    let types: BTreeSet<&str> = doc["components"]["schemas"]["Problem"]["properties"]["type"]
        ["enum"]
        .as_sequence()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    use http_api::ApiError;
    // One value of every variant: a new variant without a documented type fails here.
    let every = [
        ApiError::Unauthenticated,
        ApiError::Forbidden(String::new()),
        ApiError::TooManyRequests {
            retry_after_secs: 1,
        },
        ApiError::InvalidBody(String::new()),
        ApiError::Validation(Vec::new()),
        ApiError::PayloadTooLarge,
        ApiError::NotFound(String::new()),
        ApiError::Conflict {
            detail: String::new(),
            extra: None,
        },
        ApiError::Unprocessable(String::new()),
        ApiError::ConnectionTestFailed {
            detail: String::new(),
            report: serde_json::Value::Null,
        },
        ApiError::Internal,
    ];
    for e in &every {
        match e {
            ApiError::Unauthenticated
            | ApiError::Forbidden(_)
            | ApiError::TooManyRequests { .. }
            | ApiError::InvalidBody(_)
            | ApiError::Validation(_)
            | ApiError::PayloadTooLarge
            | ApiError::NotFound(_)
            | ApiError::Conflict { .. }
            | ApiError::Unprocessable(_)
            | ApiError::ConnectionTestFailed { .. }
            | ApiError::Internal => (),
        }
        assert!(
            types.contains(e.problem_type()),
            "{} is not in the Problem schema",
            e.problem_type()
        );
    }
    assert_eq!(
        types.len(),
        every.len(),
        "the Problem schema documents a type no error has"
    );
}

#[tokio::test]
async fn every_route_deployed_to_these_handlers_is_served_by_them() {
    let bench = Bench::new().await;
    let mut served = 0;
    for (route, binary) in template_routes() {
        let (method, template_path) = route.split_once(' ').expect("METHOD path");
        let method: &'static str = match method {
            "GET" => "GET",
            "PUT" => "PUT",
            "POST" => "POST",
            "DELETE" => "DELETE",
            other => panic!("unexpected method {other}"),
        };
        let path = template_path
            .replace("{id}", "20261125T120000000Z-0000abcd")
            .replace("{name}", "Owner")
            .replace("{computerName}", "laptop-1");
        let mut event = Event::new(method, path, template_path)
            .tenant("routes")
            .body("{}");
        if template_path.contains("{id}") {
            event = event.path_param("id", "20261125T120000000Z-0000abcd");
        }
        if template_path.contains("{name}") {
            event = event.path_param("name", "Owner");
        }
        if template_path.contains("{computerName}") {
            event = event.path_param("computerName", "laptop-1");
        }
        let request = event.request();
        let response = match binary.as_str() {
            "test-connection" => test_connection::handle(&bench.test_connection(), request).await,
            "save-config" => save_config::handle(&bench.save_config(), request).await,
            "read-api" => read_api::handle(&bench.read_api(), request).await,
            "disconnect" => disconnect::handle(&bench.disconnect(), request).await,
            "custom-fields" => custom_fields::handle(&bench.custom_fields(), request).await,
            "asset-registry" => asset_registry::handle(&bench.asset_registry(), request).await,
            _ => continue, // the sync handlers are tested with the sync engine
        };
        let (status, body, _) = parts(response.expect("handler"));
        let unknown_route = status == StatusCode::NOT_FOUND
            && body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("no such route"));
        assert!(
            !unknown_route,
            "{route} is deployed to {binary} but not served by it"
        );
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{route}: {body}");
        served += 1;
    }
    assert_eq!(served, 16, "the six handlers serve sixteen routes");
}

#[test]
fn every_sample_event_is_an_api_gateway_v2_request_with_a_tenant_claim_for_a_deployed_route() {
    let routes = template_routes();
    let mut seen = 0;
    for function in [
        "test-connection",
        "save-config",
        "read-api",
        "disconnect",
        "custom-fields",
        "asset-registry",
    ] {
        let dir = root().join("functions").join(function).join("events");
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let request = lambda_http::request::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                http_api::tenant_of(&request, "tenant_id").is_ok(),
                "{} carries requestContext.authorizer.jwt.claims.tenant_id",
                path.display()
            );
            let event: serde_json::Value = serde_json::from_str(&text).expect("json");
            let route_key = event["routeKey"].as_str().expect("routeKey");
            if route_key.ends_with("$default") {
                continue; // the deliberate unknown-route sample
            }
            assert_eq!(
                routes.get(route_key).map(String::as_str),
                Some(function),
                "{}: {route_key}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 13, "{seen}");
}
