//! Reading and writing the finding digests: one BatchGetItem for the marker, the journal and a page's buckets (one
//! query of them all when the page touches most); BatchWriteItem (as bookkeeping, see [`crate::batch::BatchApi::batch_write_bookkeeping`]) for what changed.

use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use tracing::Instrument;

use super::{
    bool_attr, bucket_item, digest_bucket_sk, digest_bucket_sk_named, digest_marker_sk, entry_key,
    parse_entries, parse_keys, stored_value, Bucket, Digests, BACKFILL_PAGE, FINDING_BUCKETS,
    FINDING_DIGEST, JOURNAL, UNKNOWN,
};
use crate::batch::{get_all, write_all, Projection};
use crate::error::{Result, StoreError};

use crate::keys::{tenant_pk, RecordLayout, TenantId, FINDING_PREFIX};
use crate::records::put;
use crate::store::Store;
use crate::views::Query;

/// Buckets a page touches from which all are read with one query instead of a BatchGetItem of those touched: with
/// buckets under 4 KB (16,000 findings) the query costs less from 10 to 40 buckets on, and at the cap (8 KB) it
/// costs about what a BatchGetItem of 48 buckets does.
const QUERY_ALL_FROM: u64 = 48;

impl Store {
    /// The finding digests of the buckets these sort keys fall in, with the marker (one BatchGetItem). With
    /// `writable` (an apply, not a dry run) the marker is created when missing (complete at once when the tenant
    /// has no finding yet) and, while the digests are incomplete, the one-off pass advances by a page.
    async fn load_finding_digests_here(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        sks: &[String],
        writable: bool,
    ) -> Result<Digests> {
        let mut buckets: Vec<u64> = sks
            .iter()
            .map(|sk| entry_key(sk) % FINDING_BUCKETS)
            .collect();
        buckets.sort_unstable();
        buckets.dedup();
        let mut digests = self.read_digests(tenant, &buckets).await?;
        if !digests.exists {
            let empty = !self.has_findings(tenant, layout).await?;
            if !writable {
                // A dry run writes nothing: on a tenant with no finding everything is new, otherwise read.
                if !empty {
                    return Ok(Digests::off());
                }
                digests.exists = true;
                digests.complete = true;
                return Ok(digests);
            }
            digests.exists = true;
            digests.complete = empty;
            digests.marker_dirty = true;
            self.save_digests_here(tenant, &mut digests).await?;
        }
        if writable && !digests.complete && !digests.overflow {
            self.backfill_step(tenant, layout, &mut digests).await?;
        }
        Ok(digests)
    }

    /// The marker, the journal and these buckets. A page that touches most buckets reads them all with one
    /// strongly consistent query, charged per 4 KB of all of them (12 read units at 3,000 findings, 128 at the
    /// cap) rather than per item, at least one unit each (66 for a page of 1,000 findings).
    async fn read_digests(&self, tenant: &TenantId, buckets: &[u64]) -> Result<Digests> {
        if buckets.len() as u64 >= QUERY_ALL_FROM {
            let all: Vec<u64> = (0..FINDING_BUCKETS).collect();
            let mut items = Vec::new();
            let q = Query::partition(tenant, digest_marker_sk(FINDING_DIGEST));
            self.query_each(&q, |page| {
                items.extend(page);
                Ok(())
            })
            .await?;
            return Self::digests_of(&all, items);
        }
        let pk = tenant_pk(tenant);
        let mut keys = vec![
            Store::key(pk.clone(), digest_marker_sk(FINDING_DIGEST)),
            Store::key(pk.clone(), digest_bucket_sk_named(FINDING_DIGEST, JOURNAL)),
        ];
        keys.extend(
            buckets
                .iter()
                .map(|b| Store::key(pk.clone(), digest_bucket_sk(FINDING_DIGEST, *b))),
        );
        let items = get_all(
            &*self.batch,
            &self.table,
            keys,
            &Projection::default(),
            self.retry,
        )
        .await?;
        Self::digests_of(buckets, items)
    }

