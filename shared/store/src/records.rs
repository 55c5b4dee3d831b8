//! Assets and findings: applying a page of decisions so that writes cost only what changed, asset retirement
//! without rewriting unchanged assets, re-deriving finding statuses, and the two listings.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use s1_core::verdicts::finding_status;
use s1_core::{
    normalize_computer_name, AnalystVerdict, Asset, AssetDecision, ContentHash, Finding,
};
use s1_core::{FindingStatus, Severity, VerdictInclusionList};

use crate::batch::{get_all, write_all, Item, Projection};
use crate::clock::{epoch_seconds_in, format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{
    asset_sk, finding_gsi1pk, finding_sk, seen_prefix, seen_sk, seen_threats_prefix,
    seen_threats_sk, tenant_pk, unattached_gsi1pk, TenantId, ASSET_PREFIX, FINDING_PREFIX,
};
use crate::page_token::filter_digest;
use crate::runs::WriteCounts;
use crate::store::{s, Page, Store};
use crate::views::Query;

/// Seen-asset lists are kept this long (TTL): far longer than any run, short enough to cost nothing.
const SEEN_TTL_DAYS: i64 = 7;
/// Keys per seen-assets item: well under DynamoDB's 400 KB item limit even for long names.
const SEEN_KEYS_PER_ITEM: usize = 2000;
/// UpdateItem calls in flight for per-item updates (agent links, retirement).
const PARALLEL_UPDATES: usize = 8;
/// Unattached findings re-examined per query page.
const UNATTACHED_PAGE: i32 = 500;

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

#[derive(Debug, Serialize, Deserialize)]
struct FindingItem {
    pk: String,
    sk: String,
    kind: String,
    gsi1pk: String,
    gsi1sk: String,
    finding: Finding,
    content_hash: String,
    /// Top-level copies of the filterable fields, in their API spellings.
    #[serde(default = "yes")]
    attached: bool,
    status: String,
    severity: String,
    verdict: String,
    created_at: String,
    updated_at: String,
}

/// The part of a stored item the apply functions compare against.
#[derive(Debug, Deserialize)]
struct StoredHead {
    sk: String,
    #[serde(default)]
    content_hash: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    asset: Option<Asset>,
}

fn yes() -> bool {
    true
}

/// The threats one page of a run counted: 64-bit fingerprints of their ids with the status counted, packed as
/// 16 hex digits plus `f`/`p` per threat (17 bytes; a 1,000-threat page is one ~17 KB item).
#[derive(Debug, Serialize, Deserialize)]
struct SeenThreatsItem {
    pk: String,
    sk: String,
    kind: String,
    entries: String,
    expires_at: i64,
}

/// Where a walk of the unattached findings stands (opaque; valid within one invocation).
#[derive(Debug, Clone)]
pub struct UnattachedCursor(Item);

/// What retiring the assets a run did not see would do, before anything is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetirementPlan {
    /// Sort keys of the active assets no page of the run recorded as seen.
    pub unseen: Vec<String>,
    /// Active assets of the tenant before retirement.
    pub active: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SeenItem {
    pk: String,
    sk: String,
    kind: String,
    keys: Vec<String>,
    expires_at: i64,
}

/// Filters of the assets view. Assets are listed by key (normalised computer name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetFilter {
    /// Computer-name prefix (compared case-insensitively).
    pub name_prefix: Option<String>,
    pub active: Option<bool>,
}

/// Filters of the findings view. Findings are listed by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingFilter {
    pub status: Option<FindingStatus>,
    pub severity: Option<Severity>,
    /// The asset's computer name (any case): lists that asset's findings through gsi1.
    pub asset: Option<String>,
    pub verdict: Option<AnalystVerdict>,
    /// `Some(false)`: only the findings whose asset does not exist yet (through gsi1); `Some(true)`: only attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<bool>,
}

/// The API spelling of a serde enum value.
fn wire<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn put(item: Item) -> WriteRequest {
    // Only fails without an item, which is always set here.
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .unwrap_or_else(|_| unreachable!("a put request with an item always builds")),
        )
        .build()
}

