//! What the sync state records beside the lease and the checkpoint: when the last complete threat walk ended
//! and how often one is due, and the API token's expiry as the last run read it.

use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, TenantId, SYNC_SK};
use crate::store::{n, s, Store};

use super::Lease;

impl Store {
    /// Records that a complete walk of all threats ended at `at` (while holding the lease): the next one is due
    /// a period later.
    pub async fn record_full_threat_walk(
        &self,
        tenant: &TenantId,
        lease: &Lease,
        at: &str,
    ) -> Result<()> {
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .update_expression("SET full_threat_walk_at = :at")
            .condition_expression("lease_owner = :o")
            .expression_attribute_values(":o", s(&lease.owner))
            .expression_attribute_values(":at", s(at))
            .send()
            .await;
        self.lease_write(res)
    }

    /// Records that a vulnerability walk in `scope` that started at `started_at` ended (while holding the lease):
    /// its start is the next delta's watermark; a `complete` walk also restarts the period of the complete walk.
    pub async fn record_vulnerability_walk(
        &self,
        tenant: &TenantId,
        lease: &Lease,
        started_at: time::OffsetDateTime,
        scope: &str,
        complete: bool,
    ) -> Result<()> {
        let mut expression =
            "SET vulnerability_watermark = :w, vulnerability_scope = :sc".to_string();
        let mut req = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .condition_expression("lease_owner = :o")
            .expression_attribute_values(":o", s(&lease.owner))
            .expression_attribute_values(":w", s(super::stored_time::format(started_at)))
            .expression_attribute_values(":sc", s(scope));
        if complete {
            expression.push_str(", full_vulnerability_walk_at = :at");
            req = req.expression_attribute_values(
                ":at",
                s(crate::clock::format_timestamp(crate::clock::now())),
            );
        }
        self.lease_write(req.update_expression(expression).send().await)
    }

    /// Sets how often a run walks all vulnerabilities (days; 0: every run).
    pub async fn set_full_vulnerability_walk_every(
        &self,
        tenant: &TenantId,
        days: u16,
    ) -> Result<()> {
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .update_expression("SET full_vulnerability_walk_every_days = :d")
            .expression_attribute_values(":d", n(days))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Sets how often a run walks all threats (days; 0: every run).
    pub async fn set_full_threat_walk_every(&self, tenant: &TenantId, days: u16) -> Result<()> {
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .update_expression("SET full_threat_walk_every_days = :d")
            .expression_attribute_values(":d", n(days))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Records the API token's expiry as a run read it (`None`: the console did not say; the stored one is
    /// removed so the view never shows a stale date).
    pub async fn record_token_expiry(
        &self,
        tenant: &TenantId,
        expires_at: Option<&str>,
    ) -> Result<()> {
        let req = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)));
        let req = match expires_at {
            Some(at) => req
                .update_expression("SET token_expires_at = :at")
                .expression_attribute_values(":at", s(at)),
            None => req.update_expression("REMOVE token_expires_at"),
        };
        req.send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Forgets the recorded token expiry once a new token is saved: the date belonged to the old token, and the
    /// next run reads the new one's. A tenant without sync state is left without one.
    pub async fn forget_token_expiry(&self, tenant: &TenantId) -> Result<()> {
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .update_expression("REMOVE token_expires_at")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        StoreError::condition_held("UpdateItem", res)?;
        Ok(())
    }
}
