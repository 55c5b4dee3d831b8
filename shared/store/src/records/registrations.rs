//! The platform's own registrations of assets (`ASSETREG#<key>` items, written only here), and merging them into
//! the stored assets the reads return. See [`super::assets`] for why the two live apart.

use std::collections::{HashMap, HashSet};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::types::AttributeValue;
use s1_core::registry::PlatformAsset;
use s1_core::AssetSource;

use super::assets::{AssetItem, StoredAsset};
use crate::batch::{get_all, Projection};
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{
    asset_facet_sk, asset_registration_sk, asset_sk, tenant_pk, TenantId, ASSET_PREFIX,
};
use crate::store::{s, Store};
use crate::views::Query;

/// The platform's own registration of an asset (`ASSETREG#<key>`), written only by registrations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RegistrationItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) kind: String,
    pub(super) platform: PlatformAsset,
    /// Digest of `platform`: an equal registration is not written again.
    pub(super) platform_hash: String,
    #[serde(default)]
    pub(super) src_import: Option<bool>,
    #[serde(default)]
    pub(super) src_manual: Option<bool>,
    pub(super) created_at: String,
    pub(super) updated_at: String,
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

/// Registrations written in parallel (an import of 10,000 rows is 10,000 conditional UpdateItems).
const PARALLEL_REGISTRATIONS: usize = 16;

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
        let assets = self.asset_items(tenant, keys).await?;
        self.with_registrations(tenant, assets)
            .await
            .map(|v| v.into_iter().map(|a| (a.key().to_string(), a)).collect())
    }

    /// The stored assets with these keys, by key, without their registrations (`sources` and `platform` hold only
    /// what the asset item says): what the agent walk decides against, for half the reads of
    /// [`Store::load_assets`]. A walked agent's decision depends on SentinelOne's side only.
    pub async fn load_asset_heads(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<HashMap<String, StoredAsset>> {
        Ok(self
            .asset_items(tenant, keys)
            .await?
            .into_iter()
            .map(|i| {
                let a = StoredAsset::from_items(i, None);
                (a.key().to_string(), a)
            })
            .collect())
    }

    /// Whether the tenant holds any asset item (from the sync or a registration, which creates one): one query
    /// of one key. A tenant without one has nothing a first agent walk needs to read.
    pub async fn has_assets(&self, tenant: &TenantId) -> Result<bool> {
        let q = Query::partition(tenant, ASSET_PREFIX).project("#sk", &[("#sk", "sk")]);
        let (items, _) = self.query_once(&q, None, Some(1)).await?;
        Ok(!items.is_empty())
    }

    async fn asset_items(&self, tenant: &TenantId, keys: &[String]) -> Result<Vec<AssetItem>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let unique: HashSet<&String> = keys.iter().collect();
        let pk = tenant_pk(tenant);
        let item_keys = unique
            .iter()
            .map(|k| Store::key(pk.clone(), asset_sk(k)))
            .collect();
        get_all(
            &*self.batch,
            &self.table,
            item_keys,
            &Projection::default(),
            self.retry,
        )
        .await?
        .into_iter()
        .map(|i| serde_dynamo::from_item::<_, AssetItem>(i).map_err(StoreError::item("asset")))
        .collect()
    }

    /// Merges each asset item with its registration item (one BatchGetItem of the registrations).
    pub(super) async fn with_registrations(
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
            facet_sk: Some(asset_facet_sk(true, key)),
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
                "SET active = :t, facet_sk = :fs, sentinelone_retired_at = if_not_exists(sentinelone_retired_at, :now) \
                 REMOVE retired_at",
            )
            .condition_expression("active = :f")
            .expression_attribute_values(":fs", s(asset_facet_sk(true, key)))
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
}
