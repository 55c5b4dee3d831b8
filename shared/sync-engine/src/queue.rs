//! Sending sync messages to SQS: one at a time (sync now, continuations) or in batches of 10 (the schedule).

use crate::message::SyncMessage;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use std::time::Duration;

/// SQS accepts at most 10 entries per SendMessageBatch.
pub const SQS_BATCH: usize = 10;

/// SQS refuses a DelaySeconds above 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("could not queue the sync for tenant {tenant}: {message}")]
    Send { tenant: String, message: String },
    #[error("could not postpone the redelivery of a sync message: {message}")]
    Visibility { message: String },
}

#[derive(Clone, Debug)]
pub struct SyncQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl SyncQueue {
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            sqs,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn send(&self, message: &SyncMessage) -> Result<(), QueueError> {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(message.to_body())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Send {
                tenant: message.tenant.clone(),
                message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })
    }

    /// Sends `message` to be delivered only after `delay` (at most [`MAX_DELAY`]): a retry later that, unlike a
    /// redelivery of the same message, starts again at one receive and so never counts towards the DLQ.
    pub async fn send_delayed(
        &self,
        message: &SyncMessage,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let secs = i32::try_from(delay.min(MAX_DELAY).as_secs()).unwrap_or(0);
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(message.to_body())
            .delay_seconds(secs)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Send {
                tenant: message.tenant.clone(),
                message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })
    }

    /// Makes a received message invisible for `timeout` from now (ChangeMessageVisibility), so its redelivery
    /// comes after that rather than after the queue's visibility timeout. Costs a receive when it comes back.
    pub async fn change_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        let secs = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
        self.sqs
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Visibility {
                message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })
    }

    /// Sends every message in batches of 10, retrying entries SQS reports as failed a few times.
    /// Returns the messages that still could not be sent.
    pub async fn send_all(&self, messages: &[SyncMessage]) -> Vec<(SyncMessage, QueueError)> {
        let mut failed = Vec::new();
        for chunk in messages.chunks(SQS_BATCH) {
            let mut pending: Vec<&SyncMessage> = chunk.iter().collect();
            let mut last_error = String::new();
            for attempt in 0..4u32 {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                let entries: Vec<SendMessageBatchRequestEntry> = pending
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(m.to_body())
                            .build()
                            .ok()
                    })
                    .collect();
                match self
                    .sqs
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                {
                    Ok(out) => {
                        let failed_ids: Vec<usize> = out
                            .failed()
                            .iter()
                            .filter_map(|f| f.id().parse().ok())
                            .collect();
                        if let Some(f) = out.failed().first() {
                            last_error = f.message().unwrap_or("rejected by SQS").to_string();
                        }
                        pending = failed_ids
                            .into_iter()
                            .filter_map(|i| pending.get(i).copied())
                            .collect();
                    }
                    Err(e) => last_error = aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                }
            }
            failed.extend(pending.into_iter().map(|m| {
                (
                    m.clone(),
                    QueueError::Send {
                        tenant: m.tenant.clone(),
                        message: last_error.clone(),
                    },
                )
            }));
        }
        failed
    }
}
