//! Assets: loading them by key, applying a page of asset decisions, retiring the assets a run did not see, the
//! platform's own registrations, and the assets view.
//!
//! One asset item has two sides with separate owners, so neither writer can clobber the other, whatever their
//! timing (both write by UpdateItem, never by a whole-item put):
//!
//! | attributes                                                              | written by                      |
//! |-------------------------------------------------------------------------|---------------------------------|
//! | `asset`, `content_hash`, `src_sentinelone`, `last_run_id`, `retired_at`, `sentinelone_retired_at` | the sync |
//! | `platform`, `platform_hash`, `platform_updated_at`, `src_import`, `src_manual` | registrations (import, manual) |
//! | `created_at`, `kind` (if absent), `active`                              | both                            |
//!
//! A registration creates `asset` (its own description) only when the item has none; the sync's first
//! description replaces it. Retirement marks an asset inactive only when no registration holds it; otherwise it
//! retires the SentinelOne side alone (`sentinelone_retired_at`), and the asset stays active.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::future::FutureExt;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::types::AttributeValue;
use s1_core::asset::AssetOrigin;
use s1_core::registry::PlatformAsset;
use s1_core::{Asset, AssetDecision, AssetSource, ContentHash};

use super::{wire, PARALLEL_UPDATES};
use crate::batch::{get_all, Projection};
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{asset_sk, tenant_pk, TenantId, ASSET_PREFIX};
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
    #[serde(default)]
    src_sentinelone: Option<bool>,
    #[serde(default)]
    src_import: Option<bool>,
    #[serde(default)]
    src_manual: Option<bool>,
    #[serde(default)]
    platform: Option<PlatformAsset>,
    #[serde(default)]
    sentinelone_retired_at: Option<String>,
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

