//! Retiring the assets a complete agent walk did not see: planned first, then written one conditional
//! transaction per asset, so a registration that lands meanwhile keeps its asset active.

use std::collections::HashSet;

use futures::stream::{self, StreamExt, TryStreamExt};

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, TransactWriteItem, Update, WriteRequest,
};

use super::assets::AssetItem;
use super::AssetDigests;
use super::{put, PARALLEL_UPDATES};
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{asset_facet_sk, asset_registration_sk, tenant_pk, TenantId, ASSET_PREFIX};
use crate::store::{s, Store};
use crate::views::Query;

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

impl Store {
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
    ///
    /// When the asset digests prove that every active asset is among the run's seen assets, the plan is empty
    /// without reading the active assets (see `digests::assets::coverage`); `active` then counts the digests'
    /// entries, every one of them a seen asset. Nothing is written: see
    /// [`Store::plan_retirement_keeping_coverage`] for a run that writes.
    pub async fn plan_retirement(&self, tenant: &TenantId, run_id: &str) -> Result<RetirementPlan> {
        self.plan(tenant, run_id, false).await
    }

    /// [`Store::plan_retirement`], and when the plan read every active asset, the asset digests drop the entries
    /// of assets that are not active and record whether they cover every active asset, so that the next run's
    /// plan may be proven empty without the read.
    pub async fn plan_retirement_keeping_coverage(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> Result<RetirementPlan> {
        self.plan(tenant, run_id, true).await
    }

    async fn plan(&self, tenant: &TenantId, run_id: &str, keep: bool) -> Result<RetirementPlan> {
        let seen = self.seen_asset_keys(tenant, run_id).await?;
        let mut digests = self.read_asset_digests(tenant).await?;
        if digests.covers_active() {
            let before = self.run_before(tenant, run_id).await?;
            if digests.prove_all_seen(run_id, before.as_deref(), &seen) {
                return Ok(RetirementPlan {
                    unseen: Vec::new(),
                    active: digests.entries() as u64,
                });
            }
        }
        let mut active_entries = HashSet::new();
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
                    if keep {
                        active_entries.insert(AssetDigests::entry_key_of(key));
                    }
                    if !seen.contains(key) {
                        plan.unseen.push(sk.clone());
                    }
                }
            }
            Ok(())
        })
        .await?;
        if keep {
            digests.cover(&active_entries);
            self.save_asset_digests(tenant, &mut digests).await?;
        }
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
        let outcomes = stream::iter(unseen.clone())
            .map(|sk| self.retire_one(&pk, sk, run_id, &now_s))
            .buffer_unordered(PARALLEL_UPDATES)
            .try_collect::<Vec<Retired>>()
            .await?;
        // Every one of them has left the active assets (retired, only its SentinelOne side retired, or gone): their
        // entries go, after the retirement, so the digests keep covering only active assets.
        if !unseen.is_empty() {
            let mut digests = self.read_asset_digests(tenant).await?;
            digests.forget(
                unseen
                    .iter()
                    .map(|sk| sk.strip_prefix(ASSET_PREFIX).unwrap_or(sk)),
            );
            self.save_asset_digests(tenant, &mut digests).await?;
        }
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
            // The facet key moves with `active`, in the same write (the assets view's `active` filter reads it).
            .update_expression(
                "SET active = :f, retired_at = :now, last_run_id = :r, facet_sk = :fs",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":fs", s(asset_facet_sk(false, &key)))
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

    /// Writes these assets of decommissioned agents already retired, each with a conditional put: a machine
    /// SentinelOne returns decommissioned is not live, so it is not written active for finalize to retire it again
    /// (one transaction per asset). `true` beside an asset: it is stored inactive, and is written only while it
    /// still is; `false`: it is new, and is written only while still absent. An asset that appeared or was revived
    /// meanwhile (a registration) is not written inactive: its active description is returned, to be written as
    /// usual, and finalize retires it with the registration check.
    pub(super) async fn create_retired(
        &self,
        assets: Vec<(AssetItem, bool)>,
        now_s: &str,
    ) -> Result<Vec<WriteRequest>> {
        let outcomes = stream::iter(assets)
            .map(|(mut a, stored)| async move {
                let active = serde_dynamo::to_item(&a).map_err(StoreError::item("asset"))?;
                a.active = false;
                a.retired_at = Some(now_s.to_string());
                a.facet_sk = Some(asset_facet_sk(false, a.asset.key.as_str()));
                let retired = serde_dynamo::to_item(&a).map_err(StoreError::item("asset"))?;
                let put_retired = self
                    .dynamodb
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(retired));
                let written = if stored {
                    put_retired
                        .condition_expression("active = :f")
                        .expression_attribute_values(":f", AttributeValue::Bool(false))
                } else {
                    put_retired.condition_expression("attribute_not_exists(pk)")
                }
                .send()
                .await;
                Ok::<_, StoreError>(
                    (!StoreError::condition_held("PutItem", written)?).then(|| put(active)),
                )
            })
            .buffer_unordered(PARALLEL_UPDATES)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(outcomes.into_iter().flatten().collect())
    }
}
