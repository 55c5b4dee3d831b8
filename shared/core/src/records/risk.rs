//! `GET /application-management/risks` records: one row per CVE × application version × endpoint (the contract is
//! `APP-RISKS.md` in the team's reference folder).
//!
//! Two tenant tiers send different key sets: a base (Application Risk) tenant sends `baseScore` and none of the
//! Vulnerability Management keys; a Vulnerability Management tenant sends `nvdBaseScore`, `riskScore`, exploit
//! maturity, remediation level and mitigation status, and no `baseScore`. Every field is therefore optional, scores
//! arrive as strings (`"7.00"`), and `markType` is untyped (`""` in real data, an object in one integration's
//! reading), so it is kept as whatever JSON arrived.

use serde::Deserialize;
use time::OffsetDateTime;

use super::lenient;

wire_enum! {
    /// `status` of a risk row: `Removed` rows come back only with `includeRemovals=true`.
    RiskStatus {
        Detected => "Detected",
        Removed => "Removed",
    }
}

/// One application-vulnerability row.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Risk {
    /// SentinelOne's record id, stable across scans: the finding's identity. Never empty in a decoded page.
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(deserialize_with = "lenient::text")]
    pub cve_id: Option<String>,
    /// `CRITICAL`, `HIGH`, `MEDIUM`, `LOW` in real data; the enum is undocumented, so it stays text here.
    #[serde(deserialize_with = "lenient::text")]
    pub severity: Option<String>,
    /// CVSS base score on base tenants.
    #[serde(deserialize_with = "lenient::score")]
    pub base_score: Option<f64>,
    #[serde(deserialize_with = "lenient::text")]
    pub cvss_version: Option<String>,
    /// CVSS base score on Vulnerability Management tenants.
    #[serde(deserialize_with = "lenient::score")]
    pub nvd_base_score: Option<f64>,
    #[serde(deserialize_with = "lenient::text")]
    pub nvd_cvss_version: Option<String>,
    #[serde(deserialize_with = "lenient::score")]
    pub risk_score: Option<f64>,
    #[serde(deserialize_with = "lenient::text")]
    pub exploit_code_maturity: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub remediation_level: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub report_confidence: Option<String>,
    /// Name and version composed (`"7-Zip 22.01"`).
    #[serde(deserialize_with = "lenient::text")]
    pub application: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub application_name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub application_vendor: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub application_version: Option<String>,
    /// The agent id (the same id space as `/agents`).
    #[serde(deserialize_with = "lenient::opt_id")]
    pub endpoint_id: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub endpoint_name: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub endpoint_type: Option<String>,
    #[serde(deserialize_with = "lenient::text")]
    pub os_type: Option<String>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub detection_date: Option<OffsetDateTime>,
    /// Computed when the console answers: it grows every day, so it never counts as a change.
    #[serde(deserialize_with = "lenient::count")]
    pub days_detected: Option<u64>,
    /// Moves with every scan, so it never counts as a change.
    #[serde(deserialize_with = "lenient::timestamp")]
    pub last_scan_date: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::text")]
    pub last_scan_result: Option<String>,
    #[serde(deserialize_with = "lenient::timestamp")]
    pub published_date: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::enumeration")]
    pub status: Option<RiskStatus>,
    #[serde(deserialize_with = "lenient::text")]
    pub mitigation_status: Option<String>,
    /// Untyped in the API's schema: kept as it arrived (`null` when absent).
    pub mark_type: serde_json::Value,
    #[serde(deserialize_with = "lenient::text")]
    pub marked_by: Option<String>,
    /// Fields that arrived in an unusable shape and were treated as unknown.
    #[serde(skip)]
    pub field_warnings: u64,
}
