//! One tenant's sync: resolve groups → agents (full walk) → threats (incremental) → attach → finalize →
//! reevaluate (only after a verdict-list change).
//!
//! The run is resumable: after every page the checkpoint (phase, cursor, counters) is saved in the same conditional
//! write that extends the tenant's lease, so an invocation that stops — on purpose before the Lambda deadline, or
//! by crashing — is continued by the next one from the last applied page. Writes are idempotent (upserts keyed by
//! asset identity and threat id), so re-applying a page after a crash changes nothing.
//!
//! Data safety rules kept here:
//! - assets are retired (marked inactive, never deleted) only in `finalize`, after a complete, successful agent
//!   walk that can be trusted (`s1_core::retirement`): no unusable agents, not empty, not short of the console's
//!   count, and never more than a set share of the active assets;
//! - the threats watermark advances only after a complete threat walk, and belongs to a scope
//!   ([`crate::scope`]): a run in another scope walks threats from the start;
//! - no threat is dropped: one whose asset does not exist is stored unattached, and `attach` re-examines the
//!   unattached findings every run;
//! - every wait (SentinelOne retries, writes) ends by the invocation's hard stop, so a slow console ends in a
//!   continuation rather than in Lambda killing the worker;
//! - a finding's status is always derived from the verdict SentinelOne sent in this page, never from a partial
//!   pass, so no finding is flipped by an interrupted run;
//! - one run maps every threat with one verdict list, pinned in its checkpoint at its start. The configuration's
//!   `verdicts_version` counts list changes and the sync state records the version every stored finding follows
//!   (`verdicts_applied_version`, missing = 0: a tenant's first list, under which all its findings were written).
//!   While the configuration's version is above it (or the run pinned an older list than the current one), the
//!   `reevaluate` phase walks the stored findings one query page at a time under the current list, checkpointing
//!   the last sort key after each page, and the completing write records the version it applied.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::pin;
use std::time::Duration;

use connector_store::{
    AgentWalkTally, Checkpoint, Lease, PinnedVerdicts, RunStatus, Store, StoreError, SyncRun,
    TenantConfig, TenantId, UnattachedCursor, Vault,
};
use futures::{Stream, StreamExt};
use s1_core::custom_fields::{apply_tags_to_custom_fields, CustomFieldDefinition};
use s1_core::groups::GroupFilter;
use s1_core::mapping::{
    asset_from_threat, assets_from_agents, findings_from_threats, merge_agent_into,
};
use s1_core::merge::{decide_asset, decide_finding};
use s1_core::records::{Agent, Threat};
use s1_core::retirement::{may_retire, WalkSummary};
use s1_core::{
    Asset, AssetDecision, Finding, MappingSettings, SkipReason, SkippedRecord, VerdictInclusionList,
};
use sentinelone_client::{
    AgentQuery, ClientOptions, ConsoleUrl, Page, S1Client, S1Error, ThreatQuery, UrlPolicy,
};
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::message::SyncMessage;
use crate::scope::threat_scope;
use crate::tally::FindingTally;

/// Threats are fetched from `watermark − THREAT_OVERLAP` so that a threat updated while the previous walk ran
/// (and clock skew between SentinelOne and us) is never missed; upserts by id make the overlap harmless.
pub const THREAT_OVERLAP: Duration = Duration::from_secs(5 * 60);

/// How long a lease lasts without a heartbeat; heartbeats come after every page (seconds apart), so a crashed
/// worker's lease is free again within this time.
pub const LEASE_TTL: Duration = Duration::from_secs(120);

/// The phases of a run, in order. Stored in the checkpoint by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Groups,
    Agents,
    Threats,
    /// Re-examines the unattached findings: those whose asset exists now are attached.
    Attach,
    Finalize,
    /// Only when the verdict list changed: re-derives stored findings' statuses under the current list.
    Reevaluate,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Groups => "groups",
            Phase::Agents => "agents",
            Phase::Threats => "threats",
            Phase::Attach => "attach",
            Phase::Finalize => "finalize",
            Phase::Reevaluate => "reevaluate",
        }
    }

    /// `None` for a name this version does not know: a checkpoint it cannot continue.
    pub fn parse(name: &str) -> Option<Phase> {
        [
            Phase::Groups,
            Phase::Agents,
            Phase::Threats,
            Phase::Attach,
            Phase::Finalize,
            Phase::Reevaluate,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }
}