impl Store {
    async fn read_heads(
        &self,
        tenant: &TenantId,
        sks: Vec<String>,
        with_asset: bool,
    ) -> Result<HashMap<String, StoredHead>> {
        if sks.is_empty() {
            return Ok(HashMap::new());
        }
        let pk = tenant_pk(tenant);
        let keys = sks
            .into_iter()
            .map(|sk| Store::key(pk.clone(), sk))
            .collect();
        let mut names = HashMap::from([
            ("#sk".to_string(), "sk".to_string()),
            ("#h".to_string(), "content_hash".to_string()),
            ("#act".to_string(), "active".to_string()),
            ("#cr".to_string(), "created_at".to_string()),
        ]);
        let mut expression = "#sk, #h, #act, #cr".to_string();
        if with_asset {
            names.insert("#as".into(), "asset".into());
            expression.push_str(", #as");
        }
        let projection = Projection {
            expression: Some(expression),
            names,
        };
        let items = get_all(&*self.batch, &self.table, keys, &projection, self.retry).await?;
        items
            .into_iter()
            .map(|i| {
                let head: StoredHead =
                    serde_dynamo::from_item(i).map_err(StoreError::item("stored head"))?;
                Ok((head.sk.clone(), head))
            })
            .collect()
    }

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

    /// Applies one page of findings: writes only new findings and findings whose content hash changed.
    pub async fn apply_findings(
        &self,
        tenant: &TenantId,
        findings: &[Finding],
    ) -> Result<WriteCounts> {
        let mut counts = WriteCounts::default();
        let mut latest: HashMap<&str, &Finding> = HashMap::new();
        let mut order = Vec::new();
        for f in findings {
            if latest.insert(f.id.as_str(), f).is_some() {
                counts.unchanged += 1;
            } else {
                order.push(f.id.as_str());
            }
        }
        let heads = self
            .read_heads(
                tenant,
                order.iter().map(|id| finding_sk(id)).collect(),
                false,
            )
            .await?;
        let now_s = format_timestamp(now());
        let mut writes = Vec::new();
        for id in order {
            let f = latest[id];
            let sk = finding_sk(id);
            let hash = f.content_hash();
            let stored = heads.get(&sk);
            if stored.is_some_and(|h| h.content_hash.as_deref() == Some(hash.as_str())) {
                counts.unchanged += 1;
                continue;
            }
            if stored.is_some() {
                counts.updated += 1;
            } else {
                counts.created += 1;
            }
            let created_at = stored
                .and_then(|h| h.created_at.clone())
                .unwrap_or_else(|| now_s.clone());
            writes.push(put(finding_item(
                tenant,
                f.clone(),
                hash,
                created_at,
                now_s.clone(),
            )?));
        }
        write_all(&*self.batch, &self.table, writes, self.retry).await?;
        tracing::debug!(tenant = %tenant, created = counts.created, updated = counts.updated, unchanged = counts.unchanged, "finding page applied");
        Ok(counts)
    }

    /// Records the fingerprints and counted statuses of the threats one page of a run counted (one item per page).
    pub async fn record_seen_threats(
        &self,
        tenant: &TenantId,
        run_id: &str,
        page_no: u64,
        entries: &[(u64, FindingStatus)],
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut packed = String::with_capacity(entries.len() * 17);
        for (fingerprint, status) in entries {
            packed.push_str(&format!("{fingerprint:016x}"));
            packed.push(match status {
                FindingStatus::Failed => 'f',
                FindingStatus::Passed => 'p',
            });
        }
        let item = SeenThreatsItem {
            pk: tenant_pk(tenant),
            sk: seen_threats_sk(run_id, page_no),
            kind: "seen_threats".into(),
            entries: packed,
            expires_at: epoch_seconds_in(SEEN_TTL_DAYS),
        };
        let item = serde_dynamo::to_item(item).map_err(StoreError::item("seen threats"))?;
        write_all(&*self.batch, &self.table, vec![put(item)], self.retry).await
    }

