//! Application-vulnerability rows (`GET /application-management/risks`), generated per agent in the shape of
//! either tenant tier (APP-RISKS.md §3): a base tenant sends `baseScore` and none of the Vulnerability Management
//! keys; a Vulnerability Management tenant sends those keys and no `baseScore`. Scores are strings, `markType` is
//! `""`, `detectionDate` has microseconds and the other dates none, as in the real records.
//!
//! Rows carry no scope ids on the wire; the row keeps its agent's account, site and group beside the JSON so the
//! scope filters work. `riskUpdatedDate` is not a response field either: the row keeps the time of its last
//! significant change for the `riskUpdatedDate__*` filters.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::records::{Record, RecordError};
use crate::util::{fmt_micros, fmt_seconds, parse_timestamp, Micros, SeededRng};

/// Which key set a tenant's rows carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RiskTier {
    /// Application Risk: `baseScore`, `cvssVersion`.
    #[default]
    Base,
    /// Singularity Vulnerability Management: `nvdBaseScore`, `riskScore`, exploit maturity, remediation level,
    /// report confidence and mitigation status; no `baseScore`.
    VulnerabilityManagement,
}

/// One served row plus what the filters need.
#[derive(Debug, Clone)]
pub(crate) struct RiskRow {
    pub id: String,
    pub account_id: String,
    pub site_id: String,
    pub group_id: String,
    pub severity: String,
    pub removed: bool,
    pub detected_us: Micros,
    /// The last significant change (detection, severity, removal): what `riskUpdatedDate__*` compares.
    pub risk_updated_us: Micros,
    pub json: Arc<str>,
}

impl Record for RiskRow {
    fn id(&self) -> &str {
        &self.id
    }
    fn json(&self) -> &Arc<str> {
        &self.json
    }
    fn created_us(&self) -> Micros {
        self.detected_us
    }
    fn updated_us(&self) -> Micros {
        self.risk_updated_us
    }
}

/// The agent a row is generated on.
pub(crate) struct RiskEndpoint<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub os_type: &'a str,
    pub account_id: &'a str,
    pub site_id: &'a str,
    pub group_id: &'a str,
}

impl RiskRow {
    /// A row handed to the simulator as JSON, in `scope` (account, site, group ids). Needs `id` and
    /// `detectionDate`.
    pub(crate) fn from_value(v: &Value, scope: (&str, &str, &str)) -> Result<Self, RecordError> {
        if !v.is_object() {
            return Err(RecordError::NotAnObject);
        }
        let text = |f: &'static str| v.get(f).and_then(Value::as_str).unwrap_or_default();
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .ok_or(RecordError::MissingField("id"))?;
        let detected = text("detectionDate");
        let detected_us = parse_timestamp(detected).ok_or_else(|| RecordError::BadTimestamp {
            field: "detectionDate",
            value: detected.to_owned(),
        })?;
        Ok(Self {
            id: id.to_owned(),
            account_id: scope.0.to_owned(),
            site_id: scope.1.to_owned(),
            group_id: scope.2.to_owned(),
            severity: text("severity").to_owned(),
            removed: text("status").eq_ignore_ascii_case("removed"),
            detected_us,
            risk_updated_us: detected_us,
            json: Arc::from(v.to_string()),
        })
    }

    fn value(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }

    fn rewrite(&mut self, edit: impl FnOnce(&mut Value)) {
        let mut v = self.value();
        edit(&mut v);
        self.json = Arc::from(v.to_string());
    }

    /// A scan: `lastScanDate` = now and `daysDetected` recomputed, nothing significant changed.
    pub(crate) fn scanned(&mut self, now: Micros) {
        let days = (now - self.detected_us).max(0) / 86_400_000_000;
        self.rewrite(|v| {
            v["lastScanDate"] = json!(fmt_seconds(now));
            v["daysDetected"] = json!(days);
        });
    }

    /// Marks the row removed (the application was patched) or detected again.
    pub(crate) fn set_removed(&mut self, removed: bool, now: Micros) {
        self.removed = removed;
        self.risk_updated_us = now;
        self.rewrite(|v| v["status"] = json!(if removed { "Removed" } else { "Detected" }));
    }

