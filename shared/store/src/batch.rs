//! The batch layer: BatchGetItem (100 keys a call) and BatchWriteItem (25 requests a call), with the
//! UnprocessedKeys/UnprocessedItems DynamoDB hands back retried under capped exponential backoff with full jitter
//! until done or a deadline. The calls go through [`BatchApi`] so tests can inject unprocessed items on purpose.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, WriteRequest};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::error::{Result, StoreError};

pub type Item = HashMap<String, AttributeValue>;
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// DynamoDB's per-call limits.
pub const MAX_GET_KEYS: usize = 100;
pub const MAX_WRITE_REQUESTS: usize = 25;
/// Calls in flight at once per batch operation: enough to hide latency, few enough not to self-throttle.
const PARALLEL_CALLS: usize = 4;

/// What to read of each key in a BatchGetItem.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub expression: Option<String>,
    pub names: HashMap<String, String>,
}

/// One BatchGetItem answer for one table.
#[derive(Debug, Default)]
pub struct GetOutcome {
    pub items: Vec<Item>,
    pub unprocessed: Vec<Item>,
}

/// One BatchGetItem / BatchWriteItem call against one table. Implementations return what DynamoDB left
/// unprocessed; the retry loop lives in this module, not in implementations.
pub trait BatchApi: Send + Sync {
    fn batch_get<'a>(
        &'a self,
        table: &'a str,
        keys: Vec<Item>,
        projection: &'a Projection,
    ) -> BoxFuture<'a, Result<GetOutcome>>;

    fn batch_write<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, Result<Vec<WriteRequest>>>;

    /// A BatchWriteItem of the store's own bookkeeping (the digests of `records::digests`), not of records: the
    /// same call by default; test doubles that count what records cost count these apart.
    fn batch_write_bookkeeping<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, Result<Vec<WriteRequest>>> {
        self.batch_write(table, requests)
    }
}

/// Routes writes to [`BatchApi::batch_write_bookkeeping`], so [`write_all`] can write bookkeeping items.
pub(crate) struct Bookkeeping<'a>(pub(crate) &'a dyn BatchApi);

impl BatchApi for Bookkeeping<'_> {
    fn batch_get<'a>(
        &'a self,
        table: &'a str,
        keys: Vec<Item>,
        projection: &'a Projection,
    ) -> BoxFuture<'a, Result<GetOutcome>> {
        self.0.batch_get(table, keys, projection)
    }

    fn batch_write<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, Result<Vec<WriteRequest>>> {
        self.0.batch_write_bookkeeping(table, requests)
    }
}

/// The real thing: the SDK client.
#[derive(Clone)]
pub struct SdkBatch(pub aws_sdk_dynamodb::Client);

impl BatchApi for SdkBatch {
    fn batch_get<'a>(
        &'a self,
        table: &'a str,
        keys: Vec<Item>,
        projection: &'a Projection,
    ) -> BoxFuture<'a, Result<GetOutcome>> {
        Box::pin(async move {
            let ka = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .set_projection_expression(projection.expression.clone())
                .set_expression_attribute_names(
                    (!projection.names.is_empty()).then(|| projection.names.clone()),
                )
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::InvalidInput(format!("invalid batch read: {e}")))?;
            let out = self
                .0
                .batch_get_item()
                .request_items(table, ka)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("BatchGetItem", e))?;
            let items = out
                .responses
                .and_then(|mut r| r.remove(table))
                .unwrap_or_default();
            let unprocessed = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|ka| ka.keys)
                .unwrap_or_default();
            Ok(GetOutcome { items, unprocessed })
        })
    }

    fn batch_write<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, Result<Vec<WriteRequest>>> {
        Box::pin(async move {
            let out = self
                .0
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("BatchWriteItem", e))?;
            Ok(out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default())
        })
    }
}

/// A wrapper that, on every call, withholds a share of the keys/requests (the last ones) and reports them
/// unprocessed, as a throttled table does; and counts what actually reached the table. For tests of the retry
/// path and of "writes cost what changed". Always lets at least one item of a call through, so retries progress.
pub struct UnprocessedInjector {
    inner: Arc<dyn BatchApi>,
    per_mille: u64,
    items_written: AtomicU64,
    write_calls: AtomicU64,
    get_calls: AtomicU64,
    withheld: AtomicU64,
    bookkeeping_written: AtomicU64,
}

impl UnprocessedInjector {
    /// `per_mille` of each call (0..=1000) comes back unprocessed.
    pub fn new(inner: Arc<dyn BatchApi>, per_mille: u64) -> Self {
        Self {
            inner,
            per_mille: per_mille.min(1000),
            items_written: AtomicU64::new(0),
            write_calls: AtomicU64::new(0),
            get_calls: AtomicU64::new(0),
            withheld: AtomicU64::new(0),
            bookkeeping_written: AtomicU64::new(0),
        }
    }

    /// Bookkeeping items (digests) that reached the table; not in [`Self::items_written`] nor the write calls.
    pub fn bookkeeping_written(&self) -> u64 {
        self.bookkeeping_written.load(Ordering::Relaxed)
    }

