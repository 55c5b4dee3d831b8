//! Moving a legacy tenant (records under `T#<tenant>`) to the spread layout (see the partition plan in
//! [`crate::keys`]): copy every finding and vulnerability to its shard, flip the layout item, delete the legacy
//! copies.
//!
//! Why it is safe to stop anywhere and run again:
//! - it holds the tenant's run slot (so no sync starts) and its sync lease (so no worker writes), both under its
//!   own fixed names, so a rerun takes them over at once while a sync waits;
//! - before the flip every reader uses the legacy copies, which are complete; a copy is a put of the same item
//!   under its shard's key, so copying again rewrites the same content;
//! - the flip is one conditional write (legacy to spread); after it every reader uses the shards, which hold every
//!   record; deleting a legacy copy deletes nothing a reader of the spread layout reads, and a rerun finds the
//!   layout flipped and only finishes the deletes.
//!
//! Until the deletes are done, the per-asset indexes (gsi1, `asset_facets`, `open_vulnerabilities`) hold both
//! copies of a record: a listing by asset shows it twice during the migration, never after it.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use crate::batch::{write_all, Item};
use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, RecordLayout, TenantId, FINDING_PREFIX, VULNERABILITY_PREFIX};
use crate::records::put;
use crate::runs::ClaimError;
use crate::store::{s, Store};
use crate::sync_state::Lease;
use crate::views::Query;

/// The run slot's holder while a migration runs (no run has this id: a sync asked for meanwhile is refused as
/// already running, a scheduled one deferred).
pub const MIGRATION_RUN_ID: &str = "migrate-record-shards";
/// The sync lease's owner while a migration runs.
const MIGRATION_OWNER: &str = "migrate-record-shards";
/// How long the claims outlive a migration that stopped without releasing them.
const LEASE_TTL: Duration = Duration::from_secs(600);
const SLOT_TTL: Duration = Duration::from_secs(3600);
/// Records copied or deleted per page.
const MIGRATION_PAGE: i32 = 500;

/// What a migration did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Records written to their shard (again, on a rerun before the flip).
    pub copied: u64,
    /// Legacy copies deleted.
    pub deleted: u64,
    /// Whether the tenant was already spread when this run started.
    pub already_spread: bool,
}

impl Store {
    /// Moves the tenant's records to [`RecordLayout::SPREAD`] (see the module docs), calling `progress` after
    /// every page. Refused while a sync holds the tenant's run slot or lease. The claims are released when it
    /// completes; an error leaves them to the rerun (or to their expiry: lease 10 minutes, slot 1 hour).
    pub async fn migrate_record_shards(
        &self,
        tenant: &TenantId,
        mut progress: impl FnMut(&MigrationReport),
    ) -> Result<MigrationReport> {
        match self
            .claim_run_slot(tenant, MIGRATION_RUN_ID, SLOT_TTL)
            .await
        {
            Ok(()) => {}
            Err(ClaimError::AlreadyRunning { run_id }) => {
                return Err(StoreError::InvalidInput(format!(
                    "a sync holds the tenant's run slot (run {run_id}): migrate once it has finished"
                )))
            }
            Err(ClaimError::Store(e)) => return Err(e),
        }
        let lease = self.migration_lease(tenant).await?;
        let mut report = MigrationReport::default();
        let layout = self.record_layout(tenant).await?;
        if layout == RecordLayout::SPREAD {
            report.already_spread = true;
        } else if layout == RecordLayout::LEGACY {
            self.legacy_pass(tenant, Pass::Copy, &mut report, &mut progress)
                .await?;
            if !self
                .put_record_layout(tenant, RecordLayout::SPREAD, Some(RecordLayout::LEGACY))
                .await?
            {
                return Err(StoreError::InvalidInput(
                    "the tenant's layout changed during the migration; run it again".into(),
                ));
            }
            tracing::info!(tenant = %tenant, copied = report.copied, "record layout flipped to spread");
        } else {
            return Err(StoreError::InvalidInput(format!(
                "the tenant has {} record shards: only the legacy layout (1) is migrated",
                layout.shards()
            )));
        }
        self.legacy_pass(tenant, Pass::Delete, &mut report, &mut progress)
            .await?;
        self.release_lease(tenant, &lease).await?;
        self.release_run_slot(tenant, MIGRATION_RUN_ID).await?;
        tracing::info!(tenant = %tenant, copied = report.copied, deleted = report.deleted, "record shards migration done");
        Ok(report)
    }

