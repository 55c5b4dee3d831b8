//! Sync runs: the history a caller watches (one item per run, rewritten after every page), and the run slot that
//! admits one pending-or-running run per tenant.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::macros::format_description;

use crate::clock::{format_timestamp, now, now_millis};
use crate::error::{Result, StoreError};
use crate::keys::{run_sk, tenant_pk, TenantId, RUNSLOT_SK, RUN_PREFIX};
use crate::store::{n, s, Page, Store};
use crate::views::Query;

/// Distinct skip reasons kept per run; further reasons are counted under [`SyncRun::OTHER_REASON`].
pub const MAX_SKIP_REASONS: usize = 32;
/// Error messages kept per run (the first ones: they usually name the cause).
pub const MAX_ERRORS: usize = 20;
const MAX_ERROR_LEN: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    OnDemand,
    Scheduled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Partial,
}

impl RunStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Partial)
    }
}

/// Items of one kind by what happened to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

impl Tally {
    pub fn add(&mut self, c: &WriteCounts) {
        self.created += c.created;
        self.updated += c.updated;
        self.unchanged += c.unchanged;
        self.skipped += c.skipped;
    }
}

/// What one apply call did. `skip_reasons` counts skipped items by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub skip_reasons: BTreeMap<String, u64>,
}

impl WriteCounts {
    /// Items that cost a write.
    pub fn written(&self) -> u64 {
        self.created + self.updated
    }

    pub(crate) fn skip(&mut self, reason: &str) {
        self.skipped += 1;
        *self.skip_reasons.entry(reason.to_string()).or_default() += 1;
    }
}

/// Running totals of a sync, also carried in the checkpoint so a resumed run continues counting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounters {
    pub assets: Tally,
    pub findings: Tally,
    /// Status of the distinct findings this run fetched.
    pub findings_failed: u64,
    pub findings_passed: u64,
    /// Records fetched from SentinelOne (agents + threats).
    pub items_fetched: u64,
    /// Assets marked inactive by this run's finalize (no longer returned by SentinelOne).
    #[serde(default)]
    pub assets_retired: u64,
    /// Assets the agent walk did not return but that were kept active because the walk could not be trusted
    /// for retirement (see the run's warnings for why).
    #[serde(default)]
    pub assets_retirement_withheld: u64,
    /// Distinct findings of this run whose asset could not be resolved (kept unattached, never dropped).
    #[serde(default)]
    pub findings_unattached: u64,
    /// Threats SentinelOne returned more than once in this run's walk (counted once in the totals above).
    #[serde(default)]
    pub findings_repeated: u64,
    /// Stored findings whose status this run's `reevaluate` phase flipped because the verdict list changed.
    #[serde(default)]
    pub findings_reevaluated: u64,
}

/// One sync of one tenant, as the history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    /// Sorts by creation time: `20261125T011500123Z-1a2b3c4d`.
    pub id: String,
    pub tenant: TenantId,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub phase: Option<String>,
    pub pages: u64,
    pub counters: RunCounters,
    /// Bounded: at most [`MAX_SKIP_REASONS`] keys.
    pub skip_reasons: BTreeMap<String, u64>,
    /// Bounded: the first [`MAX_ERRORS`] messages.
    pub errors: Vec<String>,
    /// Errors beyond the kept ones.
    #[serde(default)]
    pub errors_dropped: u64,
    /// Things the run decided not to do, with the numbers (e.g. retirement withheld). Bounded like `errors`.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The outcome in words a user can act on (set when the run ends).
    pub message: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl SyncRun {
    pub const OTHER_REASON: &'static str = "other";

    /// A pending run with a fresh, time-sortable id.
    pub fn new(tenant: TenantId, trigger: Trigger) -> Self {
        Self {
            id: new_run_id(),
            tenant,
            trigger,
            status: RunStatus::Pending,
            phase: None,
            pages: 0,
            counters: RunCounters::default(),
            skip_reasons: BTreeMap::new(),
            errors: Vec::new(),
            errors_dropped: 0,
            warnings: Vec::new(),
            message: None,
            created_at: format_timestamp(now()),
            started_at: None,
            finished_at: None,
        }
    }

    /// Adds one apply call's counts of assets.
    pub fn record_assets(&mut self, c: &WriteCounts) {
        self.counters.assets.add(c);
        self.record_skip_reasons(&c.skip_reasons);
    }

    /// Adds one apply call's counts of findings.
    pub fn record_findings(&mut self, c: &WriteCounts) {
        self.counters.findings.add(c);
        self.record_skip_reasons(&c.skip_reasons);
    }

    pub fn record_skip_reasons(&mut self, reasons: &BTreeMap<String, u64>) {
        for (reason, count) in reasons {
            let known = self.skip_reasons.contains_key(reason);
            let key = if known || self.skip_reasons.len() < MAX_SKIP_REASONS - 1 {
                reason.as_str()
            } else {
                Self::OTHER_REASON
            };
            *self.skip_reasons.entry(key.to_string()).or_default() += count;
        }
    }

    pub fn record_error(&mut self, message: impl Into<String>) {
        if self.errors.len() >= MAX_ERRORS {
            self.errors_dropped += 1;
            return;
        }
        self.errors.push(bounded_message(message.into()));
    }

    /// A note the user should read with the run's outcome; the first [`MAX_ERRORS`] are kept, repeats once.
    pub fn record_warning(&mut self, message: impl Into<String>) {
        let m = bounded_message(message.into());
        if self.warnings.len() < MAX_ERRORS && !self.warnings.contains(&m) {
            self.warnings.push(m);
        }
    }

    pub fn mark_running(&mut self) {
        self.status = RunStatus::Running;
        if self.started_at.is_none() {
            self.started_at = Some(format_timestamp(now()));
        }
    }

    pub fn finish(&mut self, status: RunStatus, message: Option<String>) {
        self.status = status;
        self.message = message;
        self.finished_at = Some(format_timestamp(now()));
    }
}