    /// Every threat fingerprint the run counted on its pages before `before_page` (the checkpointed ones), with
    /// the status it was counted under (a later page's entry wins: it is the newer sighting).
    pub async fn load_seen_threats(
        &self,
        tenant: &TenantId,
        run_id: &str,
        before_page: u64,
    ) -> Result<HashMap<u64, FindingStatus>> {
        let mut seen = HashMap::new();
        let last = seen_threats_sk(run_id, before_page);
        self.query_each(
            &Query::partition(tenant, seen_threats_prefix(run_id)),
            |items| {
                for i in items {
                    let item: SeenThreatsItem =
                        serde_dynamo::from_item(i).map_err(StoreError::item("seen threats"))?;
                    // Page numbers are zero-padded, so sort keys compare like the numbers.
                    if item.sk >= last {
                        continue;
                    }
                    let bytes = item.entries.as_bytes();
                    for chunk in bytes.chunks_exact(17) {
                        let Some(fingerprint) = std::str::from_utf8(&chunk[..16])
                            .ok()
                            .and_then(|h| u64::from_str_radix(h, 16).ok())
                        else {
                            return Err(StoreError::InvalidInput(
                                "a seen-threats item holds a malformed fingerprint".into(),
                            ));
                        };
                        let status = if chunk[16] == b'p' {
                            FindingStatus::Passed
                        } else {
                            FindingStatus::Failed
                        };
                        seen.insert(fingerprint, status);
                    }
                }
                Ok(())
            },
        )
        .await?;
        Ok(seen)
    }

