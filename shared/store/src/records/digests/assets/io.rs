//! Reading and writing the asset digests: one strongly consistent query of the marker, the journal and every
//! bucket; BatchWriteItem (as bookkeeping) for what changed. The previous run's seen assets and the run history
//! decide what may be vouched for (see the parent module).

use aws_sdk_dynamodb::types::AttributeValue;

use super::super::{bool_attr, digest_bucket_sk_named, digest_marker_sk, parse_keys};
use super::{
    bucket_item, bucket_of, parse_entries, AssetDigests, Bucket, StoredAssets, ASSET_DIGEST,
    COVERS_ACTIVE, JOURNAL,
};
use crate::batch::{write_all, Bookkeeping};
use crate::error::Result;
use crate::keys::{tenant_pk, TenantId, RUN_PREFIX};
use crate::records::put;
use crate::store::Store;
use crate::views::Query;

impl Store {
    /// The tenant's asset digests for `run_id`'s agent walk (the engine reads them once per invocation and keeps
    /// them up to date through its pages): the marker, the journal and every bucket in one strongly consistent
    /// query (charged per 4 KB of all of them, not per item), and the asset keys the previous run recorded as
    /// seen. The first read of a run records the run in the marker (before anything of the run is written).
    pub async fn load_asset_digests(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> Result<AssetDigests> {
        let mut digests = self.read_asset_digests(tenant).await?;
        if digests.run.as_deref() != Some(run_id) {
            digests.prev = digests.run.take();
            digests.run = Some(run_id.to_string());
            digests.marker_dirty = true;
            self.save_asset_digests(tenant, &mut digests).await?;
        }
        // Only when the marker's previous run is the run history's: a run that retired assets without recording
        // itself in the marker (one that walked no page, or ran a release without asset digests) breaks the chain.
        if !digests.overflow {
            if let Some(prev) = digests.prev.clone() {
                if self.run_before(tenant, run_id).await?.as_deref() == Some(prev.as_str()) {
                    digests.seen_before = self.seen_asset_keys(tenant, &prev).await?;
                }
            }
        }
        Ok(digests)
    }

    /// The assets the tenant's asset digests show stored (one query, nothing written): see [`StoredAssets`].
    pub async fn load_stored_assets(&self, tenant: &TenantId) -> Result<StoredAssets> {
        Ok(StoredAssets::from(&self.read_asset_digests(tenant).await?))
    }

    /// The newest run of the tenant's history started before `run_id` (run ids sort by their start), if one of
    /// the three newest is (one query of a few run items).
    pub(in crate::records) async fn run_before(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> Result<Option<String>> {
        let q = Query::partition(tenant, RUN_PREFIX)
            .newest_first()
            .project("#sk", &[("#sk", "sk")]);
        let (items, _) = self.query_once(&q, None, Some(3)).await?;
        Ok(items
            .iter()
            .filter_map(|i| match i.get("sk") {
                Some(AttributeValue::S(sk)) => sk.strip_prefix(RUN_PREFIX),
                _ => None,
            })
            .find(|id| *id < run_id)
            .map(str::to_string))
    }

    /// Names in the journal the assets among `keys` that have an entry: a walk calls it before it records them as
    /// seen and reads them.
    pub async fn expect_asset_reads(
        &self,
        tenant: &TenantId,
        digests: &mut AssetDigests,
        keys: &[String],
    ) -> Result<()> {
        digests.expect(keys);
        self.save_asset_journal(tenant, digests).await
    }

    pub(in crate::records) async fn read_asset_digests(
        &self,
        tenant: &TenantId,
    ) -> Result<AssetDigests> {
        let marker = digest_marker_sk(ASSET_DIGEST);
        let journal = digest_bucket_sk_named(ASSET_DIGEST, JOURNAL);
        let mut digests = AssetDigests::default();
        let mut marker_run = None;
        self.query_each(&Query::partition(tenant, marker.clone()), |items| {
            for item in items {
                let Some(AttributeValue::S(sk)) = item.get("sk") else {
                    continue;
                };
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(s)) => Some(s.clone()),
                    _ => None,
                };
                if *sk == marker {
                    digests.overflow = bool_attr(&item, "overflow");
                    digests.covers_active = bool_attr(&item, COVERS_ACTIVE);
                    marker_run = Some((text("run"), text("prev")));
                } else if *sk == journal {
                    digests.pending = parse_keys(&item)?;
                } else if let Some(b) = bucket_of(sk) {
                    digests.buckets.insert(
                        b,
                        Bucket {
                            entries: parse_entries(&item)?,
                            dirty: false,
                        },
                    );
                }
            }
            Ok(())
        })
        .await?;
        if let Some((run, prev)) = marker_run {
            digests.run = run;
            digests.prev = prev;
        }
        Ok(digests)
    }

    pub(in crate::records) async fn save_asset_journal(
        &self,
        tenant: &TenantId,
        digests: &mut AssetDigests,
    ) -> Result<()> {
        if !digests.journal_dirty {
            return Ok(());
        }
        digests.journal_dirty = false;
        let item = digests.journal_item(&tenant_pk(tenant));
        write_all(
            &Bookkeeping(&*self.batch),
            &self.table,
            vec![put(item)],
            self.retry,
        )
        .await
    }

    /// Writes the buckets that changed, then the journal, then the marker, if they changed.
    pub(in crate::records) async fn save_asset_digests(
        &self,
        tenant: &TenantId,
        digests: &mut AssetDigests,
    ) -> Result<()> {
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
        let bookkeeping = Bookkeeping(&*self.batch);
        if !writes.is_empty() {
            write_all(&bookkeeping, &self.table, writes, self.retry).await?;
        }
        // Out of the journal only once their entries are stored.
        self.save_asset_journal(tenant, digests).await?;
        if digests.marker_dirty {
            digests.marker_dirty = false;
            let marker = put(digests.marker_item(&pk));
            write_all(&bookkeeping, &self.table, vec![marker], self.retry).await?;
        }
        Ok(())
    }

    /// The digests around a write of these asset keys outside a walk's page (threat onboarding, an apply without
    /// the walk's digests): read, with the written assets that have an entry named in the journal.
    pub(in crate::records) async fn expect_asset_writes(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<AssetDigests> {
        let mut digests = self.read_asset_digests(tenant).await?;
        // Loaded for a write only: vouches for nothing (the marker's runs are kept as read, should it be written).
        digests.write_only = true;
        digests.expect_writes(keys);
        self.save_asset_journal(tenant, &mut digests).await?;
        Ok(digests)
    }
}
