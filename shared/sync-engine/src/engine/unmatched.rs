//! Agents a run did not onboard: recorded with their reason and a possible match (an asset with the same serial
//! number or MAC address under another name), so that a user can see what auto-onboard off left out.

use connector_store::UnmatchedAgent;
use s1_core::{Asset, AssetDecision, SkippedRecord};

use super::{RunContext, Stop, SyncEngine};

impl SyncEngine {
    /// Records the page's agents that were not onboarded: skipped by the merge rule (auto-onboard off and no asset
    /// of that name) or skipped by the decoder (no usable identity).
    pub(super) async fn record_unmatched(
        &self,
        ctx: &mut RunContext,
        assets: &[Asset],
        decisions: &[AssetDecision],
        undecodable: &[SkippedRecord],
    ) -> Result<(), Stop> {
        let skipped: Vec<(&Asset, String)> = assets
            .iter()
            .zip(decisions)
            .filter_map(|(a, d)| match d {
                AssetDecision::Skip { reason, .. } => Some((a, reason_key(reason))),
                _ => None,
            })
            .collect();
        if skipped.is_empty() && undecodable.is_empty() {
            return Ok(());
        }
        if ctx.asset_ids.is_none() {
            ctx.asset_ids = Some(self.store.asset_identifiers(&ctx.tenant).await?);
        }
        let ids = ctx.asset_ids.as_ref();
        let mut agents: Vec<UnmatchedAgent> = skipped
            .into_iter()
            .map(|(a, reason)| UnmatchedAgent {
                name: a.name.clone(),
                agent_id: a.primary_agent_id.clone(),
                last_active: a.last_seen.and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                }),
                reason,
                possible_match: ids
                    .and_then(|i| i.possible_match(a.serial.as_deref(), &a.mac_addresses)),
            })
            .collect();
        agents.extend(undecodable.iter().map(|s| UnmatchedAgent {
            name: String::new(),
            agent_id: s.id.clone(),
            last_active: None,
            reason: reason_key(&s.reason),
            possible_match: None,
        }));
        let n = agents.len() as u64;
        self.store
            .record_unmatched_agents(
                &ctx.tenant,
                &ctx.run.id,
                ctx.run.counters.agents_unmatched,
                agents,
            )
            .await?;
        ctx.run.counters.agents_unmatched += n;
        Ok(())
    }
}

fn reason_key(reason: &s1_core::SkipReason) -> String {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::String(s)) => s,
        _ => reason.to_string(),
    }
}
