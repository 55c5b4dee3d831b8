//! Assets: the stored item and planning a page of asset decisions, keeping the asset digests
//! ([`super::digests`]) honest around its writes; the writes are sent by [`super::asset_writes`], the assets view
//! is [`super::asset_views`]. The platform's own registrations live in [`super::registrations`]; retiring the
//! assets a run did not see in [`super::retirement`].
//!
//! What SentinelOne says about a machine and what the platform registered itself live in two items with one
//! writer each, so neither can clobber the other, whatever their timing:
//!
//! | item                    | written by                          | holds                                          |
//! |-------------------------|-------------------------------------|------------------------------------------------|
//! | `ASSET#<key>`           | the sync (whole-item batch puts)    | the asset, `active`, SentinelOne's retirement  |
//! | `ASSETREG#<key>`        | registrations (import, manual) only | what was registered, its sources, its digest   |
//!
//! A registration also creates `ASSET#<key>` when it does not exist yet (a conditional put of the registration's
//! own description, which the sync's first description replaces), so the sync finds the machine with
//! auto-onboard off and the views list it. Reads merge the two ([`StoredAsset::sources`],
//! [`StoredAsset::platform`]). Retirement marks an asset inactive only when no registration holds it, checked in
//! the same transaction as the write; otherwise it retires the SentinelOne side alone (`sentinelone_retired_at`)
//! and the asset stays active.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::types::AttributeValue;
use s1_core::asset::AssetOrigin;
use s1_core::registry::PlatformAsset;
use s1_core::{Asset, AssetDecision, AssetSource, ContentHash};

use super::digests::AssetDigests;
use super::registrations::RegistrationItem;
use super::StoredHead;
use crate::batch::Item;
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{asset_facet_sk, asset_sk, tenant_pk, TenantId};
use crate::runs::WriteCounts;
use crate::store::Store;

/// An asset as stored: the mapped asset plus what the store keeps beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAsset {
    pub asset: Asset,
    pub content_hash: String,
    /// False once retired: SentinelOne no longer returned it (or returned it decommissioned) in a complete walk.
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub last_run_id: Option<String>,
    #[serde(default)]
    pub retired_at: Option<String>,
    /// Who told the platform the asset exists.
    #[serde(default)]
    pub sources: BTreeSet<AssetSource>,
    /// What the platform's own registrations say (import, manual), kept apart from SentinelOne's description.
    #[serde(default)]
    pub platform: Option<PlatformAsset>,
    /// When the sync retired the SentinelOne side of an asset a registration holds (the asset stays active).
    #[serde(default)]
    pub sentinelone_retired_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct AssetItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) kind: String,
    pub(super) asset: Asset,
    pub(super) content_hash: String,
    pub(super) active: bool,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    #[serde(default)]
    pub(super) last_run_id: Option<String>,
    #[serde(default)]
    pub(super) retired_at: Option<String>,
    /// Set by every sync write: SentinelOne described this asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) src_sentinelone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sentinelone_retired_at: Option<String>,
    /// `ASSET#<active>#<key>`: the asset's key in the `facets` index, which serves the `active` filter. Every
    /// write that sets `active` sets it too; assets stored before it existed get it from the backfill
    /// ([`super::facets`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) facet_sk: Option<String>,
}

impl StoredAsset {
    /// The asset's key (normalised computer name).
    pub fn key(&self) -> &str {
        self.asset.key.as_str()
    }

    /// Whether SentinelOne's side of the asset is live: active, and not retired on its own.
    pub fn sentinelone_active(&self) -> bool {
        self.active && self.sentinelone_retired_at.is_none()
    }
}

impl StoredAsset {
    pub(super) fn from_items(i: AssetItem, registration: Option<RegistrationItem>) -> Self {
        let mut sources = BTreeSet::new();
        // Assets stored before sources were recorded were all described by SentinelOne.
        if i.src_sentinelone == Some(true) || i.asset.origin != AssetOrigin::Platform {
            sources.insert(AssetSource::Sentinelone);
        }
        if let Some(r) = &registration {
            if r.src_import == Some(true) {
                sources.insert(AssetSource::Import);
            }
            if r.src_manual == Some(true) {
                sources.insert(AssetSource::Manual);
            }
        }
        Self {
            asset: i.asset,
            content_hash: i.content_hash,
            active: i.active,
            created_at: i.created_at,
            updated_at: i.updated_at,
            last_run_id: i.last_run_id,
            retired_at: i.retired_at,
            sources,
            platform: registration.map(|r| r.platform),
            sentinelone_retired_at: i.sentinelone_retired_at,
        }
    }
}

