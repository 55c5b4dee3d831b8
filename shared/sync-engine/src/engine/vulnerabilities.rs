//! The vulnerability walk (`application-management/risks`), after agents and threats: one walk per resolved group
//! (the endpoint takes one group id per call), or one unscoped walk without a group filter; each page applied and
//! checkpointed like the other walks (group index + cursor), so memory holds a page and a resumed run continues.
//!
//! A delta walk (`riskUpdatedDate__gte` the watermark less [`VULNERABILITY_OVERLAP`], with removals) runs while the
//! watermark belongs to the same scope and the complete walk's period has not passed; otherwise the walk is
//! complete, and only a complete walk that can be trusted (`s1_core::retirement::may_close`) fixes the stored
//! vulnerabilities it did not return. A complete walk that began on a tenant holding no vulnerability (told under
//! the lease before it wrote anything, and kept in the checkpoint) records no seen markers and plans no fixing:
//! everything stored since came from rows it returned. A tenant whose token lacks the permission (403), whose
//! console lacks the feature (404), or who turned the import off gets its threats and assets as before: the run
//! records the walk as skipped with the reason, and is not failed for it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_store::{AgentWalkTally, AssetDirectory, PlacedVulnerability, SyncState};
use futures::future::BoxFuture;
use futures::StreamExt;
use s1_core::records::Risk;
use s1_core::retirement::{may_close, CloseWithheld, ThreatWalkSummary};
use s1_core::vulnerability::{at_least, map_risk};
use sentinelone_client::{Page, RiskQuery, S1Client, S1Error};
use time::OffsetDateTime;
use tracing::{info, warn};

use super::walk::{lease_write_deadline, ApplyPage};
use super::{Budget, EngineError, Phase, RunContext, Stop, SyncEngine};
use crate::scope::vulnerability_scope;

/// A delta walk asks for rows changed since the last walk's start less this overlap, so a row changed while that
/// walk ran (or stamped by a console clock a little behind ours) is not missed; upserts by id make it harmless.
pub const VULNERABILITY_OVERLAP: Duration = Duration::from_secs(60 * 60);

