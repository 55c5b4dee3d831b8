//! The SQS worker's use case: each message runs (or continues) one tenant's sync; continuations are queued before
//! the invocation ends; failures are reported per message so one bad tenant does not redrive the others.

use std::time::Duration;

use connector_store::TenantId;
use tracing::{error, info, warn, Instrument};

use crate::engine::{Budget, Outcome, SyncEngine};
use crate::message::SyncMessage;
use crate::queue::SyncQueue;

/// After this many receives the queue moves the message to the DLQ (the template's maxReceiveCount).
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

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
                Disposition::Done
            }
            Ok(Outcome::Ignored(why)) => {
                warn!(reason = why, "sync message ignored");
                Disposition::Done
            }
            Ok(Outcome::Busy) => {
                // Another worker runs this tenant (a duplicate delivery, or a continuation racing a retry): the
                // holder finishes or continues the run itself, so this copy is dropped.
                info!("tenant busy; message dropped");
                Disposition::Done
            }
            Ok(Outcome::Continue(next)) => match self.queue.send(&next).await {
                Ok(()) => Disposition::Done,
                Err(e) => {
                    // The checkpoint is saved: redelivering this message resumes from it.
                    error!(error = %e, "could not queue the continuation; the message will be redelivered");
                    Disposition::Retry
                }
            },
            Err(e) => {
                error!(error = %e, receive_count = record.receive_count, "sync invocation failed");
                if record.receive_count >= self.max_receives {
                    if let Ok(tenant) = TenantId::new(message.tenant.clone()) {
                        let cause = format!(
                            "the sync failed {} times and was given up: {e}",
                            record.receive_count
                        );
                        if let Err(e) = self
                            .engine
                            .mark_failed(&tenant, &message.run_id, &cause)
                            .await
                        {
                            error!(error = %e, "could not mark the run failed");
                        }
                    }
                }
                Disposition::Retry
            }
        }
    }
}
