//! An SDK interceptor that counts the items DynamoDB read for the client: a Query's `ScannedCount` (what it read
//! before any filter, which is what it bills) and the items a BatchGetItem or GetItem returned: the figure the views
//! are held to (items read per item a page returns), shown by the store tests, the API tests and the view bench.
//! The items GetItem returned are also counted apart ([`ItemsRead::single_gets`]): a tenant-wide view reads the
//! tenant's record layout item once per request, a fixed cost beside the items it lists.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;

#[derive(Debug, Clone, Default)]
pub struct ItemsRead(Arc<AtomicU64>, Arc<AtomicU64>);

impl ItemsRead {
    pub fn total(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Of [`ItemsRead::total`], the items single GetItem calls returned.
    pub fn single_gets(&self) -> u64 {
        self.1.load(Ordering::SeqCst)
    }

    /// Of [`ItemsRead::total`], the items Query and BatchGetItem read: what a listing reads for the items it
    /// returns, without the fixed layout read of each request.
    pub fn listed(&self) -> u64 {
        self.total() - self.single_gets()
    }

    /// A client like `client` whose reads this counter counts.
    pub fn client(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        let conf = client
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }
}

impl Intercept for ItemsRead {
    fn name(&self) -> &'static str {
        "items-read counter"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(out) = context.output_or_error() else {
            return Ok(());
        };
        let n = if let Some(q) = out.downcast_ref::<QueryOutput>() {
            q.scanned_count().max(0) as u64
        } else if let Some(b) = out.downcast_ref::<BatchGetItemOutput>() {
            b.responses()
                .map(|r| r.values().map(|v| v.len() as u64).sum())
                .unwrap_or_default()
        } else if let Some(g) = out.downcast_ref::<GetItemOutput>() {
            let n = u64::from(g.item().is_some());
            self.1.fetch_add(n, Ordering::SeqCst);
            n
        } else {
            0
        };
        self.0.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }
}
