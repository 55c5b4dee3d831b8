//! Building the check results of a connection test: passed, failed, skipped (after a failure or for lack of
//! time), and the token-expiry rule.

use std::time::Duration;

use time::OffsetDateTime;

use super::{CheckKind, CheckResult, CheckStatus};
use crate::error::S1Error;

pub(super) const EXPIRY_WARNING_DAYS: i64 = 30;

pub(super) fn passed(check: CheckKind, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        check,
        status: CheckStatus::Passed,
        detail: detail.into(),
        error_kind: None,
    }
}

pub(super) fn failed(check: CheckKind, error: &S1Error) -> CheckResult {
    CheckResult {
        check,
        status: CheckStatus::Failed,
        detail: error.to_string(),
        error_kind: Some(error.kind()),
    }
}

pub(super) fn skipped(check: CheckKind, because: &str) -> CheckResult {
    CheckResult {
        check,
        status: CheckStatus::Skipped,
        detail: format!("not run: {because}"),
        error_kind: None,
    }
}

pub(super) const ALL: [CheckKind; 9] = [
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

pub(super) fn skip_rest(checks: &mut Vec<CheckResult>, because: &str) {
    for kind in ALL {
        if checks.iter().all(|c| c.check != kind) {
            checks.push(skipped(kind, because));
        }
    }
}

/// [`S1Error::kind`] of the deadline, also set on the checks skipped for lack of time so that
/// [`ConnectionReport::passed`] can tell them from checks skipped because an earlier one failed.
pub(super) const OUT_OF_TIME_KIND: &str = "deadline_reached";

/// Every check not run yet, skipped because the test's time ran out before it.
pub(super) fn skip_rest_out_of_time(checks: &mut Vec<CheckResult>) {
    for kind in ALL {
        if checks.iter().all(|c| c.check != kind) {
            checks.push(CheckResult {
                error_kind: Some(OUT_OF_TIME_KIND),
                ..skipped(
                    kind,
                    "the connection test ran out of time before this check",
                )
            });
        }
    }
}

/// The check that was running when the test's time ran out.
pub(super) fn out_of_time(check: CheckKind, timeout: Duration) -> CheckResult {
    CheckResult {
        check,
        status: CheckStatus::Failed,
        detail: format!(
            "the connection test ran out of time ({}) during this check: the console answered too slowly; try again \
             later",
            seconds(timeout)
        ),
        error_kind: Some(OUT_OF_TIME_KIND),
    }
}

pub(super) fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

pub(super) fn expiry_check(expires_at: Option<OffsetDateTime>, now: OffsetDateTime) -> CheckResult {
    let Some(expires_at) = expires_at else {
        return passed(
            CheckKind::TokenExpiry,
            "the console reported no expiry date for the token",
        );
    };
    let date = expires_at.date();
    let days_left = (expires_at - now).whole_days();
    if expires_at <= now {
        return CheckResult {
            check: CheckKind::TokenExpiry,
            status: CheckStatus::Failed,
            detail: format!(
                "the API token expired on {date}: create a new service-user token and save it here"
            ),
            error_kind: Some("token_expired"),
        };
    }
    if days_left < EXPIRY_WARNING_DAYS {
        return CheckResult {
            check: CheckKind::TokenExpiry,
            status: CheckStatus::Warning,
            detail: format!(
                "the API token expires on {date} (in {days_left} days): create a new service-user token and save it \
                 here before then"
            ),
            error_kind: None,
        };
    }
    passed(
        CheckKind::TokenExpiry,
        format!("the API token is valid until {date}"),
    )
}

/// Application vulnerabilities cannot be read: a warning that names why, since threats and assets still import.
pub(super) fn vulnerabilities_unreadable(error: &S1Error) -> CheckResult {
    let detail = match error {
        S1Error::Forbidden { .. } => "the token lacks the Applications Page.viewRisks permission: threats and \
             assets import, application vulnerabilities do not; add the permission to the service user's role to \
             import them"
            .to_string(),
        S1Error::NotFound { .. } => "the console has no application vulnerabilities (Application Risk or \
             Vulnerability Management is not enabled for this account): threats and assets import without them"
            .to_string(),
        other => format!(
            "application vulnerabilities could not be read ({other}): threats and assets still import"
        ),
    };
    CheckResult {
        check: CheckKind::PermissionVulnerabilities,
        status: CheckStatus::Warning,
        detail,
        error_kind: Some(error.kind()),
    }
}
