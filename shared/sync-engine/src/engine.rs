//! One tenant's sync: resolve groups → agents (full walk) → threats (incremental) → finalize.
//!
//! The run is resumable: after every page the checkpoint (phase, cursor, counters) is saved in the same conditional
//! write that extends the tenant's lease, so an invocation that stops — on purpose before the Lambda deadline, or
//! by crashing — is continued by the next one from the last applied page. Writes are idempotent (upserts keyed by
//! asset identity and threat id), so re-applying a page after a crash changes nothing.
//!
//! Data safety rules kept here:
//! - assets are retired (marked inactive, never deleted) only in `finalize`, after a complete, successful agent
//!   walk; a failing or emptied SentinelOne response therefore never retires anything;
//! - the threats watermark advances only after a complete threat walk;
//! - a finding's status is always derived from the verdict SentinelOne sent in this page, never from a partial
//!   pass, so no finding is flipped by an interrupted run.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::pin;
use std::time::Duration;

use connector_store::{
    Checkpoint, Lease, RunStatus, Store, StoreError, SyncRun, TenantConfig, TenantId, Vault,
    WriteCounts,
};
use futures::{Stream, StreamExt};
use s1_core::custom_fields::{apply_tags_to_custom_fields, CustomFieldDefinition};
use s1_core::groups::GroupFilter;
use s1_core::mapping::{
    asset_from_threat, assets_from_agents, findings_from_threats, merge_agent_into,
};
use s1_core::merge::{decide_asset, decide_finding};
use s1_core::records::{Agent, Threat};
use s1_core::{
    Asset, AssetDecision, FindingDecision, FindingStatus, MappingSettings, SkipReason,
    SkippedRecord,
};
use sentinelone_client::{
    AgentQuery, ClientOptions, ConsoleUrl, Page, S1Client, S1Error, ThreatQuery, UrlPolicy,
};
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::message::SyncMessage;

/// Threats are fetched from `watermark − THREAT_OVERLAP` so that a threat updated while the previous walk ran
/// (and clock skew between SentinelOne and us) is never missed; upserts by id make the overlap harmless.
pub const THREAT_OVERLAP: Duration = Duration::from_secs(5 * 60);

/// How long a lease lasts without a heartbeat; heartbeats come after every page (seconds apart), so a crashed
/// worker's lease is free again within this time.
pub const LEASE_TTL: Duration = Duration::from_secs(120);

/// Phases in order. Stored in the checkpoint by name.
pub mod phase {
    pub const GROUPS: &str = "groups";
    pub const AGENTS: &str = "agents";
    pub const THREATS: &str = "threats";
    pub const FINALIZE: &str = "finalize";
}

