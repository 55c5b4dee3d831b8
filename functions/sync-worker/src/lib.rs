//! The sync worker: each SQS message runs (or continues) one tenant's sync until done or until the Lambda
//! deadline nears; failed messages are reported one by one (`batchItemFailures`) so others are not redriven. A
//! message that finds the tenant busy is re-queued with a delay (`DelaySeconds`) and the original deleted, instead
//! of being made invisible and redelivered: a redelivery counts towards the queue's maxReceiveCount (5), so a few
//! busy waits would push a live run's message into the DLQ, while a delayed copy starts again at one receive.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use sync_engine::{Disposition, QueuedMessage, Worker};
use tracing::warn;

pub async fn handle(
    worker: &Worker,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let queued = QueuedMessage {
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            body: record.body.clone().unwrap_or_default(),
            message_id: message_id.clone(),
        };
        let owner = format!("{}/{}", event.context.request_id, message_id);
        let retry = match worker
            .handle(&queued, deadline_or_now(deadline), &owner)
            .await
        {
            Disposition::Done => false,
            Disposition::Retry => true,
            Disposition::RetryAfter(delay) => match worker.retry_later(&queued, delay).await {
                // The delayed copy is queued: this record is reported processed and deleted.
                Ok(()) => false,
                Err(e) => {
                    // Fallback: this same message comes back after `delay`, costing one receive towards the DLQ.
                    warn!(message_id = %message_id, error = %e, "could not queue a delayed copy; postponing this message instead");
                    if let Some(receipt) = record.receipt_handle.as_deref() {
                        if let Err(e) = worker.queue.change_visibility(receipt, delay).await {
                            warn!(message_id = %message_id, error = %e, "could not postpone the message; it comes back after the queue's visibility timeout");
                        }
                    }
                    true
                }
            },
        };
        if retry {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

/// A deadline of 0 (no context, e.g. some local invokers) means "no time to spare": one page, then continue.
fn deadline_or_now(deadline: SystemTime) -> SystemTime {
    if deadline == UNIX_EPOCH {
        SystemTime::now()
    } else {
        deadline
    }
}