/// When the invocation must stop taking new pages (`stop_at`: the Lambda deadline minus the safety margin), and
/// when every wait must have ended (`hard_stop`: the deadline minus a quarter of the margin, kept for saving the
/// checkpoint and queueing the continuation). A page started before `stop_at` has until `hard_stop`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    stop_at: Option<Instant>,
    hard_stop: Option<Instant>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Self {
            stop_at: None,
            hard_stop: None,
        }
    }

    /// Stops `margin` before `deadline` (the invocation's deadline as a wall-clock time).
    pub fn until(deadline: std::time::SystemTime, margin: Duration) -> Self {
        let left = deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        let now = Instant::now();
        Self {
            stop_at: Some(now + left.saturating_sub(margin)),
            hard_stop: Some(now + left.saturating_sub(margin / 4)),
        }
    }

    /// Stops taking pages after `limit` from now, with no hard stop (tests and the local run force checkpoints).
    pub fn for_duration(limit: Duration) -> Self {
        Self {
            stop_at: Some(Instant::now() + limit),
            hard_stop: None,
        }
    }

    /// Stops taking pages after `soft` and ends every wait after `hard` (tests of the deadline path).
    pub fn with_hard_stop(soft: Duration, hard: Duration) -> Self {
        let now = Instant::now();
        Self {
            stop_at: Some(now + soft),
            hard_stop: Some(now + hard.max(soft)),
        }
    }

    pub fn exhausted(&self) -> bool {
        self.stop_at.is_some_and(|t| Instant::now() >= t)
    }

    /// The instant by which SentinelOne calls and page writes must have ended, if any.
    pub fn hard_stop(&self) -> Option<Instant> {
        self.hard_stop
    }
}

/// How an invocation of [`SyncEngine::run`] ended.
#[derive(Debug)]
pub enum Outcome {
    /// The run reached a final status (succeeded, partial or failed); the run item holds the details.
    Finished(Box<SyncRun>),
    /// The budget ran out: the checkpoint is saved and this message must be queued to continue.
    Continue(SyncMessage),
    /// The message names a tenant without configuration or a run that does not exist: nothing was done.
    Ignored(&'static str),
    /// Another worker holds the tenant's lease: nothing was written.
    Busy,
}

/// Infrastructure failures that end an invocation without a final run status: the message should be retried
/// (the checkpoint makes the retry resume, not restart).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the tenant's sync lease was lost to another worker; this invocation stopped writing")]
    LeaseLost,
}

/// What the engine needs from the deployment.
#[derive(Clone)]
pub struct SyncEngine {
    pub store: Store,
    pub vault: Vault,
    pub url_policy: UrlPolicy,
    pub client_options: ClientOptions,
    /// The largest share (percent) of a tenant's active assets one run may retire (`SYNC_MAX_RETIRE_PERCENT`).
    pub max_retire_percent: u8,
}

/// The reason a run failed, worded for the user who reads the sync history.
struct RunFailure(String);

impl From<S1Error> for RunFailure {
    fn from(e: S1Error) -> Self {
        RunFailure(e.to_string())
    }
}

/// Whatever stops the run: a user-facing failure (the run ends as failed) or an infrastructure error.
enum Stop {
    Failed(RunFailure),
    Infra(EngineError),
    OutOfTime,
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Infra(EngineError::Store(e))
    }
}

impl From<S1Error> for Stop {
    fn from(e: S1Error) -> Self {
        // The invocation's time ran out while waiting for SentinelOne: continue from the checkpoint.
        if e.is_deadline() {
            Stop::OutOfTime
        } else {
            Stop::Failed(e.into())
        }
    }
}

type Prepared = (S1Client, MappingSettings, Vec<CustomFieldDefinition>);

