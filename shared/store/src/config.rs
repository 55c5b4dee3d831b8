//! A tenant's SentinelOne configuration (one `CONFIG` item, never the token), saving it together with the token
//! in the vault, disconnecting, and the sparse `due` index the daily scheduler reads.
//!
//! Save order: the secret first, the config item second (conditional on the version the user edited). If the
//! config write fails, the secret is put back as it was: deleted after a failed first save (no orphan secret),
//! restored to the previous token after a failed update. So a config item never points at a missing secret and
//! what the user had before stays intact. Saves and disconnects of one tenant run one at a time under a short
//! conditional lock item (`CONFIGLOCK`), so a losing concurrent save's rollback can never undo the winner's token;
//! the loser gets [`StoreError::SaveInProgress`] or [`StoreError::VersionConflict`].
//!
//! Disconnect deletes the config item, then the secret, and leaves a `SOURCE` marker saying when the source was
//! disconnected; assets and findings stay, and [`Store::source_status`] tells the views to label them. It then
//! deletes the sync state (watermark, checkpoint, lease: a reconnected tenant's first sync walks every threat again,
//! and a worker still running loses its lease at its next heartbeat), marks a pending or running run failed and
//! frees the run slot, so a new sync can start as soon as a configuration is saved again.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use s1_core::{ApiToken, VerdictInclusionList};

use crate::clock::{format_timestamp, normalize_timestamp, now, now_millis};
use crate::error::{Result, StoreError};
use crate::keys::{
    due_pk, due_sk, tenant_pk, TenantId, CONFIG_LOCK_SK, CONFIG_SK, DUE_SHARDS, SOURCE_SK, SYNC_SK,
};
use crate::runs::RunStatus;
use crate::store::{n, s, Store};
use crate::vault::Vault;

/// Why a run that was pending or running when its tenant disconnected ended as failed (the sync history shows it).
const DISCONNECTED_DURING_RUN: &str =
    "the SentinelOne connection was removed (disconnected) during the run";

/// Auto-sync interval bounds in days.
pub const AUTO_SYNC_DAYS: std::ops::RangeInclusive<u16> = 1..=30;

/// What the tenant configured. The token is not here: it lives only in the [`Vault`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantConfig {
    /// Console root, already validated and normalised by the caller.
    pub console_url: String,
    /// Analyst verdicts that make a threat a failed finding (API spellings).
    pub verdicts: Vec<String>,
    /// Days between scheduled syncs; `None` = auto-sync off. Range [`AUTO_SYNC_DAYS`].
    pub auto_sync_days: Option<u16>,
    pub auto_onboard: bool,
    pub update_metadata: bool,
    /// Group names to sync (empty: every group the token sees).
    pub group_names: Vec<String>,
    /// When the token was last replaced; `Some` means a token is stored.
    pub token_updated_at: Option<String>,
    pub updated_at: String,
    /// When the next scheduled sync is due (set by the store; `None` while auto-sync is off).
    pub next_due_at: Option<String>,
    /// Optimistic concurrency: pass the version you read (0 for a first save); the save increments it.
    pub version: u64,
    /// Version of `verdicts`: the save increments it whenever the list differs from the stored one (the caller's
    /// value is ignored). The sync worker re-evaluates stored findings until its applied version reaches this one
    /// (see the sync engine's `Reevaluate` phase). Missing in items saved before it existed: 0.
    #[serde(default)]
    pub verdicts_version: u64,
}

impl TenantConfig {
    /// A first-save configuration with the product defaults.
    pub fn new(console_url: impl Into<String>) -> Self {
        Self {
            console_url: console_url.into(),
            verdicts: VerdictInclusionList::default().to_strings(),
            auto_sync_days: None,
            auto_onboard: true,
            update_metadata: true,
            group_names: Vec::new(),
            token_updated_at: None,
            updated_at: String::new(),
            next_due_at: None,
            version: 0,
            verdicts_version: 0,
        }
    }

    /// The verdict list as the mapping rules take it.
    pub fn verdict_list(&self) -> Result<VerdictInclusionList> {
        VerdictInclusionList::from_list(&self.verdicts)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))
    }
}