    /// One page of the tenant's unattached findings (their asset did not exist when they were written).
    pub async fn unattached_findings(
        &self,
        tenant: &TenantId,
        start: Option<UnattachedCursor>,
    ) -> Result<(Vec<Finding>, Option<UnattachedCursor>)> {
        let q = Query::gsi1(unattached_gsi1pk(tenant), FINDING_PREFIX);
        let (items, last) = self
            .query_once(&q, start.map(|c| c.0), Some(UNATTACHED_PAGE))
            .await?;
        let findings = items
            .into_iter()
            .map(|i| serde_dynamo::from_item::<_, FindingItem>(i).map(|f| f.finding))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("finding"))?;
        Ok((findings, last.map(UnattachedCursor)))
    }

    /// Records the asset keys one page of a run's agent walk saw: one item per page (TTL'd), not one write per
    /// asset, so unchanged assets cost nothing to keep active.
    pub async fn record_seen_assets(
        &self,
        tenant: &TenantId,
        run_id: &str,
        page_no: u64,
        keys: &[String],
    ) -> Result<()> {
        let pk = tenant_pk(tenant);
        let mut writes = Vec::new();
        for (part, chunk) in keys.chunks(SEEN_KEYS_PER_ITEM).enumerate() {
            let item = SeenItem {
                pk: pk.clone(),
                sk: format!("{}#{part}", seen_sk(run_id, page_no)),
                kind: "seen".into(),
                keys: chunk.to_vec(),
                expires_at: epoch_seconds_in(SEEN_TTL_DAYS),
            };
            writes.push(put(
                serde_dynamo::to_item(item).map_err(StoreError::item("seen assets"))?
            ));
        }
        write_all(&*self.batch, &self.table, writes, self.retry).await
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
        let mut seen: HashSet<String> = HashSet::new();
        self.query_each(&Query::partition(tenant, seen_prefix(run_id)), |items| {
            for i in items {
                let item: SeenItem =
                    serde_dynamo::from_item(i).map_err(StoreError::item("seen assets"))?;
                seen.extend(item.keys);
            }
            Ok(())
        })
        .await?;
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

    /// Re-derives the status of one query page of the tenant's stored findings from their stored analyst verdicts
    /// under `list` (after the tenant changed the list; no SentinelOne call), starting after the finding sort key
    /// `start_after` (`None`: the first finding). Writes only the findings whose status flips. Returns how many
    /// flipped and the sort key to continue after (`None`: that was the last page). One page per call, so the
    /// sync worker can checkpoint between pages and stop before its deadline whatever the tenant's size; a page
    /// redone after a crash finds its findings already flipped and writes nothing.
    pub async fn reevaluate_finding_statuses_page(
        &self,
        tenant: &TenantId,
        list: &VerdictInclusionList,
        start_after: Option<String>,
    ) -> Result<(u64, Option<String>)> {
        let q = Query::partition(tenant, FINDING_PREFIX);
        let start = start_after.map(|sk| Store::key(tenant_pk(tenant), sk));
        let (items, last) = self
            .query_once(&q, start, Some(self.reevaluate_page))
            .await?;
        let mut flipped = Vec::new();
        for i in items {
            let mut item: FindingItem =
                serde_dynamo::from_item(i).map_err(StoreError::item("finding"))?;
            let status = finding_status(&item.finding.analyst_verdict, list);
            if status != item.finding.status {
                item.finding.status = status;
                item.status = wire(&status);
                item.content_hash = item.finding.content_hash();
                item.updated_at = format_timestamp(now());
                flipped.push(put(
                    serde_dynamo::to_item(item).map_err(StoreError::item("finding"))?
                ));
            }
        }
        let n = flipped.len() as u64;
        write_all(&*self.batch, &self.table, flipped, self.retry).await?;
        let next = last
            .and_then(|mut k| k.remove("sk"))
            .and_then(|v| v.as_s().ok().cloned());
        tracing::debug!(tenant = %tenant, flipped = n, more = next.is_some(), "finding statuses re-evaluated (one page)");
        Ok((n, next))
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

    /// Findings of the tenant sorted by id, filtered, one page at a time (by asset through gsi1).
    pub async fn list_findings(
        &self,
        tenant: &TenantId,
        filter: &FindingFilter,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<Page<Finding>> {
        let mut q = match filter.asset.as_deref() {
            _ if filter.attached == Some(false) => {
                if filter.asset.is_some() {
                    return Err(StoreError::InvalidInput(
                        "an unattached finding has no asset: drop the asset filter or attached=false".into(),
                    ));
                }
                Query::gsi1(unattached_gsi1pk(tenant), FINDING_PREFIX)
            }
            Some(name) => {
                let key = normalize_computer_name(name).ok_or_else(|| {
                    StoreError::InvalidInput(
                        "the asset filter is blank; give a computer name".into(),
                    )
                })?;
                Query::gsi1(finding_gsi1pk(tenant, key.as_str()), FINDING_PREFIX)
            }
            None => Query::partition(tenant, FINDING_PREFIX),
        };
        if let Some(status) = &filter.status {
            q = q.and_filter(
                "#st = :st",
                &[("#st", "status")],
                vec![(":st", s(wire(status)))],
            );
        }
        if let Some(severity) = &filter.severity {
            q = q.and_filter(
                "#sev = :sev",
                &[("#sev", "severity")],
                vec![(":sev", s(wire(severity)))],
            );
        }
        if filter.attached == Some(true) {
            q = q.and_filter(
                "#att = :att",
                &[("#att", "attached")],
                vec![(":att", aws_sdk_dynamodb::types::AttributeValue::Bool(true))],
            );
        }
        if let Some(verdict) = &filter.verdict {
            q = q.and_filter(
                "#ver = :ver",
                &[("#ver", "verdict")],
                vec![(":ver", s(wire(verdict)))],
            );
        }
        let (items, next) = self
            .paged_query(
                tenant,
                "findings",
                &filter_digest(filter),
                q,
                page_token,
                limit,
            )
            .await?;
        let findings = items
            .into_iter()
            .map(|i| serde_dynamo::from_item::<_, FindingItem>(i).map(|f| f.finding))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("finding"))?;
        Ok(Page {
            items: findings,
            next_page_token: next,
        })
    }
}

fn finding_item(
    tenant: &TenantId,
    f: Finding,
    hash: String,
    created_at: String,
    updated_at: String,
) -> Result<Item> {
    let item = FindingItem {
        pk: tenant_pk(tenant),
        sk: finding_sk(&f.id),
        kind: "finding".into(),
        gsi1pk: match (&f.asset_key, f.attached) {
            (Some(key), true) => finding_gsi1pk(tenant, key.as_str()),
            _ => unattached_gsi1pk(tenant),
        },
        gsi1sk: finding_sk(&f.id),
        attached: f.attached,
        status: wire(&f.status),
        severity: wire(&f.severity),
        verdict: wire(&f.analyst_verdict),
        content_hash: hash,
        finding: f,
        created_at,
        updated_at,
    };
    serde_dynamo::to_item(item).map_err(StoreError::item("finding"))
}
