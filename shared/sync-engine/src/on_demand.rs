//! "Sync now": record a pending run and queue it, unless the tenant has no configuration or a sync is running.

use std::time::Duration;

use connector_store::{ClaimError, RunStatus, Store, StoreError, SyncRun, TenantId, Trigger};
use tracing::{info, warn};

use crate::message::SyncMessage;
use crate::queue::{QueueError, SyncQueue};

/// A claimed run slot older than this is treated as abandoned (its worker chain died without finishing).
/// Generous: a 100k-agent tenant finishes in well under an hour even across continuations.
pub const RUN_SLOT_STALE_AFTER: Duration = Duration::from_secs(6 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("SentinelOne is not configured for this tenant: save a configuration first")]
    NotConfigured,
    #[error("a sync is already running for this tenant (run {run_id})")]
    AlreadyRunning { run_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Records a pending run for `tenant` and queues its first message. Exactly one of many concurrent callers wins
/// the tenant's run slot; the others get [`StartError::AlreadyRunning`] with the winner's run id.
pub async fn start_sync(
    store: &Store,
    queue: &SyncQueue,
    tenant: &TenantId,
    trigger: Trigger,
) -> Result<SyncRun, StartError> {
    if store.get_config(tenant).await?.is_none() {
        return Err(StartError::NotConfigured);
    }
    let run = SyncRun::new(tenant.clone(), trigger);
    match store
        .claim_run_slot(tenant, &run.id, RUN_SLOT_STALE_AFTER)
        .await
    {
        Ok(()) => {}
        Err(ClaimError::AlreadyRunning { run_id }) => {
            return Err(StartError::AlreadyRunning { run_id })
        }
        Err(ClaimError::Store(e)) => return Err(e.into()),
    }
    if let Err(e) = store.create_run(&run).await {
        release_quietly(store, tenant, &run.id).await;
        return Err(e.into());
    }
    if let Err(e) = queue
        .send(&SyncMessage::first(tenant.as_str(), &run.id))
        .await
    {
        abandon(store, tenant, run.clone(), &e.to_string()).await;
        return Err(e.into());
    }
    info!(tenant = %tenant.as_str(), run = %run.id, trigger = ?trigger, "sync queued");
    Ok(run)
}

/// A run that could not be queued is marked failed (the history says why) and frees the slot.
pub(crate) async fn abandon(store: &Store, tenant: &TenantId, mut run: SyncRun, cause: &str) {
    run.finish(
        RunStatus::Failed,
        Some(format!("the sync could not be queued: {cause}")),
    );
    if let Err(e) = store.update_run(&run).await {
        warn!(tenant = %tenant.as_str(), run = %run.id, error = %e, "could not record the queueing failure");
    }
    release_quietly(store, tenant, &run.id).await;
}

async fn release_quietly(store: &Store, tenant: &TenantId, run_id: &str) {
    if let Err(e) = store.release_run_slot(tenant, run_id).await {
        warn!(tenant = %tenant.as_str(), run = %run_id, error = %e, "could not release the run slot; it expires on its own");
    }
}
