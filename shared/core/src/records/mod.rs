//! SentinelOne records as the Management API v2.1 returns them, and page decoding.
//!
//! **Lenient per field, strict on identity.** Every mapped field is optional and tolerant of the shapes real
//! consoles send (see `lenient`); a field of the wrong shape becomes unknown and is counted in
//! [`DecodedPage::field_warnings`]. A record is skipped — and reported in [`DecodedPage::skipped`], never a failed
//! page — only when its identity is unusable: not an object, no id, no computer name for an agent, no agent
//! computer name for a threat, no name for a group. Only a body that is not a JSON object with a `data` array is a
//! [`MalformedPage`].
//!
//! Unknown JSON fields are ignored. Identity fields are plain `String`s; the decoders never return a record whose
//! identity is empty.

pub(crate) mod lenient;

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::asset::usable_computer_name;
pub use crate::verdicts::AnalystVerdict;

wire_enum! {
    /// `osType` / `agentOsType`.
    OsType {
        Windows => "windows",
        Macos => "macos",
        Linux => "linux",
        WindowsLegacy => "windows_legacy",
    }
}

wire_enum! {
    /// `machineType` / `agentMachineType`; the API's values contain spaces.
    MachineType {
        Unknown => "unknown",
        Desktop => "desktop",
        Laptop => "laptop",
        Server => "server",
        KubernetesNode => "kubernetes node",
        Storage => "storage",
        KubernetesPod => "kubernetes pod",
        EcsTask => "ecs task",
        KubernetesHelper => "kubernetes helper",
    }
}

wire_enum! {
    /// `networkStatus` / `agentNetworkStatus`.
    NetworkStatus {
        Connected => "connected",
        Connecting => "connecting",
        Disconnected => "disconnected",
        Disconnecting => "disconnecting",
    }
}

wire_enum! {
    /// `threatInfo.incidentStatus`.
    IncidentStatus {
        Unresolved => "unresolved",
        InProgress => "in_progress",
        Resolved => "resolved",
    }
}

wire_enum! {
    /// `threatInfo.mitigationStatus` (the string, not the top-level array of mitigation actions).
    MitigationStatus {
        NotMitigated => "not_mitigated",
        Mitigated => "mitigated",
        MarkedAsBenign => "marked_as_benign",
    }
}

wire_enum! {
    /// `threatInfo.confidenceLevel`.
    ConfidenceLevel {
        Malicious => "malicious",
        Suspicious => "suspicious",
        NotAvailable => "n/a",
    }
}

wire_enum! {
    /// `type` of a group.
    GroupType {
        Static => "static",
        Dynamic => "dynamic",
        Pinned => "pinned",
    }
}

/// One network interface of an agent (`networkInterfaces[]`); the threat copy lacks the gateway fields.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkInterface {
    #[serde(deserialize_with = "lenient::opt_id")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub name: Option<String>,
    /// Addresses as sent; only valid literals survive mapping.
    #[serde(deserialize_with = "lenient::text_list")]
    pub inet: Vec<String>,
    #[serde(deserialize_with = "lenient::text_list")]
    pub inet6: Vec<String>,
    /// The MAC address, `:` or `-` separated depending on the console.
    #[serde(deserialize_with = "lenient::text")]
    pub physical: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub gateway_ip: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub gateway_mac_address: Option<String>,
}

/// A SentinelOne tag on an agent (`tags.sentinelone[]`). Also carried on [`crate::Asset`], so it serializes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tag {
    /// The tag key custom fields are matched against, exactly as sent (not trimmed).
    #[serde(deserialize_with = "raw_text")]
    pub key: String,
    #[serde(deserialize_with = "raw_text")]
    pub value: String,
    #[serde(
        deserialize_with = "lenient::opt_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
}