const SKIPPED_TURNED_OFF: &str = "vulnerability import is turned off in the configuration";

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn parse_rfc3339(s: Option<&str>) -> Option<OffsetDateTime> {
    s.and_then(|s| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
}

/// Why a risks answer means "this tenant has no vulnerabilities to import" rather than a failed run.
fn skip_reason(e: &S1Error) -> Option<String> {
    match e {
        S1Error::Forbidden { .. } => Some(format!(
            "vulnerabilities skipped: the API token lacks the Applications Page.viewRisks permission ({e})"
        )),
        S1Error::NotFound { .. } => Some(
            "vulnerabilities skipped: the console does not serve application risks (404: the Application Risk \
             feature is not enabled for this account)"
                .to_string(),
        ),
        _ => None,
    }
}

/// Why a complete walk fixes no vulnerability, in the walk's own terms (rows and vulnerabilities, not threats
/// and findings: the guard is the threats' one, its reasons are not).
fn fixing_withheld(withheld: &CloseWithheld) -> String {
    match withheld {
        CloseWithheld::Incremental => {
            "no vulnerability was fixed: this walk asked only for the rows changed since the last walk".to_string()
        }
        CloseWithheld::UnusableThreats { unusable } => format!(
            "no vulnerability was fixed: {unusable} row(s) SentinelOne returned had no id, so they cannot be told \
             apart from removed ones"
        ),
        CloseWithheld::EmptyWalk { live } => format!(
            "no vulnerability was fixed: SentinelOne returned no vulnerability row while {live} vulnerabilities \
             are open"
        ),
        CloseWithheld::ShortWalk { walked, expected } => format!(
            "no vulnerability was fixed: SentinelOne said it has {expected} vulnerability row(s) but the walk \
             returned {walked}"
        ),
        CloseWithheld::TooLargeShare {
            absent,
            live,
            max_percent,
        } => format!(
            "no vulnerability was fixed: this walk would fix {absent} of {live} open vulnerabilities, more than \
             the {max_percent}% one run may fix; if they are really gone, raise SYNC_MAX_RETIRE_PERCENT for one run"
        ),
    }
}

impl SyncEngine {
    /// Enters the phase with the walk's kind and scope fixed. Returned boxed (as is [`Self::vulnerabilities_phase`]):
    /// the futures are built here, not as temporaries of the phase driver's own frame, which a thread polling the
    /// run on a small stack (a test thread, in a debug build) would otherwise pay for in every phase.
    pub(super) fn enter_vulnerabilities<'a>(
        &'a self,
        ctx: &'a mut RunContext,
        state: &'a SyncState,
    ) -> BoxFuture<'a, Result<Phase, Stop>> {
        Box::pin(async move {
            self.start_vulnerability_walk(ctx, state).await?;
            if ctx.import_vulnerabilities {
                return self.enter_phase(ctx, Phase::Vulnerabilities).await;
            }
            // Turned off: the phase writes nothing and the attach phase's entry, next, saves the checkpoint. A
            // crash before it resumes from the threat walk's last save and comes here again.
            Ok(Self::begin_phase(ctx, Phase::Vulnerabilities))
        })
    }

    /// The whole phase, then the next one entered.
    pub(super) fn vulnerabilities_phase<'a>(
        &'a self,
        ctx: &'a mut RunContext,
        client: &'a S1Client,
        budget: Budget,
    ) -> BoxFuture<'a, Result<Phase, Stop>> {
        Box::pin(async move {
            self.walk_vulnerabilities(ctx, client, budget).await?;
            self.enter_phase(ctx, Phase::Attach).await
        })
    }

    /// Fixes the walk's kind for this run (delta or complete) and its scope, at the phase's start, and whether the
    /// tenant holds any vulnerability then.
    async fn start_vulnerability_walk(
        &self,
        ctx: &mut RunContext,
        state: &SyncState,
    ) -> Result<(), Stop> {
        let now = OffsetDateTime::now_utc();
        let scope = vulnerability_scope(
            &ctx.settings.console_base_url,
            &ctx.checkpoint.group_ids,
            ctx.minimum_vulnerability_severity.as_str(),
        );
        let complete = state.full_vulnerability_walk_due(now, &scope);
        let since = state
            .vulnerability_watermark
            .filter(|_| !complete)
            .map(|w| rfc3339(w - VULNERABILITY_OVERLAP));
        if complete {
            info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, "complete vulnerability walk (period passed, new scope or first walk)");
        }
        // Told under the lease before this run's walk writes anything: only a run's vulnerability walk writes a
        // vulnerability, and this phase starts once per run. A tenant whose record layout this invocation created
        // held none (see `ensure_record_layout_noting_records`); any other is asked. Only a complete walk fixes by
        // absence, and a dry run (which writes nothing) plans as usual.
        let began_without_vulnerabilities = complete
            && ctx.import_vulnerabilities
            && !ctx.dry_run()
            && (ctx.fresh_findings
                || !Box::pin(self.store.has_vulnerabilities(&ctx.tenant, ctx.layout)).await?);
        if began_without_vulnerabilities {
            info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, "the tenant holds no vulnerability: the walk plans no fixing by absence");
        }
        ctx.applied_vulnerabilities =
            began_without_vulnerabilities.then(super::fresh::AppliedVulnerabilities::default);
        let walk = &mut ctx.checkpoint.vulnerabilities;
        *walk = connector_store::VulnerabilityWalk {
            since,
            started_at: Some(rfc3339(now)),
            scope: Some(scope),
            began_without_vulnerabilities,
            ..Default::default()
        };
        Ok(())
    }

    /// The phase: every group's walk from the checkpoint's group and cursor, then fixing by absence after a
    /// complete one.
    async fn walk_vulnerabilities(
        &self,
        ctx: &mut RunContext,
        client: &S1Client,
        budget: Budget,
    ) -> Result<(), Stop> {
        if !ctx.import_vulnerabilities {
            ctx.run.vulnerabilities.skipped_reason = Some(SKIPPED_TURNED_OFF.to_string());
            return Ok(());
        }
        let groups: Vec<Option<String>> = if ctx.checkpoint.group_ids.is_empty() {
            vec![None]
        } else {
            ctx.checkpoint.group_ids.iter().cloned().map(Some).collect()
        };
        let since = parse_rfc3339(ctx.checkpoint.vulnerabilities.since.as_deref());
        while let Some(group) = usize::try_from(ctx.checkpoint.vulnerabilities.group_index)
            .ok()
            .and_then(|i| groups.get(i))
        {
            let query = RiskQuery {
                group_id: group.clone(),
                changed_since: since,
                include_removals: since.is_some(),
                resume_cursor: ctx.checkpoint.cursor.clone(),
            };
            // A 403 or 404 ends the stream quietly and is remembered: the run goes on without vulnerabilities.
            let refused: Arc<Mutex<Option<String>>> = Arc::default();
            let pages = {
                let refused = refused.clone();
                client.risks(query).take_while(move |page| {
                    let reason = page.as_ref().err().and_then(skip_reason);
                    let keep = reason.is_none();
                    if let (Some(r), Ok(mut slot)) = (reason, refused.lock()) {
                        *slot = Some(r);
                    }
                    futures::future::ready(keep)
                })
            };
            // The last page's checkpoint is saved with the group's end below (or, refused, the next phase's entry).
            Box::pin(self.walk(ctx, pages, budget)).await?;
            let reason = refused.lock().ok().and_then(|mut r| r.take());
            if let Some(reason) = reason {
                warn!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, reason = %reason, "vulnerability walk skipped");
                ctx.run.record_warning(reason.clone());
                ctx.run.vulnerabilities.skipped_reason = Some(reason);
                return Ok(());
            }
            let walk = &mut ctx.checkpoint.vulnerabilities;
            walk.done = AgentWalkTally {
                walked: walk.done.walked + walk.current.walked,
                unusable: walk.done.unusable + walk.current.unusable,
                expected: match (walk.groups_done, walk.done.expected, walk.current.expected) {
                    (0, _, e) => e,
                    (_, Some(a), Some(b)) => Some(a + b),
                    _ => None,
                },
            };
            walk.current = AgentWalkTally::default();
            walk.groups_done += 1;
            walk.group_index += 1;
            ctx.checkpoint.cursor = None;
            Box::pin(self.save_progress(ctx)).await?;
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
        }
        self.within_hard_stop(budget, Box::pin(self.fix_absent_vulnerabilities(ctx)))
            .await?;
        if ctx.dry_run() {
            return Ok(());
        }
        let walk = &ctx.checkpoint.vulnerabilities;
        let (Some(started), Some(scope)) = (
            parse_rfc3339(walk.started_at.as_deref()),
            walk.scope.clone(),
        ) else {
            return Ok(());
        };
        let complete = walk.since.is_none();
        match Box::pin(self.store.record_vulnerability_walk(
            &ctx.tenant,
            &ctx.lease,
            started,
            &scope,
            complete,
        ))
        .await
        {
            Ok(()) => Ok(()),
            Err(connector_store::StoreError::LeaseLost) => Err(Stop::Infra(EngineError::LeaseLost)),
            Err(e) => Err(e.into()),
        }
    }

    /// The tenant's asset directory, read once per invocation (with a dry run's assets, which exist only in its
    /// report).
    async fn load_asset_directory(&self, ctx: &mut RunContext) -> Result<(), Stop> {
        if ctx.asset_directory.is_some() {
            return Ok(());
        }
        let mut dir = Box::pin(self.store.asset_directory(&ctx.tenant)).await?;
        if ctx.dry_run() {
            for key in Box::pin(self.store.seen_asset_keys(&ctx.tenant, &ctx.run.id)).await? {
                dir.insert(&key, []);
            }
        }
        ctx.asset_directory = Some(dir);
        Ok(())
    }

    /// After a complete walk of every group: the present vulnerabilities it did not return are fixed, when the
    /// walk can be trusted. A delta walk fixes nothing by absence.
    async fn fix_absent_vulnerabilities(&self, ctx: &mut RunContext) -> Result<(), Stop> {
        let walk = ctx.checkpoint.vulnerabilities.clone();
        if walk.since.is_some() {
            return Ok(());
        }
        // Every vulnerability stored was written by this walk from a row it returned: none is absent, and
        // `may_close` allows an empty plan whatever the walk, so the plan would fix nothing and warn of nothing.
        if walk.began_without_vulnerabilities {
            return Ok(());
        }
        // One record shard at a time: only the seen markers that can hold the shard's ids are in memory (a
        // sixteenth of the walk's fingerprints on a spread tenant), sized once from the walk's row count.
        let rows_returned = usize::try_from(walk.done.walked).unwrap_or_default();
        let plan = Box::pin(self.store.plan_fixing_absent_vulnerabilities(
            &ctx.tenant,
            ctx.layout,
            &ctx.run.id,
            rows_returned,
        ))
        .await?;
        let summary = ThreatWalkSummary {
            complete: walk.since.is_none(),
            walked: walk.done.walked,
            unusable: walk.done.unusable,
            expected: walk.done.expected,
            live: plan.live,
            absent: plan.absent.len() as u64,
        };
        match may_close(&summary, self.max_retire_percent) {
            Ok(()) if ctx.dry_run() => {
                ctx.run.vulnerabilities.fixed += summary.absent;
            }
            Ok(()) => {
                // The plan's reads may have taken a while: the fixing writes start after a fresh heartbeat and end
                // a margin before the lease it bought expires, like a page's writes.
                Box::pin(self.save_progress(ctx)).await?;
                let writes_end = lease_write_deadline(
                    ctx.lease.expires_at_ms,
                    std::time::SystemTime::now(),
                    tokio::time::Instant::now(),
                );
                let fixed = tokio::time::timeout_at(
                    writes_end,
                    Box::pin(
                        self.store
                            .fix_vulnerabilities(&ctx.tenant, ctx.layout, plan.absent),
                    ),
                )
                .await
                .map_err(|_| Stop::Infra(EngineError::LeaseWindowClosed))??;
                ctx.run.vulnerabilities.fixed += fixed;
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, fixed, "vulnerabilities absent from a complete walk fixed");
            }
            Err(CloseWithheld::Incremental) => {}
            Err(withheld) => {
                ctx.run.vulnerabilities.fix_withheld = summary.absent;
                let reason = fixing_withheld(&withheld);
                warn!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, absent = summary.absent, live = summary.live,
                      walked = summary.walked, expected = ?summary.expected, reason = %reason, "fixing withheld");
                ctx.run.record_warning(reason);
            }
        }
        Ok(())
    }
}

