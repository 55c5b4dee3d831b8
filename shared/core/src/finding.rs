//! The EDR finding a SentinelOne threat becomes, and **the severity table**.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::asset::AssetKey;
use crate::records::{ConfidenceLevel, IncidentStatus, MitigationStatus};
use crate::verdicts::AnalystVerdict;

/// Failed when the threat's analyst verdict is in the tenant's inclusion list
/// ([`crate::verdicts::finding_status`]), passed otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Failed,
    Passed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl FindingStatus {
    pub const ALL: [FindingStatus; 2] = [FindingStatus::Failed, FindingStatus::Passed];

    /// The spelling the API and the table use (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Failed => "failed",
            FindingStatus::Passed => "passed",
        }
    }
}

impl Severity {
    /// Most severe first, the order the API documents them in.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The spelling the API and the table use (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

/// Classifications (compared case-insensitively) that raise severity one step: they mean damage is likely
/// already under way rather than possible.
const RAISING_CLASSIFICATIONS: &[&str] = &["ransomware", "exploit", "rootkit", "infostealer"];
/// Classifications that lower severity one step: unwanted software rather than an attack.
const LOWERING_CLASSIFICATIONS: &[&str] = &["pua", "adware", "potentially unwanted application"];

/// **The severity table.** Confidence level gives the base, the classification moves it:
///
/// | confidenceLevel        | ransomware / exploit / rootkit / infostealer | any other or none | pua / adware |
/// |------------------------|----------------------------------------------|-------------------|--------------|
/// | `malicious`            | critical                                     | high              | medium       |
/// | `suspicious`           | high                                         | medium            | low          |
/// | `n/a`, unknown, absent | medium                                       | low               | info         |
pub fn severity(confidence: Option<&ConfidenceLevel>, classification: Option<&str>) -> Severity {
    let class = classification.map(str::trim).unwrap_or_default();
    let is = |list: &[&str]| list.iter().any(|c| class.eq_ignore_ascii_case(c));
    let column = if is(RAISING_CLASSIFICATIONS) {
        0
    } else if is(LOWERING_CLASSIFICATIONS) {
        2
    } else {
        1
    };
    let row: [Severity; 3] = match confidence {
        Some(ConfidenceLevel::Malicious) => [Severity::Critical, Severity::High, Severity::Medium],
        Some(ConfidenceLevel::Suspicious) => [Severity::High, Severity::Medium, Severity::Low],
        _ => [Severity::Medium, Severity::Low, Severity::Info],
    };
    row[column]
}

/// Findings stored before unattached findings existed were all attached.
fn attached_by_default() -> bool {
    true
}

/// One SentinelOne threat as an EDR finding. Timestamps serialize as RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable per threat: `s1-threat-<threat id>`.
    pub id: String,
    pub threat_id: String,
    /// The asset this finding belongs to (the agent's computer name through the identity rule); `None` when the
    /// threat named no usable computer name (blank, absent, or the API documentation's placeholder).
    pub asset_key: Option<AssetKey>,
    /// The agent's computer name as reported with the threat (may be blank or a placeholder).
    pub asset_name: String,
    /// Whether the asset exists in the platform. An unattached finding is kept, shown and counted like any other;
    /// a later sync attaches it once its asset exists. Part of the content, so attaching rewrites the finding.
    #[serde(default = "attached_by_default")]
    pub attached: bool,
    pub title: String,
    pub status: FindingStatus,
    pub severity: Severity,
    /// `Undefined` when the threat carries no verdict.
    pub analyst_verdict: AnalystVerdict,
    pub incident_status: Option<IncidentStatus>,
    pub mitigation_status: Option<MitigationStatus>,
    pub confidence_level: Option<ConfidenceLevel>,
    pub classification: Option<String>,
    pub threat_name: Option<String>,
    pub file_path: Option<String>,
    /// Lowercase hex.
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    /// Engine titles from `detectionEngines` and `engines`; deduplicated, sorted.
    pub detection_engines: Vec<String>,
    pub detection_type: Option<String>,
    /// MITRE tactic names from `indicators[].tactics`; deduplicated, sorted.
    pub mitre_tactics: Vec<String>,
    /// MITRE technique ids (`T1234`); deduplicated, sorted.
    pub mitre_techniques: Vec<String>,
    /// `threatInfo.createdAt`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_seen: Option<OffsetDateTime>,
    /// `threatInfo.updatedAt`: the last time SentinelOne changed the threat.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    /// `threatInfo.updatedAt` again, under the name the incremental sync's watermark uses.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Best-effort console deep link to the threat.
    pub console_url: Option<String>,
    /// `agentRealtimeInfo.agentId`.
    pub agent_id: Option<String>,
    /// Where the finding stands in its lifecycle ([`crate::lifecycle`]), as the store keeps it beside the
    /// finding; `None` on a freshly mapped threat. Not part of the content hash: the lifecycle is the
    /// connector's observation, not SentinelOne's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<crate::lifecycle::Lifecycle>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConfidenceLevel::*;
    use Severity::*;

    #[test]
    fn as_str_is_the_serde_spelling() {
        for s in FindingStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in Severity::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn severity_table() {
        let cases: &[(Option<ConfidenceLevel>, Option<&str>, Severity)] = &[
            (Some(Malicious), Some("Ransomware"), Critical),
            (Some(Malicious), Some(" exploit "), Critical),
            (Some(Malicious), Some("Trojan"), High),
            (Some(Malicious), None, High),
            (Some(Malicious), Some("PUA"), Medium),
            (Some(Suspicious), Some("Infostealer"), High),
            (Some(Suspicious), Some("Malware"), Medium),
            (Some(Suspicious), Some("adware"), Low),
            (Some(NotAvailable), Some("Rootkit"), Medium),
            (Some(NotAvailable), Some("Malware"), Low),
            (None, None, Low),
            (Some(Other("high".into())), Some("PUA"), Info),
        ];
        for (conf, class, expected) in cases {
            assert_eq!(
                severity(conf.as_ref(), *class),
                *expected,
                "{conf:?} {class:?}"
            );
        }
    }
}
