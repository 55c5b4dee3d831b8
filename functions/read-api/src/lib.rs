//! The read views of one tenant, routed by method and path: `GET …/sentinelone/config`, `…/assets`, `…/findings`,
//! `…/sync-runs` and `…/sync-runs/{id}`. Every query is bound to the caller's tenant partition, and page tokens are
//! signed for the tenant, view and filter, so nothing of another tenant can be named or reached from here.

use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::{Map, Value};

use connector_store::{AssetFilter, FindingFilter, StoreError, SyncRun, TenantId};
use http_api::{
    bounded_query_param, json, page_limit, path_param, ApiError, FieldError, LengthLimit,
};
use s1_core::AnalystVerdict;
use tenant_config::{caller_tenant, SourceView, TenantConfigService};

const PREFIX: &str = "/v1/integrations/sentinelone";

/// Run ids are 1 to 64 characters of A-Z, a-z, 0-9 and '-' (the store's rule); a longer one is a bad request rather
/// than an unknown run.
const RUN_ID_LIMIT: LengthLimit = LengthLimit::ascii(64);

/// Built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: TenantConfigService,
    pub tenant_claim: String,
}

/// The routes this function serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Config,
    Assets,
    Findings,
    Runs,
    Run(String),
}

fn route(request: &Request) -> Option<Route> {
    if request.method() != Method::GET {
        return None;
    }
    // API Gateway's route key names the template ("GET …/sync-runs/{id}"); the path is the fallback for local runs.
    let route_key = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone(),
        _ => None,
    };
    let path = request.uri().path().trim_end_matches('/');
    let rest = match route_key.as_deref().and_then(|k| k.strip_prefix("GET ")) {
        Some(template) if template != "$default" => template.strip_prefix(PREFIX)?.to_string(),
        _ => path.strip_prefix(PREFIX)?.to_string(),
    };
    match rest.as_str() {
        "/config" => Some(Route::Config),
        "/assets" => Some(Route::Assets),
        "/findings" => Some(Route::Findings),
        "/sync-runs" => Some(Route::Runs),
        "/sync-runs/{id}" => path_param(request, "id").map(Route::Run),
        other => other
            .strip_prefix("/sync-runs/")
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .map(|id| Route::Run(id.to_string())),
    }
}

/// Answers the view the method and path name; an unknown route is a 404 problem.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let tenant = caller_tenant(request, &deps.tenant_claim)?;
    let Some(route) = route(request) else {
        return Err(ApiError::NotFound(
            "no such route: check the method and path against the API document".into(),
        ));
    };
    if let Route::Run(id) = &route {
        RUN_ID_LIMIT
            .check("id", id)
            .map_err(|e| ApiError::Validation(vec![e]))?;
    }
    match route {
        Route::Config => Ok(json(StatusCode::OK, &deps.config.view(&tenant).await?)),
        Route::Assets => assets(deps, request, &tenant).await,
        Route::Findings => findings(deps, request, &tenant).await,
        Route::Runs => runs(deps, request, &tenant).await,
        Route::Run(id) => match deps
            .config
            .store
            .get_run(&tenant, &id)
            .await
            .map_err(store_error)?
        {
            Some(run) => Ok(json(StatusCode::OK, &run_view(&run))),
            None => Err(ApiError::NotFound(format!(
                "no sync run {id} exists for this tenant"
            ))),
        },
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::InvalidPageToken => {
            ApiError::Validation(vec![FieldError::new("pageToken", e.to_string())])
        }
        StoreError::InvalidInput(message) => {
            ApiError::Validation(vec![FieldError::new("query", message)])
        }
        other => ApiError::from(tenant_config::ConfigError::Store(other)),
    }
}

/// A query value that must be one of an enum's API spellings.
fn enum_param<T: serde::de::DeserializeOwned>(
    request: &Request,
    name: &str,
    accepted: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let raw = bounded_query_param(request, name, LengthLimit::KEYWORD, errors)?;
    match serde_json::from_value(Value::String(raw.to_ascii_lowercase())) {
        Ok(v) => Some(v),
        Err(_) => {
            errors.push(FieldError::new(name, format!("must be one of: {accepted}")));
            None
        }
    }
}

fn bool_param(request: &Request, name: &str, errors: &mut Vec<FieldError>) -> Option<bool> {
    match bounded_query_param(request, name, LengthLimit::KEYWORD, errors)?.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errors.push(FieldError::new(name, "must be true or false"));
            None
        }
    }
}

fn page_token(request: &Request, errors: &mut Vec<FieldError>) -> Option<String> {
    bounded_query_param(request, "pageToken", LengthLimit::PAGE_TOKEN, errors)
}

fn limit_and_errors(request: &Request, errors: &mut Vec<FieldError>) -> u32 {
    match page_limit(request) {
        Ok(l) => l,
        Err(ApiError::Validation(mut e)) => {
            errors.append(&mut e);
            50
        }
        Err(_) => 50,
    }
}

