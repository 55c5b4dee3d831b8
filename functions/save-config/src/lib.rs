//! `PUT /v1/integrations/sentinelone/config`: validates every field (400 with all field errors), runs the connection
//! test unless skipped (422 with the report when it fails), then saves.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

use http_api::{json, json_body, ApiError};
use tenant_config::{caller_tenant, ConfigBody, TenantConfigService};

/// Built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: TenantConfigService,
    pub tenant_claim: String,
}

/// 200 with the saved configuration (never the token) and the connection test's report.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let tenant = caller_tenant(request, &deps.tenant_claim)?;
    let body: ConfigBody = json_body(request)?;
    let outcome = deps.config.save(&tenant, body).await?;
    Ok(json(StatusCode::OK, &outcome))
}