fn bounded_message(mut m: String) -> String {
    if m.len() > MAX_ERROR_LEN {
        let mut cut = MAX_ERROR_LEN;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
        m.push('…');
    }
    m
}

/// A new run id: UTC creation time to the millisecond, then random hex against collisions.
pub fn new_run_id() -> String {
    let fmt = format_description!("[year][month][day]T[hour][minute][second][subsecond digits:3]Z");
    let stamp = now()
        .format(&fmt)
        .unwrap_or_else(|_| "19700101T000000000Z".to_string());
    format!("{stamp}-{:08x}", rand::random::<u32>())
}

fn valid_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Why a run could not take the tenant's run slot.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("a sync is already running for this tenant (run {run_id}); wait for it to finish")]
    AlreadyRunning { run_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize, Deserialize)]
struct RunItem {
    pk: String,
    sk: String,
    kind: String,
    run: SyncRun,
}

#[derive(Deserialize)]
struct RunOnly {
    run: SyncRun,
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
    /// Records a new run; refuses to overwrite an existing id.
    pub async fn create_run(&self, run: &SyncRun) -> Result<()> {
        self.put_run(run, "attribute_not_exists(pk)").await
    }

    /// Rewrites the run's record (progress after each page, the outcome at the end). A run already finished in the
    /// table (succeeded, partial or failed: by its worker, by a disconnect, by the dead-letter handler) is never
    /// rewritten, so a late progress write cannot turn it back to running: that write fails with
    /// [`StoreError::RunAlreadyFinished`]. The finishing write of a run not yet finished is an ordinary update.
    pub async fn update_run(&self, run: &SyncRun) -> Result<()> {
        let res = self
            .put_run(
                run,
                "attribute_exists(pk) AND NOT (#run.#status IN (:succeeded, :failed, :partial))",
            )
            .await;
        match res {
            Err(e) if e.is_conditional_check_failed() => {
                match self.get_run(&run.tenant, &run.id).await? {
                    Some(stored) if stored.status.is_finished() => {
                        Err(StoreError::RunAlreadyFinished {
                            run_id: run.id.clone(),
                        })
                    }
                    // No such run: the write's own `attribute_exists` refusal, as before.
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    async fn put_run(&self, run: &SyncRun, condition: &str) -> Result<()> {
        if !valid_run_id(&run.id) {
            return Err(StoreError::InvalidInput(
                "a run id is 1 to 64 characters of A-Z, a-z, 0-9 or '-'".into(),
            ));
        }
        let item = RunItem {
            pk: tenant_pk(&run.tenant),
            sk: run_sk(&run.id),
            kind: "run".into(),
            run: run.clone(),
        };
        let mut req = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                serde_dynamo::to_item(item).map_err(StoreError::item("sync run"))?,
            ))
            .condition_expression(condition);
        if condition.contains("#status") {
            req = req
                .expression_attribute_names("#run", "run")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":succeeded", s(status_name(RunStatus::Succeeded)))
                .expression_attribute_values(":failed", s(status_name(RunStatus::Failed)))
                .expression_attribute_values(":partial", s(status_name(RunStatus::Partial)));
        }
        req.send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// The run `id` of `tenant`; `None` for an unknown id or another tenant's run.
    pub async fn get_run(&self, tenant: &TenantId, id: &str) -> Result<Option<SyncRun>> {
        if !valid_run_id(id) {
            return Ok(None);
        }
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), run_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        match out.item {
            Some(item) => Ok(Some(
                serde_dynamo::from_item::<_, RunOnly>(item)
                    .map_err(StoreError::item("sync run"))?
                    .run,
            )),
            None => Ok(None),
        }
    }

    /// The tenant's runs, newest first.
    pub async fn list_runs(
        &self,
        tenant: &TenantId,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<Page<SyncRun>> {
        let q = Query::partition(tenant, RUN_PREFIX).newest_first();
        let (items, next) = self
            .paged_query(tenant, "runs", "", q, page_token, limit)
            .await?;
        let runs = items
            .into_iter()
            .map(|i| serde_dynamo::from_item::<_, RunOnly>(i).map(|r| r.run))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("sync run"))?;
        Ok(Page {
            items: runs,
            next_page_token: next,
        })
    }

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
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", e);
                if err.is_conditional_check_failed() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
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
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", e);
                if err.is_conditional_check_failed() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
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
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", e);
                if err.is_conditional_check_failed() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }
}

/// A status as stored (its serde name), for condition expressions.
fn status_name(status: RunStatus) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{status:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_and_are_url_safe() {
        let a = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_run_id();
        assert!(a < b, "{a} {b}");
        assert!(valid_run_id(&a));
    }

    #[test]
    fn skip_reasons_and_errors_are_bounded() {
        let mut run = SyncRun::new(TenantId::new("t").unwrap(), Trigger::OnDemand);
        for i in 0..100 {
            run.record_skip_reasons(&BTreeMap::from([(format!("r{i}"), 1)]));
            run.record_error("x".repeat(2000));
        }
        assert_eq!(run.skip_reasons.len(), MAX_SKIP_REASONS);
        assert_eq!(run.skip_reasons.values().sum::<u64>(), 100);
        assert_eq!(run.errors.len(), MAX_ERRORS);
        assert_eq!(run.errors_dropped, 80);
        assert!(run.errors[0].len() <= MAX_ERROR_LEN + 3);
    }
}
