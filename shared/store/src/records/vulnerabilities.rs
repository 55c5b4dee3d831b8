//! Vulnerability findings: the stored item (one per SentinelOne application-risk record) and its keys.

use serde::{Deserialize, Serialize};

use s1_core::vulnerability::lifecycle::VulnerabilityLifecycle;
use s1_core::vulnerability::Vulnerability;
use s1_core::AssetKey;

use crate::batch::Item;
use crate::error::{Result, StoreError};
use crate::keys::{
    finding_gsi1pk, open_vulnerability_sk, unattached_gsi1pk, vulnerability_facet_sk,
    vulnerability_sk, RecordLayout, TenantId,
};

/// A stored vulnerability finding. Top-level copies of what the views filter and count on sit beside the record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct VulnerabilityItem {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub facet_sk: String,
    /// The record as last written (its scan facts are those of that write: a scan alone writes nothing).
    #[serde(with = "super::record_text")]
    pub vulnerability: Vulnerability,
    pub content_hash: String,
    pub attached: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_key: Option<String>,
    pub severity: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cve_id: Option<String>,
    pub lifecycle: VulnerabilityLifecycle,
    /// Keys of the sparse `open_vulnerabilities` index: present only while attached and not fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vopen_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vopen_sk: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The item of a vulnerability attached to `asset_key` (`None`: unattached), with every key derived from the
/// record and its lifecycle (its partition from the tenant's record layout), so no write can leave an index key out of step with the values it encodes.
pub(super) fn vulnerability_item(
    (tenant, layout): (&TenantId, RecordLayout),
    vulnerability: Vulnerability,
    asset_key: Option<&AssetKey>,
    content_hash: String,
    lifecycle: VulnerabilityLifecycle,
    created_at: String,
    updated_at: String,
) -> Result<Item> {
    let gsi1pk = match asset_key {
        Some(key) => finding_gsi1pk(tenant, key.as_str()),
        None => unattached_gsi1pk(tenant),
    };
    let id = vulnerability.id.clone();
    let severity = vulnerability.severity.as_str().to_string();
    let state = lifecycle.state.as_str().to_string();
    let present = asset_key.is_some() && lifecycle.state.is_present();
    let item = VulnerabilityItem {
        pk: layout.record_pk(tenant, &id),
        sk: vulnerability_sk(&id),
        kind: "vulnerability".into(),
        gsi1sk: vulnerability_sk(&id),
        facet_sk: vulnerability_facet_sk(&state, &severity, vulnerability.cve_id.as_deref(), &id),
        vopen_pk: present.then(|| gsi1pk.clone()),
        vopen_sk: present.then(|| open_vulnerability_sk(&severity, &id)),
        gsi1pk,
        content_hash,
        attached: asset_key.is_some(),
        asset_key: asset_key.map(|k| k.as_str().to_string()),
        cve_id: vulnerability.cve_id.clone(),
        severity,
        state,
        lifecycle,
        vulnerability,
        created_at,
        updated_at,
    };
    serde_dynamo::to_item(item).map_err(StoreError::item("vulnerability"))
}
