//! The sparse `due` index the daily scheduler reads: which tenants are due, and marking (or unmarking) a
//! tenant's scheduled day.

use time::OffsetDateTime;

use crate::clock::{format_timestamp, normalize_timestamp};
use crate::error::{Result, StoreError};
use crate::keys::{due_pk, due_sk, tenant_pk, TenantId, CONFIG_SK, DUE_SHARDS};
use crate::store::{s, Store};

impl Store {
    /// Tenants whose scheduled sync is due at `now` (next due time at or before it), from every shard of the
    /// sparse `due` index.
    pub async fn list_due_tenants(&self, now: OffsetDateTime) -> Result<Vec<TenantId>> {
        // '~' sorts after every tenant-id character, so "<now>#~" bounds every tenant due at exactly `now`.
        let upper = format!("{}#~", format_timestamp(now));
        let mut due = Vec::new();
        for shard in 0..DUE_SHARDS {
            let mut start = None;
            loop {
                let out = self
                    .dynamodb
                    .query()
                    .table_name(&self.table)
                    .index_name("due")
                    .key_condition_expression("due_pk = :p AND due_sk <= :u")
                    .expression_attribute_values(":p", s(due_pk(shard)))
                    .expression_attribute_values(":u", s(&upper))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("Query", e))?;
                for item in out.items.unwrap_or_default() {
                    let tenant = item
                        .get("pk")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|pk| pk.strip_prefix("T#"))
                        .and_then(|t| TenantId::new(t).ok());
                    match tenant {
                        Some(t) => due.push(t),
                        None => tracing::warn!(
                            shard,
                            "due index entry without a valid tenant key; skipped"
                        ),
                    }
                }
                match out.last_evaluated_key {
                    Some(k) => start = Some(k),
                    None => break,
                }
            }
        }
        Ok(due)
    }

    /// Records that the tenant's sync for `scheduled_day` (`YYYY-MM-DD`) was enqueued and moves its next due time.
    /// `false` when it was already scheduled that day (or auto-sync is off): the caller must not enqueue again.
    pub async fn mark_scheduled(
        &self,
        tenant: &TenantId,
        scheduled_day: &str,
        next_due_at: &str,
    ) -> Result<bool> {
        let day_ok = scheduled_day.len() == 10
            && scheduled_day.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !day_ok {
            return Err(StoreError::InvalidInput(format!(
                "\"{scheduled_day}\" is not a YYYY-MM-DD day"
            )));
        }
        let next = normalize_timestamp(next_due_at)?;
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), CONFIG_SK)))
            .update_expression("SET scheduled_day = :d, due_sk = :sk, #c.next_due_at = :n")
            .condition_expression("attribute_exists(due_pk) AND (attribute_not_exists(scheduled_day) OR scheduled_day <> :d)")
            .expression_attribute_names("#c", "config")
            .expression_attribute_values(":d", s(scheduled_day))
            .expression_attribute_values(":sk", s(due_sk(&next, tenant)))
            .expression_attribute_values(":n", s(&next))
            .send()
            .await;
        StoreError::condition_held("UpdateItem", res)
    }

    /// Undoes [`Store::mark_scheduled`] for `scheduled_day` when the scheduled sync could not be started (its run
    /// could not be recorded or queued): the day mark is removed and the next due time put back to
    /// `previous_next_due_at`, so a retry of the same day's fan-out schedules the tenant again. `false` when the
    /// tenant is not marked for that day (nothing to undo). Added for the scheduler's `start_run` undo path.
    pub async fn unmark_scheduled(
        &self,
        tenant: &TenantId,
        scheduled_day: &str,
        previous_next_due_at: &str,
    ) -> Result<bool> {
        let previous = normalize_timestamp(previous_next_due_at)?;
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), CONFIG_SK)))
            .update_expression("REMOVE scheduled_day SET due_sk = :sk, #c.next_due_at = :n")
            .condition_expression("attribute_exists(due_pk) AND scheduled_day = :d")
            .expression_attribute_names("#c", "config")
            .expression_attribute_values(":d", s(scheduled_day))
            .expression_attribute_values(":sk", s(due_sk(&previous, tenant)))
            .expression_attribute_values(":n", s(&previous))
            .send()
            .await;
        StoreError::condition_held("UpdateItem", res)
    }
}
