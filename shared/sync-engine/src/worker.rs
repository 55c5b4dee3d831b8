//! The SQS worker's use case: each message runs (or continues) one tenant's sync; continuations are queued before
//! the invocation ends; failures are reported per message so one bad tenant does not redrive the others. A message
//! that finds the tenant busy is put back for later, never dropped; a run that ends starts the scheduled run
//! deferred behind it. [`DeadLetters`] is the dead-letter queue's use case: a run whose message ended there is
//! marked failed with the reason and its slot freed.

use std::time::Duration;

use connector_store::{RunStatus, Store, StoreError, TenantId};
use tracing::{error, info, warn, Instrument};

use crate::engine::{Budget, EngineError, Outcome, SyncEngine, LEASE_TTL};
use crate::message::SyncMessage;
use crate::on_demand::{
    start_deferred_scheduled_run, start_pending_reevaluation, Reevaluation, StartError,
    RUN_SLOT_STALE_AFTER,
};
use crate::queue::{QueueError, SyncQueue};

/// After this many receives the queue moves the message to the DLQ (the template's maxReceiveCount).
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// How long a message waits when another worker holds the tenant's lease: a crashed holder's lease has expired by
/// then (leases last [`LEASE_TTL`] without a heartbeat), and a live holder has heartbeated, so the next try either
/// runs or waits once more.
pub const BUSY_RETRY_DELAY: Duration = Duration::from_secs(LEASE_TTL.as_secs() + 5);

/// Busy retries of one message before it falls back to ordinary redelivery (and so, eventually, the DLQ): enough
/// to outwait a run slot going stale, since no live run holds a tenant longer than that.
pub const MAX_BUSY_RETRIES: u32 =
    (RUN_SLOT_STALE_AFTER.as_secs() / BUSY_RETRY_DELAY.as_secs()) as u32;

/// One SQS record as the worker needs it.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub message_id: String,
    pub body: String,
    pub receive_count: u32,
}

/// What to tell SQS about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Delete the message.
    Done,
    /// Report a batch item failure: SQS delivers it again (and to the DLQ after the maximum receives).
    Retry,
    /// Deliver the message again after this delay, without counting towards the DLQ: the tenant is busy. Carried
    /// out by [`Worker::retry_later`] (a delayed copy is queued, then this record is deleted); only if that copy
    /// cannot be sent does the handler fall back to a visibility change and a batch item failure, which costs a
    /// receive.
    RetryAfter(Duration),
}

pub struct Worker {
    pub engine: SyncEngine,
    pub queue: SyncQueue,
    pub max_receives: u32,
    /// How long before the Lambda deadline the engine stops taking pages.
    pub safety_margin: Duration,
}

impl Worker {
    pub async fn handle(
        &self,
        record: &QueuedMessage,
        deadline: std::time::SystemTime,
        owner: &str,
    ) -> Disposition {
        let Ok(message) = SyncMessage::from_body(&record.body) else {
            // Never valid, whatever the retries: let it reach the DLQ where an operator can see it.
            warn!(message_id = %record.message_id, "sync message is not valid JSON of the expected shape");
            return Disposition::Retry;
        };
        let span = tracing::info_span!("sync", tenant = %message.tenant, run = %message.run_id,
                                       continuation = message.continuation, message_id = %record.message_id);
        self.handle_message(record, message, deadline, owner)
            .instrument(span)
            .await
    }

