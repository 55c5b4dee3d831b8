//! What to do with one mapped SentinelOne asset or finding given what the platform already holds. The output is
//! a decision value; the store applies it.
//!
//! | existing asset | auto-onboard | update-metadata | decision                                                    |
//! |----------------|--------------|-----------------|-------------------------------------------------------------|
//! | none           | on           | any             | `Create`                                                    |
//! | none           | off          | any             | `Skip` (counted, reason `AutoOnboardDisabled`)              |
//! | exists         | any          | on              | `Update` with SentinelOne's fields, or `Unchanged` when the content hash is equal |
//! | exists         | any          | off             | `AttachOnly` with the union of agent ids, or `Unchanged` when no id is new |
//!
//! An asset built from a threat's agent info never overwrites an existing asset built from an agent (it knows
//! too little); against such an asset it is treated as update-metadata off.
//!
//! `lastActiveDate` moves on every request for an online agent. The asset keeps it as `last_seen`, but a change
//! of `last_seen` alone is written at most once per [`LAST_SEEN_REFRESH`]: otherwise every sync would rewrite
//! every online machine. Any other change is written at once (and carries the current `last_seen` with it).
//!
//! Findings are never skipped: [`decide_finding`] marks a finding unattached when its asset does not exist.
//!
//! Two rules of the sync's page walks sit on top of the table: [`decide_walked_asset`] (an agent's asset against
//! the stored one, re-activating a retired asset SentinelOne returns live again) and [`assets_onboarded_by_threats`]
//! (which threats of a page create the asset their finding needs).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::asset::{bound_agent_ids, Asset, AssetKey, AssetOrigin};
use crate::finding::Finding;
use crate::hash::ContentHash;
use crate::mapping::{asset_from_threat, merge_agent_into, MappingSettings};
use crate::records::{SkipReason, Threat};

// Decisions are made and applied one record at a time and moved straight into the store; boxing the large
// variant would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum AssetDecision {
    /// Write a new asset.
    Create(Asset),
    /// Replace the existing asset's SentinelOne fields with these (agent ids already unioned).
    Update(Asset),
    /// Leave metadata untouched; set the asset's agent ids to `agent_ids` (the complete union, not a delta).
    AttachOnly {
        key: AssetKey,
        agent_ids: BTreeSet<String>,
    },
    /// Nothing to write.
    Unchanged,
    /// Not imported; count it and report the reason.
    Skip { name: String, reason: SkipReason },
}

/// How long a movement of `last_seen` alone (an online agent's `lastActiveDate`) may go unwritten.
pub const LAST_SEEN_REFRESH: Duration = Duration::from_secs(60 * 60);

/// True when `incoming` differs from `existing` in `last_seen` only, by less than [`LAST_SEEN_REFRESH`].
fn only_last_seen_moved(incoming: &Asset, existing: &Asset) -> bool {
    let (Some(new), Some(old)) = (incoming.last_seen, existing.last_seen) else {
        return false;
    };
    if (new - old).unsigned_abs() >= LAST_SEEN_REFRESH {
        return false;
    }
    let mut same_time = incoming.clone();
    same_time.last_seen = existing.last_seen;
    same_time.content_hash() == existing.content_hash()
}

/// Applies the table in the module documentation.
pub fn decide_asset(
    incoming: &Asset,
    existing: Option<&Asset>,
    settings: &MappingSettings,
) -> AssetDecision {
    let Some(existing) = existing else {
        return if settings.auto_onboard {
            AssetDecision::Create(incoming.clone())
        } else {
            AssetDecision::Skip {
                name: incoming.name.clone(),
                reason: SkipReason::AutoOnboardDisabled,
            }
        };
    };
    let mut agent_ids: BTreeSet<String> = existing
        .agent_ids
        .union(&incoming.agent_ids)
        .cloned()
        .collect();
    let primary = if settings.update_metadata {
        incoming.primary_agent_id.as_deref()
    } else {
        existing.primary_agent_id.as_deref()
    };
    bound_agent_ids(&mut agent_ids, primary);
    let sparse_over_rich =
        incoming.origin == AssetOrigin::ThreatAgentInfo && existing.origin == AssetOrigin::Agent;
    if settings.update_metadata && !sparse_over_rich {
        let mut merged = incoming.clone();
        merged.key = existing.key.clone();
        merged.agent_ids = agent_ids;
        if merged.content_hash() == existing.content_hash()
            || only_last_seen_moved(&merged, existing)
        {
            AssetDecision::Unchanged
        } else {
            AssetDecision::Update(merged)
        }
    } else if agent_ids == existing.agent_ids {
        AssetDecision::Unchanged
    } else {
        AssetDecision::AttachOnly {
            key: existing.key.clone(),
            agent_ids,
        }
    }
}

/// A finding as it is written: `attached` when its asset exists in the platform (or is created in this run),
/// otherwise kept unattached with the agent name and id it reported, so that no threat is ever dropped. A later
/// sync that finds the asset writes it again as attached (the flag is part of the content hash).
pub fn decide_finding(finding: &Finding, asset_exists: bool) -> Finding {
    let mut out = finding.clone();
    out.attached = finding.asset_key.is_some() && asset_exists;
    out
}

/// The decision for one asset of the agent walk, given the stored asset and whether it is still active
/// (`stored`: the asset and its `active` flag, `None` when the platform does not hold it).
pub fn decide_walked_asset(
    incoming: &Asset,
    stored: Option<(&Asset, bool)>,
    settings: &MappingSettings,
) -> AssetDecision {
    let stored_asset = stored.map(|(asset, _)| asset);
    // The same machine may come back under several agents on different pages (re-imaged machines):
    // merging with what is stored keeps every agent id and lets the most recently active one win.
    let candidate = match stored_asset {
        Some(s) if s.origin == incoming.origin => merge_agent_into(s, incoming),
        _ => incoming.clone(),
    };
    match decide_asset(&candidate, stored_asset, settings) {
        // A retired asset that SentinelOne returns live again is re-activated even when its metadata
        // did not change (the agent-link write also clears the retirement).
        AssetDecision::Unchanged
            if stored.is_some_and(|(_, active)| !active)
                && incoming.decommissioned != Some(true) =>
        {
            AssetDecision::AttachOnly {
                key: candidate.key.clone(),
                agent_ids: candidate.agent_ids.clone(),
            }
        }
        decision => decision,
    }
}

/// Threats whose agent was not in the agent walk: with auto-onboard on, the asset is built from the threat's
/// agentRealtimeInfo so that the finding has an asset. Returns, by asset key, the assets a page of threats
/// creates: one per machine that a finding of the page names (`finding_keys`, sorted and without duplicates)
/// and that `exists` does not know; the first threat of a machine wins. With auto-onboard off, none.
pub fn assets_onboarded_by_threats(
    threats: &[Threat],
    finding_keys: &[String],
    exists: impl Fn(&str) -> bool,
    settings: &MappingSettings,
) -> BTreeMap<String, Asset> {
    let mut new_assets: BTreeMap<String, Asset> = BTreeMap::new();
    if settings.auto_onboard {
        for threat in threats {
            if let Some(asset) = asset_from_threat(threat, settings) {
                let key = asset.key.as_str().to_string();
                if !exists(&key) && finding_keys.binary_search(&key).is_ok() {
                    new_assets.entry(key).or_insert(asset);
                }
            }
        }
    }
    new_assets
}
