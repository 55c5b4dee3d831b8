//! The phase driver and the paged walk: the phases run in order from the checkpoint's phase, each page is applied
//! and checkpointed (with the lease's heartbeat), and the budget is checked between pages.

use std::collections::BTreeSet;
use std::pin::pin;

use connector_store::StoreError;
use futures::{Stream, StreamExt};
use sentinelone_client::{AgentQuery, Page, S1Client, S1Error, ThreatQuery};
use time::OffsetDateTime;
use tracing::info;

use super::threats::overlap_start;
use super::{Budget, EngineError, Phase, RunContext, RunFailure, Stop, SyncEngine, LEASE_TTL};
use crate::scope::threat_scope;
use crate::tally::FindingTally;

impl SyncEngine {
    /// Runs the phases from the checkpoint's phase on.
    pub(super) async fn drive(
        &self,
        ctx: &mut RunContext,
        client: &S1Client,
        state: &connector_store::SyncState,
    ) -> Result<(), Stop> {
        let Some(mut phase) = Phase::parse(&ctx.checkpoint.phase) else {
            return Err(Stop::Failed(RunFailure(format!(
                "the run's checkpoint names an unknown phase {:?}; the run was stopped and the next sync starts over",
                ctx.checkpoint.phase
            ))));
        };
        let budget = ctx.budget;
        if phase == Phase::Groups {
            let groups = client.resolve_groups(&ctx.group_filter).await?;
            ctx.checkpoint.group_ids = groups
                .iter()
                .map(|g| g.id.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, groups = ctx.checkpoint.group_ids.len(), "groups resolved");
            phase = self.enter_phase(ctx, Phase::Agents).await?;
        }
        if phase == Phase::Agents {
            let query = AgentQuery {
                group_ids: ctx.checkpoint.group_ids.clone(),
                resume_cursor: ctx.checkpoint.cursor.clone(),
                ..AgentQuery::default()
            };
            Box::pin(self.walk(ctx, client.agents(query), budget)).await?;
            // Once the console has served the agent walk with the token in the header: the token-details call
            // carries the token in its body, which must only go to a console that has accepted it.
            self.watch_token_expiry(ctx, client).await?;
            // Fixed once per run, so a resumed threat walk re-sends the same filter with its cursor. The watermark
            // counts only in the scope it was earned in; otherwise every threat is walked again.
            let scope = threat_scope(
                &ctx.settings.console_base_url,
                &ctx.checkpoint.group_ids,
                ctx.settings.auto_onboard,
            );
            let same_scope = state.watermark_scope.as_deref() == Some(scope.as_str());
            if !same_scope {
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, "threat scope changed (or first sync): walking every threat");
            }
            // A complete walk of all threats is due on a set period: only it may close findings.
            let full_walk = state.full_threat_walk_due(OffsetDateTime::now_utc());
            if full_walk && same_scope {
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, "complete threat walk due: walking every threat");
            }
            ctx.checkpoint.threats_since = state
                .watermark
                .filter(|_| same_scope && !full_walk)
                .map(overlap_start);
            ctx.checkpoint.scope = Some(scope);
            phase = self.enter_phase(ctx, Phase::Threats).await?;
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
        }
        if phase == Phase::Threats {
            let seen = self
                .store
                .load_seen_threats(&ctx.tenant, &ctx.run.id, ctx.checkpoint.page_no)
                .await?;
            ctx.findings = Some(FindingTally::from_seen(seen));
            let since = ctx.checkpoint.threats_since.as_deref().and_then(|s| {
                OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            });
            let query = ThreatQuery {
                group_ids: ctx.checkpoint.group_ids.clone(),
                updated_after: since,
                resume_cursor: ctx.checkpoint.cursor.clone(),
                ..ThreatQuery::default()
            };
            Box::pin(self.walk(ctx, client.threats(query), budget)).await?;
            phase = self.enter_phase(ctx, Phase::Attach).await?;
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
        }
        if phase == Phase::Attach {
            self.within_hard_stop(budget, self.attach_findings(ctx))
                .await?;
            phase = self.enter_phase(ctx, Phase::Finalize).await?;
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
        }
        if phase == Phase::Finalize {
            self.within_hard_stop(budget, self.retire(ctx)).await?;
            self.within_hard_stop(budget, Box::pin(self.close_absent_findings(ctx)))
                .await?;
            // Entered only when there is something to re-evaluate, so a run without a list change costs nothing
            // more than before.
            if !ctx.dry_run() && self.reevaluation_due(ctx) {
                phase = self.enter_phase(ctx, Phase::Reevaluate).await?;
                if budget.exhausted() {
                    return Err(Stop::OutOfTime);
                }
            }
        }
        if phase == Phase::Reevaluate {
            self.reevaluate(ctx).await?;
        }
        Ok(())
    }

    pub(super) async fn enter_phase(
        &self,
        ctx: &mut RunContext,
        next: Phase,
    ) -> Result<Phase, Stop> {
        ctx.checkpoint.phase = next.as_str().to_string();
        ctx.checkpoint.cursor = None;
        ctx.run.phase = Some(next.as_str().to_string());
        self.save_progress(ctx).await?;
        Ok(next)
    }

    /// Heartbeat + checkpoint (one conditional write), then the run's progress for watchers.
    pub(super) async fn save_progress(&self, ctx: &mut RunContext) -> Result<(), Stop> {
        ctx.checkpoint.counters = ctx.run.counters;
        match self
            .store
            .heartbeat(&ctx.tenant, &ctx.lease, LEASE_TTL, Some(&ctx.checkpoint))
            .await
        {
            Ok(lease) => ctx.lease = lease,
            Err(StoreError::LeaseLost) => return Err(Stop::Infra(EngineError::LeaseLost)),
            Err(e) => return Err(e.into()),
        }
        self.store.update_run(&ctx.run).await?;
        Ok(())
    }

    /// Walks one paged endpoint with one page fetched ahead: page N+1 is requested while page N is written, so
    /// the walk costs max(fetch, write) per page rather than their sum, and at most two pages are in memory. A
    /// page's writes and the next fetch end by the budget's hard stop; past it the page is not checkpointed and
    /// the continuation applies it again (writes are idempotent).
    pub(super) async fn walk<T, S>(
        &self,
        ctx: &mut RunContext,
        pages: S,
        budget: Budget,
    ) -> Result<(), Stop>
    where
        S: Stream<Item = Result<Page<T>, S1Error>>,
        Self: ApplyPage<T>,
    {
        let mut pages = pin!(pages);
        let mut next = self
            .within_hard_stop(budget, async { Ok(pages.next().await) })
            .await?;
        while let Some(fetched) = next {
            let page = fetched?;
            let cursor = page.next_cursor.clone();
            let following = self
                .within_hard_stop(budget, async {
                    let (applied, following) = tokio::join!(self.apply(ctx, page), pages.next());
                    applied.map(|()| following)
                })
                .await?;
            ctx.checkpoint.cursor = cursor.clone();
            ctx.checkpoint.page_no += 1;
            ctx.run.pages += 1;
            self.save_progress(ctx).await?;
            if cursor.is_none() {
                break;
            }
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
            next = following;
        }
        Ok(())
    }

    /// Runs `work` until the budget's hard stop; past it, the invocation stops without a new checkpoint (what
    /// `work` wrote is idempotent and is redone by the continuation).
    pub(super) async fn within_hard_stop<T>(
        &self,
        budget: Budget,
        work: impl std::future::Future<Output = Result<T, Stop>>,
    ) -> Result<T, Stop> {
        match budget.hard_stop() {
            Some(at) => tokio::time::timeout_at(at, work)
                .await
                .unwrap_or(Err(Stop::OutOfTime)),
            None => work.await,
        }
    }
}

/// Maps one page of records and writes what changed.
pub(super) trait ApplyPage<T> {
    async fn apply(&self, ctx: &mut RunContext, page: Page<T>) -> Result<(), Stop>;
}
