//! The run slot: one pending-or-running run per tenant, claimed and released by run id, stale after a while,
//! and the deferred scheduled request a busy slot keeps for when it is released.

use std::time::Duration;

use serde::Deserialize;

use crate::clock::now_millis;
use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, TenantId, RUNSLOT_SK};
use crate::store::{n, s, Store};

/// Why a run could not take the tenant's run slot.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("a sync is already running for this tenant (run {run_id}); wait for it to finish")]
    AlreadyRunning { run_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Deserialize)]
struct SlotItem {
    /// Absent while the slot is free but keeps a deferred scheduled request (see [`Store::release_run_slot`]).
    #[serde(default)]
    run_id: Option<String>,
}

/// The run slot's attribute that records a scheduled run asked for while another run held the slot: the
/// `YYYY-MM-DD` day it was scheduled for.
const DEFERRED_SCHEDULED: &str = "deferred_scheduled";

impl Store {
    /// Takes the tenant's run slot for `run_id`: succeeds when the slot is free, held by the same run, or was
    /// claimed longer than `stale_after` ago (a run that died without releasing it).
    pub async fn claim_run_slot(
        &self,
        tenant: &TenantId,
        run_id: &str,
        stale_after: Duration,
    ) -> std::result::Result<(), ClaimError> {
        let until =
            now_millis().saturating_add(i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX));
        let res = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant)))
            .item("sk", s(RUNSLOT_SK))
            .item("run_id", s(run_id))
            .item("claimed_until_ms", n(until))
            // A slot without `run_id` is free but keeps a deferred scheduled request: this claim replaces the item,
            // so a run started now (sync now, a stale takeover) also stands for the deferred one.
            .condition_expression(
                "attribute_not_exists(pk) OR attribute_not_exists(run_id) OR claimed_until_ms <= :now OR run_id = :r",
            )
            .expression_attribute_values(":now", n(now_millis()))
            .expression_attribute_values(":r", s(run_id))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = StoreError::dynamo("PutItem", e);
                if !err.is_conditional_check_failed() {
                    return Err(err.into());
                }
                let holder = self.run_slot_holder(tenant).await?;
                Err(ClaimError::AlreadyRunning {
                    run_id: holder.unwrap_or_default(),
                })
            }
        }
    }

    /// The run holding the tenant's slot, if any (expired claims included).
    pub async fn run_slot_holder(&self, tenant: &TenantId) -> Result<Option<String>> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), RUNSLOT_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        match out.item {
            Some(item) => Ok(serde_dynamo::from_item::<_, SlotItem>(item)
                .map_err(StoreError::item("run slot"))?
                .run_id),
            None => Ok(None),
        }
    }

    /// Frees the slot if `run_id` holds it; `false` when another run does (or nobody). A slot that carries a
    /// deferred scheduled request ([`Store::defer_scheduled_run`]) is not deleted but left free with the request
    /// still on it, for [`Store::claim_deferred_run_slot`] to start: the delete and the update are each conditional,
    /// so a request recorded at any moment is either seen here or refused to its writer (who then claims the slot).
    pub async fn release_run_slot(&self, tenant: &TenantId, run_id: &str) -> Result<bool> {
        let res = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), RUNSLOT_SK)))
            .condition_expression("run_id = :r AND attribute_not_exists(#d)")
            .expression_attribute_names("#d", DEFERRED_SCHEDULED)
            .expression_attribute_values(":r", s(run_id))
            .send()
            .await;
        match res {
            Ok(_) => return Ok(true),
            Err(e) => {
                let err = StoreError::dynamo("DeleteItem", e);
                if !err.is_conditional_check_failed() {
                    return Err(err);
                }
            }
        }
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), RUNSLOT_SK)))
            .update_expression("REMOVE run_id, claimed_until_ms")
            .condition_expression("run_id = :r AND attribute_exists(#d)")
            .expression_attribute_names("#d", DEFERRED_SCHEDULED)
            .expression_attribute_values(":r", s(run_id))
            .send()
            .await;
        StoreError::condition_held("UpdateItem", res)
    }

    /// Records on the tenant's run slot that a scheduled run for `day` (`YYYY-MM-DD`) is wanted once the run
    /// holding the slot ends. `false` when no live claim holds the slot any more (the run ended meanwhile): the
    /// caller claims the slot itself instead. Idempotent.
    pub async fn defer_scheduled_run(&self, tenant: &TenantId, day: &str) -> Result<bool> {
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), RUNSLOT_SK)))
            .update_expression("SET #d = :d")
            .condition_expression("attribute_exists(run_id) AND claimed_until_ms > :now")
            .expression_attribute_names("#d", DEFERRED_SCHEDULED)
            .expression_attribute_values(":d", s(day))
            .expression_attribute_values(":now", n(now_millis()))
            .send()
            .await;
        StoreError::condition_held("UpdateItem", res)
    }

    /// Takes the tenant's run slot for `run_id` only if it was released with a deferred scheduled request on it
    /// (and no live claim holds it), consuming the request in the same write. Returns the request's day, or `None`
    /// when there is nothing deferred: exactly one caller can win a given request.
    pub async fn claim_deferred_run_slot(
        &self,
        tenant: &TenantId,
        run_id: &str,
        stale_after: Duration,
    ) -> Result<Option<String>> {
        let until =
            now_millis().saturating_add(i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX));
        let res = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant)))
            .item("sk", s(RUNSLOT_SK))
            .item("run_id", s(run_id))
            .item("claimed_until_ms", n(until))
            .condition_expression(
                "attribute_exists(#d) AND (attribute_not_exists(run_id) OR claimed_until_ms <= :now)",
            )
            .expression_attribute_names("#d", DEFERRED_SCHEDULED)
            .expression_attribute_values(":now", n(now_millis()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(
                out.attributes
                    .as_ref()
                    .and_then(|a| a.get(DEFERRED_SCHEDULED))
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default(),
            )),
            Err(e) => {
                let err = StoreError::dynamo("PutItem", e);
                if err.is_conditional_check_failed() {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Undoes [`Store::claim_deferred_run_slot`] for a run that could not be started: frees the slot and puts the
    /// deferred request for `day` back, so the next attempt (a redelivery of the finished run's message) starts it.
    pub async fn restore_deferred_run_slot(
        &self,
        tenant: &TenantId,
        run_id: &str,
        day: &str,
    ) -> Result<bool> {
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), RUNSLOT_SK)))
            .update_expression("REMOVE run_id, claimed_until_ms SET #d = :d")
            .condition_expression("run_id = :r")
            .expression_attribute_names("#d", DEFERRED_SCHEDULED)
            .expression_attribute_values(":r", s(run_id))
            .expression_attribute_values(":d", s(day))
            .send()
            .await;
        StoreError::condition_held("UpdateItem", res)
    }
}
