//! Per-tenant sync state in one item (`SYNC`): the lease that keeps one sync per tenant at a time, the checkpoint
//! a resumed invocation starts from, and the threats watermark. The checkpoint is written by the same conditional
//! update that extends the lease, so a worker that lost its lease can never overwrite the new owner's progress.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

mod compact;
mod facts;
mod stored_time;

use crate::clock::now_millis;
use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, TenantId, SYNC_SK};
use crate::runs::RunCounters;
use crate::store::{n, s, Store};

/// Proof of holding a tenant's sync lease until `expires_at_ms` (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: String,
    pub expires_at_ms: i64,
}

/// Where a running sync stands, so a new invocation resumes there.
///
/// Stored without its empty parts (absent, zero, false, empty lists: each reads back as it was): every heartbeat
/// rewrites the whole `SYNC` item, and DynamoDB charges a write unit per started KB of it, so the item is kept
/// under 1 KB during an ordinary run (see `compact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub run_id: String,
    /// The engine's phase name (e.g. `agents`, `threats`, `finalize`).
    pub phase: String,
    /// SentinelOne `nextCursor` of the page to fetch next; `None` at the start of a phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Pages done in this run so far.
    #[serde(default, skip_serializing_if = "compact::is_zero")]
    pub page_no: u64,
    #[serde(default, with = "compact::counters")]
    pub counters: RunCounters,
    /// Group ids resolved from the configured group names (empty: all groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_ids: Vec<String>,
    /// The `updatedAt__gt` bound this run's threat walk uses (fixed at the start of the walk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threats_since: Option<String>,
    /// The newest threat `updatedAt` this run's walk has seen: the next watermark once the walk completes.
    #[serde(default, with = "stored_time", skip_serializing_if = "Option::is_none")]
    pub threats_high_water: Option<OffsetDateTime>,
    /// Fingerprint of what decides which threats this run imports (see the sync engine's scope); stored with the
    /// watermark when the run completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The agent walk so far, since its last restart: what finalize needs to decide whether it may retire.
    #[serde(default, skip_serializing_if = "compact::is_default")]
    pub agent_walk: AgentWalkTally,
    /// The verdict list this run maps threats with, fixed at its start so that every page of one run follows one
    /// list; `None` in checkpoints written before runs pinned it (the run then pins the list it resumes with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdicts: Option<PinnedVerdicts>,
    /// The verdict-list version the `reevaluate` phase's walk (cursor in `cursor`) applies; a newer list saved
    /// meanwhile restarts the walk from the first finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reevaluating_version: Option<u64>,
    /// The threat walk so far, since its last restart: what finalize needs to decide whether it may close
    /// findings the walk did not return.
    #[serde(default, skip_serializing_if = "compact::is_default")]
    pub threat_walk: AgentWalkTally,
    /// Where the vulnerability walk stands (absent in checkpoints from before it existed).
    #[serde(default, skip_serializing_if = "compact::is_default")]
    pub vulnerabilities: VulnerabilityWalk,
}

/// The vulnerability walk's part of a checkpoint: one walk per resolved group (or one unscoped walk), the group
/// being walked (its cursor is the checkpoint's `cursor`), and what fixing by absence needs to trust the walk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnerabilityWalk {
    /// Index into the checkpoint's `group_ids` of the group walked now (0 for the unscoped walk).
    #[serde(default, skip_serializing_if = "compact::is_zero")]
    pub group_index: u64,
    /// `riskUpdatedDate__gte` of this run's walk (`None`: a complete walk, the only kind that may fix by absence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// When this run's walk started: the next watermark once it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// The fingerprint of the scope the walk runs in (stored with the watermark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The group walked now, since its last restart.
    #[serde(default, skip_serializing_if = "compact::is_default")]
    pub current: AgentWalkTally,
    /// The groups walked to their end (`expected` is summed; `None` once a group's first page did not say).
    #[serde(default, skip_serializing_if = "compact::is_default")]
    pub done: AgentWalkTally,
    /// Groups walked to their end so far.
    #[serde(default, skip_serializing_if = "compact::is_zero")]
    pub groups_done: u64,
    /// Set when this complete walk started, under the lease and before it wrote anything, on a tenant that held no
    /// vulnerability: every vulnerability stored since was written by this run's walk from a row it returned, so
    /// none can be absent from it and the walk neither records what it returned nor plans fixing. Kept in the
    /// checkpoint so a walk continued by another invocation keeps to it (`false` in older checkpoints: plan).
    #[serde(default, skip_serializing_if = "compact::is_false")]
    pub began_without_vulnerabilities: bool,
}

