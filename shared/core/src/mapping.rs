//! Agents to assets, threats to findings, and de-duplication within a run.
//!
//! - The same agent id twice in a run is one agent (the later `updatedAt` wins, then the later position).
//! - Agents with the same computer name (re-imaged machines) are one asset: the most recently active agent
//!   (`lastActiveDate`) wins the metadata and every agent id is kept ([`merge_agent_into`]).
//! - The same threat id twice in a run is one finding (the later `updatedAt` wins, then the later position).
//!
//! Custom fields are not filled here: the caller applies [`crate::custom_fields::apply_tags_to_custom_fields`]
//! with the tenant's definitions before deciding what to write.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::asset::{
    agent_fallback_key, bound_agent_ids, normalize_computer_name, normalize_mac, shortened,
    usable_agent_id, usable_computer_name, Asset, AssetOrigin, IpCollector, MAX_KEY_BYTES,
};
use crate::finding::{severity, Finding};
use crate::links;
use crate::records::{Agent, NetworkInterface, SkipReason, SkippedRecord, Tag, Threat};
use crate::verdicts::{finding_status, AnalystVerdict, VerdictInclusionList};

/// The tenant settings the rules depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingSettings {
    /// Create platform assets for SentinelOne machines that do not exist yet.
    pub auto_onboard: bool,
    /// Let SentinelOne metadata overwrite existing assets (otherwise only the agent link and findings attach).
    pub update_metadata: bool,
    /// Verdicts that make a threat a failed finding.
    pub verdicts: VerdictInclusionList,
    /// The console root for deep links; blank means no links.
    pub console_base_url: String,
}

impl Default for MappingSettings {
    fn default() -> Self {
        Self {
            auto_onboard: true,
            update_metadata: true,
            verdicts: VerdictInclusionList::default(),
            console_base_url: String::new(),
        }
    }
}

fn add_interfaces(
    ips: &mut IpCollector,
    macs: &mut BTreeSet<String>,
    interfaces: &[NetworkInterface],
) {
    for nic in interfaces {
        for ip in nic.inet.iter().chain(&nic.inet6) {
            ips.add(ip);
        }
        if let Some(mac) = nic.physical.as_deref().and_then(normalize_mac) {
            macs.insert(mac);
        }
    }
}

/// Tags with a key, each once, sorted by key then value: tag order on the console is not meaningful and must not
/// change the content hash.
fn clean_tags(tags: &[Tag]) -> Vec<Tag> {
    let mut out: Vec<Tag> = tags.iter().filter(|t| !t.key.is_empty()).cloned().collect();
    out.sort();
    out.dedup_by(|a, b| a.key == b.key && a.value == b.value);
    out
}

/// One agent as an asset (identity, addresses, OS, scope, state, link, tags). Custom fields start empty.
pub fn map_agent(agent: &Agent, settings: &MappingSettings) -> Asset {
    let key = normalize_computer_name(&agent.computer_name)
        .unwrap_or_else(|| agent_fallback_key(&agent.id));
    let mut ips = IpCollector::default();
    for ip in [&agent.external_ip, &agent.last_ip_to_mgmt]
        .into_iter()
        .flatten()
    {
        ips.add(ip);
    }
    let mut macs = BTreeSet::new();
    add_interfaces(&mut ips, &mut macs, &agent.network_interfaces);
    let (ipv4, ipv6) = ips.finish();
    let name = agent.computer_name.trim();
    Asset {
        name: if name.is_empty() {
            key.as_str().to_owned()
        } else {
            name.to_owned()
        },
        key,
        ipv4,
        ipv6,
        mac_addresses: macs.into_iter().collect(),
        os_name: agent.os_name.clone(),
        os_type: agent.os_type.clone(),
        os_version: agent.os_revision.clone(),
        machine_type: agent.machine_type.clone(),
        model: agent.model_name.clone(),
        serial: agent.serial_number.clone(),
        domain: agent.domain.clone(),
        agent_version: agent.agent_version.clone(),
        site_id: agent.site_id.clone(),
        site_name: agent.site_name.clone(),
        group_id: agent.group_id.clone(),
        group_name: agent.group_name.clone(),
        account_id: agent.account_id.clone(),
        account_name: agent.account_name.clone(),
        active: agent.is_active,
        decommissioned: agent.is_decommissioned,
        infected: agent.infected,
        last_seen: agent.last_active_date,
        console_url: links::agent_url(&settings.console_base_url, &agent.id),
        primary_agent_id: Some(agent.id.clone()).filter(|id| !id.is_empty()),
        agent_ids: std::iter::once(agent.id.clone())
            .filter(|id| !id.is_empty())
            .collect(),
        custom_fields: BTreeMap::new(),
        tags: clean_tags(&agent.tags),
        origin: AssetOrigin::Agent,
    }
}