    /// Write requests that reached the table.
    pub fn items_written(&self) -> u64 {
        self.items_written.load(Ordering::Relaxed)
    }
    pub fn write_calls(&self) -> u64 {
        self.write_calls.load(Ordering::Relaxed)
    }
    pub fn get_calls(&self) -> u64 {
        self.get_calls.load(Ordering::Relaxed)
    }
    /// Keys and requests reported unprocessed on purpose.
    pub fn withheld(&self) -> u64 {
        self.withheld.load(Ordering::Relaxed)
    }

    fn split<T>(&self, mut all: Vec<T>) -> (Vec<T>, Vec<T>) {
        let n = all.len() as u64;
        let hold = (n * self.per_mille / 1000).min(n.saturating_sub(1)) as usize;
        let held = all.split_off(all.len() - hold);
        self.withheld
            .fetch_add(held.len() as u64, Ordering::Relaxed);
        (all, held)
    }
}

impl BatchApi for UnprocessedInjector {
    fn batch_get<'a>(
        &'a self,
        table: &'a str,
        keys: Vec<Item>,
        projection: &'a Projection,
    ) -> BoxFuture<'a, Result<GetOutcome>> {
        Box::pin(async move {
            self.get_calls.fetch_add(1, Ordering::Relaxed);
            let (send, held) = self.split(keys);
            let mut out = self.inner.batch_get(table, send, projection).await?;
            out.unprocessed.extend(held);
            Ok(out)
        })
    }

    fn batch_write<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, Result<Vec<WriteRequest>>> {
        Box::pin(async move {
            self.write_calls.fetch_add(1, Ordering::Relaxed);
            let (send, held) = self.split(requests);
            let sent = send.len() as u64;
            let mut unprocessed = self.inner.batch_write(table, send).await?;
            self.items_written
                .fetch_add(sent - unprocessed.len() as u64, Ordering::Relaxed);
            unprocessed.extend(held);
            Ok(unprocessed)
        })
    }

    fn batch_write_bookkeeping<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, Result<Vec<WriteRequest>>> {
        Box::pin(async move {
            let (send, held) = self.split(requests);
            let sent = send.len() as u64;
            let mut unprocessed = self.inner.batch_write_bookkeeping(table, send).await?;
            self.bookkeeping_written
                .fetch_add(sent - unprocessed.len() as u64, Ordering::Relaxed);
            unprocessed.extend(held);
            Ok(unprocessed)
        })
    }
}

/// Backoff for unprocessed items: full jitter over `min(cap, base * 2^attempt)`, until `deadline` has passed.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(5),
            deadline: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.cap);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(if millis == 0 {
            0
        } else {
            rand::random_range(0..=millis)
        })
    }

    /// After a round of batch calls left `remaining` items unprocessed: gives up once the deadline has passed,
    /// otherwise sleeps the capped, jittered backoff for `attempt` and counts the attempt.
    async fn pause_before_retry(
        &self,
        started: Instant,
        attempt: &mut u32,
        remaining: usize,
        what: &'static str,
    ) -> Result<()> {
        if started.elapsed() >= self.deadline {
            return Err(StoreError::Unprocessed {
                remaining,
                waited: started.elapsed(),
            });
        }
        tracing::debug!(
            unprocessed = remaining,
            attempt = *attempt,
            what,
            "retrying unprocessed batch items"
        );
        tokio::time::sleep(self.delay(*attempt)).await;
        *attempt += 1;
        Ok(())
    }
}

/// Writes every request, retrying what comes back unprocessed. Requests must not repeat a key.
pub(crate) async fn write_all(
    api: &dyn BatchApi,
    table: &str,
    requests: Vec<WriteRequest>,
    policy: RetryPolicy,
) -> Result<()> {
    let started = Instant::now();
    let mut pending = requests;
    let mut attempt = 0u32;
    while !pending.is_empty() {
        let chunks: Vec<Vec<WriteRequest>> = chunk(pending, MAX_WRITE_REQUESTS);
        let left: Vec<Vec<WriteRequest>> = stream::iter(chunks)
            .map(|c| api.batch_write(table, c))
            .buffer_unordered(PARALLEL_CALLS)
            .try_collect()
            .await?;
        pending = left.into_iter().flatten().collect();
        if pending.is_empty() {
            break;
        }
        policy
            .pause_before_retry(started, &mut attempt, pending.len(), "writes")
            .await?;
    }
    Ok(())
}

/// Reads every key, retrying what comes back unprocessed. Keys must not repeat.
pub(crate) async fn get_all(
    api: &dyn BatchApi,
    table: &str,
    keys: Vec<Item>,
    projection: &Projection,
    policy: RetryPolicy,
) -> Result<Vec<Item>> {
    let started = Instant::now();
    let mut pending = keys;
    let mut found = Vec::new();
    let mut attempt = 0u32;
    while !pending.is_empty() {
        let chunks = chunk(pending, MAX_GET_KEYS);
        let outs: Vec<GetOutcome> = stream::iter(chunks)
            .map(|c| api.batch_get(table, c, projection))
            .buffer_unordered(PARALLEL_CALLS)
            .try_collect()
            .await?;
        pending = Vec::new();
        for out in outs {
            found.extend(out.items);
            pending.extend(out.unprocessed);
        }
        if pending.is_empty() {
            break;
        }
        policy
            .pause_before_retry(started, &mut attempt, pending.len(), "reads")
            .await?;
    }
    Ok(found)
}