/// Per-invocation state of a run.
struct RunContext {
    tenant: TenantId,
    lease: Lease,
    run: SyncRun,
    checkpoint: Checkpoint,
    settings: MappingSettings,
    custom_fields: Vec<CustomFieldDefinition>,
    /// The configured group filter, as read once at the start of the invocation.
    group_filter: GroupFilter,
    /// The distinct findings counted so far (loaded when the threat walk starts or resumes).
    findings: Option<FindingTally>,
    budget: Budget,
    /// The configuration's verdict list as read at the start of this invocation: what `reevaluate` applies.
    current_verdicts: PinnedVerdicts,
    /// The version every stored finding followed when this invocation started (missing in the state: 0).
    verdicts_applied: u64,
    /// Set once this run's re-evaluation has walked every finding: recorded by the completing write.
    verdicts_applied_now: Option<u64>,
}

impl SyncEngine {
    /// Runs (or continues) the run named by `message` until it finishes or `budget` runs out.
    /// `owner` identifies this invocation in the lease (e.g. the Lambda request id).
    pub async fn run(
        &self,
        message: &SyncMessage,
        budget: Budget,
        owner: &str,
    ) -> Result<Outcome, EngineError> {
        let Ok(tenant) = TenantId::new(message.tenant.clone()) else {
            warn!(tenant = %message.tenant, run = %message.run_id, "sync message names an invalid tenant id; ignored");
            return Ok(Outcome::Ignored("invalid tenant id"));
        };
        let Some(config) = self.store.get_config(&tenant).await? else {
            warn!(tenant = %tenant.as_str(), run = %message.run_id, "sync message for a tenant without configuration; ignored");
            return Ok(Outcome::Ignored("tenant not configured"));
        };
        let Some(run) = self.store.get_run(&tenant, &message.run_id).await? else {
            warn!(tenant = %tenant.as_str(), run = %message.run_id, "sync message for an unknown run; ignored");
            return Ok(Outcome::Ignored("unknown run"));
        };
        if run.status.is_finished() {
            info!(tenant = %tenant.as_str(), run = %run.id, "run already finished; duplicate delivery ignored");
            // A worker killed between the final run update and the slot release left the slot claimed, which
            // would refuse every new sync until it goes stale; the redelivery frees it (a no-op unless this run
            // still holds it).
            self.store.release_run_slot(&tenant, &run.id).await?;
            return Ok(Outcome::Finished(Box::new(run)));
        }
        let Some(lease) = self
            .store
            .try_acquire_lease(&tenant, owner, LEASE_TTL)
            .await?
        else {
            info!(tenant = %tenant.as_str(), run = %run.id, "another worker holds the tenant's lease; leaving");
            return Ok(Outcome::Busy);
        };
        let result = self
            .run_leased(tenant.clone(), lease.clone(), config, run, message, budget)
            .await;
        // A finished run released its lease before its run slot; here the lease of a continued or interrupted
        // invocation is given up (best effort: an unreleased lease simply expires after LEASE_TTL).
        if !matches!(result, Ok(Outcome::Finished(_))) {
            self.release_lease_quietly(&tenant, &lease).await;
        }
        match result {
            // A disconnect or the dead-letter handler finished the run while this invocation worked on it: its
            // outcome stands and this invocation stops.
            Err(EngineError::Store(StoreError::RunAlreadyFinished { .. })) => {
                info!(tenant = %tenant.as_str(), run = %message.run_id, "the run was finished elsewhere; stopping");
                Ok(Outcome::Ignored("run finished elsewhere"))
            }
            other => other,
        }
    }