/// Whether the tenant's imported data comes from a connected SentinelOne source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SourceStatus {
    Connected,
    /// Disconnected at `at`; the imported assets and findings remain.
    Disconnected {
        at: String,
    },
    NeverConnected,
}

#[derive(Debug, Serialize, Deserialize)]
struct ConfigItem {
    pk: String,
    sk: String,
    kind: String,
    config: TenantConfig,
    // Index keys must be absent (not NULL) when off: the due index is sparse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scheduled_day: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SourceItem {
    pk: String,
    sk: String,
    kind: String,
    disconnected_at: String,
}

impl Store {
    pub async fn get_config(&self, tenant: &TenantId) -> Result<Option<TenantConfig>> {
        Ok(self.get_config_item(tenant).await?.map(|i| i.config))
    }

    async fn get_config_item(&self, tenant: &TenantId) -> Result<Option<ConfigItem>> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), CONFIG_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item
            .map(|i| serde_dynamo::from_item(i).map_err(StoreError::item("configuration")))
            .transpose()
    }

    /// Connected while a configuration exists; otherwise disconnected (with when) or never connected.
    pub async fn source_status(&self, tenant: &TenantId) -> Result<SourceStatus> {
        if self.get_config_item(tenant).await?.is_some() {
            return Ok(SourceStatus::Connected);
        }
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SOURCE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        match out.item {
            Some(i) => {
                let item: SourceItem =
                    serde_dynamo::from_item(i).map_err(StoreError::item("source marker"))?;
                Ok(SourceStatus::Disconnected {
                    at: item.disconnected_at,
                })
            }
            None => Ok(SourceStatus::NeverConnected),
        }
    }

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

    /// Tenants whose scheduled sync is due at `now` (next due time at or before it), from every shard of the
    /// sparse `due` index.
    pub async fn list_due_tenants(&self, now: OffsetDateTime) -> Result<Vec<TenantId>> {
        // '~' sorts after every tenant-id character, so "<now>#~" bounds every tenant due at exactly `now`.
        let upper = format!("{}#~", format_timestamp(now));
        let mut due = Vec::new();
        for shard in 0..DUE_SHARDS {
            let mut start = None;
            loop {
                let out = self
                    .dynamodb
                    .query()
                    .table_name(&self.table)
                    .index_name("due")
                    .key_condition_expression("due_pk = :p AND due_sk <= :u")
                    .expression_attribute_values(":p", s(due_pk(shard)))
                    .expression_attribute_values(":u", s(&upper))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("Query", e))?;
                for item in out.items.unwrap_or_default() {
                    let tenant = item
                        .get("pk")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|pk| pk.strip_prefix("T#"))
                        .and_then(|t| TenantId::new(t).ok());
                    match tenant {
                        Some(t) => due.push(t),
                        None => tracing::warn!(
                            shard,
                            "due index entry without a valid tenant key; skipped"
                        ),
                    }
                }
                match out.last_evaluated_key {
                    Some(k) => start = Some(k),
                    None => break,
                }
            }
        }
        Ok(due)
    }

    /// Records that the tenant's sync for `scheduled_day` (`YYYY-MM-DD`) was enqueued and moves its next due time.
    /// `false` when it was already scheduled that day (or auto-sync is off): the caller must not enqueue again.
    pub async fn mark_scheduled(
        &self,
        tenant: &TenantId,
        scheduled_day: &str,
        next_due_at: &str,
    ) -> Result<bool> {
        let day_ok = scheduled_day.len() == 10
            && scheduled_day.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !day_ok {
            return Err(StoreError::InvalidInput(format!(
                "\"{scheduled_day}\" is not a YYYY-MM-DD day"
            )));
        }
        let next = normalize_timestamp(next_due_at)?;
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), CONFIG_SK)))
            .update_expression("SET scheduled_day = :d, due_sk = :sk, #c.next_due_at = :n")
            .condition_expression("attribute_exists(due_pk) AND (attribute_not_exists(scheduled_day) OR scheduled_day <> :d)")
            .expression_attribute_names("#c", "config")
            .expression_attribute_values(":d", s(scheduled_day))
            .expression_attribute_values(":sk", s(due_sk(&next, tenant)))
            .expression_attribute_values(":n", s(&next))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", e);
                if err.is_conditional_check_failed() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }
}

