//! The reevaluate phase: after a verdict-list change, stored findings' statuses are re-derived under the current
//! list, one checkpointed page at a time.

use tracing::info;

use super::{verdict_list, RunContext, Stop, SyncEngine};

impl SyncEngine {
    /// Whether stored findings may follow another list than the current one: the list changed since the version
    /// last applied, or this run mapped its threats with a list replaced while it ran.
    pub(super) fn reevaluation_due(&self, ctx: &RunContext) -> bool {
        let current = ctx.current_verdicts.version;
        let pinned = ctx.checkpoint.verdicts.as_ref().map(|p| p.version);
        current > ctx.verdicts_applied || pinned.is_some_and(|p| p != current)
    }

    /// Re-derives every stored finding's status under the current list, one query page per step: the last sort
    /// key is checkpointed after each page and the budget checked, so a tenant of any size ends in continuations
    /// rather than in a Lambda timeout, and a crash redoes at most one page (which then flips nothing).
    pub(super) async fn reevaluate(&self, ctx: &mut RunContext) -> Result<(), Stop> {
        let budget = ctx.budget;
        let target = ctx.current_verdicts.clone();
        let list = verdict_list(&target).map_err(Stop::Failed)?;
        if ctx.checkpoint.reevaluating_version != Some(target.version) {
            // A walk under an older list is not worth finishing: the findings it passed would need this one anyway.
            if let Some(old) = ctx.checkpoint.reevaluating_version {
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, old, new = target.version,
                      "verdict list changed during the re-evaluation; starting it over under the new list");
            }
            ctx.checkpoint.reevaluating_version = Some(target.version);
            ctx.checkpoint.cursor = None;
        }
        loop {
            let start = ctx.checkpoint.cursor.clone();
            let (flipped, next) = self
                .within_hard_stop(budget, async {
                    Ok(self
                        .store
                        .reevaluate_finding_statuses_page(&ctx.tenant, ctx.layout, &list, start)
                        .await?)
                })
                .await?;
            ctx.run.counters.findings_reevaluated += flipped;
            let Some(next) = next else { break };
            ctx.checkpoint.cursor = Some(next);
            self.save_progress(ctx).await?;
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
        }
        // The last page is not checkpointed: the completing write follows, and a crash before it redoes only that
        // page.
        ctx.verdicts_applied_now = Some(target.version);
        info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, version = target.version,
              flipped = ctx.run.counters.findings_reevaluated, "finding statuses re-evaluated under the current verdict list");
        Ok(())
    }
}
