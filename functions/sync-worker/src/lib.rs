//! The sync worker: each SQS message runs (or continues) one tenant's sync until done or until the Lambda
//! deadline nears; failed messages are reported one by one (`batchItemFailures`) so others are not redriven.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use sync_engine::{Disposition, QueuedMessage, Worker};

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
            body: record.body.unwrap_or_default(),
            message_id: message_id.clone(),
        };
        let owner = format!("{}/{}", event.context.request_id, message_id);
        if worker
            .handle(&queued, deadline_or_now(deadline), &owner)
            .await
            == Disposition::Retry
        {
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
