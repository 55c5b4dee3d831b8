//! The sync queue's dead-letter handler: a message lands in the DLQ after the queue's maximum receives, also when
//! the worker never finished its last receive (killed by the Lambda timeout or out of memory) and so could not
//! mark the run failed itself. Each run is marked failed with the reason, its run slot freed (so a new sync can
//! start at once instead of after the slot goes stale) and the message deleted; run and tenant are logged at ERROR,
//! and the DLQ's alarms stay the operators' signal.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use sync_engine::{DeadLetters, Disposition, QueuedMessage};

pub async fn handle(
    dead_letters: &DeadLetters,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let queued = QueuedMessage {
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            body: record.body.unwrap_or_default(),
            message_id: message_id.clone(),
        };
        // `Retry` only when the store could not be updated: the message stays in the DLQ and comes back after
        // the DLQ's visibility timeout.
        if dead_letters.handle(&queued).await != Disposition::Done {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}