/// A verdict inclusion list as the configuration held it at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedVerdicts {
    pub version: u64,
    pub list: Vec<String>,
}

/// Counts of the agent walk that decide whether its completion can be trusted for retirement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentWalkTally {
    /// Agent records returned (usable or not).
    #[serde(default, skip_serializing_if = "compact::is_zero")]
    pub walked: u64,
    /// Agent records without a usable identity.
    #[serde(default, skip_serializing_if = "compact::is_zero")]
    pub unusable: u64,
    /// `pagination.totalItems` of the walk's first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<u64>,
}

/// What the sync engine reads before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncState {
    /// `updatedAt` of the last complete threat walk.
    pub watermark: Option<OffsetDateTime>,
    /// The scope fingerprint the watermark belongs to; a run with another scope walks threats from the start.
    pub watermark_scope: Option<String>,
    pub checkpoint: Option<Checkpoint>,
    /// The verdict-list version every stored finding's status follows (set when a run's re-evaluation completes);
    /// `None` before any was recorded, which counts as version 0 (see the sync engine's `Reevaluate` phase).
    pub verdicts_applied_version: Option<u64>,
    /// When the last complete, trusted walk of all threats ended (RFC 3339): the one that may close findings.
    pub full_threat_walk_at: Option<String>,
    /// How often a run walks all threats instead of those changed since the watermark
    /// (`None`: [`DEFAULT_FULL_THREAT_WALK_DAYS`]; 0: every run).
    pub full_threat_walk_every_days: Option<u16>,
    /// The API token's expiry as the last run read it (RFC 3339), when the console said it.
    pub token_expires_at: Option<String>,
    /// When the last complete vulnerability walk started: rows changed since then (less an overlap) are what the
    /// next delta walk asks for.
    pub vulnerability_watermark: Option<OffsetDateTime>,
    /// The scope fingerprint the vulnerability watermark belongs to.
    pub vulnerability_scope: Option<String>,
    /// When the last complete vulnerability walk (the one that may fix by absence) ended (RFC 3339).
    pub full_vulnerability_walk_at: Option<String>,
    /// How often a run walks all vulnerabilities instead of the delta (`None`:
    /// [`DEFAULT_FULL_VULNERABILITY_WALK_DAYS`]; 0: every run).
    pub full_vulnerability_walk_every_days: Option<u16>,
}

/// Default period of the complete vulnerability walk (SentinelOne scans at most weekly).
pub const DEFAULT_FULL_VULNERABILITY_WALK_DAYS: u16 = 7;

/// Default period of the complete threat walk that closes findings whose threat SentinelOne deleted.
pub const DEFAULT_FULL_THREAT_WALK_DAYS: u16 = 7;

impl SyncState {
    /// Whether a run starting at `now` must walk all threats (the period has passed, or none was ever walked).
    pub fn full_threat_walk_due(&self, now: time::OffsetDateTime) -> bool {
        let every = self
            .full_threat_walk_every_days
            .unwrap_or(DEFAULT_FULL_THREAT_WALK_DAYS);
        let Some(last) = self.full_threat_walk_at.as_deref().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        }) else {
            return true;
        };
        now - last >= time::Duration::days(i64::from(every))
    }

    /// Whether a run starting at `now` must walk all vulnerabilities: the period has passed, none was ever
    /// complete, or the watermark is missing or belongs to another scope.
    pub fn full_vulnerability_walk_due(&self, now: OffsetDateTime, scope: &str) -> bool {
        if self.vulnerability_watermark.is_none()
            || self.vulnerability_scope.as_deref() != Some(scope)
        {
            return true;
        }
        let every = self
            .full_vulnerability_walk_every_days
            .unwrap_or(DEFAULT_FULL_VULNERABILITY_WALK_DAYS);
        let Some(last) = self.full_vulnerability_walk_at.as_deref().and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        }) else {
            return true;
        };
        now - last >= time::Duration::days(i64::from(every))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SyncItem {
    #[serde(default)]
    lease_owner: Option<String>,
    #[serde(default)]
    lease_expires_ms: Option<i64>,
    #[serde(default)]
    checkpoint: Option<Checkpoint>,
    #[serde(default, with = "stored_time")]
    watermark: Option<OffsetDateTime>,
    #[serde(default)]
    watermark_scope: Option<String>,
    #[serde(default)]
    verdicts_applied_version: Option<u64>,
    #[serde(default)]
    full_threat_walk_at: Option<String>,
    #[serde(default)]
    full_threat_walk_every_days: Option<u16>,
    #[serde(default)]
    token_expires_at: Option<String>,
    #[serde(default, with = "stored_time")]
    vulnerability_watermark: Option<OffsetDateTime>,
    #[serde(default)]
    vulnerability_scope: Option<String>,
    #[serde(default)]
    full_vulnerability_walk_at: Option<String>,
    #[serde(default)]
    full_vulnerability_walk_every_days: Option<u16>,
}