/// Tag keys and values are matched exactly, so they are kept untrimmed; anything but a string is unknown.
fn raw_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Raw;
    impl lenient::Leniency for Raw {
        type Out = String;
        fn from_str(s: &str) -> Option<String> {
            Some(s.to_owned())
        }
        fn from_u64(v: u64) -> Option<String> {
            Some(v.to_string())
        }
        fn from_i64(v: i64) -> Option<String> {
            Some(v.to_string())
        }
    }
    lenient::Lenient::<Raw>::deserialize(d).map(|l| l.0.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
struct AgentTags {
    #[serde(deserialize_with = "lenient::object_list")]
    sentinelone: Vec<Tag>,
}

fn agent_tags<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Tag>, D::Error> {
    lenient::object::<D, AgentTags>(d).map(|t| t.sentinelone)
}

/// One element of `GET /agents` `data[]`: the fields the asset mapping reads.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Agent {
    /// The agent id (`agentId` in threats). Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    /// The hostname, as sent (trimmed). Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub computer_name: String,
    #[serde(deserialize_with = "lenient::text")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub domain: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub external_ip: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub last_ip_to_mgmt: Option<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(deserialize_with = "lenient::text")]
    pub os_name: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub os_type: Option<OsType>,
    #[serde(deserialize_with = "lenient::text")]
    pub os_revision: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub os_arch: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub machine_type: Option<MachineType>,
    #[serde(deserialize_with = "lenient::text")]
    pub model_name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub serial_number: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_version: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub site_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub site_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub group_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub group_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub account_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub account_name: Option<String>,
    #[serde(deserialize_with = "lenient::flag")]
    pub is_active: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub is_decommissioned: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub is_uninstalled: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub infected: Option<bool>,
    #[serde(deserialize_with = "lenient::count")]
    pub active_threats: Option<u64>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub network_status: Option<NetworkStatus>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub last_active_date: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub registered_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub updated_at: Option<OffsetDateTime>,
    /// `tags.sentinelone[]`; absent in older payloads.
    #[serde(deserialize_with = "agent_tags")]
    pub tags: Vec<Tag>,
    /// Fields of this record that arrived in a shape we could not use (set by the page decoder).
    #[serde(skip)]
    pub field_warnings: u64,
}

/// `threatInfo` of a threat.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ThreatInfo {
    #[serde(deserialize_with = "lenient::opt_id")]
    pub threat_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub threat_name: Option<String>,
    /// Free text (`Malware`, `Trojan`, `Ransomware`, `PUA`, ...).
    #[serde(deserialize_with = "lenient::text")]
    pub classification: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub classification_source: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub confidence_level: Option<ConfidenceLevel>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub analyst_verdict: Option<AnalystVerdict>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub incident_status: Option<IncidentStatus>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub mitigation_status: Option<MitigationStatus>,
    #[serde(deserialize_with = "lenient::text")]
    pub detection_type: Option<String>,
    /// Display titles of the engines (older field).
    #[serde(deserialize_with = "lenient::text_list")]
    pub engines: Vec<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub detection_engines: Vec<DetectionEngine>,
    #[serde(deserialize_with = "lenient::text")]
    pub initiated_by: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub file_path: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub sha1: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub sha256: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub md5: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub originator_process: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub storyline: Option<String>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub updated_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub identified_at: Option<OffsetDateTime>,
}

/// `threatInfo.detectionEngines[]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct DetectionEngine {
    #[serde(deserialize_with = "lenient::text")]
    pub key: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub title: Option<String>,
}

/// `agentRealtimeInfo` of a threat: the agent as it is now. The asset a threat belongs to is found through
/// `agent_computer_name`; an asset can be created from it when the agent was not in the agent walk.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentRealtimeInfo {
    #[serde(deserialize_with = "lenient::opt_id")]
    pub agent_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_uuid: Option<String>,
    /// Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub agent_computer_name: String,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_domain: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_version: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub agent_os_type: Option<OsType>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_os_name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_os_revision: Option<String>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub agent_machine_type: Option<MachineType>,
    #[serde(deserialize_with = "lenient::flag")]
    pub agent_is_active: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub agent_is_decommissioned: Option<bool>,
    #[serde(deserialize_with = "lenient::flag")]
    pub agent_infected: Option<bool>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub agent_network_status: Option<NetworkStatus>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub site_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub site_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub group_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub group_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub account_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub account_name: Option<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub network_interfaces: Vec<NetworkInterface>,
}

/// `agentDetectionInfo` of a threat: the agent as it was at detection time (mostly null in older data).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentDetectionInfo {
    #[serde(deserialize_with = "lenient::text")]
    pub agent_ip_v4: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_ip_v6: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub external_ip: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_os_name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_os_revision: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_version: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub agent_domain: Option<String>,
}

/// `indicators[]` of a threat: where the MITRE mapping lives.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Indicator {
    #[serde(deserialize_with = "lenient::text")]
    pub category: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub description: Option<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub tactics: Vec<Tactic>,
}

/// A MITRE ATT&CK tactic of an indicator.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Tactic {
    #[serde(deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub source: Option<String>,
    #[serde(deserialize_with = "lenient::object_list")]
    pub techniques: Vec<Technique>,
}

/// A MITRE ATT&CK technique (`T1234`) of a tactic.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Technique {
    #[serde(deserialize_with = "lenient::text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub link: Option<String>,
}

/// One element of `GET /threats` `data[]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Threat {
    /// The threat id (top-level `id`, falling back to `threatInfo.threatId`). Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(deserialize_with = "lenient::object")]
    pub threat_info: ThreatInfo,
    #[serde(deserialize_with = "lenient::object")]
    pub agent_realtime_info: AgentRealtimeInfo,
    #[serde(deserialize_with = "lenient::object")]
    pub agent_detection_info: AgentDetectionInfo,
    #[serde(deserialize_with = "lenient::object_list")]
    pub indicators: Vec<Indicator>,
    /// Fields of this record that arrived in a shape we could not use (set by the page decoder).
    #[serde(skip)]
    pub field_warnings: u64,
}