/// The item the sync writes for an asset SentinelOne described (`active`), or for one it retired: for bulk
/// loaders (the view bench) that fill a table faster than a sync, in exactly the stored format.
pub fn new_asset_item(
    tenant: &TenantId,
    asset: &Asset,
    active: bool,
    run_id: &str,
) -> Result<Item> {
    let now_s = format_timestamp(now());
    let item = AssetItem {
        pk: tenant_pk(tenant),
        sk: asset_sk(asset.key.as_str()),
        kind: "asset".into(),
        content_hash: asset.content_hash(),
        asset: asset.clone(),
        active,
        created_at: now_s.clone(),
        updated_at: now_s.clone(),
        last_run_id: Some(run_id.to_string()),
        retired_at: (!active).then(|| now_s.clone()),
        src_sentinelone: Some(true),
        sentinelone_retired_at: None,
        facet_sk: Some(asset_facet_sk(active, asset.key.as_str())),
    };
    serde_dynamo::to_item(item).map_err(StoreError::item("asset"))
}

impl StoredHead {
    /// The head of an asset already read (by [`Store::load_asset_heads`]).
    fn of_asset(a: &StoredAsset) -> Self {
        Self {
            sk: asset_sk(a.key()),
            content_hash: Some(a.content_hash.clone()),
            active: Some(a.active),
            created_at: Some(a.created_at.clone()),
            asset: Some(a.asset.clone()),
            sentinelone_retired_at: a.sentinelone_retired_at.clone(),
            lifecycle: None,
        }
    }
}

/// One write of a page of asset decisions.
pub(super) enum AssetWrite {
    /// SentinelOne's description (create or update), by sort key; `true` when it creates the asset.
    /// The last field: written already retired, `Some(stored)`, for a decommissioned machine that is not live
    /// (new, or `stored` inactive); see [`Store::create_retired`].
    Describe(String, Asset, bool, Option<bool>),
    /// The agent-id link only, by sort key.
    Attach(String, Asset),
}

/// `asset` as a read of the item written from it returns it (through the item format), so that an entry
/// describes what the walk would read; `None` (no entry) if it does not convert.
fn as_read_back(asset: &Asset) -> Option<Asset> {
    let value: AttributeValue = serde_dynamo::to_attribute_value(asset).ok()?;
    serde_dynamo::from_attribute_value(value).ok()
}

impl AssetWrite {
    /// The written asset's key.
    fn key(&self) -> &str {
        match self {
            AssetWrite::Describe(_, a, _, _) | AssetWrite::Attach(_, a) => a.key.as_str(),
        }
    }
}

impl Store {
    /// Applies one page of asset decisions. Creates and updates are written only when the content hash differs
    /// from the stored one or the stored asset's SentinelOne side was retired (so it comes back active);
    /// `AttachOnly` updates only the agent-id link (and the hash that covers it). `Unchanged` carries no key, so a
    /// retired asset the merge rule calls unchanged stays retired: pass `Update` for assets whose
    /// [`StoredAsset::sentinelone_active`] is false. Registrations live in their own items, so these whole-item
    /// puts never lose one.
    pub async fn apply_asset_decisions(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
        run_id: &str,
    ) -> Result<WriteCounts> {
        self.apply_assets(tenant, decisions, run_id, None, None)
            .await
    }

    /// [`Store::apply_asset_decisions`] for decisions made against `stored`, the assets this page's keys had
    /// when it was decided (from [`Store::load_asset_heads`], or none where none can exist yet): compared against
    /// them rather than read a second time. A key absent from `stored` is taken as not stored.
    pub async fn apply_walked_assets(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
        run_id: &str,
        stored: &HashMap<String, StoredAsset>,
    ) -> Result<WriteCounts> {
        self.apply_assets(tenant, decisions, run_id, Some(stored), None)
            .await
    }

    /// [`Store::apply_walked_assets`] for a page of the agent walk that read the assets `read` (those its asset
    /// digests could not vouch for, named in their journal by [`Store::expect_asset_reads`]): the entries of the
    /// assets it writes and of those it read are set from what is stored once the page is written.
    pub async fn apply_walked_page(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
        run_id: &str,
        stored: &HashMap<String, StoredAsset>,
        walk: (&mut AssetDigests, &[String]),
    ) -> Result<WriteCounts> {
        self.apply_assets(tenant, decisions, run_id, Some(stored), Some(walk))
            .await
    }

    /// Every sync write of asset items: the asset digests' journal names the written assets that have an entry
    /// before they are written, and their entries change only after (see [`super::digests`]).
    async fn apply_assets(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
        run_id: &str,
        stored: Option<&HashMap<String, StoredAsset>>,
        walk: Option<(&mut AssetDigests, &[String])>,
    ) -> Result<WriteCounts> {
        let (counts, writes, created_at) =
            self.plan_asset_decisions(tenant, decisions, stored).await?;
        let written: Vec<String> = writes.iter().map(|w| w.key().to_string()).collect();
        let mut loaded = None;
        let (digests, read) = match walk {
            Some((digests, read)) => {
                digests.expect_writes(&written);
                self.save_asset_journal(tenant, digests).await?;
                (Some(digests), read)
            }
            None if !written.is_empty() => {
                let digests = loaded.insert(self.expect_asset_writes(tenant, &written).await?);
                (Some(digests), &[][..])
            }
            None => (None, &[][..]),
        };
        // What each write leaves stored: the asset and whether it is live.
        let after: Vec<(String, Asset, bool)> = writes
            .iter()
            .map(|w| match w {
                AssetWrite::Describe(_, a, _, retired_as) => {
                    (a.key.as_str().to_string(), a.clone(), retired_as.is_none())
                }
                AssetWrite::Attach(_, a) => (a.key.as_str().to_string(), a.clone(), true),
            })
            .collect();
        self.write_assets(tenant, writes, run_id, &created_at)
            .await?;
        if let Some(digests) = digests {
            for (key, asset, live) in &after {
                digests.written(key, as_read_back(asset).as_ref(), *live);
            }
            let written: HashSet<&str> = after.iter().map(|(k, _, _)| k.as_str()).collect();
            for key in read.iter().filter(|k| !written.contains(k.as_str())) {
                let s = stored.and_then(|m| m.get(key));
                digests.stored(
                    key,
                    s.map(|s| &s.asset),
                    s.is_some_and(StoredAsset::sentinelone_active),
                );
            }
            self.save_asset_digests(tenant, digests).await?;
        }
        tracing::debug!(tenant = %tenant, created = counts.created, updated = counts.updated, unchanged = counts.unchanged, skipped = counts.skipped, "asset page applied");
        Ok(counts)
    }