fn expiry(ttl: Duration) -> i64 {
    now_millis().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Takes the tenant's sync lease if nobody holds it, the holder's lease has expired, or `owner` already holds
    /// it. `None` when another owner holds a live lease.
    pub async fn try_acquire_lease(
        &self,
        tenant: &TenantId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let lease = Lease {
            owner: owner.to_string(),
            expires_at_ms: expiry(ttl),
        };
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .update_expression("SET lease_owner = :o, lease_expires_ms = :e")
            .condition_expression(
                "attribute_not_exists(lease_owner) OR lease_expires_ms <= :now OR lease_owner = :o",
            )
            .expression_attribute_values(":o", s(owner))
            .expression_attribute_values(":e", n(lease.expires_at_ms))
            .expression_attribute_values(":now", n(now_millis()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(Some(lease)),
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", e);
                if err.is_conditional_check_failed() {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Extends the lease and, in the same conditional write, saves `checkpoint`. Fails with
    /// [`StoreError::LeaseLost`] when `lease.owner` no longer holds the lease: the caller must stop writing.
    pub async fn heartbeat(
        &self,
        tenant: &TenantId,
        lease: &Lease,
        ttl: Duration,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<Lease> {
        let next = Lease {
            owner: lease.owner.clone(),
            expires_at_ms: expiry(ttl),
        };
        let mut req = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .condition_expression("lease_owner = :o")
            .expression_attribute_values(":o", s(&lease.owner))
            .expression_attribute_values(":e", n(next.expires_at_ms));
        req = match checkpoint {
            Some(cp) => req
                .update_expression("SET lease_expires_ms = :e, checkpoint = :c")
                .expression_attribute_values(
                    ":c",
                    serde_dynamo::to_attribute_value(cp).map_err(StoreError::item("checkpoint"))?,
                ),
            None => req.update_expression("SET lease_expires_ms = :e"),
        };
        self.lease_write(req.send().await)?;
        Ok(next)
    }

    /// Gives the lease up; `false` when `lease.owner` did not hold it any more.
    pub async fn release_lease(&self, tenant: &TenantId, lease: &Lease) -> Result<bool> {
        let res = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .update_expression("REMOVE lease_owner, lease_expires_ms")
            .condition_expression("lease_owner = :o")
            .expression_attribute_values(":o", s(&lease.owner))
            .send()
            .await;
        match self.lease_write(res) {
            Ok(()) => Ok(true),
            Err(StoreError::LeaseLost) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Ends a complete sync: sets the new threats watermark and clears the checkpoint, while holding the lease.
    pub async fn complete_sync_at(
        &self,
        tenant: &TenantId,
        lease: &Lease,
        new_watermark: Option<OffsetDateTime>,
    ) -> Result<()> {
        self.finish_sync_state(tenant, lease, new_watermark.map(|w| (Some(w), None)), None)
            .await
    }

    /// [`Store::complete_sync_at`] with the watermark as the RFC 3339 text it is stored as (what tools and tests
    /// that seed a state hold); text that is not a timestamp is refused before anything is written.
    pub async fn complete_sync(
        &self,
        tenant: &TenantId,
        lease: &Lease,
        new_watermark: Option<&str>,
    ) -> Result<()> {
        let at = new_watermark
            .map(|w| {
                OffsetDateTime::parse(w, &time::format_description::well_known::Rfc3339).map_err(
                    |_| StoreError::InvalidInput(format!("\"{w}\" is not an RFC 3339 timestamp")),
                )
            })
            .transpose()?;
        self.complete_sync_at(tenant, lease, at).await
    }

    /// Ends a complete sync whose threat walk ran in `scope`: the watermark (`None`: no watermark, the next run
    /// in this scope walks every threat) and its scope are stored together, and the checkpoint is cleared.
    ///
    /// `verdicts_applied`: the verdict-list version every stored finding now follows (the run re-evaluated them),
    /// stored in the same write, so it is never recorded for a run that did not complete while holding the lease.
    /// `None` leaves the recorded version as it is.
    pub async fn complete_sync_in_scope(
        &self,
        tenant: &TenantId,
        lease: &Lease,
        watermark: Option<OffsetDateTime>,
        scope: &str,
        verdicts_applied: Option<u64>,
    ) -> Result<()> {
        self.finish_sync_state(
            tenant,
            lease,
            Some((watermark, Some(scope))),
            verdicts_applied,
        )
        .await
    }

    async fn finish_sync_state(
        &self,
        tenant: &TenantId,
        lease: &Lease,
        watermark: Option<(Option<OffsetDateTime>, Option<&str>)>,
        verdicts_applied: Option<u64>,
    ) -> Result<()> {
        let mut req = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .condition_expression("lease_owner = :o")
            .expression_attribute_values(":o", s(&lease.owner));
        let mut set = Vec::new();
        let mut remove = vec!["checkpoint"];
        if let Some((at, scope)) = watermark {
            match at {
                Some(w) => {
                    set.push("watermark = :w");
                    req = req.expression_attribute_values(":w", s(stored_time::format(w)));
                }
                None => remove.push("watermark"),
            }
            if let Some(sc) = scope {
                set.push("watermark_scope = :sc");
                req = req.expression_attribute_values(":sc", s(sc));
            }
        }
        if let Some(v) = verdicts_applied {
            set.push("verdicts_applied_version = :va");
            req = req.expression_attribute_values(":va", n(v));
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression.push_str("SET ");
            expression.push_str(&set.join(", "));
            expression.push(' ');
        }
        expression.push_str("REMOVE ");
        expression.push_str(&remove.join(", "));
        self.lease_write(req.update_expression(expression).send().await)
    }

    /// Drops the checkpoint without moving the watermark (a failed run that must start over next time).
    pub async fn clear_checkpoint(&self, tenant: &TenantId, lease: &Lease) -> Result<()> {
        self.complete_sync_at(tenant, lease, None).await
    }

    pub async fn load_sync_state(&self, tenant: &TenantId) -> Result<SyncState> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(tenant_pk(tenant), SYNC_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let Some(item) = out.item else {
            return Ok(SyncState::default());
        };
        let item: SyncItem =
            serde_dynamo::from_item(item).map_err(StoreError::item("sync state"))?;
        Ok(SyncState {
            watermark: item.watermark,
            watermark_scope: item.watermark_scope,
            checkpoint: item.checkpoint,
            verdicts_applied_version: item.verdicts_applied_version,
            full_threat_walk_at: item.full_threat_walk_at,
            full_threat_walk_every_days: item.full_threat_walk_every_days,
            token_expires_at: item.token_expires_at,
            vulnerability_watermark: item.vulnerability_watermark,
            vulnerability_scope: item.vulnerability_scope,
            full_vulnerability_walk_at: item.full_vulnerability_walk_at,
            full_vulnerability_walk_every_days: item.full_vulnerability_walk_every_days,
        })
    }

    fn lease_write<T, E, R>(
        &self,
        res: std::result::Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
    ) -> Result<()>
    where
        aws_sdk_dynamodb::Error: From<aws_sdk_dynamodb::error::SdkError<E, R>>,
    {
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = StoreError::dynamo("UpdateItem", e);
                if err.is_conditional_check_failed() {
                    Err(StoreError::LeaseLost)
                } else {
                    Err(err)
                }
            }
        }
    }
}