    async fn handle_message(
        &self,
        record: &QueuedMessage,
        message: SyncMessage,
        deadline: std::time::SystemTime,
        owner: &str,
    ) -> Disposition {
        let budget = Budget::until(deadline, self.safety_margin);
        match self.engine.run(&message, budget, owner).await {
            Ok(Outcome::Finished(run)) => {
                info!(status = ?run.status, "run finished");
                if matches!(run.status, RunStatus::Succeeded | RunStatus::Partial) {
                    follow_up_reevaluation(&self.engine.store, &self.queue, &run.tenant).await;
                }
                start_deferred(&self.engine.store, &self.queue, &run.tenant).await
            }
            Ok(Outcome::Ignored(why)) => {
                warn!(reason = why, "sync message ignored");
                Disposition::Done
            }
            Ok(Outcome::Busy) => {
                // Another worker holds the tenant's lease: a duplicate delivery or a continuation racing a retry,
                // whose holder carries the run on, or a holder that crashed, whose lease expires within LEASE_TTL.
                // The message cannot tell which, so it is never dropped: it comes back once the lease has expired
                // (and a run already finished by then makes it Done).
                if message.busy_retries >= MAX_BUSY_RETRIES {
                    warn!(
                        busy_retries = message.busy_retries,
                        "tenant busy for too long; leaving the message to ordinary redelivery"
                    );
                    return Disposition::Retry;
                }
                info!(
                    busy_retries = message.busy_retries,
                    delay_secs = BUSY_RETRY_DELAY.as_secs(),
                    "tenant busy; message retried later"
                );
                Disposition::RetryAfter(BUSY_RETRY_DELAY)
            }
            Ok(Outcome::Continue(next)) => match self.queue.send(&next).await {
                Ok(()) => Disposition::Done,
                Err(e) => {
                    // The checkpoint is saved: redelivering this message resumes from it.
                    error!(error = %e, "could not queue the continuation; the message will be redelivered");
                    Disposition::Retry
                }
            },
            Err(EngineError::Store(StoreError::RunAlreadyFinished { run_id })) => {
                // Finished meanwhile by someone else (a disconnect, the dead-letter handler): its outcome stands
                // and whoever finished it freed the slot; nothing is left for this message to do.
                info!(run = %run_id, "run finished elsewhere; this invocation stopped");
                Disposition::Done
            }
            Err(e) => {
                error!(error = %e, receive_count = record.receive_count, "sync invocation failed");
                if record.receive_count >= self.max_receives {
                    if let Ok(tenant) = TenantId::new(message.tenant.clone()) {
                        let cause = format!(
                            "the sync failed {} times and was given up: {e}",
                            record.receive_count
                        );
                        match self
                            .engine
                            .mark_failed(&tenant, &message.run_id, &cause)
                            .await
                        {
                            // The slot is free: a scheduled run deferred behind this one starts now (the
                            // dead-letter handler would start it too).
                            Ok(()) => {
                                let _ =
                                    start_deferred(&self.engine.store, &self.queue, &tenant).await;
                            }
                            Err(e) => error!(error = %e, "could not mark the run failed"),
                        }
                    }
                }
                Disposition::Retry
            }
        }
    }

    /// Carries out [`Disposition::RetryAfter`]: queues a copy of `record`'s message (its busy count + 1) that SQS
    /// delivers after `delay`. On `Ok` the caller deletes `record` (reports it processed): the copy starts again at
    /// one receive, so a run waiting behind a busy tenant never reaches the DLQ by waiting.
    pub async fn retry_later(
        &self,
        record: &QueuedMessage,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let message = SyncMessage::from_body(&record.body).map_err(|_| QueueError::Send {
            tenant: String::new(),
            message: "the record is not a sync message".into(),
        })?;
        self.queue
            .send_delayed(&message.retried_busy(), delay)
            .await
    }
}

/// After a run completed (its slot freed): a list saved after the run read the configuration for the last time,
/// while the run still held its slot, found the run "already running" and relied on it, but the run applied the
/// older list. Starting a run here closes that window. Only after a completed run, so a failing console cannot
/// start runs in a loop. Best effort: the configuration keeps the version, so the next sync re-evaluates anyway.
async fn follow_up_reevaluation(store: &Store, queue: &SyncQueue, tenant: &TenantId) {
    match start_pending_reevaluation(store, queue, tenant).await {
        Ok(Reevaluation {
            pending: true,
            run_id,
        }) => {
            info!(tenant = %tenant.as_str(), run = ?run_id, "verdict list changed during the run; a run re-evaluates the findings")
        }
        Ok(_) | Err(StartError::NotConfigured) => {}
        Err(e) => {
            warn!(tenant = %tenant.as_str(), error = %e, "could not start the re-evaluation of a verdict list saved during the run; the next sync does it")
        }
    }
}