/// One element of `GET /groups` `data[]`. Names are unique only within a site.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Group {
    /// Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    /// Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub name: String,
    #[serde(deserialize_with = "lenient::opt_id")]
    pub site_id: Option<String>,
    #[serde(rename = "type", deserialize_with = "lenient::enumeration")]
    pub group_type: Option<GroupType>,
    #[serde(deserialize_with = "lenient::flag")]
    pub is_default: Option<bool>,
    #[serde(deserialize_with = "lenient::count")]
    pub total_agents: Option<u64>,
    /// Fields of this record that arrived in a shape we could not use (set by the page decoder).
    #[serde(skip)]
    pub field_warnings: u64,
}

/// Why a record was not imported. Display is a sentence for a sync report.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A `data[]` element that is not a JSON object.
    NotAnObject,
    /// A record that could not be decoded at all (for example a key that appears twice).
    Undecodable,
    /// No usable `id`.
    MissingId,
    /// An agent without a usable `computerName` (blank, or the API documentation's placeholder `"string"`).
    MissingComputerName,
    /// A group without a usable `name`.
    MissingGroupName,
    /// No platform asset exists and auto-onboarding is off, so the asset is not created.
    AutoOnboardDisabled,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAnObject => "the record is not a JSON object",
            Self::Undecodable => "the record could not be decoded (for example a field appears twice)",
            Self::MissingId => "the record has no id",
            Self::MissingComputerName => "the agent has no computer name, so it cannot be matched to an asset",
            Self::MissingGroupName => "the group has no name",
            Self::AutoOnboardDisabled => {
                "no matching asset exists and auto-onboarding is off; turn it on to create assets from SentinelOne"
            }
        })
    }
}

/// A record that was not imported, with the id when one was readable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedRecord {
    pub id: Option<String>,
    pub reason: SkipReason,
}

impl fmt::Display for SkippedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "record {id} skipped: {}", self.reason),
            None => write!(f, "record without id skipped: {}", self.reason),
        }
    }
}

/// One decoded page of a list endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedPage<T> {
    pub records: Vec<T>,
    pub skipped: Vec<SkippedRecord>,
    /// Fields (over all kept records) that arrived in an unusable shape and were treated as unknown.
    pub field_warnings: u64,
    /// `pagination.nextCursor`; `None` when missing, null, empty or whitespace: the walk ends.
    pub next_cursor: Option<String>,
    pub total_items: Option<u64>,
}

/// A response body that is not a page: not JSON, not an object, or without a `data` array.
/// Display never includes body content (it may hold anything, including data from another tenant's proxy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SentinelOne returned a response that is not a valid page (at byte {offset}): {message}")]
pub struct MalformedPage {
    /// Byte offset into the body where decoding stopped.
    pub offset: usize,
    pub message: String,
}

/// What the page decoder needs to know about a record type.
trait PageRecord: serde::de::DeserializeOwned {
    /// `Err` when the identity is unusable; may fill in fallbacks (for example the threat id).
    fn check_identity(&mut self) -> Result<(), SkipReason>;
    fn set_field_warnings(&mut self, n: u64);
}

fn usable_id(id: &str) -> bool {
    !id.trim().is_empty()
}

impl PageRecord for Agent {
    fn check_identity(&mut self) -> Result<(), SkipReason> {
        if !usable_id(&self.id) {
            return Err(SkipReason::MissingId);
        }
        if usable_computer_name(&self.computer_name).is_none() {
            return Err(SkipReason::MissingComputerName);
        }
        Ok(())
    }
    fn set_field_warnings(&mut self, n: u64) {
        self.field_warnings = n;
    }
}

impl PageRecord for Threat {
    fn check_identity(&mut self) -> Result<(), SkipReason> {
        if !usable_id(&self.id) {
            match &self.threat_info.threat_id {
                Some(t) if usable_id(t) => self.id = t.clone(),
                _ => return Err(SkipReason::MissingId),
            }
        }
        // A threat without a usable agent computer name is kept: it becomes an unattached finding.
        Ok(())
    }
    fn set_field_warnings(&mut self, n: u64) {
        self.field_warnings = n;
    }
}

impl PageRecord for Group {
    fn check_identity(&mut self) -> Result<(), SkipReason> {
        if !usable_id(&self.id) {
            return Err(SkipReason::MissingId);
        }
        if self.name.trim().is_empty() {
            return Err(SkipReason::MissingGroupName);
        }
        Ok(())
    }
    fn set_field_warnings(&mut self, n: u64) {
        self.field_warnings = n;
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "lenient::object")]
    pagination: Pagination,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Pagination {
    #[serde(deserialize_with = "lenient::text")]
    next_cursor: Option<String>,
    #[serde(deserialize_with = "lenient::count")]
    total_items: Option<u64>,
}