/// Saves `config` for `tenant`, with `token` when given (required on a first save; `None` on an update keeps the
/// stored token). Returns what was saved (new version, timestamps, next due time). See the module docs for the
/// order of writes and what a failure leaves behind.
pub async fn save_configuration(
    store: &Store,
    vault: &Vault,
    tenant: &TenantId,
    config: TenantConfig,
    token: Option<&ApiToken>,
) -> Result<TenantConfig> {
    if let Some(days) = config.auto_sync_days {
        if !AUTO_SYNC_DAYS.contains(&days) {
            return Err(StoreError::InvalidInput(format!(
                "auto-sync every {days} days is out of range; choose {} to {} days, or off",
                AUTO_SYNC_DAYS.start(),
                AUTO_SYNC_DAYS.end()
            )));
        }
    }
    config.verdict_list()?;
    let lock = take_config_lock(store, tenant).await?;
    let result = save_locked(store, vault, tenant, config, token).await;
    release_config_lock(store, tenant, &lock).await;
    result
}

async fn save_locked(
    store: &Store,
    vault: &Vault,
    tenant: &TenantId,
    config: TenantConfig,
    token: Option<&ApiToken>,
) -> Result<TenantConfig> {
    let existing = store.get_config_item(tenant).await?;
    let found = existing.as_ref().map_or(0, |e| e.config.version);
    if found != config.version {
        return Err(StoreError::VersionConflict {
            expected: config.version,
            found,
        });
    }

    let now_s = format_timestamp(now());
    // The previous token, to put back if the config write fails. `None`: there was no secret.
    let previous = match token {
        Some(t) => {
            let previous = vault.read(tenant).await?;
            vault.put_token(tenant, t).await?;
            Some(previous)
        }
        None => {
            if existing.is_none() || vault.get_token(tenant).await?.is_none() {
                return Err(StoreError::TokenRequired);
            }
            None
        }
    };

    let next_due_at = match (config.auto_sync_days, existing.as_ref()) {
        (None, _) => None,
        (Some(days), Some(e))
            if e.config.auto_sync_days == Some(days) && e.config.next_due_at.is_some() =>
        {
            e.config.next_due_at.clone()
        }
        // Newly on or interval changed: due at the scheduler's next run, which then sets the interval.
        (Some(_), _) => Some(now_s.clone()),
    };
    // Decided here, under the lock and against the item the conditional write checks, so concurrent saves cannot
    // both miss (or both count) one list change.
    let verdicts_version = match existing.as_ref() {
        Some(e) if e.config.verdicts != config.verdicts => e.config.verdicts_version + 1,
        Some(e) => e.config.verdicts_version,
        // A first save starts at 0: every finding the tenant gets is written under this list. (After a disconnect
        // and reconnect, the first sync walks every threat again and rewrites each finding still in the console
        // under the new list; findings of threats gone from the console keep their old status.)
        None => 0,
    };
    let saved = TenantConfig {
        version: found + 1,
        verdicts_version,
        updated_at: now_s.clone(),
        token_updated_at: if token.is_some() {
            Some(now_s.clone())
        } else {
            existing
                .as_ref()
                .and_then(|e| e.config.token_updated_at.clone())
        },
        next_due_at: next_due_at.clone(),
        ..config
    };
    let item = ConfigItem {
        pk: tenant_pk(tenant),
        sk: CONFIG_SK.to_string(),
        kind: "config".into(),
        config: saved.clone(),
        due_pk: next_due_at.as_ref().map(|_| due_pk(tenant.due_shard())),
        due_sk: next_due_at.as_deref().map(|n| due_sk(n, tenant)),
        scheduled_day: existing.as_ref().and_then(|e| e.scheduled_day.clone()),
    };
    let write = async {
        let item = serde_dynamo::to_item(item).map_err(StoreError::item("configuration"))?;
        let req = store
            .dynamodb
            .put_item()
            .table_name(&store.table)
            .set_item(Some(item));
        let req = if found == 0 {
            req.condition_expression("attribute_not_exists(pk)")
        } else {
            req.condition_expression("#c.version = :v")
                .expression_attribute_names("#c", "config")
                .expression_attribute_values(":v", n(found))
        };
        req.send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))
    };
    match write.await {
        Ok(_) => {
            tracing::info!(tenant = %tenant, version = saved.version, "configuration saved");
            Ok(saved)
        }
        Err(err) => {
            if let Some(previous) = previous {
                let undo = match &previous {
                    Some(p) => vault.put_token(tenant, p).await,
                    None => vault.delete_token(tenant).await,
                };
                if let Err(undo_err) = undo {
                    tracing::error!(tenant = %tenant, error = %undo_err, "could not restore the token after a failed configuration save");
                }
            }
            if err.is_conditional_check_failed() {
                let now_found = store.get_config(tenant).await?.map_or(0, |c| c.version);
                return Err(StoreError::VersionConflict {
                    expected: found,
                    found: now_found,
                });
            }
            Err(err)
        }
    }
}

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

