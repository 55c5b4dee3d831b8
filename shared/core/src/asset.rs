//! The platform asset a SentinelOne agent (or a threat's agent) becomes, and **the asset identity rule**.
//!
//! Identity is the computer name, trimmed and compared case-insensitively: [`normalize_computer_name`] is the one
//! place that rule lives. Several agents with the same computer name (a re-imaged machine) are one asset that
//! carries every agent id (see [`crate::mapping::merge_agent_into`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::records::{MachineType, OsType, Tag};

/// The normalised identity of an asset: the computer name, trimmed and lowercased (Unicode-aware).
/// Built only by [`normalize_computer_name`], also when deserialized, so two keys are equal exactly when the
/// rule says the machines are the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AssetKey(String);

impl AssetKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<AssetKey> for String {
    fn from(k: AssetKey) -> String {
        k.0
    }
}

/// A stored key that does not survive [`normalize_computer_name`] (blank).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an asset key must be a non-blank computer name")]
pub struct BlankAssetKey;

impl TryFrom<String> for AssetKey {
    type Error = BlankAssetKey;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        normalize_computer_name(&s).ok_or(BlankAssetKey)
    }
}

/// Keys longer than this (in bytes) are shortened to a prefix plus a hash of the whole name: DynamoDB limits a
/// sort key to 1,024 bytes and the findings-by-asset index key to 2,048, and a console can send any length.
pub const MAX_KEY_BYTES: usize = 200;
/// How much of an over-long name the shortened key keeps, so prefix search on names still finds it.
const KEY_PREFIX_BYTES: usize = 160;

/// **The asset identity rule.** The computer name trimmed of surrounding whitespace and lowercased with Unicode
/// case mapping; `None` when nothing is left. `"  EC2AMAZ-AJ0KANC "` and `"ec2amaz-aj0kanc"` are the same asset.
/// A name longer than [`MAX_KEY_BYTES`] becomes its first bytes plus `~` and a SHA-256 of the whole normalised
/// name (the full name stays in [`Asset::name`]); applying the rule to such a key again leaves it unchanged.
pub fn normalize_computer_name(name: &str) -> Option<AssetKey> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return None;
    }
    // Most hostnames are ASCII; skip the Unicode path (and its allocation pattern) for them.
    let lowered = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        trimmed.to_lowercase()
    };
    if lowered.len() <= MAX_KEY_BYTES {
        return Some(AssetKey(lowered));
    }
    Some(AssetKey(shortened(&lowered)))
}

/// `<prefix>~<sha256 hex>` for an over-long normalised value (at most [`MAX_KEY_BYTES`]).
pub(crate) fn shortened(value: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut cut = KEY_PREFIX_BYTES.min(value.len());
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    format!("{}~{}", value[..cut].trim_end(), &digest[..32])
}

/// The value the SentinelOne API documentation shows for every string field. Consoles (and tools that replay the
/// documentation's examples) send it verbatim; it never names a real machine or agent.
pub const API_DOC_PLACEHOLDER: &str = "string";

/// True for a value that carries no identity: blank, or the API documentation's placeholder.
pub fn is_placeholder(value: &str) -> bool {
    let t = value.trim();
    t.is_empty() || t.eq_ignore_ascii_case(API_DOC_PLACEHOLDER)
}

/// The asset key of a computer name SentinelOne sent, or `None` when the name cannot identify a machine (blank or
/// a placeholder). Stored keys go through [`normalize_computer_name`] only, so no stored asset becomes unreadable.
pub fn usable_computer_name(name: &str) -> Option<AssetKey> {
    if is_placeholder(name) {
        return None;
    }
    normalize_computer_name(name)
}

/// An agent id SentinelOne sent, trimmed, or `None` when it is blank or a placeholder.
pub fn usable_agent_id(id: Option<&str>) -> Option<String> {
    id.filter(|i| !is_placeholder(i))
        .map(|i| i.trim().to_owned())
}

