//! Sending a page's asset writes: whole-item batch puts of SentinelOne's descriptions, the conditional puts of
//! machines written already retired ([`Store::create_retired`]), and the attach-only updates of agent-id links.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};
use futures::stream::{self, StreamExt, TryStreamExt};
use s1_core::{Asset, ContentHash};

use super::assets::{AssetItem, AssetWrite};
use super::{put, PARALLEL_UPDATES};
use crate::batch::write_all;
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{asset_facet_sk, tenant_pk, TenantId};
use crate::store::{s, Store};

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
             src_sentinelone = :t, facet_sk = :fs REMOVE retired_at, sentinelone_retired_at",
        )
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_names("#as", "asset")
        .expression_attribute_values(":ids", ids)
        .expression_attribute_values(":h", s(asset.content_hash()))
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .expression_attribute_values(":now", s(now_s))
        .expression_attribute_values(":r", s(run_id))
        .expression_attribute_values(":fs", s(asset_facet_sk(true, asset.key.as_str())))
        .build()
        .map_err(|e| StoreError::InvalidInput(format!("an asset update could not be built: {e}")))
}

impl Store {
    /// Writes a planned page: puts first, then the attach-only updates.
    pub(super) async fn write_assets(
        &self,
        tenant: &TenantId,
        writes: Vec<AssetWrite>,
        run_id: &str,
        created_at: &HashMap<String, Option<String>>,
    ) -> Result<()> {
        let pk = tenant_pk(tenant);
        let now_s = format_timestamp(now());
        let mut puts = Vec::new();
        let mut born_retired = Vec::new();
        let mut attaches = Vec::new();
        for w in writes {
            match w {
                AssetWrite::Describe(sk, asset, _, retired_as) => {
                    let facet_sk = Some(asset_facet_sk(true, asset.key.as_str()));
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
                        facet_sk,
                    };
                    if let Some(stored) = retired_as {
                        born_retired.push((item, stored));
                    } else {
                        puts.push(put(
                            serde_dynamo::to_item(item).map_err(StoreError::item("asset"))?
                        ));
                    }
                }
                AssetWrite::Attach(sk, asset) => {
                    attaches.push(attach_update(&self.table, &pk, sk, &asset, run_id, &now_s)?);
                }
            }
        }
        puts.extend(self.create_retired(born_retired, &now_s).await?);
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
        Ok(())
    }
}