impl From<AssetItem> for StoredAsset {
    fn from(i: AssetItem) -> Self {
        let mut sources = BTreeSet::new();
        for (flag, source) in [
            (i.src_sentinelone, AssetSource::Sentinelone),
            (i.src_import, AssetSource::Import),
            (i.src_manual, AssetSource::Manual),
        ] {
            if flag == Some(true) {
                sources.insert(source);
            }
        }
        // Assets stored before sources were recorded were all created by the sync.
        if sources.is_empty() && i.asset.origin != AssetOrigin::Platform {
            sources.insert(AssetSource::Sentinelone);
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
            platform: i.platform,
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

/// A stable digest of a registration: an equal one is not written again.
fn registration_hash(asset: &PlatformAsset) -> String {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(asset).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

impl Store {
    /// The stored assets with these keys (normalised computer names), by key. Missing keys are absent.
    pub async fn load_assets(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<HashMap<String, StoredAsset>> {
        let unique: HashSet<&String> = keys.iter().collect();
        let pk = tenant_pk(tenant);
        let item_keys = unique
            .into_iter()
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
        items
            .into_iter()
            .map(|i| {
                let item: AssetItem =
                    serde_dynamo::from_item(i).map_err(StoreError::item("asset"))?;
                Ok((item.asset.key.as_str().to_string(), item.into()))
            })
            .collect()
    }

    /// Applies one page of asset decisions. Creates and updates are written only when the content hash differs
    /// from the stored one or the stored asset's SentinelOne side was retired (so it comes back active);
    /// `AttachOnly` updates only the agent-id link (and the hash that covers it). `Unchanged` carries no key, so a
    /// retired asset the merge rule calls unchanged stays retired: pass `Update` for assets whose
    /// [`StoredAsset::sentinelone_active`] is false. Every write is an UpdateItem of the sync's own attributes
    /// (see the module documentation), so a registration written at the same time is never lost.
    pub async fn apply_asset_decisions(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
        run_id: &str,
    ) -> Result<WriteCounts> {
        let (counts, writes) = self.plan_asset_decisions(tenant, decisions).await?;
        let pk = tenant_pk(tenant);
        let now_s = format_timestamp(now());
        stream::iter(writes)
            .map(|w| match w {
                AssetWrite::Describe(sk, asset, _) => {
                    self.describe_asset(&pk, sk, asset, run_id, &now_s).boxed()
                }
                AssetWrite::Attach(sk, asset) => {
                    self.attach_agents(&pk, sk, asset, run_id, &now_s).boxed()
                }
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
        let (counts, writes) = self.plan_asset_decisions(tenant, decisions).await?;
        let names = writes
            .into_iter()
            .map(|w| match w {
                AssetWrite::Describe(_, a, created) => (a.name, created),
                AssetWrite::Attach(_, a) => (a.name, false),
            })
            .collect();
        Ok((counts, names))
    }

    async fn plan_asset_decisions(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
    ) -> Result<(WriteCounts, Vec<AssetWrite>)> {
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
                    counts.skip(&wire(reason));
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
        Ok((counts, writes))
    }

    /// Writes SentinelOne's description of an asset: only the sync's attributes (see the module documentation).
    async fn describe_asset(
        &self,
        pk: &str,
        sk: String,
        asset: Asset,
        run_id: &str,
        now_s: &str,
    ) -> Result<()> {
        let hash = asset.content_hash();
        let value = serde_dynamo::to_attribute_value(&asset).map_err(StoreError::item("asset"))?;
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(pk.to_string(), sk)))
            .update_expression(
                "SET #as = :a, content_hash = :h, active = :t, kind = :k, created_at = if_not_exists(created_at, :now), \
                 updated_at = :now, last_run_id = :r, src_sentinelone = :t REMOVE retired_at, sentinelone_retired_at",
            )
            .expression_attribute_names("#as", "asset")
            .expression_attribute_values(":a", value)
            .expression_attribute_values(":h", s(hash))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":k", s("asset"))
            .expression_attribute_values(":now", s(now_s))
            .expression_attribute_values(":r", s(run_id))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    async fn attach_agents(
        &self,
        pk: &str,
        sk: String,
        asset: Asset,
        run_id: &str,
        now_s: &str,
    ) -> Result<()> {
        let ids = serde_dynamo::to_attribute_value(&asset.agent_ids)
            .map_err(StoreError::item("asset"))?;
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(pk.to_string(), sk)))
            .update_expression("SET #as.agent_ids = :ids, content_hash = :h, active = :t, updated_at = :now, last_run_id = :r, src_sentinelone = :t REMOVE retired_at, sentinelone_retired_at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#as", "asset")
            .expression_attribute_values(":ids", ids)
            .expression_attribute_values(":h", s(asset.content_hash()))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":now", s(now_s))
            .expression_attribute_values(":r", s(run_id))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
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
    /// such assets there are: nothing written. An asset only a registration holds (SentinelOne never described
    /// it, or already retired its side) is neither.
    pub async fn plan_retirement(&self, tenant: &TenantId, run_id: &str) -> Result<RetirementPlan> {
        let seen = self.seen_asset_keys(tenant, run_id).await?;
        let active = Query::partition(tenant, ASSET_PREFIX)
            .and_filter(
                "#act = :t",
                &[("#act", "active")],
                vec![(":t", AttributeValue::Bool(true))],
            )
            .project(
                "#sk, #s1, #imp, #man, #srt",
                &[
                    ("#sk", "sk"),
                    ("#s1", "src_sentinelone"),
                    ("#imp", "src_import"),
                    ("#man", "src_manual"),
                    ("#srt", "sentinelone_retired_at"),
                ],
            );
        let mut plan = RetirementPlan::default();
        self.query_each(&active, |items| {
            for i in items {
                let flag =
                    |name: &str| i.get(name).and_then(|v| v.as_bool().ok()).copied() == Some(true);
                let registered = flag("src_import") || flag("src_manual");
                let sentinelone_live = !i.contains_key("sentinelone_retired_at")
                    && (flag("src_sentinelone") || !registered);
                if !sentinelone_live {
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
    /// holds is marked inactive; one a registration holds keeps `active` and only its SentinelOne side is marked
    /// retired. The choice is made by the write's own condition, so a registration that lands meanwhile wins.
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
        let whole = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(pk.to_string(), sk.clone())))
            .update_expression("SET active = :f, retired_at = :now, last_run_id = :r")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(src_import) AND attribute_not_exists(src_manual)",
            )
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":now", s(now_s))
            .expression_attribute_values(":r", s(run_id))
            .send()
            .await;
        if StoreError::condition_held("UpdateItem", whole)? {
            return Ok(Retired::Asset);
        }
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

    /// Records the platform's own registrations of these assets (`source`: import or manual), one UpdateItem
    /// each, of the registration's attributes only: SentinelOne's description of an existing asset is never
    /// touched, and a sync writing the same asset at the same time loses nothing either. The asset becomes (or
    /// stays) active. A registration equal to the stored one writes nothing, so repeating an import is free.
    /// Returns one outcome per asset, in order.
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
        let outcomes = stream::iter(assets.iter())
            .map(|a| self.register_one(&pk, a, flag, &now_s))
            .buffered(PARALLEL_REGISTRATIONS)
            .try_collect::<Vec<RegistrationOutcome>>()
            .await?;
        tracing::info!(tenant = %tenant, source = source.as_str(), rows = assets.len(),
            created = outcomes.iter().filter(|o| **o == RegistrationOutcome::Created).count(),
            unchanged = outcomes.iter().filter(|o| **o == RegistrationOutcome::Unchanged).count(),
            "platform assets registered");
        Ok(outcomes)
    }

    async fn register_one(
        &self,
        pk: &str,
        asset: &PlatformAsset,
        flag: &str,
        now_s: &str,
    ) -> Result<RegistrationOutcome> {
        let platform =
            serde_dynamo::to_attribute_value(asset).map_err(StoreError::item("registration"))?;
        let own = serde_dynamo::to_attribute_value(asset.as_asset())
            .map_err(StoreError::item("registration"))?;
        let hash = registration_hash(asset);
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(pk.to_string(), asset_sk(asset.key.as_str()))))
            .update_expression(
                "SET platform = :p, platform_hash = :ph, platform_updated_at = :now, #flag = :t, active = :t, \
                 kind = :k, #as = if_not_exists(#as, :a), content_hash = if_not_exists(content_hash, :none), \
                 created_at = if_not_exists(created_at, :now), updated_at = if_not_exists(updated_at, :now) \
                 REMOVE retired_at",
            )
            // Unchanged: this source already holds exactly this registration and the asset is active.
            .condition_expression(
                "attribute_not_exists(#flag) OR attribute_not_exists(platform_hash) OR platform_hash <> :ph \
                 OR active <> :t",
            )
            .expression_attribute_names("#flag", flag)
            .expression_attribute_names("#as", "asset")
            .expression_attribute_values(":p", platform)
            .expression_attribute_values(":ph", s(hash))
            .expression_attribute_values(":now", s(now_s))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":k", s("asset"))
            .expression_attribute_values(":a", own)
            .expression_attribute_values(":none", s(""))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => Ok(
                if out
                    .attributes
                    .as_ref()
                    .is_some_and(|a| a.contains_key("pk"))
                {
                    RegistrationOutcome::Updated
                } else {
                    RegistrationOutcome::Created
                },
            ),
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", e);
                if err.is_conditional_check_failed() {
                    Ok(RegistrationOutcome::Unchanged)
                } else {
                    Err(err)
                }
            }
        }
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
            .map(|i| serde_dynamo::from_item::<_, AssetItem>(i).map(StoredAsset::from))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("asset"))?;
        Ok(Page {
            items: assets,
            next_page_token: next,
        })
    }
}
