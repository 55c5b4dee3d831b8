//! Disconnecting a tenant.
//!
//! Disconnect deletes the config item, then the secret, and leaves a `SOURCE` marker saying when the source was
//! disconnected; assets and findings stay, and [`Store::source_status`] tells the views to label them. It then
//! deletes the sync state (watermark, checkpoint, lease: a reconnected tenant's first sync walks every threat again,
//! and a worker still running loses its lease at its next heartbeat), marks a pending or running run failed and
//! frees the run slot, so a new sync can start as soon as a configuration is saved again.

use super::lock::{release_config_lock, take_config_lock};
use super::SourceItem;
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, TenantId, CONFIG_SK, SOURCE_SK, SYNC_SK};
use crate::runs::RunStatus;
use crate::store::Store;
use crate::vault::Vault;

/// Why a run that was pending or running when its tenant disconnected ended as failed (the sync history shows it).
const DISCONNECTED_DURING_RUN: &str =
    "the SentinelOne connection was removed (disconnected) during the run";

/// Disconnects the tenant: the configuration item, then the secret, are deleted; imported assets and findings
/// stay and [`Store::source_status`] reports them as from a disconnected source. Then the sync state is deleted and
/// a pending or running run is failed and its slot freed (see the module docs). Returns whether a configuration
/// existed. Safe to repeat (a half-done disconnect finishes on retry, also when the configuration is already gone).
pub async fn disconnect(store: &Store, vault: &Vault, tenant: &TenantId) -> Result<bool> {
    let lock = take_config_lock(store, tenant).await?;
    let result = disconnect_locked(store, vault, tenant).await;
    release_config_lock(store, tenant, &lock).await;
    result
}

async fn disconnect_locked(store: &Store, vault: &Vault, tenant: &TenantId) -> Result<bool> {
    let out = store
        .dynamodb
        .delete_item()
        .table_name(&store.table)
        .set_key(Some(Store::key(tenant_pk(tenant), CONFIG_SK)))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
    let existed = out.attributes.is_some_and(|a| !a.is_empty());
    vault.delete_token(tenant).await?;
    let marker = SourceItem {
        pk: tenant_pk(tenant),
        sk: SOURCE_SK.to_string(),
        kind: "source".into(),
        disconnected_at: format_timestamp(now()),
    };
    store
        .dynamodb
        .put_item()
        .table_name(&store.table)
        .set_item(Some(
            serde_dynamo::to_item(marker).map_err(StoreError::item("source marker"))?,
        ))
        .send()
        .await
        .map_err(|e| StoreError::dynamo("PutItem", e))?;
    // After the configuration is gone no new sync can start (sync-now and the worker both need it). The sync state
    // goes first: a worker still running loses its lease with it, so its next heartbeat fails and it stops writing
    // progress and can no longer set a watermark; and since `update_run` never rewrites a finished run, a progress
    // write whose heartbeat passed just before this point cannot undo the failure recorded below.
    store.clear_sync_state(tenant).await?;
    let failed_run = store.end_slot_run(tenant, DISCONNECTED_DURING_RUN).await?;
    tracing::info!(tenant = %tenant, existed, failed_run = ?failed_run, "source disconnected; sync state cleared");
    Ok(existed)
}

impl Store {
    /// Deletes the tenant's sync state (threats watermark, checkpoint and lease: the `SYNC` item), so the next sync
    /// starts from scratch and walks every threat. A worker still holding the lease fails its next heartbeat with
    /// [`StoreError::LeaseLost`] and stops writing. Idempotent.
    pub async fn clear_sync_state(&self, tenant: &TenantId) -> Result<()> {
        self.dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }

    /// Ends the run holding the tenant's run slot, if any: a pending or running run is marked failed with `reason`
    /// (a finished one is left as it is), and the slot is freed. Returns the id of the run that was failed.
    async fn end_slot_run(&self, tenant: &TenantId, reason: &str) -> Result<Option<String>> {
        let Some(run_id) = self.run_slot_holder(tenant).await? else {
            return Ok(None);
        };
        let mut failed = None;
        // No run item: the slot was claimed by a start that died before recording its run; only the slot is left.
        if let Some(mut run) = self.get_run(tenant, &run_id).await? {
            if matches!(run.status, RunStatus::Pending | RunStatus::Running) {
                run.record_error(reason);
                run.finish(RunStatus::Failed, Some(reason.to_string()));
                match self.update_run(&run).await {
                    Ok(()) => failed = Some(run_id.clone()),
                    Err(e) => {
                        // Its worker finished it in the meantime (a finished run is not rewritten): that outcome
                        // stays. Anything else is an error to retry.
                        let finished = self
                            .get_run(tenant, &run_id)
                            .await?
                            .is_some_and(|r| r.status.is_finished());
                        if !finished {
                            return Err(e);
                        }
                    }
                }
            }
        }
        // `false`: another run took the slot in the meantime (only possible once its configuration is back).
        self.release_run_slot(tenant, &run_id).await?;
        Ok(failed)
    }
}
