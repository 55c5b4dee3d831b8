//! The asset view: SentinelOne's description of a machine, the platform's registration, and the store's lifecycle.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::OffsetDateTime;

use connector_store::StoredAsset;
use s1_core::asset::{Asset, AssetKey, AssetOrigin, AssetSource};
use s1_core::records::{MachineType, OsType, Tag};
use s1_core::registry::PlatformAsset;

/// An asset: the mapped machine plus the store's lifecycle (`active` is the store's, not the agent's flag: a retired
/// asset is inactive whatever SentinelOne last said).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetView {
    pub key: AssetKey,
    pub name: String,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    pub mac_addresses: Vec<String>,
    pub os_name: Option<String>,
    pub os_type: Option<OsType>,
    pub os_version: Option<String>,
    pub machine_type: Option<MachineType>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub domain: Option<String>,
    pub agent_version: Option<String>,
    pub site_id: Option<String>,
    pub site_name: Option<String>,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub active: bool,
    pub decommissioned: Option<bool>,
    pub infected: Option<bool>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    pub console_url: Option<String>,
    pub primary_agent_id: Option<String>,
    pub agent_ids: BTreeSet<String>,
    /// Keyed by the tenant's custom field names, as defined.
    pub custom_fields: BTreeMap<String, String>,
    pub tags: Vec<Tag>,
    pub origin: AssetOrigin,
    pub retired_at: Option<String>,
    pub updated_at: String,
    /// Who told the platform the asset exists (`sentinelone`, `import`, `manual`).
    pub sources: BTreeSet<AssetSource>,
    /// The platform's own registration (import or manual), kept apart from SentinelOne's description.
    pub platform: Option<PlatformAssetView>,
    /// When the sync retired the SentinelOne side of an asset a registration keeps active.
    pub sentinelone_retired_at: Option<String>,
}

/// What the platform registered about a machine itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformAssetView {
    pub key: AssetKey,
    pub name: String,
    pub serial: Option<String>,
    pub mac_addresses: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub os_name: Option<String>,
}

impl From<PlatformAsset> for PlatformAssetView {
    fn from(p: PlatformAsset) -> Self {
        let PlatformAsset {
            key,
            name,
            serial,
            mac_addresses,
            ip_addresses,
            os_name,
        } = p;
        Self {
            key,
            name,
            serial,
            mac_addresses,
            ip_addresses,
            os_name,
        }
    }
}

impl From<StoredAsset> for AssetView {
    fn from(stored: StoredAsset) -> Self {
        let StoredAsset {
            asset,
            content_hash: _,
            active,
            created_at: _,
            updated_at,
            last_run_id: _,
            retired_at,
            sources,
            platform,
            sentinelone_retired_at,
        } = stored;
        let Asset {
            key,
            name,
            ipv4,
            ipv6,
            mac_addresses,
            os_name,
            os_type,
            os_version,
            machine_type,
            model,
            serial,
            domain,
            agent_version,
            site_id,
            site_name,
            group_id,
            group_name,
            account_id,
            account_name,
            active: _,
            decommissioned,
            infected,
            last_seen,
            console_url,
            primary_agent_id,
            agent_ids,
            custom_fields,
            tags,
            origin,
        } = asset;
        Self {
            key,
            name,
            ipv4,
            ipv6,
            mac_addresses,
            os_name,
            os_type,
            os_version,
            machine_type,
            model,
            serial,
            domain,
            agent_version,
            site_id,
            site_name,
            group_id,
            group_name,
            account_id,
            account_name,
            active,
            decommissioned,
            infected,
            last_seen,
            console_url,
            primary_agent_id,
            agent_ids,
            custom_fields,
            tags,
            origin,
            retired_at,
            updated_at,
            sources,
            platform: platform.map(PlatformAssetView::from),
            sentinelone_retired_at,
        }
    }
}
