//! One tenant's sync: resolve groups → agents (full walk) → threats (incremental) → vulnerabilities (delta, or
//! complete on a period) → attach → finalize → reevaluate (only after a verdict-list change).
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
//! - vulnerabilities are fixed by absence (state and index keys only, never deleted) only after a complete walk of
//!   every group that can be trusted like the threat walk; a delta walk fixes only rows SentinelOne reports
//!   `Removed`, and a 403/404 from the risks endpoint skips the walk (recorded on the run) without failing the run;
//! - every wait (SentinelOne retries, writes) ends by the invocation's hard stop, so a slow console ends in a
//!   continuation rather than in Lambda killing the worker;
//! - a page's writes start only after the previous page's heartbeat confirmed the lease, and end a margin before
//!   the lease that heartbeat bought expires; only the next page's fetch (a read) runs beside a checkpoint;
//! - a finding's status is always derived from the verdict SentinelOne sent in this page, never from a partial
//!   pass, so no finding is flipped by an interrupted run;
//! - one run maps every threat with one verdict list, pinned in its checkpoint at its start. The configuration's
//!   `verdicts_version` counts list changes and the sync state records the version every stored finding follows
//!   (`verdicts_applied_version`, missing = 0: a tenant's first list, under which all its findings were written).
//!   While the configuration's version is above it (or the run pinned an older list than the current one), the
//!   `reevaluate` phase walks the stored findings one query page at a time under the current list, checkpointing
//!   the last sort key after each page, and the completing write records the version it applied.
//!
//! This file holds the public types and the entry point ([`SyncEngine::run`]: lease, checkpoint, preparation);
//! the rest of the run lives beside it, one concern per file: `budget` (the invocation's time), `phase` (the
//! phases' names), `walk` (the phase driver, the paged walk and checkpoints), `agents` and `threats` (applying a
//! page of each), `vulnerabilities` (the third walk and fixing by absence), `skips` (records without a usable identity), `attach`, `retire` and `reevaluate` (the phases
//! after the walks), and `finish` (a run's final status, lease and run slot).

mod agents;
mod attach;
mod budget;
mod close;
mod finish;
mod fresh;
mod phase;
mod progress;
mod reevaluate;
mod retire;
mod skips;
mod threats;
mod token;
mod unmatched;
mod vulnerabilities;
mod walk;

use std::time::Duration;

use connector_store::{
    AgentWalkTally, Checkpoint, Lease, PinnedVerdicts, RunStatus, Store, StoreError, SyncRun,
    TenantConfig, TenantId, Vault,
};
use s1_core::custom_fields::CustomFieldDefinition;
use s1_core::groups::GroupFilter;
use s1_core::{MappingSettings, VerdictInclusionList};
use sentinelone_client::{ClientOptions, ConsoleUrl, S1Client, S1Error, UrlPolicy};
use tracing::{info, warn};

use crate::message::SyncMessage;
use crate::tally::FindingTally;

pub use budget::Budget;
pub use phase::Phase;
pub use vulnerabilities::VULNERABILITY_OVERLAP;

/// Threats are fetched from `watermark − THREAT_OVERLAP` so that a threat updated while the previous walk ran
/// (and clock skew between SentinelOne and us) is never missed; upserts by id make the overlap harmless.
pub const THREAT_OVERLAP: Duration = Duration::from_secs(5 * 60);

/// How long a lease lasts without a heartbeat; heartbeats come after every page (seconds apart), so a crashed
/// worker's lease is free again within this time.
pub const LEASE_TTL: Duration = Duration::from_secs(120);

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
    /// A page's writes would have outlasted the lease the last heartbeat bought: they were stopped before its
    /// expiry, unsaved, and the retried message applies the page again from the checkpoint.
    #[error("a page's writes would have outlasted the tenant's sync lease; this invocation stopped writing")]
    LeaseWindowClosed,
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

/// What preparing a run comes to, in one flat outcome: ready to walk; a failure the run ends with (the user
/// reads it in the history); or an infrastructure error, which leaves the run as it is so the message is retried.
enum Preparation {
    Ready {
        client: S1Client,
        settings: MappingSettings,
        custom_fields: Vec<CustomFieldDefinition>,
    },
    Failed(RunFailure),
    Infra(EngineError),
}

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
    /// A dry run's assets that would exist by now without being stored (the agent walk's, and those threats
    /// would onboard), loaded when the threat walk starts; `None` outside dry runs.
    dry_known: Option<std::collections::HashSet<String>>,
    /// Serial numbers and MAC addresses of the tenant's assets, loaded when the first unmatched agent needs them.
    asset_ids: Option<connector_store::AssetIdentifiers>,
    /// The configuration's vulnerability settings as read at the start of this invocation.
    import_vulnerabilities: bool,
    minimum_vulnerability_severity: s1_core::Severity,
    /// The tenant's assets by agent id and key, loaded when the vulnerability walk starts or resumes.
    asset_directory: Option<connector_store::AssetDirectory>,
    /// The assets the tenant's asset digests show stored, loaded when the threat walk or the attach phase first
    /// asks whether assets exist (assets are never deleted, so what it holds stays true for the invocation).
    stored_assets: Option<connector_store::StoredAssets>,
    /// The tenant's asset digests as the agent walk left them, loaded by this invocation's first agent page and
    /// kept up to date by every page after it (see `agents`): `None` until then, and again after a page failed.
    asset_digests: Option<Box<connector_store::AssetDigests>>,
    /// The run's record as this invocation last wrote it, and when (see `progress`).
    run_written: Box<progress::Written>,
    /// Set when this invocation began the agent walk at its start on a tenant without any asset: what the run
    /// has written since (see `fresh`).
    fresh_assets: Option<fresh::FreshAssets>,
    /// Set when this invocation created the record layout of a tenant that held no finding: every finding stored
    /// was written by this run's walk, so none can be absent from it (see `close`).
    fresh_findings: bool,
    /// Set when this invocation started a vulnerability walk on a tenant without vulnerabilities: the ids it
    /// applied since, so a row it did not apply is written without reading a stored head (see `fresh`).
    applied_vulnerabilities: Option<fresh::AppliedVulnerabilities>,
    /// Where the tenant's findings and vulnerabilities live, read (or, by a real run, recorded) once per invocation.
    layout: connector_store::RecordLayout,
}

