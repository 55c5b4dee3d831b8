//! Assets: loading them by key, applying a page of asset decisions (agent links by per-item update), retiring
//! the assets a run did not see, and the assets view.

use std::collections::{HashMap, HashSet};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use s1_core::{Asset, AssetDecision, ContentHash};

use super::{put, PARALLEL_UPDATES};
use crate::batch::{get_all, write_all, Projection};
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
}

impl StoredAsset {
    /// The asset's key (normalised computer name).
    pub fn key(&self) -> &str {
        self.asset.key.as_str()
    }
}

impl From<AssetItem> for StoredAsset {
    fn from(i: AssetItem) -> Self {
        Self {
            asset: i.asset,
            content_hash: i.content_hash,
            active: i.active,
            created_at: i.created_at,
            updated_at: i.updated_at,
            last_run_id: i.last_run_id,
            retired_at: i.retired_at,
        }
    }
}

/// What retiring the assets a run did not see would do, before anything is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetirementPlan {
    /// Sort keys of the active assets no page of the run recorded as seen.
    pub unseen: Vec<String>,
    /// Active assets of the tenant before retirement.
    pub active: u64,
}

/// Filters of the assets view. Assets are listed by key (normalised computer name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetFilter {
    /// Computer-name prefix (compared case-insensitively).
    pub name_prefix: Option<String>,
    pub active: Option<bool>,
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
    /// from the stored one or the stored asset was retired (so it comes back active); `AttachOnly` updates only
    /// the agent-id link (and the hash that covers it). `Unchanged` carries no key, so a retired asset the merge
    /// rule calls unchanged stays retired: pass `Update` for assets whose [`StoredAsset::active`] is false.
    pub async fn apply_asset_decisions(
        &self,
        tenant: &TenantId,
        decisions: &[AssetDecision],
        run_id: &str,
    ) -> Result<WriteCounts> {
        let mut counts = WriteCounts::default();
        // Last decision per key wins: one BatchWriteItem must not name a key twice.
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
        let now_s = format_timestamp(now());
        let pk = tenant_pk(tenant);
        let mut writes = Vec::new();
        let mut attaches = Vec::new();
        for key in &order {
            let sk = asset_sk(key);
            let stored = heads.get(&sk);
            match latest[key] {
                AssetDecision::Create(asset) | AssetDecision::Update(asset) => {
                    let hash = asset.content_hash();
                    let same = stored.is_some_and(|h| {
                        h.content_hash.as_deref() == Some(hash.as_str()) && h.active == Some(true)
                    });
                    if same {
                        counts.unchanged += 1;
                        continue;
                    }
                    if stored.is_some() {
                        counts.updated += 1;
                    } else {
                        counts.created += 1;
                    }
                    let item = AssetItem {
                        pk: pk.clone(),
                        sk,
                        kind: "asset".into(),
                        asset: asset.clone(),
                        content_hash: hash,
                        active: true,
                        created_at: stored
                            .and_then(|h| h.created_at.clone())
                            .unwrap_or_else(|| now_s.clone()),
                        updated_at: now_s.clone(),
                        last_run_id: Some(run_id.to_string()),
                        retired_at: None,
                    };
                    writes.push(put(
                        serde_dynamo::to_item(item).map_err(StoreError::item("asset"))?
                    ));
                }
                AssetDecision::AttachOnly { agent_ids, .. } => {
                    let Some(mut asset) = stored.and_then(|h| h.asset.clone()) else {
                        counts.skip("asset_missing");
                        continue;
                    };
                    if &asset.agent_ids == agent_ids
                        && stored.is_some_and(|h| h.active == Some(true))
                    {
                        counts.unchanged += 1;
                        continue;
                    }
                    asset.agent_ids = agent_ids.clone();
                    counts.updated += 1;
                    attaches.push((sk, asset));
                }
                AssetDecision::Unchanged | AssetDecision::Skip { .. } => {}
            }
        }
        write_all(&*self.batch, &self.table, writes, self.retry).await?;
        stream::iter(attaches)
            .map(|(sk, asset)| self.attach_agents(&pk, sk, asset, run_id, &now_s))
            .buffer_unordered(PARALLEL_UPDATES)
            .try_collect::<Vec<()>>()
            .await?;
        tracing::debug!(tenant = %tenant, created = counts.created, updated = counts.updated, unchanged = counts.unchanged, skipped = counts.skipped, "asset page applied");
        Ok(counts)
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
            .update_expression("SET #as.agent_ids = :ids, content_hash = :h, active = :t, updated_at = :now, last_run_id = :r REMOVE retired_at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#as", "asset")
            .expression_attribute_values(":ids", ids)
            .expression_attribute_values(":h", s(asset.content_hash()))
            .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .expression_attribute_values(":now", s(now_s))
            .expression_attribute_values(":r", s(run_id))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// After a complete agent walk: marks inactive (never deletes) every active asset that no page of `run_id`
    /// recorded as seen. Returns how many were retired. Call only after a complete walk: an empty walk retires all.
    /// The sync engine plans first ([`Store::plan_retirement`]) and retires only when the walk can be trusted.
    pub async fn retire_unseen_assets(&self, tenant: &TenantId, run_id: &str) -> Result<u64> {
        let plan = self.plan_retirement(tenant, run_id).await?;
        self.retire_assets(tenant, run_id, plan.unseen).await
    }

    /// The active assets no page of `run_id` recorded as seen, and how many assets are active: nothing written.
    pub async fn plan_retirement(&self, tenant: &TenantId, run_id: &str) -> Result<RetirementPlan> {
        let seen = self.seen_asset_keys(tenant, run_id).await?;
        let active = Query::partition(tenant, ASSET_PREFIX)
            .and_filter(
                "#act = :t",
                &[("#act", "active")],
                vec![(":t", aws_sdk_dynamodb::types::AttributeValue::Bool(true))],
            )
            .project("#sk", &[("#sk", "sk")]);
        let mut plan = RetirementPlan::default();
        self.query_each(&active, |items| {
            for i in items {
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

    /// Marks these assets (sort keys from a [`RetirementPlan`]) inactive, never deleting them.
    pub async fn retire_assets(
        &self,
        tenant: &TenantId,
        run_id: &str,
        unseen: Vec<String>,
    ) -> Result<u64> {
        let pk = tenant_pk(tenant);
        let now_s = format_timestamp(now());
        let retired = unseen.len() as u64;
        stream::iter(unseen)
            .map(|sk| {
                self.dynamodb
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(Store::key(pk.clone(), sk)))
                    .update_expression("SET active = :f, retired_at = :now, last_run_id = :r")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(
                        ":f",
                        aws_sdk_dynamodb::types::AttributeValue::Bool(false),
                    )
                    .expression_attribute_values(":now", s(&now_s))
                    .expression_attribute_values(":r", s(run_id))
                    .send()
            })
            .buffer_unordered(PARALLEL_UPDATES)
            .map(|r| {
                r.map(|_| ())
                    .map_err(|e| StoreError::dynamo("UpdateItem", e))
            })
            .try_collect::<Vec<()>>()
            .await?;
        tracing::info!(tenant = %tenant, run = run_id, retired, "unseen assets retired");
        Ok(retired)
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