    /// The digests these items (the marker, the journal, buckets) hold; the `buckets` asked for and not found are
    /// empty.
    fn digests_of(buckets: &[u64], items: Vec<crate::batch::Item>) -> Result<Digests> {
        let mut digests = Digests::default();
        for b in buckets {
            digests.buckets.insert(*b, Bucket::default());
        }
        let marker = digest_marker_sk(FINDING_DIGEST);
        let journal = digest_bucket_sk_named(FINDING_DIGEST, JOURNAL);
        for item in items {
            let Some(AttributeValue::S(sk)) = item.get("sk") else {
                continue;
            };
            if *sk == marker {
                digests.exists = true;
                digests.complete = bool_attr(&item, "complete");
                digests.overflow = bool_attr(&item, "overflow");
                digests.backfill_after = match item.get("backfill_after") {
                    Some(AttributeValue::S(s)) => Some(s.clone()),
                    _ => None,
                };
            } else if *sk == journal {
                digests.pending = parse_keys(&item)?;
            } else if let Some(b) = buckets
                .iter()
                .find(|b| *sk == digest_bucket_sk(FINDING_DIGEST, **b))
            {
                digests.buckets.insert(
                    *b,
                    Bucket {
                        entries: parse_entries(&item)?,
                        dirty: false,
                    },
                );
            }
        }
        Ok(digests)
    }