    /// What [`Store::apply_asset_decisions`] would write and count, without writing (a dry run counts with it).
    /// Returns the counts and, per written asset, its name and whether it would be created.
    pub async fn preview_asset_decisions(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
    ) -> Result<(WriteCounts, Vec<(String, bool)>)> {
        let (counts, writes, _) = self.plan_asset_decisions(tenant, decisions, None).await?;
        let names = writes
            .into_iter()
            .map(|w| match w {
                AssetWrite::Describe(_, a, created, _) => (a.name, created),
                AssetWrite::Attach(_, a) => (a.name, false),
            })
            .collect();
        Ok((counts, names))
    }

    /// The writes of a page and, by sort key, each stored asset's creation time; compared against `stored` when
    /// given, otherwise against the stored items read now.
    async fn plan_asset_decisions(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
        stored: Option<&HashMap<String, StoredAsset>>,
    ) -> Result<(
        WriteCounts,
        Vec<AssetWrite>,
        HashMap<String, Option<String>>,
    )> {
        let mut counts = WriteCounts::default();
        // Last decision per key wins: one page must not write a key twice.
        let mut latest: HashMap<String, &AssetDecision> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut with_asset = false;
        for d in decisions {
            let key = match d {
                AssetDecision::Create(a) | AssetDecision::Update(a) => a.key.as_str(),
                AssetDecision::AttachOnly { key, .. } => {
                    with_asset = true;
                    key.as_str()
                }
                AssetDecision::Unchanged => {
                    counts.unchanged += 1;
                    continue;
                }
                AssetDecision::Skip { reason, .. } => {
                    counts.skip(reason.as_str());
                    continue;
                }
            };
            if latest.insert(key.to_string(), d).is_some() {
                counts.unchanged += 1;
            } else {
                order.push(key.to_string());
            }
        }
        let heads = match stored {
            Some(known) => order
                .iter()
                .filter_map(|k| known.get(k))
                .map(|a| (asset_sk(a.key()), StoredHead::of_asset(a)))
                .collect(),
            None => {
                self.read_heads(
                    tenant,
                    order.iter().map(|k| asset_sk(k)).collect(),
                    with_asset,
                )
                .await?
            }
        };
        let mut writes = Vec::new();
        for key in &order {
            let sk = asset_sk(key);
            let stored = heads.get(&sk);
            let live = stored
                .is_some_and(|h| h.active == Some(true) && h.sentinelone_retired_at.is_none());
            match latest[key] {
                AssetDecision::Create(asset) | AssetDecision::Update(asset) => {
                    let hash = asset.content_hash();
                    if live
                        && stored.is_some_and(|h| h.content_hash.as_deref() == Some(hash.as_str()))
                    {
                        counts.unchanged += 1;
                        continue;
                    }
                    if stored.is_some() {
                        counts.updated += 1;
                    } else {
                        counts.created += 1;
                    }
                    let retired_as = match stored {
                        _ if asset.decommissioned != Some(true) => None,
                        None => Some(false),
                        Some(h) => (h.active == Some(false)).then_some(true),
                    };
                    writes.push(AssetWrite::Describe(
                        sk,
                        asset.clone(),
                        stored.is_none(),
                        retired_as,
                    ));
                }
                AssetDecision::AttachOnly { agent_ids, .. } => {
                    let Some(mut asset) = stored.and_then(|h| h.asset.clone()) else {
                        counts.skip("asset_missing");
                        continue;
                    };
                    if &asset.agent_ids == agent_ids && live {
                        counts.unchanged += 1;
                        continue;
                    }
                    asset.agent_ids = agent_ids.clone();
                    counts.updated += 1;
                    writes.push(AssetWrite::Attach(sk, asset));
                }
                AssetDecision::Unchanged | AssetDecision::Skip { .. } => {}
            }
        }
        let created_at = heads
            .into_iter()
            .map(|(sk, h)| (sk, h.created_at))
            .collect();
        Ok((counts, writes, created_at))
    }
}