/// After a run ended (its slot freed), starts the scheduled run deferred behind it, if any. `Retry` when that
/// could not be decided or done: the redelivered message finds the run finished and tries again (a consumed
/// request is put back by the start's undo).
async fn start_deferred(store: &Store, queue: &SyncQueue, tenant: &TenantId) -> Disposition {
    match start_deferred_scheduled_run(store, queue, tenant).await {
        Ok(Some(run)) => {
            info!(tenant = %tenant.as_str(), deferred_run = %run.id, "deferred scheduled sync queued");
            Disposition::Done
        }
        Ok(None) => Disposition::Done,
        Err(e) => {
            error!(tenant = %tenant.as_str(), error = %e, "could not start the deferred scheduled sync; retrying the message");
            Disposition::Retry
        }
    }
}

/// The dead-letter queue's use case: a sync message arrives here after the sync queue's maximum receives, also
/// when the worker never saw its last receive end (killed by the Lambda timeout or out of memory). Its run is
/// marked failed with the reason (unless it already finished), its slot freed, a scheduled run deferred behind it
/// started, and the message deleted; the run and tenant are logged at ERROR for operators.
pub struct DeadLetters {
    pub store: Store,
    pub queue: SyncQueue,
    /// The sync queue's maxReceiveCount, for the reason shown to the user.
    pub max_receives: u32,
}

impl DeadLetters {
    pub async fn handle(&self, record: &QueuedMessage) -> Disposition {
        let Ok(message) = SyncMessage::from_body(&record.body) else {
            // Not ours to interpret (and never will be): logged and dropped rather than redriven forever.
            error!(message_id = %record.message_id, "a dead-lettered message is not a sync message; dropped");
            return Disposition::Done;
        };
        let span = tracing::error_span!("dead_letter", tenant = %message.tenant, run = %message.run_id,
                                        continuation = message.continuation, message_id = %record.message_id);
        self.give_up(&message).instrument(span).await
    }

    async fn give_up(&self, message: &SyncMessage) -> Disposition {
        let Ok(tenant) = TenantId::new(message.tenant.clone()) else {
            error!("a dead-lettered sync message names an invalid tenant id; dropped");
            return Disposition::Done;
        };
        error!(
            deliveries = self.max_receives,
            "sync given up: its message reached the dead-letter queue"
        );
        let reason = format!(
            "the sync was given up after {} deliveries of its message without a result (the worker failed or was \
             stopped by its time or memory limit each time); start a new sync, and contact support if this repeats",
            self.max_receives
        );
        if let Err(e) = self.fail_run(&tenant, &message.run_id, &reason).await {
            // Left in the dead-letter queue: delivered to this handler again after its visibility timeout.
            error!(error = %e, "could not mark the given-up run failed; retrying");
            return Disposition::Retry;
        }
        start_deferred(&self.store, &self.queue, &tenant).await
    }

    async fn fail_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        if let Some(mut run) = self.store.get_run(tenant, run_id).await? {
            if !run.status.is_finished() {
                run.record_error(reason.to_string());
                run.finish(RunStatus::Failed, Some(reason.to_string()));
                match self.store.update_run(&run).await {
                    Ok(()) => info!(status = ?run.status, "run marked failed"),
                    // Finished in the meantime (by its worker or a disconnect): that outcome stands.
                    Err(StoreError::RunAlreadyFinished { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // A no-op unless this run still holds the slot.
        self.store.release_run_slot(tenant, run_id).await?;
        Ok(())
    }
}