impl ApplyPage<Risk> for SyncEngine {
    async fn apply(&self, ctx: &mut RunContext, page: Page<Risk>) -> Result<(), Stop> {
        let returned = page.records.len() as u64 + page.skipped.len() as u64;
        ctx.run.counters.items_fetched += returned;
        ctx.run.vulnerabilities.fetched += returned;
        ctx.run.vulnerabilities.skipped += page.skipped.len() as u64;
        self.record_data_skips(ctx, &page.skipped);
        let walk = &mut ctx.checkpoint.vulnerabilities;
        if page.restarted || page.cursor.is_none() {
            walk.current = AgentWalkTally {
                expected: page.total_items,
                ..Default::default()
            };
        }
        walk.current.walked += returned;
        walk.current.unusable += page.skipped.len() as u64;
        let complete = walk.since.is_none();
        let began_without_vulnerabilities = walk.began_without_vulnerabilities;

        // Read when a page first has rows to place: a delta walk that returns none (an unchanged re-sync) reads no
        // asset.
        if !page.records.is_empty() {
            self.load_asset_directory(ctx).await?;
        }
        let minimum = ctx.minimum_vulnerability_severity;
        let directory = ctx
            .asset_directory
            .get_or_insert_with(AssetDirectory::default);
        let mut placed = Vec::with_capacity(page.records.len());
        let mut below = 0u64;
        for risk in &page.records {
            let v = map_risk(risk, &ctx.settings.console_base_url);
            if !at_least(v.severity, minimum) {
                below += 1;
                continue;
            }
            placed.push(PlacedVulnerability {
                asset_key: directory.place(&v),
                vulnerability: v,
            });
        }
        ctx.run.vulnerabilities.skipped += below;
        // Boxed, like the other store calls here: the walk's future stays small on the polling thread's stack.
        let counts = if ctx.dry_run() {
            Box::pin(
                self.store
                    .preview_vulnerabilities(&ctx.tenant, ctx.layout, &placed),
            )
            .await?
        } else if let Some(applied) = ctx.applied_vulnerabilities.as_mut() {
            // Which rows this invocation's walk may have applied before, told before the page is noted (a row
            // repeated within the page is counted once by the store); noted before the writes, so the filter holds
            // whatever a failed write may have left behind.
            let maybe_stored: std::collections::HashSet<&str> = placed
                .iter()
                .map(|p| p.vulnerability.id.as_str())
                .filter(|id| applied.may_hold(id))
                .collect();
            // Sized from the first group's rows, as if every group held as many.
            let groups = ctx.checkpoint.group_ids.len().max(1) as u64;
            let expected = (ctx.checkpoint.vulnerabilities.current.expected)
                .map(|rows| rows.saturating_mul(groups));
            applied.note(placed.iter().map(|p| p.vulnerability.id.as_str()), expected);
            Box::pin(self.store.apply_vulnerabilities_maybe_stored(
                &ctx.tenant,
                ctx.layout,
                &placed,
                |id| maybe_stored.contains(id),
            ))
            .await?
        } else {
            Box::pin(
                self.store
                    .apply_vulnerabilities(&ctx.tenant, ctx.layout, &placed),
            )
            .await?
        };
        let tally = &mut ctx.run.vulnerabilities;
        tally.created += counts.created;
        tally.updated += counts.updated;
        tally.unchanged += counts.unchanged;
        tally.fixed += counts.fixed;
        tally.reopened += counts.reopened;
        // Only a complete walk fixes by absence, so only its pages need to say what they returned (every row with
        // an id, imported or below the minimum: a row SentinelOne still reports is not fixed); a walk that began
        // without vulnerabilities plans no fixing, in this invocation or the ones that continue it.
        if complete && !began_without_vulnerabilities {
            let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
            Box::pin(self.store.record_seen_vulnerabilities(
                &ctx.tenant,
                &ctx.run.id,
                ctx.checkpoint.page_no,
                &ids,
            ))
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use s1_core::retirement::CloseWithheld;

    use super::fixing_withheld;

    /// Every reason is told in the walk's terms, with its figures: no threat, no finding, nothing closed.
    #[test]
    fn a_withheld_fixing_names_vulnerabilities_not_threats() {
        let cases = [
            (CloseWithheld::Incremental, vec![]),
            (
                CloseWithheld::UnusableThreats { unusable: 3 },
                vec!["3 row(s)"],
            ),
            (
                CloseWithheld::EmptyWalk { live: 12 },
                vec!["12 vulnerabilities"],
            ),
            (
                CloseWithheld::ShortWalk {
                    walked: 5,
                    expected: 9,
                },
                vec!["9 vulnerability row(s)", "returned 5"],
            ),
            (
                CloseWithheld::TooLargeShare {
                    absent: 40,
                    live: 100,
                    max_percent: 20,
                },
                vec!["40 of 100", "20%"],
            ),
        ];
        for (withheld, figures) in cases {
            let message = fixing_withheld(&withheld);
            assert!(
                message.starts_with("no vulnerability was fixed: "),
                "{message}"
            );
            for word in ["threat", "finding", "close"] {
                assert!(!message.contains(word), "{message} says {word}");
            }
            for figure in figures {
                assert!(message.contains(figure), "{message} lacks {figure}");
            }
        }
    }
}