/// Agent ids kept per asset. A machine re-imaged daily for years, or a console that mints agents under one name,
/// would otherwise grow one item without bound (DynamoDB items stop at 400 KB).
pub const MAX_AGENT_IDS: usize = 64;

/// Keeps the [`MAX_AGENT_IDS`] most recent agent ids, and always `keep` (the primary agent). SentinelOne ids are
/// increasing integers, so the most recent are the numerically largest: compared by length, then text.
pub fn bound_agent_ids(ids: &mut BTreeSet<String>, keep: Option<&str>) {
    if ids.len() <= MAX_AGENT_IDS {
        return;
    }
    let mut ordered: Vec<String> = std::mem::take(ids).into_iter().collect();
    ordered.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| b.cmp(a)));
    let mut kept: BTreeSet<String> = ordered.into_iter().take(MAX_AGENT_IDS).collect();
    if let Some(k) = keep.filter(|k| !kept.contains(*k)) {
        // Make room for the primary agent by dropping the oldest kept id.
        if let Some(oldest) = kept
            .iter()
            .min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
            .cloned()
        {
            kept.remove(&oldest);
        }
        kept.insert(k.to_owned());
    }
    *ids = kept;
}

/// The key for an agent that has no usable computer name. The page decoders never return such an agent; this
/// exists so that mapping a hand-built record still cannot fail or merge unrelated agents.
pub(crate) fn agent_fallback_key(agent_id: &str) -> AssetKey {
    AssetKey(format!("s1-agent-{}", agent_id.trim()).to_lowercase())
}

/// Where an asset's metadata came from. A threat's `agentRealtimeInfo` carries far less than the agent itself,
/// so an asset built from it never overwrites one built from an agent (see [`crate::merge::decide_asset`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum AssetOrigin {
    /// Built from `GET /agents`.
    #[default]
    Agent,
    /// Built from a threat whose agent was not in the agent walk.
    ThreatAgentInfo,
    /// Registered by the platform itself (import or manual registration, see [`crate::registry`]) and not yet
    /// described by SentinelOne: whatever SentinelOne later sends about the machine replaces this description.
    Platform,
}

/// Who told the platform that an asset exists. An asset may have several; the sync only ever adds or retires
/// the `sentinelone` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetSource {
    /// A SentinelOne agent (or a threat's agent) described it.
    Sentinelone,
    /// A bulk import registered it.
    Import,
    /// A single registration by computer name registered it.
    Manual,
}

impl AssetSource {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sentinelone => "sentinelone",
            Self::Import => "import",
            Self::Manual => "manual",
        }
    }
}

/// A SentinelOne machine as a platform asset. Timestamps serialize as RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub key: AssetKey,
    /// The computer name as the winning agent reports it (trimmed, original case).
    pub name: String,
    /// Valid IPv4 literals from `externalIp`, `lastIpToMgmt` and interface addresses; deduplicated, sorted.
    pub ipv4: Vec<String>,
    /// Valid IPv6 literals (canonical form) from the same sources; deduplicated, sorted.
    pub ipv6: Vec<String>,
    /// Interface MAC addresses, lowercase and `:` separated; deduplicated, sorted.
    pub mac_addresses: Vec<String>,
    pub os_name: Option<String>,
    pub os_type: Option<OsType>,
    /// `osRevision`.
    pub os_version: Option<String>,
    pub machine_type: Option<MachineType>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub domain: Option<String>,
    pub agent_version: Option<String>,
    pub site_id: Option<String>,
    pub site_name: Option<String>,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub active: Option<bool>,
    pub decommissioned: Option<bool>,
    pub infected: Option<bool>,
    /// `lastActiveDate` of the winning agent.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    /// Best-effort console deep link to the winning agent.
    pub console_url: Option<String>,
    /// The agent whose metadata this asset shows (the most recently active one); `None` only for an asset built
    /// from a threat that named no agent id.
    pub primary_agent_id: Option<String>,
    /// Every SentinelOne agent id seen for this machine.
    pub agent_ids: BTreeSet<String>,
    /// Tenant custom fields filled from tags (see [`crate::custom_fields`]); only fields with a value.
    pub custom_fields: BTreeMap<String, String>,
    /// The winning agent's tags, sorted by key then value.
    pub tags: Vec<Tag>,
    pub origin: AssetOrigin,
}