/// Only the id, to name a record that failed to decode.
#[derive(Deserialize)]
struct IdProbe {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    id: Option<String>,
}

/// Decodes one `GET /agents` response body.
pub fn decode_agents_page(body: &[u8]) -> Result<DecodedPage<Agent>, MalformedPage> {
    decode_page(body)
}

/// Decodes one `GET /threats` response body.
pub fn decode_threats_page(body: &[u8]) -> Result<DecodedPage<Threat>, MalformedPage> {
    decode_page(body)
}

/// Decodes one `GET /groups` response body.
pub fn decode_groups_page(body: &[u8]) -> Result<DecodedPage<Group>, MalformedPage> {
    decode_page(body)
}

fn first_non_ws(bytes: &[u8]) -> Option<(usize, u8)> {
    bytes
        .iter()
        .enumerate()
        .find(|(_, b)| !b.is_ascii_whitespace())
        .map(|(i, b)| (i, *b))
}

/// Byte offset of `inner` inside `outer`; both come from the same buffer when called.
fn offset_in(outer: &[u8], inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// Turns serde_json's line/column into a byte offset and a message that names the problem's kind only:
/// serde_json's own messages quote input ("invalid type: string \"...\""), which must not reach logs.
fn malformed(body: &[u8], base: usize, err: &serde_json::Error) -> MalformedPage {
    let region = body.get(base..).unwrap_or_default();
    let mut offset = 0usize;
    let mut line = 1usize;
    for (i, b) in region.iter().enumerate() {
        if line == err.line() {
            offset = i;
            break;
        }
        if *b == b'\n' {
            line += 1;
            offset = i + 1;
        }
    }
    let offset = base + (offset + err.column().saturating_sub(1)).min(region.len());
    let message = match err.classify() {
        serde_json::error::Category::Io => "the body could not be read".to_owned(),
        serde_json::error::Category::Syntax => "the body is not valid JSON".to_owned(),
        serde_json::error::Category::Eof => "the body ends before the JSON does".to_owned(),
        serde_json::error::Category::Data => {
            "the JSON does not have the page shape {\"data\": [...], \"pagination\": {...}}"
                .to_owned()
        }
    };
    MalformedPage { offset, message }
}

fn decode_page<T: PageRecord>(body: &[u8]) -> Result<DecodedPage<T>, MalformedPage> {
    // A derived struct would also accept a JSON array as a positional struct; a page must be an object.
    match first_non_ws(body) {
        Some((_, b'{')) => {}
        Some((at, _)) => {
            return Err(MalformedPage {
                offset: at,
                message: "the body is not a JSON object".to_owned(),
            })
        }
        None => {
            return Err(MalformedPage {
                offset: body.len(),
                message: "the body is empty".to_owned(),
            })
        }
    }
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| malformed(body, 0, &e))?;
    let Some(data) = envelope.data else {
        return Err(MalformedPage {
            offset: 0,
            message: "the page has no data array".to_owned(),
        });
    };
    let data_at = offset_in(body, data.get());
    if !data.get().starts_with('[') {
        return Err(MalformedPage {
            offset: data_at,
            message: "the page's data is not an array".to_owned(),
        });
    }
    let items: Vec<&RawValue> =
        serde_json::from_str(data.get()).map_err(|e| malformed(body, data_at, &e))?;

    let mut records = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    let mut field_warnings = 0u64;
    for item in items {
        let text = item.get();
        if !text.starts_with('{') {
            skipped.push(SkippedRecord {
                id: None,
                reason: SkipReason::NotAnObject,
            });
            continue;
        }
        let (decoded, warnings) = lenient::count_warnings(|| serde_json::from_str::<T>(text));
        match decoded {
            Ok(mut record) => match record.check_identity() {
                Ok(()) => {
                    record.set_field_warnings(warnings);
                    field_warnings = field_warnings.saturating_add(warnings);
                    records.push(record);
                }
                Err(reason) => skipped.push(SkippedRecord {
                    id: probe_id(text),
                    reason,
                }),
            },
            Err(_) => skipped.push(SkippedRecord {
                id: probe_id(text),
                reason: SkipReason::Undecodable,
            }),
        }
    }

    let next_cursor = envelope
        .pagination
        .next_cursor
        .filter(|c| !c.trim().is_empty());
    Ok(DecodedPage {
        records,
        skipped,
        field_warnings,
        next_cursor,
        total_items: envelope.pagination.total_items,
    })
}

fn probe_id(text: &str) -> Option<String> {
    lenient::count_warnings(|| serde_json::from_str::<IdProbe>(text))
        .0
        .ok()
        .and_then(|p| p.id)
        .filter(|id| usable_id(id))
}
