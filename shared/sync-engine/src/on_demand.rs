//! Starting a run, the one way sync-now, the daily fan-out and a deferred scheduled run all use: claim the tenant's
//! run slot → record the pending run → queue its first message. Each step that fails undoes the earlier ones (the
//! run is marked failed with the reason, the slot freed or its deferred request put back), so a failed start never
//! leaves a slot claimed for [`RUN_SLOT_STALE_AFTER`] nor a run pending forever.
//!
//! The fan-out queues its messages in batches, so the path is split in two: [`reserve_run`] /
//! [`reserve_deferred_run`] (slot + run) and [`ReservedRun::queue`] / [`ReservedRun::abandon`] (message or undo).
//! [`start_run`] and [`start_deferred_scheduled_run`] chain them for one tenant.

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

/// A run whose slot is claimed and whose pending record is written, but whose first message is not sent yet.
/// Either [`ReservedRun::queue`] it or [`ReservedRun::abandon`] it; dropping it leaves the run pending until the
/// slot goes stale.
#[derive(Debug, Clone)]
#[must_use = "a reserved run must be queued or abandoned"]
pub struct ReservedRun {
    pub run: SyncRun,
    /// The day of the deferred scheduled request this run consumed, put back if the run is abandoned.
    deferred_day: Option<String>,
}

impl ReservedRun {
    /// The run's first message.
    pub fn message(&self) -> SyncMessage {
        SyncMessage::first(self.run.tenant.as_str(), &self.run.id)
    }

    /// Sends the first message; if that fails the run is abandoned (failed, slot freed) and the error returned.
    pub async fn queue(self, store: &Store, queue: &SyncQueue) -> Result<SyncRun, StartError> {
        match queue.send(&self.message()).await {
            Ok(()) => {
                info!(tenant = %self.run.tenant.as_str(), run = %self.run.id, trigger = ?self.run.trigger, "sync queued");
                Ok(self.run)
            }
            Err(e) => {
                self.abandon(store, &format!("the sync could not be queued: {e}"))
                    .await;
                Err(e.into())
            }
        }
    }

    /// Undoes the reservation: the run is marked failed with `reason` (the history says why) and the slot is freed
    /// (with a consumed deferred request put back). Best effort: what cannot be undone is logged; the slot then
    /// goes stale on its own.
    pub async fn abandon(self, store: &Store, reason: &str) {
        let ReservedRun {
            mut run,
            deferred_day,
        } = self;
        run.record_error(reason.to_string());
        run.finish(RunStatus::Failed, Some(reason.to_string()));
        match store.update_run(&run).await {
            Ok(()) | Err(StoreError::RunAlreadyFinished { .. }) => {}
            Err(e) => {
                warn!(tenant = %run.tenant.as_str(), run = %run.id, error = %e, "could not record why the sync could not start")
            }
        }
        free_slot(store, &run.tenant, &run.id, deferred_day.as_deref()).await;
    }
}

/// Claims the tenant's run slot for a new run and records it as pending. Exactly one of many concurrent callers
/// wins the slot; the others get [`StartError::AlreadyRunning`] with the winner's run id. If the run cannot be
/// recorded, the slot is freed again. Does not read the configuration (the caller has).
pub async fn reserve_run(
    store: &Store,
    tenant: &TenantId,
    trigger: Trigger,
) -> Result<ReservedRun, StartError> {
    reserve(store, SyncRun::new(tenant.clone(), trigger)).await
}

async fn reserve(store: &Store, run: SyncRun) -> Result<ReservedRun, StartError> {
    let tenant = &run.tenant.clone();
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
    record(store, run, None).await
}

/// Claims the run slot for the scheduled run deferred while another run held it ([`Store::defer_scheduled_run`]),
/// consuming the request; `None` when no request is pending. Exactly one caller can win a given request.
pub async fn reserve_deferred_run(
    store: &Store,
    tenant: &TenantId,
) -> Result<Option<ReservedRun>, StartError> {
    let run = SyncRun::new(tenant.clone(), Trigger::Scheduled);
    let Some(day) = store
        .claim_deferred_run_slot(tenant, &run.id, RUN_SLOT_STALE_AFTER)
        .await?
    else {
        return Ok(None);
    };
    record(store, run, Some(day)).await.map(Some)
}

async fn record(
    store: &Store,
    run: SyncRun,
    deferred_day: Option<String>,
) -> Result<ReservedRun, StartError> {
    if let Err(e) = store.create_run(&run).await {
        warn!(tenant = %run.tenant.as_str(), run = %run.id, error = %e, "could not record the run; freeing its slot");
        free_slot(store, &run.tenant, &run.id, deferred_day.as_deref()).await;
        return Err(e.into());
    }
    Ok(ReservedRun { run, deferred_day })
}