    /// A new severity (a rescored CVE).
    pub(crate) fn set_severity(&mut self, severity: &str, now: Micros) {
        self.severity = severity.to_owned();
        self.risk_updated_us = now;
        self.rewrite(|v| v["severity"] = json!(severity));
    }
}

/// Applications the generator installs: name, vendor, versions seen on fleets.
const APPLICATIONS: &[(&str, &str, &[&str])] = &[
    ("7-Zip", "Igor Pavlov", &["19.00", "22.01", "23.01"]),
    (
        "Microsoft Edge",
        "Microsoft Corporation",
        &["112.0.1722.68", "118.0.2088.76"],
    ),
    (
        "Google Chrome",
        "Google LLC",
        &["119.0.6045.124", "120.0.6099.110"],
    ),
    ("Mozilla Firefox", "Mozilla", &["115.3.1", "118.0.2"]),
    (
        "Zoom",
        "Zoom Video Communications, Inc.",
        &["5.15.2", "5.16.10"],
    ),
    (
        "VMware Tools",
        "VMware, Inc.",
        &["12.1.5", "10.3.10.12406962"],
    ),
    ("OpenSSL", "OpenSSL Project", &["1.1.1k", "3.0.7"]),
    (
        "Python",
        "Python Software Foundation",
        &["3.8.10", "3.10.4"],
    ),
    ("Notepad++", "Notepad++ Team", &["8.4.9", "8.5.3"]),
    (
        "Adobe Acrobat Reader",
        "Adobe Inc.",
        &["23.003.20244", "22.001.20085"],
    ),
];

const SEVERITIES: &[(&str, u32)] = &[("CRITICAL", 8), ("HIGH", 30), ("MEDIUM", 45), ("LOW", 17)];
const EXPLOIT_MATURITY: &[&str] = &[
    "Not Defined",
    "Unproven",
    "Proof of Concept",
    "Functional",
    "High",
];
const REMEDIATION: &[&str] = &["Official Fix", "Official Fix", "Workaround", "Unavailable"];
const CONFIDENCE: &[&str] = &["Confirmed", "Reasonable", "Unknown"];
const MITIGATION: &[&str] = &["Not mitigated", "Not mitigated", "To be patched", "On hold"];
const ENDPOINT_TYPES: &[&str] = &["desktop", "laptop", "server"];

fn score_for(severity: &str, rng: &mut SeededRng) -> f64 {
    let (lo, hi) = match severity {
        "CRITICAL" => (90, 100),
        "HIGH" => (70, 89),
        "MEDIUM" => (40, 69),
        _ => (1, 39),
    };
    rng.range(lo, hi) as f64 / 10.0
}

/// Row ids: 19 digits like the console's, unique per (agent index, row index), so a seed gives the same ids.
fn row_id(agent_index: usize, row: usize) -> String {
    (2_228_104_980_801_805_822u64 + (agent_index as u64) * 1_000 + row as u64).to_string()
}