async fn page_response<T: serde::Serialize>(
    deps: &Deps,
    tenant: &TenantId,
    items: &[T],
    next: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let source = deps.config.source(tenant).await?;
    let items: Vec<Value> = items
        .iter()
        .map(|i| camel_case(serde_json::to_value(i).unwrap_or_default()))
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "items": items, "nextPageToken": next, "source": SourceView::from(&source) }),
    ))
}

async fn assets(
    deps: &Deps,
    request: &Request,
    tenant: &TenantId,
) -> Result<Response<Body>, ApiError> {
    let mut errors = Vec::new();
    let filter = AssetFilter {
        name_prefix: bounded_query_param(request, "name", LengthLimit::NAME, &mut errors),
        active: bool_param(request, "active", &mut errors),
    };
    let limit = limit_and_errors(request, &mut errors);
    let token = page_token(request, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = deps
        .config
        .store
        .list_assets(tenant, &filter, token.as_deref(), limit)
        .await
        .map_err(store_error)?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(&a.asset).unwrap_or_default();
            if let Value::Object(o) = &mut v {
                // The store's lifecycle view wins over the agent's own flag: a retired asset is inactive.
                o.insert("active".into(), Value::Bool(a.active));
                o.insert(
                    "retired_at".into(),
                    serde_json::to_value(&a.retired_at).unwrap_or_default(),
                );
                o.insert("updated_at".into(), Value::String(a.updated_at.clone()));
            }
            v
        })
        .collect();
    page_response(deps, tenant, &items, page.next_page_token).await
}

async fn findings(
    deps: &Deps,
    request: &Request,
    tenant: &TenantId,
) -> Result<Response<Body>, ApiError> {
    let mut errors = Vec::new();
    let verdict = match bounded_query_param(request, "verdict", LengthLimit::KEYWORD, &mut errors) {
        None => None,
        Some(raw) => match AnalystVerdict::from_wire(&raw.to_ascii_lowercase()) {
            AnalystVerdict::Other(_) => {
                errors.push(FieldError::new(
                    "verdict",
                    format!("must be one of: {}", AnalystVerdict::KNOWN.join(", ")),
                ));
                None
            }
            known => Some(known),
        },
    };
    let filter = FindingFilter {
        status: enum_param(request, "status", "failed, passed", &mut errors),
        severity: enum_param(
            request,
            "severity",
            "critical, high, medium, low, info",
            &mut errors,
        ),
        asset: bounded_query_param(request, "asset", LengthLimit::NAME, &mut errors),
        verdict,
        // `attached=false` lists the findings whose asset does not exist (yet) in the platform.
        attached: bool_param(request, "attached", &mut errors),
    };
    // Findings are kept in id order only; other orders would need an index per sort key.
    if let Some(sort) = bounded_query_param(request, "sort", LengthLimit::KEYWORD, &mut errors) {
        if sort != "id" {
            errors.push(FieldError::new(
                "sort",
                "must be id (findings are listed by id)",
            ));
        }
    }
    let limit = limit_and_errors(request, &mut errors);
    let token = page_token(request, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = deps
        .config
        .store
        .list_findings(tenant, &filter, token.as_deref(), limit)
        .await
        .map_err(store_error)?;
    page_response(deps, tenant, &page.items, page.next_page_token).await
}

async fn runs(
    deps: &Deps,
    request: &Request,
    tenant: &TenantId,
) -> Result<Response<Body>, ApiError> {
    let mut errors = Vec::new();
    let limit = limit_and_errors(request, &mut errors);
    let token = page_token(request, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = deps
        .config
        .store
        .list_runs(tenant, token.as_deref(), limit)
        .await
        .map_err(store_error)?;
    let items: Vec<Value> = page.items.iter().map(run_view).collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "items": items, "nextPageToken": page.next_page_token }),
    ))
}

/// A run as the API shows it: camelCase, without the tenant (the caller's own).
fn run_view(run: &SyncRun) -> Value {
    let mut v = serde_json::to_value(run).unwrap_or_default();
    if let Value::Object(o) = &mut v {
        o.remove("tenant");
    }
    camel_case(v)
}

/// Field names to camelCase, recursively, except inside maps keyed by user or data values.
fn camel_case(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = Map::with_capacity(o.len());
            for (k, v) in o {
                let key = to_camel(&k);
                let value = if matches!(k.as_str(), "custom_fields" | "skip_reasons") {
                    v
                } else {
                    camel_case(v)
                };
                out.insert(key, value);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case).collect()),
        other => other,
    }
}

fn to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_leaves_data_keyed_maps_alone() {
        let v = camel_case(
            serde_json::json!({"os_name":"x","custom_fields":{"cost_center":"1"},"nested":[{"a_b":1}]}),
        );
        assert_eq!(
            v,
            serde_json::json!({"osName":"x","customFields":{"cost_center":"1"},"nested":[{"aB":1}]})
        );
    }
}
