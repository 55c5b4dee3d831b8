//! `POST /v1/integrations/sentinelone/test-connection`: runs the connection test for the URL and token in the body
//! (or the tenant's stored ones) and answers the per-check report. Writes nothing.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

use http_api::{caller_tenant, json, json_body, ApiError};
use tenant_config::{ConfigBody, TenantConfigService};

/// Built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: TenantConfigService,
    pub tenant_claim: String,
}

/// 200 with the report whether or not the test passed (`passed` says which); 400 for an unusable body.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let tenant = caller_tenant(request, &deps.tenant_claim)?;
    let body: ConfigBody = json_body(request)?;
    let report = deps.config.test_connection(&tenant, body).await?;
    Ok(json(StatusCode::OK, &report))
}
