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

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::asset::{Asset, AssetKey, AssetOrigin};
use crate::finding::Finding;
use crate::hash::ContentHash;
use crate::mapping::MappingSettings;
use crate::records::SkipReason;

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
    let agent_ids: BTreeSet<String> = existing
        .agent_ids
        .union(&incoming.agent_ids)
        .cloned()
        .collect();
    let sparse_over_rich =
        incoming.origin == AssetOrigin::ThreatAgentInfo && existing.origin == AssetOrigin::Agent;
    if settings.update_metadata && !sparse_over_rich {
        let mut merged = incoming.clone();
        merged.key = existing.key.clone();
        merged.agent_ids = agent_ids;
        if merged.content_hash() == existing.content_hash() {
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

// Decisions are made and applied one record at a time and moved straight into the store; boxing the large
// variant would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum FindingDecision {
    /// Write (insert or replace by id); the store may skip the write when the content hash is unchanged.
    Upsert(Finding),
    /// Not imported; count it and report the reason.
    Skip {
        threat_id: String,
        reason: SkipReason,
    },
}

/// A finding is imported when its asset exists or is being created in this run (`asset_exists`), or when
/// auto-onboarding will create the asset from the threat. Otherwise it has nowhere to attach and is skipped.
pub fn decide_finding(
    finding: &Finding,
    asset_exists: bool,
    settings: &MappingSettings,
) -> FindingDecision {
    if asset_exists || settings.auto_onboard {
        FindingDecision::Upsert(finding.clone())
    } else {
        FindingDecision::Skip {
            threat_id: finding.threat_id.clone(),
            reason: SkipReason::AssetNotOnboarded,
        }
    }
}
