//! `DELETE /v1/integrations/sentinelone/config`: deletes the configuration and the token; the imported assets and
//! findings stay, labelled as from a disconnected source.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

use http_api::{Access, ApiError, Edge};
use tenant_config::TenantConfigService;

/// Built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: TenantConfigService,
    /// Tenant, admin scope for writes and the tenant's request limit.
    pub edge: Edge,
}

/// 204 when a configuration was removed; 404 when none existed.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let tenant = deps.edge.admit(request, Access::Write).await?;
    deps.config.disconnect(&tenant).await?;
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