/// Starts a run for `tenant` now: configuration check, slot, pending run, first message (sync now).
pub async fn start_run(
    store: &Store,
    queue: &SyncQueue,
    tenant: &TenantId,
    trigger: Trigger,
) -> Result<SyncRun, StartError> {
    if store.get_config(tenant).await?.is_none() {
        return Err(StartError::NotConfigured);
    }
    reserve_run(store, tenant, trigger)
        .await?
        .queue(store, queue)
        .await
}

/// Starts the scheduled run deferred while the tenant was busy at the fan-out, if one is pending and the tenant is
/// still configured; called when a run has ended and freed its slot. `None` when there was nothing to start.
pub async fn start_deferred_scheduled_run(
    store: &Store,
    queue: &SyncQueue,
    tenant: &TenantId,
) -> Result<Option<SyncRun>, StartError> {
    // The claim first: on the usual path (nothing deferred) this one conditional write is the whole cost.
    let Some(reserved) = reserve_deferred_run(store, tenant).await? else {
        return Ok(None);
    };
    match store.get_config(tenant).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            // Disconnected since the fan-out: the request is dropped with the run it would have started.
            info!(tenant = %tenant.as_str(), run = %reserved.run.id, "deferred scheduled sync dropped: the tenant is no longer configured");
            ReservedRun {
                deferred_day: None,
                ..reserved
            }
            .abandon(
                store,
                "the scheduled sync was not started: SentinelOne is no longer configured for this tenant",
            )
            .await;
            return Ok(None);
        }
        Err(e) => {
            reserved
                .abandon(store, &format!("the scheduled sync could not start: {e}"))
                .await;
            return Err(e.into());
        }
    }
    reserved.queue(store, queue).await.map(Some)
}

/// A dry run now: like [`start_run`] (same slot, so it never overlaps a real run), but the run decides everything
/// and writes no asset or finding; its counters and report say what a real run would do.
pub async fn start_dry_run(
    store: &Store,
    queue: &SyncQueue,
    tenant: &TenantId,
) -> Result<SyncRun, StartError> {
    if store.get_config(tenant).await?.is_none() {
        return Err(StartError::NotConfigured);
    }
    let mut run = SyncRun::new(tenant.clone(), Trigger::OnDemand);
    run.dry_run = true;
    reserve(store, run).await?.queue(store, queue).await
}

/// "Sync now": [`start_run`] with the caller's trigger. Kept as the name handlers and tests know.
pub async fn start_sync(
    store: &Store,
    queue: &SyncQueue,
    tenant: &TenantId,
    trigger: Trigger,
) -> Result<SyncRun, StartError> {
    start_run(store, queue, tenant, trigger).await
}

/// Where the re-evaluation of stored findings after a verdict-list change stands, as a save reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reevaluation {
    /// Stored findings may still follow an older list: a run re-evaluates them before it ends.
    pub pending: bool,
    /// The run that will do it (just queued, or the one already running); `None` while pending when no run could
    /// be queued now: the next sync does it, since the configuration keeps the list's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// Starts a run when the tenant's verdict list is newer than the version its stored findings follow (the save of
/// a changed list, or a save retried after a re-evaluation was lost: the version decides, not whether this save
/// changed the list). A run already running re-evaluates in its last phase, so [`StartError::AlreadyRunning`] is
/// an answer, not an error.
pub async fn start_pending_reevaluation(
    store: &Store,
    queue: &SyncQueue,
    tenant: &TenantId,
) -> Result<Reevaluation, StartError> {
    let Some(config) = store.get_config(tenant).await? else {
        return Err(StartError::NotConfigured);
    };
    let applied = store
        .load_sync_state(tenant)
        .await?
        .verdicts_applied_version
        .unwrap_or(0);
    if config.verdicts_version <= applied {
        return Ok(Reevaluation {
            pending: false,
            run_id: None,
        });
    }
    let run_id = match start_run(store, queue, tenant, Trigger::OnDemand).await {
        Ok(run) => run.id,
        Err(StartError::AlreadyRunning { run_id }) => run_id,
        Err(e) => return Err(e),
    };
    info!(tenant = %tenant.as_str(), run = %run_id, version = config.verdicts_version, applied,
          "verdict list newer than the stored findings' statuses; a run re-evaluates them");
    Ok(Reevaluation {
        pending: true,
        run_id: Some(run_id),
    })
}

/// Frees `run_id`'s slot; with `deferred_day`, puts the consumed deferred scheduled request back on it instead.
async fn free_slot(store: &Store, tenant: &TenantId, run_id: &str, deferred_day: Option<&str>) {
    let res = match deferred_day {
        Some(day) => store.restore_deferred_run_slot(tenant, run_id, day).await,
        None => store.release_run_slot(tenant, run_id).await,
    };
    if let Err(e) = res {
        warn!(tenant = %tenant.as_str(), run = %run_id, error = %e, "could not free the run slot; it expires on its own");
    }
}
