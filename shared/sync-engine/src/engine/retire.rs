//! The finalize phase: assets the agent walk did not see are retired, when the walk can be trusted.

use s1_core::retirement::{may_retire, WalkSummary};
use tracing::{info, warn};

use super::{RunContext, Stop, SyncEngine};

impl SyncEngine {
    /// Only reached after both walks completed. Retires the assets the agent walk did not see, when the walk can
    /// be trusted (see `s1_core::retirement`); otherwise keeps them all and says why in the run.
    pub(super) async fn retire(&self, ctx: &mut RunContext) -> Result<(), Stop> {
        // A first sync that wrote only assets its agent walk saw live has nothing unseen to plan: every described
        // asset was written by this run (the tenant held none) and recorded as seen, so the plan would be empty
        // and `may_retire` allows an empty plan whatever the walk.
        if ctx
            .fresh_assets
            .as_ref()
            .is_some_and(|f| f.nothing_to_retire())
        {
            return Ok(());
        }
        // A dry run writes nothing, not even what the asset digests learn from a plan.
        // Boxed: the plan's and the retirement's futures are large, and a run is polled on small stacks.
        let plan = match ctx.dry_run() {
            true => Box::pin(self.store.plan_retirement(&ctx.tenant, &ctx.run.id)).await?,
            false => {
                Box::pin(
                    self.store
                        .plan_retirement_keeping_coverage(&ctx.tenant, &ctx.run.id),
                )
                .await?
            }
        };
        let walk = ctx.checkpoint.agent_walk;
        let summary = WalkSummary {
            walked: walk.walked,
            unusable: walk.unusable,
            expected: walk.expected,
            active: plan.active,
            unseen: plan.unseen.len() as u64,
        };
        match may_retire(&summary, self.max_retire_percent) {
            Ok(()) if ctx.dry_run() => {
                ctx.run.counters.assets_retired += plan.unseen.len() as u64;
                let report = ctx.report();
                for sk in plan.unseen.iter().take(connector_store::DRY_RUN_NAMES) {
                    let key = sk.strip_prefix("ASSET#").unwrap_or(sk);
                    connector_store::DryRunReport::note(&mut report.assets_retired, key);
                }
            }
            Ok(()) => {
                let counts = Box::pin(self.store.retire_assets(
                    &ctx.tenant,
                    &ctx.run.id,
                    plan.unseen,
                ))
                .await?;
                ctx.run.counters.assets_retired += counts.retired;
                ctx.run.counters.assets_kept_by_platform += counts.kept_by_platform;
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, retired = counts.retired,
                      kept_by_platform = counts.kept_by_platform, "assets not returned by SentinelOne retired");
            }
            Err(withheld) => {
                ctx.run.counters.assets_retirement_withheld = summary.unseen;
                warn!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, unseen = summary.unseen, active = summary.active,
                      walked = summary.walked, expected = ?summary.expected, reason = %withheld, "retirement withheld");
                ctx.run.record_warning(withheld.to_string());
            }
        }
        Ok(())
    }
}
