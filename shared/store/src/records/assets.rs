//! Assets: loading them by key, applying a page of asset decisions, retiring the assets a run did not see, the
//! platform's own registrations, and the assets view.
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

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};
use s1_core::asset::AssetOrigin;
use s1_core::registry::PlatformAsset;
use s1_core::{Asset, AssetDecision, AssetSource, ContentHash};

use super::{put, PARALLEL_UPDATES};
use crate::batch::{get_all, write_all, Projection};
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{asset_registration_sk, asset_sk, tenant_pk, TenantId, ASSET_PREFIX};
use crate::page_token::filter_digest;
use crate::runs::WriteCounts;
use crate::store::{s, Page, Store};
use crate::views::Query;

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
struct AssetItem {
    pk: String,
    sk: String,
    kind: String,
    asset: Asset,
    content_hash: String,
    active: bool,
    created_at: String,
    updated_at: String,
    #[serde(default)]
    last_run_id: Option<String>,
    #[serde(default)]
    retired_at: Option<String>,
    /// Set by every sync write: SentinelOne described this asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    src_sentinelone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sentinelone_retired_at: Option<String>,
}

/// The platform's own registration of an asset (`ASSETREG#<key>`), written only by registrations.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RegistrationItem {
    pk: String,
    sk: String,
    kind: String,
    platform: PlatformAsset,
    /// Digest of `platform`: an equal registration is not written again.
    platform_hash: String,
    #[serde(default)]
    src_import: Option<bool>,
    #[serde(default)]
    src_manual: Option<bool>,
    created_at: String,
    updated_at: String,
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
    fn from_items(i: AssetItem, registration: Option<RegistrationItem>) -> Self {
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

/// What one registration did to the stored asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationOutcome {
    /// No asset of that name existed.
    Created,
    /// The asset existed (from SentinelOne or an earlier registration) and now carries this registration.
    Updated,
    /// The asset already carried exactly this registration: nothing was written.
    Unchanged,
}

/// What retiring the assets a run did not see would do, before anything is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetirementPlan {
    /// Sort keys of the assets whose SentinelOne side is live and that no page of the run recorded as seen.
    pub unseen: Vec<String>,
    /// Assets of the tenant whose SentinelOne side is live, before retirement.
    pub active: u64,
}

/// How a retirement ended for one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retired {
    /// Marked inactive.
    Asset,
    /// A registration holds it: only its SentinelOne side was retired; it stays active.
    SentinelOneSide,
    /// The item is gone (disconnect cleanup): nothing to retire.
    Gone,
}

/// Retirement counts of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetirementCounts {
    /// Assets marked inactive.
    pub retired: u64,
    /// Assets a registration holds, of which only the SentinelOne side was retired.
    pub kept_by_platform: u64,
}

/// Filters of the assets view. Assets are listed by key (normalised computer name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetFilter {
    /// Computer-name prefix (compared case-insensitively).
    pub name_prefix: Option<String>,
    pub active: Option<bool>,
}

/// Registrations written in parallel (an import of 10,000 rows is 10,000 conditional UpdateItems).
const PARALLEL_REGISTRATIONS: usize = 16;

/// One write of a page of asset decisions.
enum AssetWrite {
    /// SentinelOne's description (create or update), by sort key; `true` when it creates the asset.
    Describe(String, Asset, bool),
    /// The agent-id link only, by sort key.
    Attach(String, Asset),
}

/// The attach-only UpdateItem of an existing asset: its agent-id link (and the hash that covers it), nothing else.
fn attach_update(
    table: &str,
    pk: &str,
    sk: String,
    asset: &Asset,
    run_id: &str,
    now_s: &str,
) -> Result<Update> {
    let ids =
        serde_dynamo::to_attribute_value(&asset.agent_ids).map_err(StoreError::item("asset"))?;
    Update::builder()
        .table_name(table)
        .set_key(Some(Store::key(pk.to_string(), sk)))
        .update_expression(
            "SET #as.agent_ids = :ids, content_hash = :h, active = :t, updated_at = :now, last_run_id = :r, \
             src_sentinelone = :t REMOVE retired_at, sentinelone_retired_at",
        )
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_names("#as", "asset")
        .expression_attribute_values(":ids", ids)
        .expression_attribute_values(":h", s(asset.content_hash()))
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .expression_attribute_values(":now", s(now_s))
        .expression_attribute_values(":r", s(run_id))
        .build()
        .map_err(|e| StoreError::InvalidInput(format!("an asset update could not be built: {e}")))
}