/// When the invocation must stop taking new pages: the Lambda deadline minus a safety margin.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    stop_at: Option<Instant>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Self { stop_at: None }
    }

    /// Stops `margin` before `deadline` (the invocation's deadline as a wall-clock time).
    pub fn until(deadline: std::time::SystemTime, margin: Duration) -> Self {
        let left = deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        Self {
            stop_at: Some(Instant::now() + left.saturating_sub(margin)),
        }
    }

    /// Stops after `limit` from now (tests and the local run use this to force checkpoints).
    pub fn for_duration(limit: Duration) -> Self {
        Self {
            stop_at: Some(Instant::now() + limit),
        }
    }

    pub fn exhausted(&self) -> bool {
        self.stop_at.is_some_and(|t| Instant::now() >= t)
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
        Stop::Failed(e.into())
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
        // Best effort: an unreleased lease simply expires after LEASE_TTL.
        if let Err(e) = self.store.release_lease(&tenant, &lease).await {
            warn!(tenant = %tenant.as_str(), error = %e, "could not release the sync lease; it will expire");
        }
        result
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
        let checkpoint = match state.checkpoint {
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
                    phase: phase::GROUPS.to_string(),
                    cursor: None,
                    page_no: 0,
                    counters: Default::default(),
                    group_ids: Vec::new(),
                    threats_since: None,
                    threats_high_water: None,
                }
            }
        };
        if run.status != RunStatus::Running {
            run.mark_running();
        }
        run.phase = Some(checkpoint.phase.clone());
        self.store.update_run(&run).await?;

        let (client, settings, custom_fields) = match self.prepare(&tenant, &config).await? {
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
        };

        match self
            .drive(&mut ctx, &client, &state.watermark, budget)
            .await
        {
            Ok(()) => self.succeed(ctx).await,
            Err(Stop::OutOfTime) => {
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, phase = %ctx.checkpoint.phase,
                      page = ctx.checkpoint.page_no, "budget spent; checkpoint saved, continuing in a new invocation");
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
        let verdicts = match config.verdict_list() {
            Ok(v) => v,
            Err(e) => return Ok(Err(RunFailure(e.to_string()))),
        };
        let settings = MappingSettings {
            auto_onboard: config.auto_onboard,
            update_metadata: config.update_metadata,
            verdicts,
            console_base_url: console.as_str().to_string(),
        };
        let client = match S1Client::new(console, token, self.client_options.clone()) {
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
        watermark: &Option<String>,
        budget: Budget,
    ) -> Result<(), Stop> {
        if ctx.checkpoint.phase == phase::GROUPS {
            let groups = client.resolve_groups(&ctx.group_filter).await?;
            ctx.checkpoint.group_ids = groups
                .iter()
                .map(|g| g.id.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, groups = ctx.checkpoint.group_ids.len(), "groups resolved");
            self.enter_phase(ctx, phase::AGENTS).await?;
        }
        if ctx.checkpoint.phase == phase::AGENTS {
            let query = AgentQuery {
                group_ids: ctx.checkpoint.group_ids.clone(),
                resume_cursor: ctx.checkpoint.cursor.clone(),
                ..AgentQuery::default()
            };
            self.walk(ctx, client.agents(query), budget).await?;
            // Fixed once per run, so a resumed threat walk re-sends the same filter with its cursor.
            ctx.checkpoint.threats_since = watermark.as_deref().and_then(overlap_start);
            self.enter_phase(ctx, phase::THREATS).await?;
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
        }
        if ctx.checkpoint.phase == phase::THREATS {
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
            self.enter_phase(ctx, phase::FINALIZE).await?;
            if budget.exhausted() {
                return Err(Stop::OutOfTime);
            }
        }
        if ctx.checkpoint.phase == phase::FINALIZE {
            // Only reached after both walks completed: retiring after a partial walk would lose live assets.
            let retired = self
                .store
                .retire_unseen_assets(&ctx.tenant, &ctx.run.id)
                .await?;
            ctx.run.counters.assets_retired += retired;
            info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, retired, "assets not returned by SentinelOne marked inactive");
        }
        Ok(())
    }

    async fn enter_phase(&self, ctx: &mut RunContext, next: &str) -> Result<(), Stop> {
        ctx.checkpoint.phase = next.to_string();
        ctx.checkpoint.cursor = None;
        ctx.run.phase = Some(next.to_string());
        self.save_progress(ctx).await
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
    /// the walk costs max(fetch, write) per page rather than their sum, and at most two pages are in memory.
    async fn walk<T, S>(&self, ctx: &mut RunContext, pages: S, budget: Budget) -> Result<(), Stop>
    where
        S: Stream<Item = Result<Page<T>, S1Error>>,
        Self: ApplyPage<T>,
    {
        let mut pages = pin!(pages);
        let mut next = pages.next().await;
        while let Some(fetched) = next {
            let page = fetched?;
            let cursor = page.next_cursor.clone();
            let (applied, following) = tokio::join!(self.apply(ctx, page), pages.next());
            applied?;
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
        ctx.run.counters.items_fetched += page.records.len() as u64 + page.skipped.len() as u64;
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
        self.record_setting_skips(ctx, &counts);
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
            match f.status {
                FindingStatus::Failed => ctx.run.counters.findings_failed += 1,
                FindingStatus::Passed => ctx.run.counters.findings_passed += 1,
            }
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
            .map(|f| f.asset_key.as_str().to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let existing = self.store.load_assets(&ctx.tenant, &keys).await?;
        // Threats whose agent was not in the agent walk: with auto-onboard on, the asset is built from the threat's
        // agentRealtimeInfo so that no finding is lost.
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

        let decisions: Vec<FindingDecision> = mapped
            .findings
            .iter()
            .map(|finding| {
                let key = finding.asset_key.as_str();
                let exists = existing.contains_key(key) || new_assets.contains_key(key);
                decide_finding(finding, exists, &ctx.settings)
            })
            .collect();
        let counts = self
            .store
            .apply_finding_decisions(&ctx.tenant, &decisions)
            .await?;
        ctx.run.record_findings(&counts);
        self.record_setting_skips(ctx, &counts);
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

    /// Skips decided by the tenant's settings (auto-onboard off): counted, but the run is not partial for them.
    fn record_setting_skips(&self, ctx: &mut RunContext, counts: &WriteCounts) {
        if !counts.skip_reasons.is_empty() {
            ctx.run.record_skip_reasons(&counts.skip_reasons);
        }
    }

    async fn succeed(&self, mut ctx: RunContext) -> Result<Outcome, EngineError> {
        // The new watermark is the newest `updatedAt` this walk saw; without threats the old one stays.
        let watermark = ctx.checkpoint.threats_high_water.clone();
        self.store
            .complete_sync(&ctx.tenant, &ctx.lease, watermark.as_deref())
            .await?;
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
        ctx.run.phase = Some(phase::FINALIZE.to_string());
        ctx.run.finish(status, message);
        self.store.update_run(&ctx.run).await?;
        self.store
            .release_run_slot(&ctx.tenant, &ctx.run.id)
            .await?;
        info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, status = ?ctx.run.status, pages = ctx.run.pages,
              fetched = ctx.run.counters.items_fetched, "sync finished");
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
        self.store.release_run_slot(&tenant, &run.id).await?;
        Ok(Outcome::Finished(Box::new(run)))
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
fn reason_key(reason: &SkipReason) -> String {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::String(s)) => s,
        _ => reason.to_string(),
    }
}

fn is_data_reason(reason: &str) -> bool {
    let by_settings = [
        reason_key(&SkipReason::AutoOnboardDisabled),
        reason_key(&SkipReason::AssetNotOnboarded),
    ];
    !by_settings.iter().any(|r| r == reason)
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
    fn budget_until_past_deadline_is_exhausted() {
        let b = Budget::until(std::time::SystemTime::now(), Duration::from_secs(60));
        assert!(b.exhausted());
        assert!(!Budget::unlimited().exhausted());
    }
}