/// Collects valid IP literals into sorted, deduplicated v4 and v6 lists. Prefix lengths (`/24`) and IPv6 zone ids
/// (`%eth0`) are stripped; anything else that does not parse (such as the masked `3.122.240.x` of `groupIp`) is
/// dropped.
#[derive(Default)]
pub(crate) struct IpCollector {
    // The text kept per address is its canonical form, built once: the standard library's IPv4 parser accepts
    // only canonical dotted quads (no leading zeros, no shorthand), so a parsed IPv4 input is its own canonical
    // text and need not be formatted again (formatting was a fifth of the agent mapping time).
    v4: BTreeMap<std::net::Ipv4Addr, String>,
    v6: BTreeMap<std::net::Ipv6Addr, String>,
}

impl IpCollector {
    pub(crate) fn add(&mut self, raw: &str) {
        let t = raw.trim();
        let t = t.split_once('/').map_or(t, |(a, _)| a);
        let t = t.split_once('%').map_or(t, |(a, _)| a);
        match t.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => {
                self.v4.entry(a).or_insert_with(|| t.to_owned());
            }
            Ok(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                // An IPv4-mapped address is the v4 host; listing it twice would only confuse matching.
                Some(v4) => {
                    self.v4.entry(v4).or_insert_with(|| v4.to_string());
                }
                None => {
                    self.v6.entry(a).or_insert_with(|| a.to_string());
                }
            },
            Err(_) => {}
        }
    }

    pub(crate) fn finish(self) -> (Vec<String>, Vec<String>) {
        (
            self.v4.into_values().collect(),
            self.v6.into_values().collect(),
        )
    }
}

