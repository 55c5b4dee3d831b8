//! Applying one page of the threat walk (threats become findings, attached or not, with the assets auto-onboard
//! creates for them) and the walk's watermark overlap.

use std::collections::{BTreeSet, HashSet};

use s1_core::mapping::findings_from_threats;
use s1_core::merge::{assets_onboarded_by_threats, decide_asset, decide_finding};
use s1_core::records::Threat;
use s1_core::{AssetDecision, Finding};
use sentinelone_client::Page;
use time::OffsetDateTime;

use super::walk::ApplyPage;
use super::{RunContext, Stop, SyncEngine, THREAT_OVERLAP};
use crate::tally::FindingTally;

impl ApplyPage<Threat> for SyncEngine {
    async fn apply(&self, ctx: &mut RunContext, page: Page<Threat>) -> Result<(), Stop> {
        let returned = page.records.len() as u64 + page.skipped.len() as u64;
        ctx.run.counters.items_fetched += returned;
        self.record_data_skips(ctx, &page.skipped);
        let mapped = findings_from_threats(&page.records, &ctx.settings);
        self.record_data_skips(ctx, &mapped.skipped);
        // What closing needs to trust the walk: counted since its start or its last restart (a restarted walk
        // serves every threat again).
        let walk = &mut ctx.checkpoint.threat_walk;
        if page.restarted || page.cursor.is_none() {
            *walk = connector_store::AgentWalkTally {
                expected: page.total_items,
                ..Default::default()
            };
        }
        walk.walked += returned;
        walk.unusable += page.skipped.len() as u64 + mapped.skipped.len() as u64;
        for f in &mapped.findings {
            if let Some(at) = f.updated_at {
                if ctx.checkpoint.threats_high_water.is_none_or(|hw| hw < at) {
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
        // Only whether each asset exists matters here: its item alone says so (no registration is read), on a first
        // sync an asset this run wrote is known without a read, and otherwise one the asset digests show stored.
        let (unknown, written): (Vec<String>, HashSet<String>) = match &ctx.fresh_assets {
            Some(fresh) => {
                let unknown = fresh.not_known_stored(&keys);
                let written = keys.iter().filter(|k| fresh.stored(k)).cloned().collect();
                (unknown, written)
            }
            // Boxed: the page's future stays small (a run is polled on small stacks).
            None => Box::pin(self.known_from_digests(ctx, keys.clone())).await?,
        };
        let existing = self.store.load_asset_heads(&ctx.tenant, &unknown).await?;
        if ctx.dry_run() && ctx.dry_known.is_none() {
            ctx.dry_known = Some(self.store.seen_asset_keys(&ctx.tenant, &ctx.run.id).await?);
        }
        let dry_known = ctx.dry_known.take().unwrap_or_default();
        let known = |key: &str| {
            existing.contains_key(key) || dry_known.contains(key) || written.contains(key)
        };
        // Threats whose agent was not in the agent walk: with auto-onboard on, the asset is built from the threat's
        // agentRealtimeInfo so that the finding has an asset.
        let new_assets = assets_onboarded_by_threats(&page.records, &keys, known, &ctx.settings);
        let asset_decisions: Vec<AssetDecision> = new_assets
            .values()
            .map(|a| decide_asset(a, None, &ctx.settings))
            .collect();
        if !asset_decisions.is_empty() {
            let counts = if ctx.dry_run() {
                let (counts, names) = self
                    .store
                    .preview_asset_decisions(&ctx.tenant, &asset_decisions)
                    .await?;
                super::agents::note_assets(ctx, names);
                counts
            } else {
                // Decided against what was read above (none of them was stored): not read a second time.
                self.store
                    .apply_walked_assets(&ctx.tenant, &asset_decisions, &ctx.run.id, &existing)
                    .await?
            };
            ctx.run.record_assets(&counts);
        }
        if let Some(fresh) = &mut ctx.fresh_assets {
            fresh.note_onboarded(&asset_decisions);
        }

        // Every threat becomes a finding; one whose asset does not exist is kept unattached (never dropped).
        let findings: Vec<Finding> = mapped
            .findings
            .iter()
            .map(|finding| {
                let exists = finding
                    .asset_key
                    .as_ref()
                    .is_some_and(|k| known(k.as_str()) || new_assets.contains_key(k.as_str()));
                decide_finding(finding, exists)
            })
            .collect();
        let counts = if ctx.dry_run() {
            let (counts, names) = self
                .store
                .preview_findings(&ctx.tenant, ctx.layout, &findings)
                .await?;
            super::agents::note_findings(ctx, names);
            counts
        } else {
            self.store
                .apply_findings(&ctx.tenant, ctx.layout, &findings)
                .await?
        };
        ctx.run.record_findings(&counts);
        if ctx.dry_run() {
            let mut known_now = dry_known;
            known_now.extend(new_assets.into_keys());
            ctx.dry_known = Some(known_now);
        }
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
    /// Splits asset keys into those to read and those the asset digests show stored (see
    /// [`connector_store::StoredAssets`]): an asset a previous run stored is known to exist without a read.
    pub(super) async fn known_from_digests<C: FromIterator<String>>(
        &self,
        ctx: &mut RunContext,
        keys: Vec<String>,
    ) -> Result<(Vec<String>, C), Stop> {
        if keys.is_empty() {
            return Ok((keys, std::iter::empty().collect()));
        }
        // The digests this invocation's agent walk kept, when it ran here, say it without a read: each of their
        // entries was set after the asset was stored (read, or written by the walk), entries it took out only make
        // more reads, and assets are never deleted.
        let stored = match (&mut ctx.stored_assets, &ctx.asset_digests) {
            (Some(s), _) => s,
            (None, Some(kept)) => ctx
                .stored_assets
                .insert(connector_store::StoredAssets::from(&**kept)),
            (None, None) => ctx
                .stored_assets
                .insert(Box::pin(self.store.load_stored_assets(&ctx.tenant)).await?),
        };
        let (known, unknown): (Vec<String>, Vec<String>) =
            keys.into_iter().partition(|k| stored.contains(k));
        Ok((unknown, known.into_iter().collect()))
    }
}

fn format_rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `watermark − THREAT_OVERLAP`, as the RFC 3339 text the checkpoint keeps for the walk's `updatedAt__gt`.
pub(super) fn overlap_start(watermark: OffsetDateTime) -> String {
    format_rfc3339(watermark - THREAT_OVERLAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_goes_back_five_minutes() {
        assert_eq!(
            overlap_start(time::macros::datetime!(2026-01-02 00:03:00 UTC)),
            "2026-01-01T23:58:00Z"
        );
        // An unreadable stored watermark never reaches here: the store reads it as absent (its `stored_time`).
    }
}