/// A stable digest of a registration: an equal one is not written again.
fn registration_hash(asset: &PlatformAsset) -> String {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(asset).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

impl Store {
    /// The stored assets with these keys (normalised computer names), by key, with their registrations. Missing
    /// keys are absent.
    pub async fn load_assets(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<HashMap<String, StoredAsset>> {
        let unique: HashSet<&String> = keys.iter().collect();
        let pk = tenant_pk(tenant);
        let item_keys = unique
            .iter()
            .map(|k| Store::key(pk.clone(), asset_sk(k)))
            .collect();
        let items = get_all(
            &*self.batch,
            &self.table,
            item_keys,
            &Projection::default(),
            self.retry,
        )
        .await?;
        let assets = items
            .into_iter()
            .map(|i| serde_dynamo::from_item::<_, AssetItem>(i).map_err(StoreError::item("asset")))
            .collect::<Result<Vec<_>>>()?;
        self.with_registrations(tenant, assets)
            .await
            .map(|v| v.into_iter().map(|a| (a.key().to_string(), a)).collect())
    }

    /// Merges each asset item with its registration item (one BatchGetItem of the registrations).
    async fn with_registrations(
        &self,
        tenant: &TenantId,
        assets: Vec<AssetItem>,
    ) -> Result<Vec<StoredAsset>> {
        if assets.is_empty() {
            return Ok(Vec::new());
        }
        let pk = tenant_pk(tenant);
        let keys = assets
            .iter()
            .map(|a| Store::key(pk.clone(), asset_registration_sk(a.asset.key.as_str())))
            .collect();
        let mut registrations: HashMap<String, RegistrationItem> = get_all(
            &*self.batch,
            &self.table,
            keys,
            &Projection::default(),
            self.retry,
        )
        .await?
        .into_iter()
        .map(|i| {
            let r: RegistrationItem =
                serde_dynamo::from_item(i).map_err(StoreError::item("asset registration"))?;
            Ok((r.platform.key.as_str().to_string(), r))
        })
        .collect::<Result<_>>()?;
        Ok(assets
            .into_iter()
            .map(|a| {
                let r = registrations.remove(a.asset.key.as_str());
                StoredAsset::from_items(a, r)
            })
            .collect())
    }

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
        let (counts, writes, created_at) = self.plan_asset_decisions(tenant, decisions).await?;
        let pk = tenant_pk(tenant);
        let now_s = format_timestamp(now());
        let mut puts = Vec::new();
        let mut attaches = Vec::new();
        for w in writes {
            match w {
                AssetWrite::Describe(sk, asset, _) => {
                    let item = AssetItem {
                        pk: pk.clone(),
                        created_at: created_at
                            .get(&sk)
                            .cloned()
                            .flatten()
                            .unwrap_or_else(|| now_s.clone()),
                        sk,
                        kind: "asset".into(),
                        content_hash: asset.content_hash(),
                        asset,
                        active: true,
                        updated_at: now_s.clone(),
                        last_run_id: Some(run_id.to_string()),
                        retired_at: None,
                        src_sentinelone: Some(true),
                        sentinelone_retired_at: None,
                    };
                    puts.push(put(
                        serde_dynamo::to_item(item).map_err(StoreError::item("asset"))?
                    ));
                }
                AssetWrite::Attach(sk, asset) => {
                    attaches.push(attach_update(&self.table, &pk, sk, &asset, run_id, &now_s)?);
                }
            }
        }
        write_all(&*self.batch, &self.table, puts, self.retry).await?;
        stream::iter(attaches)
            .map(|u| async move {
                self.dynamodb
                    .update_item()
                    .table_name(u.table_name())
                    .set_key(Some(u.key().clone()))
                    .update_expression(u.update_expression())
                    .set_condition_expression(u.condition_expression().map(str::to_string))
                    .set_expression_attribute_names(u.expression_attribute_names().cloned())
                    .set_expression_attribute_values(u.expression_attribute_values().cloned())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| StoreError::dynamo("UpdateItem", e))
            })
            .buffer_unordered(PARALLEL_UPDATES)
            .try_collect::<Vec<()>>()
            .await?;
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
        let (counts, writes, _) = self.plan_asset_decisions(tenant, decisions).await?;
        let names = writes
            .into_iter()
            .map(|w| match w {
                AssetWrite::Describe(_, a, created) => (a.name, created),
                AssetWrite::Attach(_, a) => (a.name, false),
            })
            .collect();
        Ok((counts, names))
    }

    /// The writes of a page and, by sort key, each stored asset's creation time.
    async fn plan_asset_decisions(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
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
        let heads = self
            .read_heads(
                tenant,
                order.iter().map(|k| asset_sk(k)).collect(),
                with_asset,
            )
            .await?;
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
                    writes.push(AssetWrite::Describe(sk, asset.clone(), stored.is_none()));
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

    /// After a complete agent walk: retires every asset whose SentinelOne side is live and that no page of
    /// `run_id` recorded as seen. Returns how many it retired (both kinds, see [`Store::retire_assets`]). Call
    /// only after a complete walk: an empty walk retires all. The sync engine plans first
    /// ([`Store::plan_retirement`]) and retires only when the walk can be trusted.
    pub async fn retire_unseen_assets(&self, tenant: &TenantId, run_id: &str) -> Result<u64> {
        let plan = self.plan_retirement(tenant, run_id).await?;
        let c = self.retire_assets(tenant, run_id, plan.unseen).await?;
        Ok(c.retired + c.kept_by_platform)
    }

    /// The assets whose SentinelOne side is live and that no page of `run_id` recorded as seen, and how many
    /// such assets there are: nothing written. An asset SentinelOne never described (only a registration holds
    /// it) or whose SentinelOne side is already retired is neither.
    pub async fn plan_retirement(&self, tenant: &TenantId, run_id: &str) -> Result<RetirementPlan> {
        let seen = self.seen_asset_keys(tenant, run_id).await?;
        let active = Query::partition(tenant, ASSET_PREFIX)
            .and_filter(
                "#act = :t",
                &[("#act", "active")],
                vec![(":t", AttributeValue::Bool(true))],
            )
            .project(
                "#sk, #s1, #as.#or, #srt",
                &[
                    ("#sk", "sk"),
                    ("#s1", "src_sentinelone"),
                    ("#as", "asset"),
                    ("#or", "origin"),
                    ("#srt", "sentinelone_retired_at"),
                ],
            );
        let mut plan = RetirementPlan::default();
        self.query_each(&active, |items| {
            for i in items {
                let described = i
                    .get("src_sentinelone")
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    == Some(true)
                    || i.get("asset")
                        .and_then(|a| a.as_m().ok())
                        .and_then(|m| m.get("origin"))
                        .and_then(|o| o.as_s().ok())
                        .is_some_and(|o| o != "platform");
                if !described || i.contains_key("sentinelone_retired_at") {
                    continue;
                }
                if let Some(sk) = i.get("sk").and_then(|v| v.as_s().ok()) {
                    plan.active += 1;
                    let key = sk.strip_prefix(ASSET_PREFIX).unwrap_or(sk);
                    if !seen.contains(key) {
                        plan.unseen.push(sk.clone());
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(plan)
    }

    /// Retires these assets (sort keys from a [`RetirementPlan`]), never deleting them: an asset no registration
    /// holds is marked inactive; one a registration holds stays active and only its SentinelOne side is marked
    /// retired. Whether a registration holds it is checked in the same transaction as the write, so a
    /// registration that lands meanwhile wins.
    pub async fn retire_assets(
        &self,
        tenant: &TenantId,
        run_id: &str,
        unseen: Vec<String>,
    ) -> Result<RetirementCounts> {
        let pk = tenant_pk(tenant);
        let now_s = format_timestamp(now());
        let outcomes = stream::iter(unseen)
            .map(|sk| self.retire_one(&pk, sk, run_id, &now_s))
            .buffer_unordered(PARALLEL_UPDATES)
            .try_collect::<Vec<Retired>>()
            .await?;
        let mut counts = RetirementCounts::default();
        for o in outcomes {
            match o {
                Retired::Asset => counts.retired += 1,
                Retired::SentinelOneSide => counts.kept_by_platform += 1,
                Retired::Gone => {}
            }
        }
        tracing::info!(tenant = %tenant, run = run_id, retired = counts.retired, kept_by_platform = counts.kept_by_platform, "unseen assets retired");
        Ok(counts)
    }

    async fn retire_one(&self, pk: &str, sk: String, run_id: &str, now_s: &str) -> Result<Retired> {
        let key = sk.strip_prefix(ASSET_PREFIX).unwrap_or(&sk).to_string();
        let unregistered = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(Store::key(
                pk.to_string(),
                asset_registration_sk(&key),
            )))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| {
                StoreError::InvalidInput(format!("a retirement could not be built: {e}"))
            })?;
        let retire = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Store::key(pk.to_string(), sk.clone())))
            .update_expression("SET active = :f, retired_at = :now, last_run_id = :r")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":now", s(now_s))
            .expression_attribute_values(":r", s(run_id))
            .build()
            .map_err(|e| {
                StoreError::InvalidInput(format!("a retirement could not be built: {e}"))
            })?;
        let whole = self
            .dynamodb
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(unregistered)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().update(retire).build())
            .send()
            .await;
        match whole {
            Ok(_) => return Ok(Retired::Asset),
            Err(e) => {
                let cancelled = e
                    .as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception());
                if !cancelled {
                    return Err(StoreError::dynamo("TransactWriteItems", e));
                }
            }
        }
        // A registration holds it (or the item is gone): retire the SentinelOne side only.
        let side = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(pk.to_string(), sk)))
            .update_expression("SET sentinelone_retired_at = :now, last_run_id = :r")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(now_s))
            .expression_attribute_values(":r", s(run_id))
            .send()
            .await;
        Ok(if StoreError::condition_held("UpdateItem", side)? {
            Retired::SentinelOneSide
        } else {
            Retired::Gone
        })
    }

    /// Records the platform's own registrations of these assets (`source`: import or manual). Each writes its
    /// registration item (never SentinelOne's asset item, so a sync writing the same asset at the same time loses
    /// nothing) and creates the asset item when the asset does not exist yet; an asset SentinelOne had retired
    /// becomes active again with only its SentinelOne side retired. A registration equal to the stored one
    /// writes nothing, so repeating an import is free. Returns one outcome per asset, in order.
    pub async fn register_platform_assets(
        &self,
        tenant: &TenantId,
        assets: &[PlatformAsset],
        source: AssetSource,
    ) -> Result<Vec<RegistrationOutcome>> {
        let flag = match source {
            AssetSource::Import => "src_import",
            AssetSource::Manual => "src_manual",
            AssetSource::Sentinelone => {
                return Err(StoreError::InvalidInput(
                    "only the sync describes the SentinelOne side of an asset".into(),
                ))
            }
        };
        let pk = tenant_pk(tenant);
        let now_s = format_timestamp(now());
        let (pk, now_s) = (&pk, &now_s);
        // Owned rows: a stream of borrowed ones makes the handler's future not general enough to be Send.
        let outcomes = stream::iter(assets.to_vec())
            .map(|a| async move { self.register_one(pk, &a, flag, now_s).await })
            .buffered(PARALLEL_REGISTRATIONS)
            .try_collect::<Vec<RegistrationOutcome>>()
            .await?;
        tracing::info!(tenant = %tenant, source = source.as_str(), rows = assets.len(),
            created = outcomes.iter().filter(|o| **o == RegistrationOutcome::Created).count(),
            unchanged = outcomes.iter().filter(|o| **o == RegistrationOutcome::Unchanged).count(),
            "platform assets registered");
        Ok(outcomes)
    }

    /// Three conditional writes, in an order that a crash between any two leaves repairable by repeating the
    /// registration: the asset item when missing, then the registration item when it differs, then the revival
    /// of an asset SentinelOne had retired. A repeat of the same registration writes nothing.
    async fn register_one(
        &self,
        pk: &str,
        asset: &PlatformAsset,
        flag: &str,
        now_s: &str,
    ) -> Result<RegistrationOutcome> {
        let key = asset.key.as_str();
        // 1. The asset item, with the registration's own description, only when the asset does not exist.
        let item = AssetItem {
            pk: pk.to_string(),
            sk: asset_sk(key),
            kind: "asset".into(),
            content_hash: String::new(),
            asset: asset.as_asset(),
            active: true,
            created_at: now_s.to_string(),
            updated_at: now_s.to_string(),
            last_run_id: None,
            retired_at: None,
            src_sentinelone: None,
            sentinelone_retired_at: None,
        };
        let created = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                serde_dynamo::to_item(item).map_err(StoreError::item("asset"))?,
            ))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let created = StoreError::condition_held("PutItem", created)?;
        // 2. The registration item, unless this source already holds exactly this registration.
        let platform =
            serde_dynamo::to_attribute_value(asset).map_err(StoreError::item("registration"))?;
        let registered = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(pk.to_string(), asset_registration_sk(key))))
            .update_expression(
                "SET platform = :p, platform_hash = :ph, #flag = :t, kind = :k, updated_at = :now, \
                 created_at = if_not_exists(created_at, :now)",
            )
            .condition_expression(
                "attribute_not_exists(#flag) OR attribute_not_exists(platform_hash) OR platform_hash <> :ph",
            )
            .expression_attribute_names("#flag", flag)
            .expression_attribute_values(":p", platform)
            .expression_attribute_values(":ph", s(registration_hash(asset)))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":k", s("asset_registration"))
            .expression_attribute_values(":now", s(now_s))
            .send()
            .await;
        let registered = StoreError::condition_held("UpdateItem", registered)?;
        // 3. An asset SentinelOne had retired stays active once registered: only its SentinelOne side is retired.
        let revived = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(pk.to_string(), asset_sk(key))))
            .update_expression(
                "SET active = :t, sentinelone_retired_at = if_not_exists(sentinelone_retired_at, :now) REMOVE retired_at",
            )
            .condition_expression("active = :f")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":now", s(now_s))
            .send()
            .await;
        let revived = StoreError::condition_held("UpdateItem", revived)?;
        Ok(if created {
            RegistrationOutcome::Created
        } else if registered || revived {
            RegistrationOutcome::Updated
        } else {
            RegistrationOutcome::Unchanged
        })
    }

    /// Assets of the tenant sorted by key, filtered, one page at a time.
    pub async fn list_assets(
        &self,
        tenant: &TenantId,
        filter: &AssetFilter,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<Page<StoredAsset>> {
        let prefix = match filter
            .name_prefix
            .as_deref()
            .map(str::trim_start)
            .filter(|p| !p.is_empty())
        {
            Some(p) => format!("{ASSET_PREFIX}{}", p.to_lowercase()),
            None => ASSET_PREFIX.to_string(),
        };
        let mut q = Query::partition(tenant, prefix);
        if let Some(active) = filter.active {
            q = q.and_filter(
                "#act = :act",
                &[("#act", "active")],
                vec![(
                    ":act",
                    aws_sdk_dynamodb::types::AttributeValue::Bool(active),
                )],
            );
        }
        let (items, next) = self
            .paged_query(
                tenant,
                "assets",
                &filter_digest(filter),
                q,
                page_token,
                limit,
            )
            .await?;
        let assets = items
            .into_iter()
            .map(serde_dynamo::from_item::<_, AssetItem>)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("asset"))?;
        let assets = self.with_registrations(tenant, assets).await?;
        Ok(Page {
            items: assets,
            next_page_token: next,
        })
    }
}