/// How long a configuration change may hold the tenant's config lock before another may break it (a crashed
/// save); far longer than the handful of calls a save makes.
const CONFIG_LOCK_TTL_MS: i64 = 60_000;

/// Serialises configuration changes of one tenant. Without it, two concurrent saves could both write the secret
/// and the loser's rollback would put back the token the winner just replaced.
async fn take_config_lock(store: &Store, tenant: &TenantId) -> Result<String> {
    let owner = uuid::Uuid::new_v4().simple().to_string();
    let now_ms = now_millis();
    let res = store
        .dynamodb
        .put_item()
        .table_name(&store.table)
        .item("pk", s(tenant_pk(tenant)))
        .item("sk", s(CONFIG_LOCK_SK))
        .item("kind", s("config_lock"))
        .item("owner", s(&owner))
        .item("lock_expires_ms", n(now_ms + CONFIG_LOCK_TTL_MS))
        // TTL clean-up of a lock left by a crash (the condition below does not rely on it).
        .item("expires_at", n(now_ms / 1000 + 3600))
        .condition_expression("attribute_not_exists(pk) OR lock_expires_ms <= :now")
        .expression_attribute_values(":now", n(now_ms))
        .send()
        .await;
    match res {
        Ok(_) => Ok(owner),
        Err(e) => {
            let err = StoreError::dynamo("PutItem", e);
            if err.is_conditional_check_failed() {
                Err(StoreError::SaveInProgress)
            } else {
                Err(err)
            }
        }
    }
}

async fn release_config_lock(store: &Store, tenant: &TenantId, owner: &str) {
    let res = store
        .dynamodb
        .delete_item()
        .table_name(&store.table)
        .set_key(Some(Store::key(tenant_pk(tenant), CONFIG_LOCK_SK)))
        .condition_expression("#o = :o")
        .expression_attribute_names("#o", "owner")
        .expression_attribute_values(":o", s(owner))
        .send()
        .await;
    if let Err(e) = res {
        // It expires on its own; the next save after the TTL proceeds.
        let err = StoreError::dynamo("DeleteItem", e);
        tracing::warn!(tenant = %tenant, error = %err, "could not release the configuration lock");
    }
}

impl Store {
    /// Undoes [`Store::mark_scheduled`] for `scheduled_day` when the scheduled sync could not be started (its run
    /// could not be recorded or queued): the day mark is removed and the next due time put back to
    /// `previous_next_due_at`, so a retry of the same day's fan-out schedules the tenant again. `false` when the
    /// tenant is not marked for that day (nothing to undo). Added for the scheduler's `start_run` undo path.
    pub async fn unmark_scheduled(
        &self,
        tenant: &TenantId,
        scheduled_day: &str,
        previous_next_due_at: &str,
    ) -> Result<bool> {
        let previous = normalize_timestamp(previous_next_due_at)?;
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), CONFIG_SK)))
            .update_expression("REMOVE scheduled_day SET due_sk = :sk, #c.next_due_at = :n")
            .condition_expression("attribute_exists(due_pk) AND scheduled_day = :d")
            .expression_attribute_names("#c", "config")
            .expression_attribute_values(":d", s(scheduled_day))
            .expression_attribute_values(":sk", s(due_sk(&previous, tenant)))
            .expression_attribute_values(":n", s(&previous))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", e);
                if err.is_conditional_check_failed() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }
}