    async fn run_leased(
        &self,
        tenant: TenantId,
        lease: Lease,
        config: TenantConfig,
        mut run: SyncRun,
        message: &SyncMessage,
        budget: Budget,
    ) -> Result<Outcome, EngineError> {
        let state = self.store.load_sync_state(&tenant).await?;
        let current_verdicts = PinnedVerdicts {
            version: config.verdicts_version,
            list: config.verdicts.clone(),
        };
        let mut checkpoint = match state.checkpoint.clone() {
            Some(cp) if cp.run_id == run.id => {
                info!(tenant = %tenant.as_str(), run = %run.id, phase = %cp.phase, page = cp.page_no, "resuming from checkpoint");
                cp
            }
            other => {
                if let Some(stale) = other {
                    self.supersede(&tenant, &stale.run_id, &run.id).await;
                }
                Checkpoint {
                    run_id: run.id.clone(),
                    phase: Phase::Groups.as_str().to_string(),
                    cursor: None,
                    page_no: 0,
                    counters: Default::default(),
                    group_ids: Vec::new(),
                    threats_since: None,
                    threats_high_water: None,
                    scope: None,
                    agent_walk: AgentWalkTally::default(),
                    verdicts: None,
                    reevaluating_version: None,
                }
            }
        };
        // Pinned once per run (a checkpoint from before runs pinned it takes the list it resumes with): a list
        // saved mid-run does not change how the rest of this run maps threats; `reevaluate` corrects what the run
        // wrote under the old list.
        let pinned = checkpoint
            .verdicts
            .get_or_insert_with(|| current_verdicts.clone())
            .clone();
        if run.status != RunStatus::Running {
            run.mark_running();
        }
        run.phase = Some(checkpoint.phase.clone());
        self.store.update_run(&run).await?;

        let (client, settings, custom_fields) =
            match self.prepare(&tenant, &config, &pinned, budget).await? {
                Ok(prepared) => prepared,
                Err(failure) => return self.fail(tenant, &lease, run, failure).await,
            };
        let mut ctx = RunContext {
            tenant,
            lease,
            run,
            checkpoint,
            settings,
            custom_fields,
            group_filter: GroupFilter::from_list(&config.group_names),
            findings: None,
            budget,
            current_verdicts,
            verdicts_applied: state.verdicts_applied_version.unwrap_or(0),
            verdicts_applied_now: None,
        };

        match self.drive(&mut ctx, &client, &state).await {
            Ok(()) => self.succeed(ctx).await,
            Err(Stop::OutOfTime) => {
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, phase = %ctx.checkpoint.phase,
                      page = ctx.checkpoint.page_no, "budget spent; continuing from the last checkpoint in a new invocation");
                Ok(Outcome::Continue(message.continued()))
            }
            Err(Stop::Failed(f)) => self.fail(ctx.tenant, &ctx.lease, ctx.run, f).await,
            Err(Stop::Infra(e)) => Err(e),
        }
    }

    /// Token, console URL, client, mapping settings and custom fields: everything that can fail before any page.
    /// The outer error is infrastructure (retry the message); the inner one ends the run as failed.
    async fn prepare(
        &self,
        tenant: &TenantId,
        config: &TenantConfig,
        verdicts: &PinnedVerdicts,
        budget: Budget,
    ) -> Result<Result<Prepared, RunFailure>, EngineError> {
        let Some(token) = self.vault.get_token(tenant).await? else {
            return Ok(Err(RunFailure(
                "no SentinelOne API token is stored for this tenant: save the configuration again with a token".into(),
            )));
        };
        let console = match ConsoleUrl::parse(&config.console_url, &self.url_policy) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err(RunFailure(format!(
                    "the configured console URL is refused: {e}"
                ))))
            }
        };
        let verdicts = match verdict_list(verdicts) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let settings = MappingSettings {
            auto_onboard: config.auto_onboard,
            update_metadata: config.update_metadata,
            verdicts,
            console_base_url: console.as_str().to_string(),
        };
        let options = self
            .client_options
            .clone()
            .with_deadline(budget.hard_stop());
        let client = match S1Client::new(console, token, options) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e.into())),
        };
        let custom_fields = self.store.list_custom_fields(tenant).await?;
        Ok(Ok((client, settings, custom_fields)))
    }

    /// Runs the phases from the checkpoint's phase on.
    async fn drive(
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
            self.walk(ctx, client.agents(query), budget).await?;
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
            ctx.checkpoint.threats_since = state
                .watermark
                .as_deref()
                .filter(|_| same_scope)
                .and_then(overlap_start);
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
            self.walk(ctx, client.threats(query), budget).await?;
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
            // Entered only when there is something to re-evaluate, so a run without a list change costs nothing
            // more than before.
            if self.reevaluation_due(ctx) {
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

    /// Whether stored findings may follow another list than the current one: the list changed since the version
    /// last applied, or this run mapped its threats with a list replaced while it ran.
    fn reevaluation_due(&self, ctx: &RunContext) -> bool {
        let current = ctx.current_verdicts.version;
        let pinned = ctx.checkpoint.verdicts.as_ref().map(|p| p.version);
        current > ctx.verdicts_applied || pinned.is_some_and(|p| p != current)
    }

    /// Re-derives every stored finding's status under the current list, one query page per step: the last sort
    /// key is checkpointed after each page and the budget checked, so a tenant of any size ends in continuations
    /// rather than in a Lambda timeout, and a crash redoes at most one page (which then flips nothing).
    async fn reevaluate(&self, ctx: &mut RunContext) -> Result<(), Stop> {
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
                        .reevaluate_finding_statuses_page(&ctx.tenant, &list, start)
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

    /// Runs `work` until the budget's hard stop; past it, the invocation stops without a new checkpoint (what
    /// `work` wrote is idempotent and is redone by the continuation).
    async fn within_hard_stop<T>(
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

    /// Only reached after both walks completed. Retires the assets the agent walk did not see, when the walk can
    /// be trusted (see `s1_core::retirement`); otherwise keeps them all and says why in the run.
    async fn retire(&self, ctx: &mut RunContext) -> Result<(), Stop> {
        let plan = self.store.plan_retirement(&ctx.tenant, &ctx.run.id).await?;
        let walk = ctx.checkpoint.agent_walk;
        let summary = WalkSummary {
            walked: walk.walked,
            unusable: walk.unusable,
            expected: walk.expected,
            active: plan.active,
            unseen: plan.unseen.len() as u64,
        };
        match may_retire(&summary, self.max_retire_percent) {
            Ok(()) => {
                let retired = self
                    .store
                    .retire_assets(&ctx.tenant, &ctx.run.id, plan.unseen)
                    .await?;
                ctx.run.counters.assets_retired += retired;
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, retired, "assets not returned by SentinelOne marked inactive");
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

    /// Re-examines the unattached findings: each whose asset exists now is written attached.
    async fn attach_findings(&self, ctx: &mut RunContext) -> Result<(), Stop> {
        let mut cursor: Option<UnattachedCursor> = None;
        let mut attached = 0u64;
        loop {
            let (findings, next) = self
                .store
                .unattached_findings(&ctx.tenant, cursor.take())
                .await?;
            let keys: Vec<String> = findings
                .iter()
                .filter_map(|f| f.asset_key.as_ref().map(|k| k.as_str().to_string()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let existing = self.store.load_assets(&ctx.tenant, &keys).await?;
            let now_attached: Vec<Finding> = findings
                .iter()
                .filter(|f| {
                    f.asset_key
                        .as_ref()
                        .is_some_and(|k| existing.contains_key(k.as_str()))
                })
                .map(|f| decide_finding(f, true))
                .collect();
            if !now_attached.is_empty() {
                let counts = self
                    .store
                    .apply_findings(&ctx.tenant, &now_attached)
                    .await?;
                attached += counts.written();
                ctx.run.record_findings(&counts);
            }
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        if attached > 0 {
            info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, attached, "unattached findings attached to their assets");
        }
        Ok(())
    }

    async fn enter_phase(&self, ctx: &mut RunContext, next: Phase) -> Result<Phase, Stop> {
        ctx.checkpoint.phase = next.as_str().to_string();
        ctx.checkpoint.cursor = None;
        ctx.run.phase = Some(next.as_str().to_string());
        self.save_progress(ctx).await?;
        Ok(next)
    }

    /// Heartbeat + checkpoint (one conditional write), then the run's progress for watchers.
    async fn save_progress(&self, ctx: &mut RunContext) -> Result<(), Stop> {
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
    async fn walk<T, S>(&self, ctx: &mut RunContext, pages: S, budget: Budget) -> Result<(), Stop>
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
}

/// Maps one page of records and writes what changed.
trait ApplyPage<T> {
    async fn apply(&self, ctx: &mut RunContext, page: Page<T>) -> Result<(), Stop>;
}

impl ApplyPage<Agent> for SyncEngine {
    async fn apply(&self, ctx: &mut RunContext, page: Page<Agent>) -> Result<(), Stop> {
        let returned = page.records.len() as u64 + page.skipped.len() as u64;
        ctx.run.counters.items_fetched += returned;
        // What finalize needs to trust the walk: counted since the walk's start or its last restart (a restarted
        // walk serves every agent again).
        let walk = &mut ctx.checkpoint.agent_walk;
        if page.restarted || page.cursor.is_none() {
            *walk = AgentWalkTally {
                expected: page.total_items,
                ..AgentWalkTally::default()
            };
        }
        walk.walked += returned;
        walk.unusable += page.skipped.len() as u64;
        self.record_data_skips(ctx, &page.skipped);
        let mut assets = assets_from_agents(&page.records, &ctx.settings);
        for asset in &mut assets {
            apply_tags_to_custom_fields(asset, &ctx.custom_fields);
        }
        // A decommissioned machine is not "seen": finalize retires it like a machine SentinelOne stopped returning.
        let live: Vec<String> = assets
            .iter()
            .filter(|a| a.decommissioned != Some(true))
            .map(|a| a.key.as_str().to_string())
            .collect();
        self.store
            .record_seen_assets(&ctx.tenant, &ctx.run.id, ctx.checkpoint.page_no, &live)
            .await?;
        let keys: Vec<String> = assets.iter().map(|a| a.key.as_str().to_string()).collect();
        let existing = self.store.load_assets(&ctx.tenant, &keys).await?;
        let decisions: Vec<AssetDecision> = assets
            .iter()
            .map(|incoming| {
                let stored = existing.get(incoming.key.as_str());
                let stored_asset = stored.map(|s| &s.asset);
                // The same machine may come back under several agents on different pages (re-imaged machines):
                // merging with what is stored keeps every agent id and lets the most recently active one win.
                let candidate = match stored_asset {
                    Some(s) if s.origin == incoming.origin => merge_agent_into(s, incoming),
                    _ => incoming.clone(),
                };
                match decide_asset(&candidate, stored_asset, &ctx.settings) {
                    // A retired asset that SentinelOne returns live again is re-activated even when its metadata
                    // did not change (the agent-link write also clears the retirement).
                    AssetDecision::Unchanged
                        if stored.is_some_and(|s| !s.active)
                            && incoming.decommissioned != Some(true) =>
                    {
                        AssetDecision::AttachOnly {
                            key: candidate.key.clone(),
                            agent_ids: candidate.agent_ids.clone(),
                        }
                    }
                    decision => decision,
                }
            })
            .collect();
        let counts = self
            .store
            .apply_asset_decisions(&ctx.tenant, &decisions, &ctx.run.id)
            .await?;
        ctx.run.record_assets(&counts);
        Ok(())
    }
}

impl ApplyPage<Threat> for SyncEngine {
    async fn apply(&self, ctx: &mut RunContext, page: Page<Threat>) -> Result<(), Stop> {
        ctx.run.counters.items_fetched += page.records.len() as u64 + page.skipped.len() as u64;
        self.record_data_skips(ctx, &page.skipped);
        let mapped = findings_from_threats(&page.records, &ctx.settings);
        self.record_data_skips(ctx, &mapped.skipped);
        for f in &mapped.findings {
            if let Some(at) = f.updated_at {
                let at = format_rfc3339(at);
                if ctx
                    .checkpoint
                    .threats_high_water
                    .as_deref()
                    .is_none_or(|hw| hw < at.as_str())
                {
                    ctx.checkpoint.threats_high_water = Some(at);
                }
            }
        }

        let keys: Vec<String> = mapped
            .findings
            .iter()
            .filter_map(|f| f.asset_key.as_ref().map(|k| k.as_str().to_string()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let existing = self.store.load_assets(&ctx.tenant, &keys).await?;
        // Threats whose agent was not in the agent walk: with auto-onboard on, the asset is built from the threat's
        // agentRealtimeInfo so that the finding has an asset.
        let mut new_assets: BTreeMap<String, Asset> = BTreeMap::new();
        if ctx.settings.auto_onboard {
            for threat in &page.records {
                if let Some(asset) = asset_from_threat(threat, &ctx.settings) {
                    let key = asset.key.as_str().to_string();
                    if !existing.contains_key(&key) && keys.binary_search(&key).is_ok() {
                        new_assets.entry(key).or_insert(asset);
                    }
                }
            }
        }
        let asset_decisions: Vec<AssetDecision> = new_assets
            .values()
            .map(|a| decide_asset(a, None, &ctx.settings))
            .collect();
        if !asset_decisions.is_empty() {
            let counts = self
                .store
                .apply_asset_decisions(&ctx.tenant, &asset_decisions, &ctx.run.id)
                .await?;
            ctx.run.record_assets(&counts);
        }

        // Every threat becomes a finding; one whose asset does not exist is kept unattached (never dropped).
        let findings: Vec<Finding> = mapped
            .findings
            .iter()
            .map(|finding| {
                let exists = finding.asset_key.as_ref().is_some_and(|k| {
                    existing.contains_key(k.as_str()) || new_assets.contains_key(k.as_str())
                });
                decide_finding(finding, exists)
            })
            .collect();
        let counts = self.store.apply_findings(&ctx.tenant, &findings).await?;
        ctx.run.record_findings(&counts);
        let tally = ctx.findings.get_or_insert_with(FindingTally::default);
        let entries = tally.count_page(&findings, &mut ctx.run.counters);
        // Stored after the page's writes and keyed by its page number: a page that is applied again (after a
        // crash before its checkpoint) overwrites its own entry, and resuming reads only checkpointed pages.
        self.store
            .record_seen_threats(&ctx.tenant, &ctx.run.id, ctx.checkpoint.page_no, &entries)
            .await?;
        Ok(())
    }
}

impl SyncEngine {
    /// Records SentinelOne sent without a usable identity: counted with their reason, and logged by id.
    fn record_data_skips(&self, ctx: &mut RunContext, skipped: &[SkippedRecord]) {
        if skipped.is_empty() {
            return;
        }
        let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
        for s in skipped {
            *reasons.entry(reason_key(&s.reason)).or_default() += 1;
            warn!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, record = s.id.as_deref().unwrap_or("-"),
                  reason = %s.reason, "record skipped");
        }
        ctx.run.record_skip_reasons(&reasons);
    }

    async fn succeed(&self, mut ctx: RunContext) -> Result<Outcome, EngineError> {
        // The new watermark is the newest `updatedAt` this walk saw. Without threats, the old one stays when the
        // scope is unchanged; in a new scope there is none yet (the next run walks every threat again, cheaply).
        match ctx.checkpoint.scope.clone() {
            Some(scope) => {
                let state = self.store.load_sync_state(&ctx.tenant).await?;
                let kept = state
                    .watermark
                    .filter(|_| state.watermark_scope.as_deref() == Some(scope.as_str()));
                let watermark = ctx.checkpoint.threats_high_water.clone().or(kept);
                self.store
                    .complete_sync_in_scope(
                        &ctx.tenant,
                        &ctx.lease,
                        watermark.as_deref(),
                        &scope,
                        ctx.verdicts_applied_now,
                    )
                    .await?;
            }
            // Only checkpoints from before scopes existed; a re-evaluation they did is not recorded and the next
            // run does it again (it then flips nothing).
            None => {
                let watermark = ctx.checkpoint.threats_high_water.clone();
                self.store
                    .complete_sync(&ctx.tenant, &ctx.lease, watermark.as_deref())
                    .await?;
            }
        }
        // Partial when SentinelOne sent records without a usable identity; skips chosen by the tenant's own
        // settings (auto-onboard off) are the product working as configured, not a partial import.
        let status = if ctx.run.skip_reasons.keys().any(|r| is_data_reason(r)) {
            RunStatus::Partial
        } else {
            RunStatus::Succeeded
        };
        let message = match status {
            RunStatus::Partial => Some(
                "some SentinelOne records had no usable identity and were skipped; see skip reasons".to_string(),
            ),
            _ => None,
        };
        ctx.run.phase = Some(Phase::Finalize.as_str().to_string());
        ctx.run.finish(status, message);
        self.store.update_run(&ctx.run).await?;
        // The lease goes before the run slot: a new run admitted by the slot must find the lease free.
        self.release_lease_quietly(&ctx.tenant, &ctx.lease).await;
        self.store
            .release_run_slot(&ctx.tenant, &ctx.run.id)
            .await?;
        info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, status = ?ctx.run.status, pages = ctx.run.pages,
              fetched = ctx.run.counters.items_fetched, failed = ctx.run.counters.findings_failed,
              passed = ctx.run.counters.findings_passed, unattached = ctx.run.counters.findings_unattached,
              reevaluated = ctx.run.counters.findings_reevaluated,
              "sync finished");
        Ok(Outcome::Finished(Box::new(ctx.run)))
    }

    async fn fail(
        &self,
        tenant: TenantId,
        lease: &Lease,
        mut run: SyncRun,
        failure: RunFailure,
    ) -> Result<Outcome, EngineError> {
        warn!(tenant = %tenant.as_str(), run = %run.id, cause = %failure.0, "sync failed");
        run.record_error(failure.0.clone());
        run.finish(RunStatus::Failed, Some(failure.0));
        self.store.update_run(&run).await?;
        // The next run starts from scratch; the watermark is untouched, so no threat is skipped later.
        self.store.clear_checkpoint(&tenant, lease).await?;
        self.release_lease_quietly(&tenant, lease).await;
        self.store.release_run_slot(&tenant, &run.id).await?;
        Ok(Outcome::Finished(Box::new(run)))
    }

    async fn release_lease_quietly(&self, tenant: &TenantId, lease: &Lease) {
        if let Err(e) = self.store.release_lease(tenant, lease).await {
            warn!(tenant = %tenant.as_str(), error = %e, "could not release the sync lease; it will expire");
        }
    }

    /// A checkpoint of another run means that run was interrupted for good (its messages ended in the DLQ or were
    /// lost): it is marked failed so the history does not show it running forever.
    async fn supersede(&self, tenant: &TenantId, stale_run: &str, new_run: &str) {
        match self.store.get_run(tenant, stale_run).await {
            Ok(Some(mut old)) if !old.status.is_finished() => {
                old.finish(
                    RunStatus::Failed,
                    Some(format!("interrupted; superseded by run {new_run}")),
                );
                if let Err(e) = self.store.update_run(&old).await {
                    warn!(tenant = %tenant.as_str(), run = %stale_run, error = %e, "could not mark the interrupted run failed");
                }
            }
            _ => {}
        }
    }

    /// Marks a run failed from outside the engine (the worker, when a message is on its last delivery).
    pub async fn mark_failed(
        &self,
        tenant: &TenantId,
        run_id: &str,
        cause: &str,
    ) -> Result<(), EngineError> {
        if let Some(mut run) = self.store.get_run(tenant, run_id).await? {
            if !run.status.is_finished() {
                run.record_error(cause.to_string());
                run.finish(RunStatus::Failed, Some(cause.to_string()));
                self.store.update_run(&run).await?;
            }
        }
        self.store.release_run_slot(tenant, run_id).await?;
        Ok(())
    }
}

/// The skip reason as runs record it: its API spelling, the same key the store uses for the skips it counts.
/// The mapping rules' form of a stored list; saves validate it, so a failure means a damaged item.
fn verdict_list(verdicts: &PinnedVerdicts) -> Result<VerdictInclusionList, RunFailure> {
    VerdictInclusionList::from_list(&verdicts.list).map_err(|e| {
        RunFailure(format!(
            "the configured analyst verdicts cannot be used ({e}); save the configuration again"
        ))
    })
}

fn reason_key(reason: &SkipReason) -> String {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::String(s)) => s,
        _ => reason.to_string(),
    }
}

fn is_data_reason(reason: &str) -> bool {
    reason != reason_key(&SkipReason::AutoOnboardDisabled)
}

fn format_rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `watermark − THREAT_OVERLAP`, as RFC 3339; `None` (take everything) when the watermark is unreadable.
fn overlap_start(watermark: &str) -> Option<String> {
    let at =
        OffsetDateTime::parse(watermark, &time::format_description::well_known::Rfc3339).ok()?;
    Some(format_rfc3339(at - THREAT_OVERLAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_goes_back_five_minutes() {
        assert_eq!(
            overlap_start("2026-01-02T00:03:00Z").as_deref(),
            Some("2026-01-01T23:58:00Z")
        );
        assert_eq!(overlap_start("garbage"), None);
    }

    #[test]
    fn phases_round_trip_and_unknown_names_are_refused() {
        for p in [
            Phase::Groups,
            Phase::Agents,
            Phase::Threats,
            Phase::Attach,
            Phase::Finalize,
            Phase::Reevaluate,
        ] {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        assert_eq!(Phase::parse("reticulate"), None);
    }

    #[test]
    fn budget_until_past_deadline_is_exhausted() {
        let b = Budget::until(std::time::SystemTime::now(), Duration::from_secs(60));
        assert!(b.exhausted());
        assert!(!Budget::unlimited().exhausted());
    }
}
