//! The attach phase: unattached findings whose asset exists now are written attached.

use std::collections::BTreeSet;

use connector_store::UnattachedCursor;
use s1_core::merge::decide_finding;
use s1_core::Finding;
use tracing::info;

use super::{RunContext, Stop, SyncEngine};

impl SyncEngine {
    /// Re-examines the unattached findings: each whose asset exists now is written attached.
    pub(super) async fn attach_findings(&self, ctx: &mut RunContext) -> Result<(), Stop> {
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
            // Whether each asset exists is all that matters: its item alone says so (no registration is read), on a
            // first sync an asset this run wrote is known without a read, and otherwise one the asset digests show
            // stored.
            let (unknown, written): (Vec<String>, BTreeSet<String>) = match &ctx.fresh_assets {
                Some(fresh) => (
                    fresh.not_known_stored(&keys),
                    keys.iter().filter(|k| fresh.stored(k)).cloned().collect(),
                ),
                None => Box::pin(self.known_from_digests(ctx, keys)).await?,
            };
            let existing = self.store.load_asset_heads(&ctx.tenant, &unknown).await?;
            if ctx.dry_run() && ctx.dry_known.is_none() {
                ctx.dry_known = Some(self.store.seen_asset_keys(&ctx.tenant, &ctx.run.id).await?);
            }
            let dry_known = ctx.dry_known.clone().unwrap_or_default();
            let now_attached: Vec<Finding> = findings
                .iter()
                .filter(|f| {
                    f.asset_key.as_ref().is_some_and(|k| {
                        existing.contains_key(k.as_str())
                            || written.contains(k.as_str())
                            || dry_known.contains(k.as_str())
                    })
                })
                .map(|f| decide_finding(f, true))
                .collect();
            if !now_attached.is_empty() {
                let counts = if ctx.dry_run() {
                    let (counts, names) = self
                        .store
                        .preview_findings(&ctx.tenant, ctx.layout, &now_attached)
                        .await?;
                    super::agents::note_findings(ctx, names);
                    counts
                } else {
                    self.store
                        .apply_findings(&ctx.tenant, ctx.layout, &now_attached)
                        .await?
                };
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
}