    /// Whether the tenant has stored any finding (a one-item query per record partition, until one answers).
    async fn has_findings(&self, tenant: &TenantId, layout: RecordLayout) -> Result<bool> {
        let q = Query::partition(tenant, FINDING_PREFIX).project("#sk", &[("#sk", "sk")]);
        for pk in layout.record_partitions(tenant) {
            let (items, _) = self
                .query_once(&q.clone().in_partition(pk), None, Some(1))
                .await?;
            if !items.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One page of the pass over findings stored before digests existed: their entries, from what is stored.
    async fn backfill_step(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        digests: &mut Digests,
    ) -> Result<()> {
        let all: Vec<u64> = (0..FINDING_BUCKETS)
            .filter(|b| !digests.buckets.contains_key(b))
            .collect();
        if !all.is_empty() {
            let more = self.read_digests(tenant, &all).await?;
            digests.buckets.extend(more.buckets);
        }
        let q = Query::partition(tenant, FINDING_PREFIX).project(
            "#sk, #h, #st",
            &[("#sk", "sk"), ("#h", "content_hash"), ("#st", "state")],
        );
        // The position is the last sort key read (legacy layout) or a shard and sort key (spread).
        let (items, next) = self
            .record_walk_page(
                tenant,
                layout,
                &q,
                digests.backfill_after.as_deref(),
                BACKFILL_PAGE,
            )
            .await?;
        for item in &items {
            let text = |name: &str| match item.get(name) {
                Some(AttributeValue::S(s)) => Some(s.as_str()),
                _ => None,
            };
            let Some(sk) = text("sk") else { continue };
            // A finding stored before lifecycles existed gets one on its next write: read it until then.
            let value = text("content_hash").map_or(UNKNOWN, |h| stored_value(h, text("state")));
            // Keep an entry the sync already wrote: it is at least as new as this read.
            let key = entry_key(sk);
            let known = digests
                .buckets
                .get(&(key % FINDING_BUCKETS))
                .is_some_and(|b| b.entries.contains_key(&key));
            if !known {
                digests.set(sk, value);
            }
        }
        digests.backfill_after = next;
        if digests.backfill_after.is_none() && !digests.overflow {
            digests.complete = true;
        }
        digests.marker_dirty = true;
        tracing::info!(tenant = %tenant, read = items.len(), complete = digests.complete,
            "finding digests of stored findings built (one page)");
        // Buckets first, then the marker that counts on them.
        self.save_digests_here(tenant, digests).await
    }

    /// Writes the journal if it changed: before a page's findings are written, it names them.
    async fn save_journal_here(&self, tenant: &TenantId, digests: &mut Digests) -> Result<()> {
        if !digests.journal_dirty {
            return Ok(());
        }
        digests.journal_dirty = false;
        let bookkeeping = crate::batch::Bookkeeping(&*self.batch);
        let item = digests.journal_item(&tenant_pk(tenant));
        write_all(&bookkeeping, &self.table, vec![put(item)], self.retry).await
    }

    /// Writes the buckets that changed, then the journal, then the marker if they changed (one BatchWriteItem per
    /// 25 items).
    async fn save_digests_here(&self, tenant: &TenantId, digests: &mut Digests) -> Result<()> {
        let pk = tenant_pk(tenant);
        let writes: Vec<_> = digests
            .buckets
            .iter_mut()
            .filter(|(_, b)| b.dirty)
            .map(|(n, b)| {
                b.dirty = false;
                put(bucket_item(&pk, *n, &b.entries))
            })
            .collect();
        let bookkeeping = crate::batch::Bookkeeping(&*self.batch);
        if !writes.is_empty() {
            write_all(&bookkeeping, &self.table, writes, self.retry).await?;
        }
        // Out of the journal only once their entries are stored.
        self.save_journal_here(tenant, digests).await?;
        if digests.marker_dirty {
            digests.marker_dirty = false;
            write_all(
                &bookkeeping,
                &self.table,
                vec![put(digests.marker_item(&pk))],
                self.retry,
            )
            .await?;
        }
        Ok(())
    }

    /// Names these findings in the journal before something other than a page's apply rewrites them (closing,
    /// re-evaluating statuses), so that no entry vouches for a finding that was since rewritten. The caller writes
    /// them, then sets their entries (to [`UNKNOWN`] when it does not know the new values) and saves.
    pub(in crate::records) async fn expect_finding_writes(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        sks: &[String],
    ) -> Result<Digests> {
        let mut digests = self
            .load_finding_digests(tenant, layout, sks, false)
            .await?;
        digests.expect_writes(sks);
        self.save_journal(tenant, &mut digests).await?;
        Ok(digests)
    }

    /// [`Self::load_finding_digests_here`] on its own task (see [`on_own_task`]).
    pub(in crate::records) async fn load_finding_digests(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        sks: &[String],
        writable: bool,
    ) -> Result<Digests> {
        let (store, tenant, sks) = (self.clone(), tenant.clone(), sks.to_vec());
        on_own_task(async move {
            store
                .load_finding_digests_here(&tenant, layout, &sks, writable)
                .await
        })
        .await
    }

    /// [`Self::save_journal_here`] on its own task (see [`on_own_task`]).
    pub(in crate::records) async fn save_journal(
        &self,
        tenant: &TenantId,
        digests: &mut Digests,
    ) -> Result<()> {
        let (store, tenant, mut taken) = (self.clone(), tenant.clone(), std::mem::take(digests));
        *digests = on_own_task(async move {
            store.save_journal_here(&tenant, &mut taken).await?;
            Ok(taken)
        })
        .await?;
        Ok(())
    }

    /// [`Self::save_digests_here`] on its own task (see [`on_own_task`]).
    pub(in crate::records) async fn save_digests(
        &self,
        tenant: &TenantId,
        digests: &mut Digests,
    ) -> Result<()> {
        let (store, tenant, mut taken) = (self.clone(), tenant.clone(), std::mem::take(digests));
        *digests = on_own_task(async move {
            store.save_digests_here(&tenant, &mut taken).await?;
            Ok(taken)
        })
        .await?;
        Ok(())
    }
}

/// Runs digest I/O as a task of its own, aborted when the caller is dropped (a worker killed mid-page stops it as
/// it would stop the call itself). Why: a sync's page runs deep inside the worker's future, and in unoptimised
/// builds that future sits close to the limit of a thread's stack; the digests' reads and writes run from the
/// runtime's own stack instead of on top of it.
async fn on_own_task<T, F>(work: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let handle = tokio::spawn(work.instrument(tracing::Span::current()));
    let _abort = AbortOnDrop(handle.abort_handle());
    match handle.await {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::InvalidInput(
            "the finding digests' task was cancelled because the runtime is shutting down".into(),
        )),
    }
}
