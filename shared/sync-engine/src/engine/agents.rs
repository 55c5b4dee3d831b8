//! Applying one page of the agent walk: agents become assets (tags into custom fields), the live ones are
//! recorded as seen for finalize, and each asset is decided against the stored one
//! ([`s1_core::merge::decide_walked_asset`]), read unless the tenant's asset digests vouch for it
//! ([`connector_store::AssetDigests`]).

use connector_store::AgentWalkTally;
use s1_core::custom_fields::apply_tags_to_custom_fields;
use s1_core::mapping::assets_from_agents;
use s1_core::merge::decide_walked_asset;
use s1_core::records::Agent;
use s1_core::AssetDecision;
use sentinelone_client::Page;

use super::walk::ApplyPage;
use super::{RunContext, Stop, SyncEngine};

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
        // The asset digests vouch for the stored assets they describe exactly (a real run only): the merge rule
        // runs against the asset they rebuild, and only an "unchanged" decision spares the read.
        //
        // Read once per invocation, not once per page: the copy this invocation's pages keep is what a fresh read
        // would return, because while the agent walk runs nothing else writes the digest items or an asset an
        // entry describes.
        // - The digests are written only by the sync, under the tenant's lease (this walk; threat onboarding and
        //   retirement in later phases of the same run, which read them afresh). Every write this walk makes goes
        //   through this copy first (journal, entries, marker), so the copy holds it whether or not the store
        //   has it yet. A page that fails drops the copy (taken out of the context below): the invocation stops, and
        //   whatever ran next reads the digests again.
        // - The API writes asset items only as registrations: they create an asset that does not exist and revive
        //   an inactive one. An entry describes a stored, active asset, so neither touches an asset it vouches for,
        //   and neither writes a digest item. A saved configuration reaches the sync at the next invocation, with
        //   a new read.
        // - The previous run's seen assets read with them are final: that run ended before this one took the lease.
        // A worker that lost the lease writes nothing after the heartbeat that would have told it (see `walk`).
        let mut digests = match ctx.dry_run() {
            true => None,
            false => match ctx.asset_digests.take() {
                Some(kept) => Some(kept),
                None => Some(Box::new(
                    Box::pin(self.store.load_asset_digests(&ctx.tenant, &ctx.run.id)).await?,
                )),
            },
        };
        let vouched: Vec<bool> = assets
            .iter()
            .map(|incoming| {
                digests
                    .as_ref()
                    .and_then(|d| d.vouch(incoming))
                    .is_some_and(|stored| {
                        decide_walked_asset(incoming, Some((&stored, true)), &ctx.settings)
                            == AssetDecision::Unchanged
                    })
            })
            .collect();
        let keys: Vec<String> = assets.iter().map(|a| a.key.as_str().to_string()).collect();
        // The decision needs SentinelOne's side only (no registration), and on a fresh walk only the keys this
        // walk wrote before can be stored.
        let unvouched: Vec<String> = keys
            .iter()
            .zip(&vouched)
            .filter(|(_, v)| !**v)
            .map(|(k, _)| k.clone())
            .collect();
        let maybe_stored: Vec<String> = match &ctx.fresh_assets {
            Some(fresh) => fresh.maybe_decided(&unvouched),
            None => unvouched,
        };
        // Named in the digests' journal before they are recorded as seen: were the page never applied, the next
        // run must not vouch for an asset this run saw but did not bring up to date.
        if let Some(d) = &mut digests {
            self.store
                .expect_asset_reads(&ctx.tenant, d, &maybe_stored)
                .await?;
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
        let existing = self
            .store
            .load_asset_heads(&ctx.tenant, &maybe_stored)
            .await?;
        let decisions: Vec<AssetDecision> = assets
            .iter()
            .zip(&vouched)
            .map(|(incoming, vouched)| {
                if *vouched {
                    return AssetDecision::Unchanged;
                }
                let stored = existing
                    .get(incoming.key.as_str())
                    .map(|s| (&s.asset, s.sentinelone_active()));
                decide_walked_asset(incoming, stored, &ctx.settings)
            })
            .collect();
        self.record_unmatched(ctx, &assets, &decisions, &page.skipped)
            .await?;
        let counts = if ctx.dry_run() {
            // What a real run's page would leave stored, for the threat walk's decisions that follow (a
            // continuation in another invocation falls back to the keys the walk recorded as seen).
            let known = ctx.dry_known.get_or_insert_with(Default::default);
            for (asset, decision) in assets.iter().zip(&decisions) {
                if !matches!(decision, AssetDecision::Skip { .. }) {
                    known.insert(asset.key.as_str().to_string());
                }
            }
            let (counts, names) = self
                .store
                .preview_asset_decisions(&ctx.tenant, &decisions)
                .await?;
            note_assets(ctx, names);
            counts
        } else {
            let counts = match &mut digests {
                Some(d) => {
                    self.store
                        .apply_walked_page(
                            &ctx.tenant,
                            &decisions,
                            &ctx.run.id,
                            &existing,
                            (d, &maybe_stored),
                        )
                        .await?
                }
                None => {
                    self.store
                        .apply_walked_assets(&ctx.tenant, &decisions, &ctx.run.id, &existing)
                        .await?
                }
            };
            if let Some(fresh) = &mut ctx.fresh_assets {
                fresh.note_walked(keys, &decisions);
            }
            counts
        };
        ctx.run.record_assets(&counts);
        ctx.asset_digests = digests;
        Ok(())
    }
}

/// A dry run's asset names: the first created and updated.
pub(super) fn note_assets(ctx: &mut RunContext, names: Vec<(String, bool)>) {
    let report = ctx.report();
    for (name, created) in names {
        let list = if created {
            &mut report.assets_created
        } else {
            &mut report.assets_updated
        };
        connector_store::DryRunReport::note(list, name);
    }
}

/// A dry run's finding names: the first created and updated.
pub(super) fn note_findings(ctx: &mut RunContext, names: Vec<(String, bool)>) {
    let report = ctx.report();
    for (name, created) in names {
        let list = if created {
            &mut report.findings_created
        } else {
            &mut report.findings_updated
        };
        connector_store::DryRunReport::note(list, name);
    }
}