/// The order in which an asset's metadata wins: agent-walk data over threat data, then the most recent
/// `lastActiveDate` by the hour, then the larger agent id so the result does not depend on input order. By the
/// hour: two online agents of one machine name both move `lastActiveDate` on every request of a live console, and
/// comparing to the microsecond would hand the asset back and forth between them on every sync.
fn precedence(a: &Asset) -> (bool, Option<i64>, Option<&str>) {
    let refresh = crate::merge::LAST_SEEN_REFRESH.as_secs() as i64;
    (
        a.origin == AssetOrigin::Agent,
        a.last_seen.map(|t| t.unix_timestamp().div_euclid(refresh)),
        a.primary_agent_id.as_deref(),
    )
}

/// Two views of the same machine (same key), typically a re-imaged machine's old and new agents: the most
/// recently active one supplies the metadata, and the asset keeps every agent id of both.
pub fn merge_agent_into(existing: &Asset, incoming: &Asset) -> Asset {
    let winner = if precedence(incoming) >= precedence(existing) {
        incoming
    } else {
        existing
    };
    let mut merged = winner.clone();
    merged.agent_ids = existing
        .agent_ids
        .union(&incoming.agent_ids)
        .cloned()
        .collect();
    bound_agent_ids(&mut merged.agent_ids, merged.primary_agent_id.as_deref());
    merged
}

/// Keeps one record per id: the later `updated_at`, and on a tie (or when unknown) the later position.
fn latest_by_id<T>(
    records: &[T],
    id: impl Fn(&T) -> &str,
    updated: impl Fn(&T) -> Option<OffsetDateTime>,
) -> BTreeMap<&str, &T> {
    let mut latest: BTreeMap<&str, &T> = BTreeMap::new();
    for r in records {
        let slot = latest.entry(id(r)).or_insert(r);
        if updated(r) >= updated(slot) {
            *slot = r;
        }
    }
    latest
}

/// A batch of agents as assets: duplicate agent ids collapsed, agents with the same key merged. Sorted by key.
pub fn assets_from_agents(agents: &[Agent], settings: &MappingSettings) -> Vec<Asset> {
    let unique = latest_by_id(agents, |a| a.id.as_str(), |a| a.updated_at);
    let mut by_key: BTreeMap<crate::asset::AssetKey, Asset> = BTreeMap::new();
    for agent in unique.into_values() {
        let asset = map_agent(agent, settings);
        match by_key.get_mut(&asset.key) {
            // Same rule as `merge_agent_into`, without cloning the winner: both values are owned here.
            Some(existing) => {
                let mut loser = if precedence(&asset) >= precedence(existing) {
                    std::mem::replace(existing, asset)
                } else {
                    asset
                };
                existing.agent_ids.append(&mut loser.agent_ids);
                bound_agent_ids(
                    &mut existing.agent_ids,
                    existing.primary_agent_id.as_deref(),
                );
            }
            None => {
                by_key.insert(asset.key.clone(), asset);
            }
        }
    }
    by_key.into_values().collect()
}

