//! The finalize phase's second half: findings whose threat a complete walk of all threats did not return are
//! closed, when the walk can be trusted (`s1_core::retirement::may_close`, the same guard as asset retirement).
//! An incremental walk (threats changed since the watermark) closes nothing. The complete walk runs on a set
//! period (`SyncState::full_threat_walk_due`) and after a scope change.

use s1_core::retirement::{may_close, CloseWithheld, ThreatWalkSummary};
use tracing::{info, warn};

use super::{RunContext, Stop, SyncEngine};
use crate::tally::fingerprint;

impl SyncEngine {
    /// Only reached after both walks completed.
    pub(super) async fn close_absent_findings(&self, ctx: &mut RunContext) -> Result<(), Stop> {
        let complete = ctx.checkpoint.threats_since.is_none() && ctx.checkpoint.scope.is_some();
        if !complete {
            return Ok(());
        }
        // A tenant that held no finding when this invocation created its record layout holds only the findings
        // this run's walk wrote, each from a threat the walk returned: none is absent, and `may_close` allows an
        // empty plan whatever the walk. Only the complete walk is recorded.
        if ctx.fresh_findings {
            return self.record_complete_walk(ctx).await;
        }
        let seen = self
            .store
            .load_seen_threats(&ctx.tenant, &ctx.run.id, ctx.checkpoint.page_no)
            .await?;
        let plan = self
            .store
            .plan_closing(&ctx.tenant, ctx.layout, |threat_id| {
                seen.contains_key(&fingerprint(threat_id))
            })
            .await?;
        let walk = ctx.checkpoint.threat_walk;
        let summary = ThreatWalkSummary {
            complete,
            walked: walk.walked,
            unusable: walk.unusable,
            expected: walk.expected,
            live: plan.live,
            absent: plan.absent.len() as u64,
        };
        match may_close(&summary, self.max_retire_percent) {
            Ok(()) if ctx.dry_run() => {
                ctx.run.counters.findings_closed += plan.absent.len() as u64;
                let report = ctx.report();
                for (sk, _) in plan.absent.iter().take(connector_store::DRY_RUN_NAMES) {
                    let id = sk.strip_prefix("FINDING#").unwrap_or(sk);
                    connector_store::DryRunReport::note(&mut report.findings_closed, id);
                }
                // A dry run leaves the period of the complete walk as it was.
                return Ok(());
            }
            Ok(()) => {
                let closed = self
                    .store
                    .close_findings(&ctx.tenant, ctx.layout, plan.absent)
                    .await?;
                ctx.run.counters.findings_closed += closed;
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, closed, "findings whose threat SentinelOne no longer has closed");
            }
            Err(CloseWithheld::Incremental) => {}
            Err(withheld) => {
                ctx.run.counters.findings_close_withheld = summary.absent;
                warn!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, absent = summary.absent, live = summary.live,
                      walked = summary.walked, expected = ?summary.expected, reason = %withheld, "closing withheld");
                ctx.run.record_warning(withheld.to_string());
            }
        }
        self.record_complete_walk(ctx).await
    }

    /// Starts the period until the next complete walk (a dry run leaves it as it was).
    async fn record_complete_walk(&self, ctx: &RunContext) -> Result<(), Stop> {
        if ctx.dry_run() {
            return Ok(());
        }
        let at = connector_store::clock::format_timestamp(time::OffsetDateTime::now_utc());
        match self
            .store
            .record_full_threat_walk(&ctx.tenant, &ctx.lease, &at)
            .await
        {
            Ok(()) => Ok(()),
            Err(connector_store::StoreError::LeaseLost) => {
                Err(Stop::Infra(super::EngineError::LeaseLost))
            }
            Err(e) => Err(e.into()),
        }
    }
}
