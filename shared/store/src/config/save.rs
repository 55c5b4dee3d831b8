//! Saving a tenant's configuration together with its token.
//!
//! Save order: the secret first, the config item second (conditional on the version the user edited). If the
//! config write fails, the secret is put back as it was: deleted after a failed first save (no orphan secret),
//! restored to the previous token after a failed update. So a config item never points at a missing secret and
//! what the user had before stays intact. Saves and disconnects of one tenant run one at a time under a short
//! conditional lock item (`CONFIGLOCK`), so a losing concurrent save's rollback can never undo the winner's token;
//! the loser gets [`StoreError::SaveInProgress`] or [`StoreError::VersionConflict`].

use s1_core::ApiToken;

use super::lock::{release_config_lock, take_config_lock};
use super::{ConfigItem, TenantConfig, AUTO_SYNC_DAYS};
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{due_pk, due_sk, tenant_pk, TenantId, CONFIG_SK};
use crate::store::{n, Store};
use crate::vault::Vault;

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
            // Bound to the console this save configures: the token is only ever handed out for it.
            vault.put_token(tenant, &config.console_url, t).await?;
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
        due_pk: next_due_at
            .as_ref()
            .map(|_| due_pk(crate::keys::due_shard(tenant))),
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
                    Some(p) => vault.restore(tenant, p).await,
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
