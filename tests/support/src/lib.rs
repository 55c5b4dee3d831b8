//! What the test suites share, so each suite says only what it tests: every item of a table, every message of a
//! queue, SDK interceptors that count calls and the items DynamoDB read, the URL policy that lets the simulator on 127.0.0.1 stand in for a
//! console and, behind the `sync` feature, one tenant wired end to end (simulator, fresh table, queue and secret
//! prefix, the real worker) and, behind `api`, the HTTP handlers' bench (configuration service, requests from the
//! sample events).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sentinelone_client::UrlPolicy;

#[cfg(feature = "api")]
pub mod api;
pub mod counting;
pub mod items_read;
#[cfg(feature = "sync")]
pub mod sync;

/// One DynamoDB item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

/// The policy of every test that talks to the simulator: no allow-list, and the development switch that accepts
/// `http://127.0.0.1:<port>` (refused in production, see `UrlPolicy`).
pub fn dev_loopback_policy() -> UrlPolicy {
    UrlPolicy {
        allow_list: Vec::new(),
        allow_dev_loopback: true,
    }
}

/// Every item of `table`, through every scan page, read consistently.
pub async fn scan_table(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Vec<Item> {
    let mut all = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        all.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return all,
        }
    }
}

/// Every message on the queue, received and deleted, as their bodies (in the order received).
pub async fn drain_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut all = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return all;
        }
        for m in messages {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
            all.push(m.body.unwrap_or_default());
        }
    }
}