/// Normalises a MAC address (`00-00-5E-00-53-00`, `06:35:e6:62:53:2e`, `0000.5e00.5300`, `00005e005300`) to
/// lowercase colon form; `None` when it is not 12 hex digits or is all zeros (a placeholder, not a machine).
pub fn normalize_mac(raw: &str) -> Option<String> {
    let mut digits = [0u8; 12];
    let mut n = 0usize;
    for c in raw.trim().bytes() {
        match c {
            b':' | b'-' | b'.' => {}
            _ if c.is_ascii_hexdigit() => {
                if n == 12 {
                    return None;
                }
                digits[n] = c.to_ascii_lowercase();
                n += 1;
            }
            _ => return None,
        }
    }
    if n != 12 || digits.iter().all(|d| *d == b'0') {
        return None;
    }
    let mut out = String::with_capacity(17);
    for (i, pair) in digits.chunks(2).enumerate() {
        if i > 0 {
            out.push(':');
        }
        for d in pair {
            out.push(char::from(*d));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_rule_trims_and_lowercases() {
        let a = normalize_computer_name("  EC2AMAZ-AJ0KANC \t").map(String::from);
        assert_eq!(a.as_deref(), Some("ec2amaz-aj0kanc"));
        assert_eq!(
            normalize_computer_name("ÄRGER-PC"),
            normalize_computer_name("ärger-pc")
        );
        assert_eq!(normalize_computer_name("   "), None);
        assert_eq!(normalize_computer_name(""), None);
    }

    #[test]
    fn over_long_names_fit_the_key_limits_and_stay_distinct() {
        let long_a = format!("{}a", "x".repeat(5_000));
        let long_b = format!("{}b", "x".repeat(5_000));
        let a = normalize_computer_name(&long_a).unwrap();
        let b = normalize_computer_name(&long_b).unwrap();
        assert!(a.as_str().len() <= MAX_KEY_BYTES, "{}", a.as_str().len());
        assert_ne!(
            a, b,
            "names that differ only past the prefix stay different assets"
        );
        assert!(
            a.as_str().starts_with("xxxx"),
            "the prefix is kept for name search"
        );
        assert_eq!(
            normalize_computer_name(a.as_str()).unwrap(),
            a,
            "the rule is idempotent on a shortened key"
        );
        assert_eq!(normalize_computer_name(&long_a.to_uppercase()).unwrap(), a);
        let multibyte = "é".repeat(300);
        let k = normalize_computer_name(&multibyte).unwrap();
        assert!(k.as_str().len() <= MAX_KEY_BYTES);
    }

    #[test]
    fn placeholders_identify_nothing() {
        assert_eq!(usable_computer_name("string"), None);
        assert_eq!(usable_computer_name(" String "), None);
        assert_eq!(usable_computer_name(""), None);
        assert_eq!(
            usable_computer_name("strings").map(String::from).as_deref(),
            Some("strings")
        );
        assert_eq!(usable_agent_id(Some("string")), None);
        assert_eq!(usable_agent_id(Some(" 123 ")).as_deref(), Some("123"));
        // A stored key is still readable whatever it says.
        assert!(serde_json::from_str::<AssetKey>("\"string\"").is_ok());
    }

    #[test]
    fn agent_ids_keep_the_most_recent_and_the_primary() {
        let mut ids: BTreeSet<String> = (1..=200u32).map(|i| (1_000 + i).to_string()).collect();
        ids.insert("999".into());
        bound_agent_ids(&mut ids, Some("999"));
        assert_eq!(ids.len(), MAX_AGENT_IDS);
        assert!(ids.contains("999"), "the primary agent is kept");
        assert!(ids.contains("1200"), "the newest id is kept");
        assert!(!ids.contains("1001"), "the oldest ids go first");
    }

    #[test]
    fn asset_key_deserialization_applies_the_rule() {
        let k: AssetKey = serde_json::from_str("\" Host-A \"").unwrap();
        assert_eq!(k.as_str(), "host-a");
        assert!(serde_json::from_str::<AssetKey>("\"  \"").is_err());
    }

    #[test]
    fn macs_normalise_to_lowercase_colon_form() {
        assert_eq!(
            normalize_mac("00-00-5E-00-53-00").as_deref(),
            Some("00:00:5e:00:53:00")
        );
        assert_eq!(
            normalize_mac("06:35:e6:62:53:2e").as_deref(),
            Some("06:35:e6:62:53:2e")
        );
        assert_eq!(
            normalize_mac("0635.e662.532e").as_deref(),
            Some("06:35:e6:62:53:2e")
        );
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac("06:35:e6:62:53"), None);
        assert_eq!(normalize_mac("06:35:e6:62:53:2e:ff"), None);
        assert_eq!(normalize_mac("zz:35:e6:62:53:2e"), None);
    }

    #[test]
    fn ips_are_validated_deduplicated_and_sorted() {
        let mut c = IpCollector::default();
        for ip in [
            "10.0.0.2",
            "10.0.0.10",
            " 10.0.0.2 ",
            "3.122.240.x",
            "172.31.43.13/20",
            "fe80::1DA3:1ca8:b311:af32%eth0",
            "::ffff:192.0.2.1",
            "",
            "not an ip",
            // Not canonical: the parser refuses them, which is what lets `add` keep a parsed input's own text.
            "010.0.0.1",
            "10.0.1",
        ] {
            c.add(ip);
        }
        let (v4, v6) = c.finish();
        assert_eq!(v4, ["10.0.0.2", "10.0.0.10", "172.31.43.13", "192.0.2.1"]);
        assert_eq!(v6, ["fe80::1da3:1ca8:b311:af32"]);
    }
}
