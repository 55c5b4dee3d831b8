//! The record layout item (`T#<tenant>` / `LAYOUT`): how many partitions hold a tenant's findings and
//! vulnerabilities (see the partition plan in [`crate::keys`]).
//!
//! Readers ([`Store::record_layout`]) take a missing item for the legacy layout (S = 1): every tenant stored before
//! layouts existed has its records under `T#<tenant>`, and a tenant with no item has no record anywhere else,
//! because the item is written before any record is. Only the sync, holding the tenant's lease, creates the item
//! ([`Store::ensure_record_layout`]); only the migration, holding the run slot and the lease, changes it.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{
    tenant_pk, RecordLayout, TenantId, FINDING_PREFIX, LAYOUT_SK, VULNERABILITY_PREFIX,
};
use crate::store::{n, s, Store};
use crate::views::Query;

impl Store {
    /// The tenant's record layout: one GetItem (consistent); no item means [`RecordLayout::LEGACY`]. Read once per
    /// request or invocation and passed to every record access.
    pub async fn record_layout(&self, tenant: &TenantId) -> Result<RecordLayout> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), LAYOUT_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(RecordLayout::LEGACY);
        };
        let shards = match item.get("record_shards") {
            Some(AttributeValue::N(v)) => v.parse::<u32>().ok(),
            _ => None,
        };
        shards
            .and_then(RecordLayout::with_shards)
            .ok_or_else(|| StoreError::Malformed {
                what: "record layout",
                detail: "record_shards is not a number from 1 to 100".into(),
            })
    }

    /// The tenant's record layout, created when missing: [`RecordLayout::SPREAD`] for a tenant with no finding
    /// and no vulnerability yet, [`RecordLayout::LEGACY`] for one that has some under `T#<tenant>`. Call only
    /// while holding the tenant's sync lease, before the first record write of the invocation: the put is
    /// conditional on no item existing, so of two racing creators one wins and the other reads its layout.
    pub async fn ensure_record_layout(&self, tenant: &TenantId) -> Result<RecordLayout> {
        self.ensure_record_layout_noting_records(tenant)
            .await
            .map(|(layout, _)| layout)
    }

    /// [`Store::ensure_record_layout`], and whether this call created the item for a tenant that held no finding
    /// and no vulnerability. Then every record the tenant holds later was written after this call: by the caller,
    /// which holds the sync lease, until it gives the lease up (so a first sync knows it has nothing to close).
    pub async fn ensure_record_layout_noting_records(
        &self,
        tenant: &TenantId,
    ) -> Result<(RecordLayout, bool)> {
        if let Some(layout) = self.stored_record_layout(tenant).await? {
            return Ok((layout, false));
        }
        let held_records = self.has_legacy_records(tenant).await?;
        let layout = match held_records {
            true => RecordLayout::LEGACY,
            false => RecordLayout::SPREAD,
        };
        if self.put_record_layout(tenant, layout, None).await? {
            tracing::info!(tenant = %tenant, record_shards = layout.shards(), "record layout recorded");
            return Ok((layout, !held_records));
        }
        // Another caller created it meanwhile: whatever it wrote since is not this caller's to vouch for.
        Ok((self.record_layout(tenant).await?, false))
    }

    /// The layout item's value, if any.
    async fn stored_record_layout(&self, tenant: &TenantId) -> Result<Option<RecordLayout>> {
        let exists = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), LAYOUT_SK)))
            .consistent_read(true)
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?
            .item
            .is_some();
        match exists {
            true => self.record_layout(tenant).await.map(Some),
            false => Ok(None),
        }
    }

    /// Writes the layout item: with `from` `None` only where none exists, otherwise only while it records `from`
    /// (a missing item counts as [`RecordLayout::LEGACY`]). Returns whether it was written.
    pub(crate) async fn put_record_layout(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        from: Option<RecordLayout>,
    ) -> Result<bool> {
        let mut req = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant)))
            .item("sk", s(LAYOUT_SK))
            .item("kind", s("layout"))
            .item("record_shards", n(layout.shards()))
            .item("updated_at", s(format_timestamp(now())));
        req = match from {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(f) if f == RecordLayout::LEGACY => req
                .condition_expression("attribute_not_exists(pk) OR record_shards = :from")
                .expression_attribute_values(":from", n(f.shards())),
            Some(f) => req
                .condition_expression("record_shards = :from")
                .expression_attribute_values(":from", n(f.shards())),
        };
        StoreError::condition_held("PutItem", req.send().await)
    }

    /// Whether any finding or vulnerability is stored under `T#<tenant>` (two one-item queries).
    async fn has_legacy_records(&self, tenant: &TenantId) -> Result<bool> {
        for prefix in [FINDING_PREFIX, VULNERABILITY_PREFIX] {
            let q = Query::partition(tenant, prefix).project("#sk", &[("#sk", "sk")]);
            let (items, _) = self.query_once(&q, None, Some(1)).await?;
            if !items.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
