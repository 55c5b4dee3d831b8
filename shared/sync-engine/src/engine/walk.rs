//! The phase driver and the paged walk: the phases run in order from the checkpoint's phase, each page is applied
//! and checkpointed (with the lease's heartbeat), and the budget is checked between pages.

use std::collections::BTreeSet;
use std::pin::pin;
use std::time::Duration;

use connector_store::StoreError;
use futures::{Stream, StreamExt};
use sentinelone_client::{AgentQuery, Page, S1Client, S1Error, ThreatQuery};
use time::OffsetDateTime;
use tokio::time::Instant;
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
            // Not saved here: the agent walk's first page (or, without one, the threat phase's entry) saves it with
            // its own checkpoint. Nothing is written in between, and a crash before that save resolves the groups
            // again (they are only read); the lease was taken by this invocation moments ago.
            phase = Self::begin_phase(ctx, Phase::Agents);
        }
        if phase == Phase::Agents {
            // A walk from its first page on a tenant without assets (a first sync) reads no asset it did not
            // write itself. A continuation, a resumed page or a dry run (which writes nothing) reads as usual, and
            // so does a tenant whose threat walk completed before (it has synced: the check would find assets).
            if ctx.checkpoint.page_no == 0
                && ctx.checkpoint.cursor.is_none()
                && !ctx.dry_run()
                && state.watermark.is_none()
                && !self.store.has_assets(&ctx.tenant).await?
            {
                ctx.fresh_assets = Some(super::fresh::FreshAssets::default());
            }
            let query = AgentQuery {
                group_ids: ctx.checkpoint.group_ids.clone(),
                resume_cursor: ctx.checkpoint.cursor.clone(),
                ..AgentQuery::default()
            };
            Box::pin(self.walk(ctx, client.agents(query), budget)).await?;
            // Once the console has served the agent walk with the token in the header: the token-details call
            // carries the token in its body, which must only go to a console that has accepted it.
            self.watch_token_expiry(ctx, client, state.token_expires_at.as_deref())
                .await?;
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
            phase = self.enter_vulnerabilities(ctx, state).await?;
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
        }
        if phase == Phase::Vulnerabilities {
            phase = self.vulnerabilities_phase(ctx, client, budget).await?;
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
        Self::begin_phase(ctx, next);
        self.save_progress(ctx).await?;
        Ok(next)
    }

    /// The checkpoint moved to the start of `next` without saving it: for a caller whose next step saves it
    /// before anything is written (see each caller for why a crash before that save loses nothing).
    pub(super) fn begin_phase(ctx: &mut RunContext, next: Phase) -> Phase {
        info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, phase = next.as_str(), "phase started");
        ctx.checkpoint.phase = next.as_str().to_string();
        ctx.checkpoint.cursor = None;
        ctx.run.phase = Some(next.as_str().to_string());
        next
    }

    /// Heartbeat + checkpoint (one conditional write), then the run's record when it is due (see `progress`).
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
        if ctx.run_written.due(&ctx.run, Instant::now()) {
            self.store.update_run(&ctx.run).await?;
            *ctx.run_written = super::progress::Written::now(&ctx.run);
        }
        Ok(())
    }

    /// Walks one paged endpoint as a two-stage pipeline: page N+1 is fetched while page N is written *and
    /// checkpointed*, so the checkpoint is off the critical path and a page costs max(fetch, write + checkpoint)
    /// rather than their sum. At most two pages are in memory (the one written, the one fetched).
    ///
    /// What keeps it safe:
    /// - the fetch only reads, so running it beside the writes changes nothing a crash could leave behind;
    /// - page N's checkpoint (its cursor, page number, counters and seen markers' page) is saved only after page
    ///   N's writes ended: a crash before it re-applies page N (writes are idempotent), never skips it;
    /// - page N+1's writes start only after page N's heartbeat confirmed the lease, and end before the lease that
    ///   heartbeat bought runs out (less [`LEASE_WRITE_MARGIN`]): see [`lease_write_deadline`]. A heartbeat that
    ///   fails (lease lost) drops the fetch in flight and returns before any write of the next page;
    /// - the budget is checked between pages, after the checkpoint, as before: stopping leaves page N
    ///   checkpointed and the prefetched page N+1 (only read) is fetched again by the continuation.
    ///
    /// Overlapping page N's checkpoint with page N+1's writes too would save one more store round trip per page,
    /// but then a lost lease would only be noticed after the next page's writes had begun; this shape keeps the
    /// rule "no write without a confirmed lease" without any reasoning about in-flight writes.
    ///
    /// The last page's checkpoint is left to the caller, which saves it with its next save (the next phase's entry,
    /// the next group's) before it writes anything else under the lease. Until then the stored checkpoint is the
    /// page before's: a crash or a stop in between applies the last page again (its writes are idempotent, its
    /// seen markers keyed by its page number), as a crash during its writes would. One heartbeat less per walk.
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
            let last = page.next_cursor.is_none();
            let prefetch = async {
                // The fetch's own failure (or its hard stop) waits until page N is checkpointed: it is the next
                // page's problem, and page N's progress is kept.
                Ok::<_, Stop>(
                    self.within_hard_stop(budget, async { Ok(pages.next().await) })
                        .await,
                )
            };
            // `try_join`: a failed write or heartbeat drops the fetch in flight at once.
            let ((), following) = futures::future::try_join(
                self.write_and_checkpoint(ctx, page, budget, !last),
                prefetch,
            )
            .await?;
            if last {
                break;
            }
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
            next = following?;
        }
        Ok(())
    }

    /// Applies one page within the budget's hard stop and the lease's write window, then saves its checkpoint
    /// with the heartbeat (unless `save` is false: the caller saves it). Past the hard stop the page is not
    /// checkpointed and the continuation applies it again.
    async fn write_and_checkpoint<T>(
        &self,
        ctx: &mut RunContext,
        page: Page<T>,
        budget: Budget,
        save: bool,
    ) -> Result<(), Stop>
    where
        Self: ApplyPage<T>,
    {
        let cursor = page.next_cursor.clone();
        let writes_end = lease_write_deadline(
            ctx.lease.expires_at_ms,
            std::time::SystemTime::now(),
            Instant::now(),
        );
        if Instant::now() >= writes_end {
            return Err(Stop::Infra(EngineError::LeaseWindowClosed));
        }
        match tokio::time::timeout_at(
            writes_end,
            self.within_hard_stop(budget, self.apply(ctx, page)),
        )
        .await
        {
            Ok(applied) => applied?,
            Err(_) => return Err(Stop::Infra(EngineError::LeaseWindowClosed)),
        }
        ctx.checkpoint.cursor = cursor;
        ctx.checkpoint.page_no += 1;
        ctx.run.pages += 1;
        match save {
            true => self.save_progress(ctx).await,
            false => Ok(()),
        }
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

/// How long before the lease's expiry a page's writes must have ended. The lease's expiry is stamped from the
/// worker's clock before the heartbeat is sent, so it is never later than the expiry the store holds; another
/// worker can take the lease only once its own clock passes that expiry. The margin covers the clocks of two
/// Lambda hosts disagreeing (NTP keeps them within milliseconds) and a write sent just before the cut that the
/// store applies a little later (a request that is dropped is not retried). A page whose writes need longer than
/// `LEASE_TTL - LEASE_WRITE_MARGIN` ends the invocation without a checkpoint; the redelivered message re-applies
/// it (writes are idempotent).
pub(super) const LEASE_WRITE_MARGIN: Duration = Duration::from_secs(20);

/// The instant by which a page's writes must have ended so that the lease expiring at `expires_at_ms` (ms since
/// the epoch) covers them with [`LEASE_WRITE_MARGIN`]; `now` and `now_instant` are the same moment on the wall
/// clock and on the monotonic clock the timeout runs on. Already past when the lease has less than the margin left.
pub(super) fn lease_write_deadline(
    expires_at_ms: i64,
    now: std::time::SystemTime,
    now_instant: Instant,
) -> Instant {
    let now_ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let left_ms = u64::try_from(expires_at_ms.saturating_sub(now_ms)).unwrap_or(0);
    now_instant + Duration::from_millis(left_ms).saturating_sub(LEASE_WRITE_MARGIN)
}

/// Maps one page of records and writes what changed.
pub(super) trait ApplyPage<T> {
    async fn apply(&self, ctx: &mut RunContext, page: Page<T>) -> Result<(), Stop>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_must_end_a_margin_before_the_lease_expires() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = Instant::now();
        let expires_at_ms = 1_000_000_000 + 120_000;
        assert_eq!(
            lease_write_deadline(expires_at_ms, now, at),
            at + Duration::from_secs(100)
        );
    }

    #[test]
    fn a_lease_with_less_than_the_margin_left_leaves_no_time_to_write() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = Instant::now();
        // 10 s left (under the margin), and a lease that has already expired.
        assert_eq!(lease_write_deadline(1_000_000_000 + 10_000, now, at), at);
        assert_eq!(lease_write_deadline(1_000_000_000 - 5_000, now, at), at);
    }
}
