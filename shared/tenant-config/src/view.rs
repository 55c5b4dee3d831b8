//! What the API answers: the configuration as the console's form shows it (never the token, only whether one is
//! set and when it last changed) and the connection-test report, both in camelCase.

use serde::Serialize;

use connector_store::TenantConfig;
use s1_core::Severity;
use sentinelone_client::{CheckKind, CheckResult, CheckStatus, ConnectionReport, UrlPolicyError};

/// `GET …/config` and the answer of a successful save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigView {
    pub console_url: String,
    pub analyst_verdicts: Vec<String>,
    /// `null`: auto-sync is off.
    pub auto_sync_days: Option<u16>,
    pub auto_onboard: bool,
    pub update_metadata: bool,
    pub group_names: Vec<String>,
    pub import_vulnerabilities: bool,
    /// The lowest severity of vulnerability the sync imports.
    pub minimum_vulnerability_severity: Severity,
    pub token_set: bool,
    pub token_updated_at: Option<String>,
    pub updated_at: String,
    pub next_sync_due_at: Option<String>,
    pub version: u64,
    /// The token's expiry as the last sync read it (RFC 3339); `null` until a run with this token read one.
    pub token_expires_at: Option<String>,
}

impl ConfigView {
    pub fn new(config: &TenantConfig, token_set: bool, token_expires_at: Option<String>) -> Self {
        Self {
            console_url: config.console_url.clone(),
            analyst_verdicts: config.verdicts.clone(),
            auto_sync_days: config.auto_sync_days,
            auto_onboard: config.auto_onboard,
            update_metadata: config.update_metadata,
            group_names: config.group_names.clone(),
            import_vulnerabilities: config.import_vulnerabilities,
            minimum_vulnerability_severity: config.minimum_vulnerability_severity,
            token_set,
            token_updated_at: config.token_updated_at.clone(),
            updated_at: config.updated_at.clone(),
            next_sync_due_at: config.next_due_at.clone(),
            version: config.version,
            token_expires_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckView {
    pub check: CheckKind,
    pub status: CheckStatus,
    pub detail: String,
    pub error_kind: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub requested: String,
    pub id: String,
    pub name: String,
    pub site_id: Option<String>,
}

/// The connection test's answer: passed when no check failed (warnings do not fail it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTestView {
    pub passed: bool,
    pub checks: Vec<CheckView>,
    pub groups: Vec<GroupView>,
}

impl ConnectionTestView {
    pub fn failed_check(&self) -> Option<&CheckView> {
        self.checks.iter().find(|c| c.status == CheckStatus::Failed)
    }
}

impl From<ConnectionReport> for ConnectionTestView {
    fn from(r: ConnectionReport) -> Self {
        Self {
            passed: r.passed(),
            checks: r.checks.into_iter().map(CheckView::from).collect(),
            groups: r
                .groups
                .into_iter()
                .map(|g| GroupView {
                    requested: g.requested,
                    id: g.id,
                    name: g.name,
                    site_id: g.site_id,
                })
                .collect(),
        }
    }
}

impl From<CheckResult> for CheckView {
    fn from(c: CheckResult) -> Self {
        Self {
            check: c.check,
            status: c.status,
            detail: c.detail,
            error_kind: c.error_kind,
        }
    }
}

const CHECK_ORDER: [CheckKind; 9] = [
    CheckKind::UrlAllowed,
    CheckKind::ConsoleReachable,
    CheckKind::TokenAccepted,
    CheckKind::PermissionAgents,
    CheckKind::PermissionThreats,
    CheckKind::PermissionGroups,
    CheckKind::PermissionVulnerabilities,
    CheckKind::TokenExpiry,
    CheckKind::GroupsResolved,
];

/// The report of a test that stopped at the first check: the URL itself is refused, so nothing is contacted.
pub fn url_refused_report(error: &UrlPolicyError) -> ConnectionTestView {
    failed_at_first(
        CheckKind::UrlAllowed,
        error.to_string(),
        "url_refused",
        "the console URL is not allowed",
    )
}

/// The report when the client could not even be set up (a bug, reported as the console check).
pub(crate) fn failed_at_first(
    check: CheckKind,
    detail: String,
    error_kind: &'static str,
    because: &str,
) -> ConnectionTestView {
    let checks = CHECK_ORDER
        .iter()
        .skip_while(|k| **k != check)
        .enumerate()
        .map(|(i, kind)| {
            if i == 0 {
                CheckView {
                    check: *kind,
                    status: CheckStatus::Failed,
                    detail: detail.clone(),
                    error_kind: Some(error_kind),
                }
            } else {
                CheckView {
                    check: *kind,
                    status: CheckStatus::Skipped,
                    detail: format!("not run: {because}"),
                    error_kind: None,
                }
            }
        });
    let before = CHECK_ORDER
        .iter()
        .take_while(|k| **k != check)
        .map(|k| CheckView {
            check: *k,
            status: CheckStatus::Passed,
            detail: "passed".into(),
            error_kind: None,
        });
    ConnectionTestView {
        passed: false,
        checks: before.chain(checks).collect(),
        groups: Vec::new(),
    }
}