    /// The tenant's sync lease for the migration, refreshed (the same owner takes it again).
    async fn migration_lease(&self, tenant: &TenantId) -> Result<Lease> {
        self.try_acquire_lease(tenant, MIGRATION_OWNER, LEASE_TTL)
            .await?
            .ok_or_else(|| {
                StoreError::InvalidInput(
                    "a sync worker holds the tenant's lease: migrate once it has finished".into(),
                )
            })
    }

    /// One pass over the legacy findings and vulnerabilities, page by page under a refreshed lease: a copy puts
    /// each under its shard's key; a delete removes the legacy copies.
    async fn legacy_pass(
        &self,
        tenant: &TenantId,
        pass: Pass,
        report: &mut MigrationReport,
        progress: &mut impl FnMut(&MigrationReport),
    ) -> Result<()> {
        for prefix in [FINDING_PREFIX, VULNERABILITY_PREFIX] {
            let q = match pass {
                Pass::Copy => Query::partition(tenant, prefix),
                Pass::Delete => Query::partition(tenant, prefix).project("pk, sk", &[]),
            };
            let mut start = None;
            loop {
                self.migration_lease(tenant).await?;
                let (items, last) = self
                    .query_once(&q, start.take(), Some(MIGRATION_PAGE))
                    .await?;
                let found = items.len() as u64;
                let writes = match pass {
                    Pass::Copy => items
                        .into_iter()
                        .map(|item| moved(tenant, item).map(put))
                        .collect::<Result<Vec<_>>>()?,
                    Pass::Delete => items.into_iter().map(delete).collect::<Result<Vec<_>>>()?,
                };
                match pass {
                    Pass::Copy => report.copied += found,
                    Pass::Delete => report.deleted += found,
                }
                write_all(&*self.batch, &self.table, writes, self.retry).await?;
                progress(report);
                match pass {
                    Pass::Copy => match last {
                        Some(k) => start = Some(k),
                        None => break,
                    },
                    // Always from the start: what was deleted is gone, so the first page is what is left.
                    Pass::Delete if found == 0 => break,
                    Pass::Delete => {}
                }
            }
        }
        Ok(())
    }
}

/// What a pass over the legacy records does with them.
#[derive(Clone, Copy)]
enum Pass {
    Copy,
    Delete,
}

/// The item under its shard's partition key (everything else, index keys included, unchanged).
fn moved(tenant: &TenantId, mut item: Item) -> Result<Item> {
    let sk = match item.get("sk") {
        Some(AttributeValue::S(sk)) => sk.clone(),
        _ => {
            return Err(StoreError::Malformed {
                what: "record",
                detail: "a record without a sort key".into(),
            })
        }
    };
    let pk = RecordLayout::SPREAD.record_pk_of_sk(tenant, &sk);
    debug_assert_ne!(pk, tenant_pk(tenant));
    item.insert("pk".into(), s(pk));
    Ok(item)
}

fn delete(item: Item) -> Result<WriteRequest> {
    let key: Item = ["pk", "sk"]
        .into_iter()
        .filter_map(|k| item.get(k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let request = DeleteRequest::builder()
        .set_key(Some(key))
        .build()
        .map_err(|e| StoreError::Malformed {
            what: "record key",
            detail: e.to_string(),
        })?;
    Ok(WriteRequest::builder().delete_request(request).build())
}
