//! `PUT /v1/integrations/sentinelone/config`: validates every field (400 with all field errors), runs the connection
//! test unless skipped (422 with the report when it fails), then saves. When the stored findings follow an older
//! verdict list than the saved one, a sync run is queued to re-evaluate them (the response names it).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

use http_api::{json, json_body, Access, ApiError, Edge};
use sync_engine::{start_pending_reevaluation, Reevaluation, SyncQueue};
use tenant_config::{ConfigBody, SaveOutcome, TenantConfigService};

/// Built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: TenantConfigService,
    /// The sync queue, for the run that re-evaluates findings after a verdict-list change.
    pub queue: SyncQueue,
    /// Tenant, admin scope for writes and the tenant's request limit.
    pub edge: Edge,
}

/// The save's outcome and where the re-evaluation of stored findings stands.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SaveResponse {
    #[serde(flatten)]
    outcome: SaveOutcome,
    reevaluation: Reevaluation,
}

/// 200 with the saved configuration (never the token) and the connection test's report.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let tenant = deps.edge.admit(request, Access::Write).await?;
    let body: ConfigBody = json_body(request)?;
    let outcome = deps.config.save(&tenant, body).await?;
    // Asked after every save, not only one that changed the list: a retried save whose first attempt stored the
    // list but never queued its run still gets one.
    let reevaluation = match start_pending_reevaluation(&deps.config.store, &deps.queue, &tenant)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            // The configuration is saved and keeps the list's version, so the next sync re-evaluates anyway; the
            // save is not reported as failed.
            tracing::warn!(tenant = %tenant, error = %e, "configuration saved but the re-evaluation run could not be queued");
            Reevaluation {
                pending: true,
                run_id: None,
            }
        }
    };
    Ok(json(
        StatusCode::OK,
        &SaveResponse {
            outcome,
            reevaluation,
        },
    ))
}
