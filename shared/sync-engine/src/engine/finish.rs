//! How a run ends: its final status (succeeded, partial, failed), the sync state's completing write, and the
//! lease and run slot given back; also the failures recorded from outside a run (superseded, last delivery).

use connector_store::{Lease, RunStatus, SyncRun, TenantId};
use tracing::{info, warn};

use super::skips::is_data_reason;
use super::{EngineError, Outcome, Phase, RunContext, RunFailure, SyncEngine};

impl SyncEngine {
    pub(super) async fn succeed(&self, mut ctx: RunContext) -> Result<Outcome, EngineError> {
        // The new watermark is the newest `updatedAt` this walk saw. Without threats, the old one stays when the
        // scope is unchanged; in a new scope there is none yet (the next run walks every threat again, cheaply).
        match ctx.checkpoint.scope.clone() {
            // A dry run leaves the sync state as it found it (watermark, scope, applied verdicts), so the real run
            // that follows decides exactly what the dry run reported.
            _ if ctx.run.dry_run => {
                self.store.clear_checkpoint(&ctx.tenant, &ctx.lease).await?;
            }
            Some(scope) => {
                let state = self.store.load_sync_state(&ctx.tenant).await?;
                let kept = state
                    .watermark
                    .filter(|_| state.watermark_scope.as_deref() == Some(scope.as_str()));
                let watermark = ctx.checkpoint.threats_high_water.or(kept);
                self.store
                    .complete_sync_in_scope(
                        &ctx.tenant,
                        &ctx.lease,
                        watermark,
                        &scope,
                        ctx.verdicts_applied_now,
                    )
                    .await?;
            }
            // Only checkpoints from before scopes existed; a re-evaluation they did is not recorded and the next
            // run does it again (it then flips nothing).
            None => {
                self.store
                    .complete_sync_at(&ctx.tenant, &ctx.lease, ctx.checkpoint.threats_high_water)
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

    pub(super) async fn fail(
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

    pub(super) async fn release_lease_quietly(&self, tenant: &TenantId, lease: &Lease) {
        if let Err(e) = self.store.release_lease(tenant, lease).await {
            warn!(tenant = %tenant.as_str(), error = %e, "could not release the sync lease; it will expire");
        }
    }

    /// A checkpoint of another run means that run was interrupted for good (its messages ended in the DLQ or were
    /// lost): it is marked failed so the history does not show it running forever.
    pub(super) async fn supersede(&self, tenant: &TenantId, stale_run: &str, new_run: &str) {
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