/// The threat's id: top-level `id`, else `threatInfo.threatId`.
fn threat_id(threat: &Threat) -> Option<&str> {
    let top = threat.id.trim();
    if !top.is_empty() {
        return Some(top);
    }
    threat
        .threat_info
        .threat_id
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The last path segment, for threats that carry a path but no name (Windows or POSIX separators).
fn file_name(path: &str) -> Option<&str> {
    path.rsplit(['\\', '/'])
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn lower_hex(h: &Option<String>) -> Option<String> {
    h.as_deref().map(str::to_ascii_lowercase)
}

/// The finding id of a threat id: `s1-threat-<id>`, with an over-long id shortened like an asset key so the item
/// key stays within DynamoDB's limits (the full id stays in [`Finding::threat_id`]).
pub fn finding_id(threat_id: &str) -> String {
    if threat_id.len() <= MAX_KEY_BYTES {
        format!("s1-threat-{threat_id}")
    } else {
        format!("s1-threat-{}", shortened(threat_id))
    }
}

/// One threat as a finding. Fails (with the reason) only when the threat has no id: a threat whose agent computer
/// name is unusable is still a finding, with no asset key and not attached.
pub fn map_threat(threat: &Threat, settings: &MappingSettings) -> Result<Finding, SkippedRecord> {
    let Some(id) = threat_id(threat) else {
        return Err(SkippedRecord {
            id: None,
            reason: SkipReason::MissingId,
        });
    };
    let realtime = &threat.agent_realtime_info;
    let asset_key = usable_computer_name(&realtime.agent_computer_name);
    let info = &threat.threat_info;
    let verdict = info
        .analyst_verdict
        .clone()
        .unwrap_or(AnalystVerdict::Undefined);
    let name = info
        .threat_name
        .clone()
        .or_else(|| {
            info.file_path
                .as_deref()
                .and_then(file_name)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("SentinelOne threat {id}"));
    let title = match &info.classification {
        Some(class) => format!("{class}: {name}"),
        None => name,
    };

    let engines: BTreeSet<String> = info
        .detection_engines
        .iter()
        .filter_map(|e| e.title.clone().or_else(|| e.key.clone()))
        .chain(info.engines.iter().cloned())
        .collect();
    let mut tactics = BTreeSet::new();
    let mut techniques = BTreeSet::new();
    for tactic in threat.indicators.iter().flat_map(|i| &i.tactics) {
        if let Some(n) = &tactic.name {
            tactics.insert(n.clone());
        }
        for t in &tactic.techniques {
            if let Some(n) = &t.name {
                techniques.insert(n.clone());
            }
        }
    }

    Ok(Finding {
        id: finding_id(id),
        threat_id: id.to_owned(),
        asset_name: realtime.agent_computer_name.trim().to_owned(),
        // Decided against the platform's assets by the sync; a mapped threat is attached when its asset exists.
        attached: asset_key.is_some(),
        asset_key,
        title,
        status: finding_status(&verdict, &settings.verdicts),
        severity: severity(
            info.confidence_level.as_ref(),
            info.classification.as_deref(),
        ),
        analyst_verdict: verdict,
        incident_status: info.incident_status.clone(),
        mitigation_status: info.mitigation_status.clone(),
        confidence_level: info.confidence_level.clone(),
        classification: info.classification.clone(),
        threat_name: info.threat_name.clone(),
        file_path: info.file_path.clone(),
        sha1: lower_hex(&info.sha1),
        sha256: lower_hex(&info.sha256),
        md5: lower_hex(&info.md5),
        detection_engines: engines.into_iter().collect(),
        detection_type: info.detection_type.clone(),
        mitre_tactics: tactics.into_iter().collect(),
        mitre_techniques: techniques.into_iter().collect(),
        first_seen: info.created_at,
        last_seen: info.updated_at,
        updated_at: info.updated_at,
        console_url: links::threat_url(&settings.console_base_url, id),
        agent_id: usable_agent_id(realtime.agent_id.as_deref()),
        lifecycle: None,
    })
}

/// An asset built from a threat's `agentRealtimeInfo` (name, OS, scope, state, interface addresses) plus the
/// addresses of `agentDetectionInfo`, for a threat whose agent was not in the agent walk. `None` without an agent
/// computer name. It never overwrites an agent-built asset (see [`crate::merge::decide_asset`]).
pub fn asset_from_threat(threat: &Threat, settings: &MappingSettings) -> Option<Asset> {
    let rt = &threat.agent_realtime_info;
    let key = usable_computer_name(&rt.agent_computer_name)?;
    let det = &threat.agent_detection_info;
    let mut ips = IpCollector::default();
    for ip in [&det.external_ip, &det.agent_ip_v4, &det.agent_ip_v6]
        .into_iter()
        .flatten()
    {
        ips.add(ip);
    }
    let mut macs = BTreeSet::new();
    add_interfaces(&mut ips, &mut macs, &rt.network_interfaces);
    let (ipv4, ipv6) = ips.finish();
    let agent_id = usable_agent_id(rt.agent_id.as_deref());
    Some(Asset {
        name: rt.agent_computer_name.trim().to_owned(),
        key,
        ipv4,
        ipv6,
        mac_addresses: macs.into_iter().collect(),
        os_name: rt
            .agent_os_name
            .clone()
            .or_else(|| det.agent_os_name.clone()),
        os_type: rt.agent_os_type.clone(),
        os_version: rt
            .agent_os_revision
            .clone()
            .or_else(|| det.agent_os_revision.clone()),
        machine_type: rt.agent_machine_type.clone(),
        model: None,
        serial: None,
        domain: rt.agent_domain.clone().or_else(|| det.agent_domain.clone()),
        agent_version: rt
            .agent_version
            .clone()
            .or_else(|| det.agent_version.clone()),
        site_id: rt.site_id.clone(),
        site_name: rt.site_name.clone(),
        group_id: rt.group_id.clone(),
        group_name: rt.group_name.clone(),
        account_id: rt.account_id.clone(),
        account_name: rt.account_name.clone(),
        active: rt.agent_is_active,
        decommissioned: rt.agent_is_decommissioned,
        infected: rt.agent_infected,
        last_seen: None,
        console_url: agent_id
            .as_deref()
            .and_then(|id| links::agent_url(&settings.console_base_url, id)),
        agent_ids: agent_id.iter().cloned().collect(),
        primary_agent_id: agent_id,
        custom_fields: BTreeMap::new(),
        tags: Vec::new(),
        origin: AssetOrigin::ThreatAgentInfo,
    })
}

/// One threat per id: the later `threatInfo.updatedAt` wins, then the later position. Sorted by id.
pub fn dedupe_threats(threats: &[Threat]) -> Vec<&Threat> {
    latest_by_id(
        threats,
        |t| threat_id(t).unwrap_or_default(),
        |t| t.threat_info.updated_at,
    )
    .into_values()
    .collect()
}

/// Findings of one batch of threats, de-duplicated by threat id, with the threats that could not be mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedFindings {
    pub findings: Vec<Finding>,
    pub skipped: Vec<SkippedRecord>,
}

/// Maps a batch: [`dedupe_threats`] then [`map_threat`] for each.
pub fn findings_from_threats(threats: &[Threat], settings: &MappingSettings) -> MappedFindings {
    let mut findings = Vec::with_capacity(threats.len());
    let mut skipped = Vec::new();
    for threat in dedupe_threats(threats) {
        match map_threat(threat, settings) {
            Ok(f) => findings.push(f),
            Err(s) => skipped.push(s),
        }
    }
    MappedFindings { findings, skipped }
}