/// `per_agent` rows on one endpoint, detected before `history_end`, scanned at `history_end`.
pub(crate) fn generate_rows(
    endpoint: &RiskEndpoint<'_>,
    agent_index: usize,
    per_agent: usize,
    tier: RiskTier,
    seed: u64,
    history_end: Micros,
) -> Vec<RiskRow> {
    let mut rng = SeededRng::new(seed ^ (agent_index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let endpoint_type = *rng.pick(ENDPOINT_TYPES);
    (0..per_agent.min(999))
        .map(|i| {
            let (name, vendor, versions) = *rng.pick(APPLICATIONS);
            let version = *rng.pick(versions);
            let severity = *rng.weighted(SEVERITIES);
            let year = rng.range(2019, 2026);
            let cve = format!("CVE-{year}-{:05}", rng.range(1_000, 49_999));
            let detected = history_end - rng.range(86_400_000_000, 400 * 86_400_000_000);
            let published = detected - rng.range(86_400_000_000, 300 * 86_400_000_000);
            // About one row in a thousand carries no CVSS version and no score, as on a real tenant.
            let unscored = rng.permille(1);
            let version_of_cvss = if unscored {
                Value::Null
            } else if rng.permille(10) {
                json!("2.0")
            } else {
                json!("3.1")
            };
            let score = score_for(severity, &mut rng);
            let mut row = json!({
                "application": format!("{name} {version}"),
                "applicationName": name,
                "applicationVendor": vendor,
                "applicationVersion": version,
                "cveId": cve,
                "cvssVersion": version_of_cvss,
                "daysDetected": (history_end - detected) / 86_400_000_000,
                "detectionDate": fmt_micros(detected),
                "endpointId": endpoint.id,
                "endpointName": endpoint.name,
                "endpointType": endpoint_type,
                "id": row_id(agent_index, i),
                "lastScanDate": fmt_seconds(history_end),
                "lastScanResult": "Succeeded",
                "markType": "",
                "markedBy": null,
                "markedDate": null,
                "osType": endpoint.os_type,
                "publishedDate": fmt_seconds(published),
                "reason": null,
                "severity": severity,
                "status": "Detected",
            });
            let score_text = (!unscored).then(|| format!("{score:.2}"));
            match tier {
                RiskTier::Base => {
                    row["baseScore"] = json!(score_text);
                }
                RiskTier::VulnerabilityManagement => {
                    let risk = (score - rng.range(0, 15) as f64 / 10.0).max(0.1);
                    row["nvdBaseScore"] = json!(score_text);
                    row["nvdCvssVersion"] = row["cvssVersion"].clone();
                    row["riskScore"] = json!(format!("{risk:.2}"));
                    row["exploitCodeMaturity"] = json!(*rng.pick(EXPLOIT_MATURITY));
                    row["remediationLevel"] = json!(*rng.pick(REMEDIATION));
                    row["reportConfidence"] = json!(*rng.pick(CONFIDENCE));
                    row["mitigationStatus"] = json!(*rng.pick(MITIGATION));
                    row["mitigationStatusChangeTime"] = Value::Null;
                    row["mitigationStatusChangedBy"] = Value::Null;
                    row["mitigationStatusReason"] = Value::Null;
                }
            }
            RiskRow {
                id: row_id(agent_index, i),
                account_id: endpoint.account_id.to_owned(),
                site_id: endpoint.site_id.to_owned(),
                group_id: endpoint.group_id.to_owned(),
                severity: severity.to_owned(),
                removed: false,
                detected_us: detected,
                risk_updated_us: detected,
                json: Arc::from(row.to_string()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> RiskEndpoint<'static> {
        RiskEndpoint {
            id: "2162143406517023959",
            name: "DESKTOP-R1E2DQ2",
            os_type: "windows",
            account_id: "1",
            site_id: "2",
            group_id: "3",
        }
    }

    #[test]
    fn each_tier_sends_its_own_key_set_with_scores_as_strings() {
        let base = generate_rows(&endpoint(), 0, 50, RiskTier::Base, 7, 1_800_000_000_000_000);
        let vm = generate_rows(
            &endpoint(),
            0,
            50,
            RiskTier::VulnerabilityManagement,
            7,
            1_800_000_000_000_000,
        );
        for row in &base {
            let v: Value = serde_json::from_str(&row.json).unwrap();
            assert!(v.get("nvdBaseScore").is_none() && v.get("riskScore").is_none());
            assert!(v["baseScore"].is_string() || v["baseScore"].is_null());
            assert_eq!(v["markType"], "");
        }
        for row in &vm {
            let v: Value = serde_json::from_str(&row.json).unwrap();
            assert!(v.get("baseScore").is_none());
            assert!(v["riskScore"].is_string());
            assert!(v["mitigationStatus"].is_string());
        }
        let ids: std::collections::HashSet<_> = base.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids.len(), 50, "ids are unique");
    }

    #[test]
    fn a_scan_moves_only_the_scan_fields() {
        let mut rows = generate_rows(&endpoint(), 0, 1, RiskTier::Base, 7, 1_800_000_000_000_000);
        let before: Value = serde_json::from_str(&rows[0].json).unwrap();
        let updated = rows[0].risk_updated_us;
        rows[0].scanned(1_800_000_000_000_000 + 10 * 86_400_000_000);
        let after: Value = serde_json::from_str(&rows[0].json).unwrap();
        assert_ne!(before["daysDetected"], after["daysDetected"]);
        assert_ne!(before["lastScanDate"], after["lastScanDate"]);
        let mut same = after.clone();
        same["daysDetected"] = before["daysDetected"].clone();
        same["lastScanDate"] = before["lastScanDate"].clone();
        assert_eq!(same, before);
        assert_eq!(rows[0].risk_updated_us, updated);
    }
}
