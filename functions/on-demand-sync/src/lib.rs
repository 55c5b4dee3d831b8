//! Sync now: `POST /v1/integrations/sentinelone/sync` records a pending run for the caller's tenant, queues it and
//! answers 202 with the run id and where to watch it; 409 with the running run's id while a sync runs.

use connector_store::{Store, Trigger};
use http_api::{json, json_body, Access, ApiError, Edge};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use serde::{Deserialize, Serialize};
use sync_engine::{start_dry_run, start_sync, StartError, SyncQueue};
use tracing::error;

pub struct Deps {
    pub store: Store,
    pub queue: SyncQueue,
    /// Tenant, admin scope for writes and the tenant's request limit.
    pub edge: Edge,
}

/// The body is optional; unknown fields are refused so typos are not silently ignored. `dryRun`: decide
/// everything, write no asset or finding, and report what a real run would do.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SyncRequest {
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    run_id: String,
    status: &'static str,
    status_url: String,
}

pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(match accept(deps, &request).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    })
}

async fn accept(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let tenant = deps.edge.admit(request, Access::Write).await?;
    let body: SyncRequest = json_body(request)?;
    let started = if body.dry_run {
        start_dry_run(&deps.store, &deps.queue, &tenant).await
    } else {
        start_sync(&deps.store, &deps.queue, &tenant, Trigger::OnDemand).await
    };
    let run = started.inspect_err(|e| {
        // Not configured and already running are answers; anything else is ours to look into.
        if matches!(e, StartError::Store(_) | StartError::Queue(_)) {
            error!(tenant = %tenant, error = %e, "could not start the sync");
        }
    })?;
    Ok(json(
        StatusCode::ACCEPTED,
        &Accepted {
            status_url: format!("/v1/integrations/sentinelone/sync-runs/{}", run.id),
            run_id: run.id,
            status: "pending",
        },
    ))
}