impl RunContext {
    fn dry_run(&self) -> bool {
        self.run.dry_run
    }

    /// The dry run's report, created on first use.
    fn report(&mut self) -> &mut connector_store::DryRunReport {
        self.run.dry_run_report.get_or_insert_with(Default::default)
    }
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
        // Boxed: the run's context and phases make a large future, which a caller polling the run on a small
        // stack (a test thread, in a debug build) must not hold inline.
        let result =
            Box::pin(self.run_leased(tenant.clone(), lease.clone(), config, run, message, budget))
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
                progress::resume(&mut run, &cp);
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
                    threat_walk: AgentWalkTally::default(),
                    vulnerabilities: Default::default(),
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
        let run_written = Box::new(progress::Written::now(&run));

        let (client, settings, custom_fields) = match self
            .prepare(&tenant, &config, &pinned, budget)
            .await
        {
            Preparation::Ready {
                client,
                settings,
                custom_fields,
            } => (client, settings, custom_fields),
            Preparation::Failed(failure) => return self.fail(tenant, &lease, run, failure).await,
            Preparation::Infra(e) => return Err(e),
        };
        // Under the lease, before any record write; a dry run only reads it (a missing layout reads as the legacy one).
        let (layout, fresh_findings) = match run.dry_run {
            true => (self.store.record_layout(&tenant).await?, false),
            false => {
                self.store
                    .ensure_record_layout_noting_records(&tenant)
                    .await?
            }
        };
        let mut ctx = RunContext {
            layout,
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
            dry_known: None,
            asset_ids: None,
            import_vulnerabilities: config.import_vulnerabilities,
            minimum_vulnerability_severity: config.minimum_vulnerability_severity,
            asset_directory: None,
            fresh_assets: None,
            stored_assets: None,
            asset_digests: None,
            run_written,
            fresh_findings,
            applied_vulnerabilities: None,
        };

        // Boxed: the phases' futures are large, and a caller polling the run on a small stack (a test thread, a
        // Lambda runtime task) must not hold them inline.
        match Box::pin(self.drive(&mut ctx, &client, &state)).await {
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
    async fn prepare(
        &self,
        tenant: &TenantId,
        config: &TenantConfig,
        verdicts: &PinnedVerdicts,
        budget: Budget,
    ) -> Preparation {
        let token = match self.vault.token_for_console(tenant, &config.console_url).await {
            Ok(Some(token)) => token,
            Ok(None) => return Preparation::Failed(RunFailure(
                "no SentinelOne API token is stored for this tenant: save the configuration again with a token".into(),
            )),
            // Never sent to a console it was not saved for; the run fails with the fix, and is not retried.
            Err(e @ connector_store::StoreError::TokenConsoleMismatch) => {
                return Preparation::Failed(RunFailure(e.to_string()))
            }
            Err(e) => return Preparation::Infra(e.into()),
        };
        let console = match ConsoleUrl::parse(&config.console_url, &self.url_policy) {
            Ok(c) => c,
            Err(e) => {
                return Preparation::Failed(RunFailure(format!(
                    "the configured console URL is refused: {e}"
                )))
            }
        };
        let verdicts = match verdict_list(verdicts) {
            Ok(v) => v,
            Err(e) => return Preparation::Failed(e),
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
            Err(e) => return Preparation::Failed(e.into()),
        };
        match self.store.list_custom_fields(tenant).await {
            Ok(custom_fields) => Preparation::Ready {
                client,
                settings,
                custom_fields,
            },
            Err(e) => Preparation::Infra(e.into()),
        }
    }
}

/// The mapping rules' form of a stored list; saves validate it, so a failure means a damaged item.
fn verdict_list(verdicts: &PinnedVerdicts) -> Result<VerdictInclusionList, RunFailure> {
    VerdictInclusionList::from_list(&verdicts.list).map_err(|e| {
        RunFailure(format!(
            "the configured analyst verdicts cannot be used ({e}); save the configuration again"
        ))
    })
}
