//! A tenant's SentinelOne configuration (one `CONFIG` item, never the token), saving it together with the token
//! in the vault, disconnecting, and the sparse `due` index the daily scheduler reads.
//!
//! This file holds the configuration and source-status items and their reads; [`save`] (saving with the token,
//! in order, rolled back on failure), [`disconnect`], [`lock`] (one change of a tenant's configuration at a time)
//! and [`due`] (the scheduler's index) hold the rest.

mod disconnect;
mod due;
mod lock;
mod save;

use serde::{Deserialize, Serialize};

use s1_core::{Severity, VerdictInclusionList};

use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, TenantId, CONFIG_SK, SOURCE_SK};
use crate::store::Store;

pub use disconnect::disconnect;
pub use save::save_configuration;

/// Auto-sync interval bounds in days.
pub const AUTO_SYNC_DAYS: std::ops::RangeInclusive<u16> = 1..=30;

/// What the tenant configured. The token is not here: it lives only in the [`Vault`](crate::Vault).
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
    /// Whether the sync imports application vulnerabilities (SentinelOne's application risks). Missing in items
    /// saved before it existed: on, the product default.
    #[serde(default = "yes")]
    pub import_vulnerabilities: bool,
    /// The lowest severity of vulnerability imported (`info` is never a minimum the API accepts). Missing: low.
    #[serde(default = "default_minimum_vulnerability_severity")]
    pub minimum_vulnerability_severity: Severity,
}

fn yes() -> bool {
    true
}

/// The product default of [`TenantConfig::minimum_vulnerability_severity`].
pub fn default_minimum_vulnerability_severity() -> Severity {
    Severity::Low
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
            import_vulnerabilities: true,
            minimum_vulnerability_severity: default_minimum_vulnerability_severity(),
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
}