fn chunk<T>(all: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(all.len().div_ceil(size));
    let mut it = all.into_iter().peekable();
    while it.peek().is_some() {
        out.push(it.by_ref().take(size).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    /// An in-memory table: enough to test the retry loop without the network.
    #[derive(Default)]
    struct MemoryBatch {
        items: Mutex<HashMap<String, Item>>,
    }

    fn id(item: &Item) -> String {
        format!("{:?}", item.get("sk"))
    }

    impl BatchApi for MemoryBatch {
        fn batch_get<'a>(
            &'a self,
            _: &'a str,
            keys: Vec<Item>,
            _: &'a Projection,
        ) -> BoxFuture<'a, Result<GetOutcome>> {
            Box::pin(async move {
                let items = self.items.lock().unwrap();
                Ok(GetOutcome {
                    items: keys
                        .iter()
                        .filter_map(|k| items.get(&id(k)).cloned())
                        .collect(),
                    unprocessed: vec![],
                })
            })
        }
        fn batch_write<'a>(
            &'a self,
            _: &'a str,
            requests: Vec<WriteRequest>,
        ) -> BoxFuture<'a, Result<Vec<WriteRequest>>> {
            Box::pin(async move {
                assert!(requests.len() <= MAX_WRITE_REQUESTS);
                let mut items = self.items.lock().unwrap();
                for r in requests {
                    let item = r.put_request.unwrap().item;
                    assert!(items.insert(id(&item), item).is_none(), "written twice");
                }
                Ok(vec![])
            })
        }
    }

    /// A table that never accepts anything.
    struct Throttled;

    impl BatchApi for Throttled {
        fn batch_get<'a>(
            &'a self,
            _: &'a str,
            keys: Vec<Item>,
            _: &'a Projection,
        ) -> BoxFuture<'a, Result<GetOutcome>> {
            Box::pin(async move {
                Ok(GetOutcome {
                    items: vec![],
                    unprocessed: keys,
                })
            })
        }
        fn batch_write<'a>(
            &'a self,
            _: &'a str,
            requests: Vec<WriteRequest>,
        ) -> BoxFuture<'a, Result<Vec<WriteRequest>>> {
            Box::pin(async move { Ok(requests) })
        }
    }

    fn put_of(i: usize) -> WriteRequest {
        let item: Item = HashMap::from([("sk".to_string(), AttributeValue::S(format!("k{i}")))]);
        WriteRequest::builder()
            .put_request(
                aws_sdk_dynamodb::types::PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .unwrap(),
            )
            .build()
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            deadline: Duration::from_secs(30),
        }
    }

    #[tokio::test]
    async fn heavy_unprocessed_share_still_stores_everything_once() {
        let memory = Arc::new(MemoryBatch::default());
        let lossy = UnprocessedInjector::new(memory.clone(), 900);
        write_all(&lossy, "t", (0..1000).map(put_of).collect(), quick())
            .await
            .unwrap();
        assert_eq!(memory.items.lock().unwrap().len(), 1000);
        assert_eq!(lossy.items_written(), 1000);
        assert!(lossy.withheld() > 1000);
        let keys = (0..1000)
            .map(|i| HashMap::from([("sk".to_string(), AttributeValue::S(format!("k{i}")))]))
            .collect();
        let read = get_all(&lossy, "t", keys, &Projection::default(), quick())
            .await
            .unwrap();
        assert_eq!(read.len(), 1000);
    }

    #[tokio::test]
    async fn a_table_that_never_accepts_fails_at_the_deadline() {
        let policy = RetryPolicy {
            deadline: Duration::from_millis(30),
            ..quick()
        };
        let err = write_all(&Throttled, "t", (0..30).map(put_of).collect(), policy)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Unprocessed { remaining: 30, .. }),
            "{err}"
        );
        let keys = vec![HashMap::from([(
            "sk".to_string(),
            AttributeValue::S("k".into()),
        )])];
        assert!(
            get_all(&Throttled, "t", keys, &Projection::default(), policy)
                .await
                .is_err()
        );
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(80),
            deadline: Duration::ZERO,
        };
        for attempt in 0..30 {
            assert!(p.delay(attempt) <= Duration::from_millis(80));
        }
    }

    #[test]
    fn chunks_respect_the_limit() {
        let c = chunk((0..251).collect::<Vec<_>>(), 25);
        assert_eq!(c.len(), 11);
        assert_eq!(c[10].len(), 1);
        assert_eq!(c.iter().map(Vec::len).sum::<usize>(), 251);
    }
}
