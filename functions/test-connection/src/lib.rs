//! `POST /v1/integrations/sentinelone/test-connection`: runs the connection test for the URL and token in the body
//! (or the tenant's stored ones) and answers the per-check report. Writes nothing, but needs the admin scope like a
//! write: it can send the stored token to a console.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

use http_api::{json, json_body, Access, ApiError, Edge};
use tenant_config::{ConfigBody, TenantConfigService};

/// Built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: TenantConfigService,
    /// Tenant, admin scope for writes and the tenant's request limit.
    pub edge: Edge,
}

/// 200 with the report whether or not the test passed (`passed` says which); 400 for an unusable body.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    // A write by rule: it sends the tenant's stored token to a console.
    let tenant = deps.edge.admit(request, Access::Write).await?;
    let body: ConfigBody = json_body(request)?;
    let report = deps.config.test_connection(&tenant, body).await?;
    Ok(json(StatusCode::OK, &report))
}
