//! The read views of one tenant, routed by method and path: `GET …/sentinelone/config`, `…/assets`,
//! `…/assets/{computerName}`, `…/findings`, `…/findings/{id}`, `…/sync-runs` and `…/sync-runs/{id}`. Every query
//! is bound to the caller's tenant partition, and page tokens are signed for the tenant, view and filter, so
//! nothing of another tenant can be named or reached from here. The views and their query rules live in `read-views` (and the configuration's in `tenant-config`); this crate only
//! routes a request to one and shapes the answer.

use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};

use http_api::{csv, json, path_param, query_param, Access, ApiError, Edge};
use read_views::{AssetQuery, FindingQuery, ReadViews, RunQuery, UnmatchedAnswer, UnmatchedQuery};
use tenant_config::TenantConfigService;

const PREFIX: &str = "/v1/integrations/sentinelone";

/// Built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: TenantConfigService,
    /// Tenant, admin scope for writes and the tenant's request limit.
    pub edge: Edge,
}

impl Deps {
    fn views(&self) -> ReadViews<'_> {
        ReadViews::new(&self.config.store)
    }
}

/// The routes this function serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Config,
    Assets,
    Findings,
    Finding(String),
    Asset(String),
    Runs,
    Run(String),
    Unmatched(String),
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
        "/sync-runs/{id}/unmatched" => path_param(request, "id").map(Route::Unmatched),
        "/findings/{id}" => path_param(request, "id").map(Route::Finding),
        "/assets/{computerName}" => path_param(request, "computerName").map(Route::Asset),
        other => {
            let one = |prefix: &str| {
                let id = other.strip_prefix(prefix)?;
                (!id.is_empty() && !id.contains('/')).then(|| id.to_string())
            };
            if let Some(id) = other
                .strip_prefix("/sync-runs/")
                .and_then(|r| r.strip_suffix("/unmatched"))
            {
                return (!id.is_empty() && !id.contains('/'))
                    .then(|| Route::Unmatched(id.to_string()));
            }
            one("/sync-runs/")
                .map(Route::Run)
                .or_else(|| one("/findings/").map(Route::Finding))
                .or_else(|| one("/assets/").map(Route::Asset))
        }
    }
}

/// Answers the view the method and path name; an unknown route is a 404 problem.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let tenant = deps.edge.admit(request, Access::Read).await?;
    let Some(route) = route(request) else {
        return Err(ApiError::NotFound(
            "no such route: check the method and path against the API document".into(),
        ));
    };
    let params = |name: &str| query_param(request, name);
    let views = deps.views();
    Ok(match route {
        Route::Config => json(StatusCode::OK, &deps.config.view(&tenant).await?),
        Route::Assets => {
            let query = AssetQuery::parse(&params).map_err(ApiError::Validation)?;
            json(StatusCode::OK, &views.assets(&tenant, query).await?)
        }
        Route::Findings => {
            let query = FindingQuery::parse(&params).map_err(ApiError::Validation)?;
            json(StatusCode::OK, &views.findings(&tenant, query).await?)
        }
        Route::Finding(id) => {
            let finding = views
                .finding(&tenant, &id, params("kind").as_deref())
                .await?;
            json(StatusCode::OK, &finding)
        }
        Route::Asset(name) => json(StatusCode::OK, &views.asset(&tenant, &name).await?),
        Route::Runs => {
            let query = RunQuery::parse(&params).map_err(ApiError::Validation)?;
            json(StatusCode::OK, &views.runs(&tenant, query).await?)
        }
        Route::Run(id) => json(StatusCode::OK, &views.run(&tenant, &id).await?),
        Route::Unmatched(id) => {
            let query = UnmatchedQuery::parse(&params).map_err(ApiError::Validation)?;
            match views.unmatched(&tenant, &id, query).await? {
                UnmatchedAnswer::Page(page) => json(StatusCode::OK, &page),
                // The id passed the run-id rule (A-Z, a-z, 0-9, '-') before the run was found.
                UnmatchedAnswer::Csv(text) => csv(&format!("unmatched-{id}.csv"), text),
            }
        }
    })
}
