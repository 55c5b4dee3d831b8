//! SentinelOne records as the Management API v2.1 returns them, and page decoding.
//!
//! **Lenient per field, strict on identity.** Every mapped field is optional and tolerant of the shapes real
//! consoles send (see `lenient`); a field of the wrong shape becomes unknown and is counted in
//! [`DecodedPage::field_warnings`]. A record is skipped — and reported in [`DecodedPage::skipped`], never a failed
//! page — only when its identity is unusable: not an object, no id (a threat falls back to its `threatInfo` id),
//! no computer name for an agent, no name for a group. A threat or a risk row without a machine is kept: it
//! becomes an unattached finding. Only a body that is not a JSON object with a `data` array is a
//! [`MalformedPage`].
//!
//! Unknown JSON fields are ignored. Identity fields are plain `String`s; the decoders never return a record whose
//! identity is empty.
//!
//! One file per record kind: `agent` (agents, their network interfaces and tags, and the machine enums threats
//! share), `threat` (threats and their nested objects), `risk` (application-vulnerability rows), `group` (groups),
//! and `page` (page decoding, skipped records and why). Everything is re-exported here, so
//! `s1_core::records::Agent` and friends keep their paths.

mod agent;
mod group;
pub(crate) mod lenient;
mod page;
mod risk;
mod threat;

pub use crate::verdicts::AnalystVerdict;
pub use agent::{Agent, MachineType, NetworkInterface, NetworkStatus, OsType, Tag};
pub use group::{Group, GroupType};
pub use page::{
    decode_agents_page, decode_groups_page, decode_risks_page, decode_threats_page, DecodedPage,
    MalformedPage, SkipReason, SkippedRecord,
};
pub use risk::{Risk, RiskStatus};
pub use threat::{
    AgentDetectionInfo, AgentRealtimeInfo, ConfidenceLevel, DetectionEngine, IncidentStatus,
    Indicator, MitigationStatus, Tactic, Technique, Threat, ThreatInfo,
};
