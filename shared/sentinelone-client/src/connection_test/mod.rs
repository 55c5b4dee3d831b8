//! The connection test of contract decision 2: one structured result per check, each with a cause and a fix in the
//! user's words, so the UI can show exactly which step failed. The whole test runs against one deadline
//! (`ClientOptions::connection_test_timeout`): a check that runs out of time fails saying so, and the checks after it
//! are skipped, so a slow console gives a full report in time instead of a gateway timeout.

use std::future::Future;
use std::time::Duration;

use s1_core::groups::{GroupFilter, ResolvedGroup};
use serde::Serialize;
use time::OffsetDateTime;

mod results;

use results::{
    expiry_check, failed, out_of_time, passed, seconds, skip_rest, skip_rest_out_of_time, skipped,
    vulnerabilities_unreadable, ALL, OUT_OF_TIME_KIND,
};

use crate::client::{Endpoint, S1Client};
use crate::error::S1Error;
use crate::url_policy::UrlPolicyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    UrlAllowed,
    ConsoleReachable,
    TokenAccepted,
    PermissionAgents,
    PermissionThreats,
    PermissionGroups,
    /// `Applications Page.viewRisks`: only a warning when missing, since threats and assets import without it.
    PermissionVulnerabilities,
    TokenExpiry,
    GroupsResolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Warning,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub check: CheckKind,
    pub status: CheckStatus,
    /// What was found and, when something is wrong, what to do about it.
    pub detail: String,
    /// [`S1Error::kind`] of the failure, for the API layer.
    pub error_kind: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionReport {
    /// One entry per [`CheckKind`], in the order the checks ran.
    pub checks: Vec<CheckResult>,
    /// The groups the configured names matched, with their sites.
    pub groups: Vec<ResolvedGroup>,
}

impl ConnectionReport {
    /// True when no check failed (warnings do not fail the test) and none was left out because the test ran out of
    /// time: an unrun check proves nothing.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| {
            c.status != CheckStatus::Failed
                && !(c.status == CheckStatus::Skipped && c.error_kind == Some(OUT_OF_TIME_KIND))
        })
    }

    pub fn check(&self, kind: CheckKind) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == kind)
    }

    /// The report for a URL that [`crate::ConsoleUrl::parse`] refused, so callers can answer every connection test
    /// in one shape even when no client could be built.
    pub fn url_refused(error: &UrlPolicyError) -> ConnectionReport {
        let error = S1Error::UrlRefused(error.clone());
        let mut checks = vec![failed(CheckKind::UrlAllowed, &error)];
        skip_rest(&mut checks, "the console URL is not allowed");
        ConnectionReport {
            checks,
            groups: Vec::new(),
        }
    }
}

impl S1Client {
    /// Runs decision 2's sequence. Never returns an error: every failure is a check result.
    pub async fn test_connection(&self, filter: &GroupFilter) -> ConnectionReport {
        self.test_connection_at(filter, OffsetDateTime::now_utc())
            .await
    }

    /// [`S1Client::test_connection`] with the current time given, so expiry warnings can be tested.
    pub async fn test_connection_at(
        &self,
        filter: &GroupFilter,
        now: OffsetDateTime,
    ) -> ConnectionReport {
        let timeout = self.inner.options.connection_test_timeout;
        let ends = self.inner.options.clock.now().checked_add(timeout);
        // The test's own deadline, or the caller's if that comes first.
        let deadline = match (self.deadline(), ends) {
            (Some(caller), Some(ends)) => Some(caller.min(ends)),
            (caller, ends) => caller.or(ends),
        };
        self.with_deadline(deadline)
            .run_checks(filter, now, timeout)
            .await
    }

    /// Whether the deadline has come (so no further check can run).
    fn out_of_time(&self) -> bool {
        self.time_left().is_some_and(|left| left.is_zero())
    }

    /// Runs `call` within the deadline. The client already honours it for every request and wait; this also bounds
    /// what it does not see, such as the DNS lookup of the address check.
    async fn bounded<T>(
        &self,
        endpoint: Endpoint,
        call: impl Future<Output = Result<T, S1Error>>,
    ) -> Result<T, S1Error> {
        match self.time_left() {
            None => call.await,
            Some(left) => tokio::time::timeout(left, call).await.unwrap_or_else(|_| {
                Err(S1Error::DeadlineReached {
                    endpoint: endpoint.path().to_string(),
                })
            }),
        }
    }

    async fn run_checks(
        &self,
        filter: &GroupFilter,
        now: OffsetDateTime,
        timeout: Duration,
    ) -> ConnectionReport {
        let mut checks = Vec::with_capacity(ALL.len());
        let mut groups = Vec::new();

        match self
            .bounded(Endpoint::SystemInfo, self.check_addresses())
            .await
        {
            Ok(()) => checks.push(passed(
                CheckKind::UrlAllowed,
                format!("{} is an allowed console address", self.console().as_str()),
            )),
            Err(e) if e.is_deadline() => {
                checks.push(out_of_time(CheckKind::UrlAllowed, timeout));
                skip_rest_out_of_time(&mut checks);
                return ConnectionReport { checks, groups };
            }
            Err(e) => {
                checks.push(failed(CheckKind::UrlAllowed, &e));
                skip_rest(&mut checks, "the console URL is not allowed");
                return ConnectionReport { checks, groups };
            }
        }

        if self.out_of_time() {
            skip_rest_out_of_time(&mut checks);
            return ConnectionReport { checks, groups };
        }
        match self.bounded(Endpoint::SystemInfo, self.system_info()).await {
            Ok(info) => {
                let release = info
                    .release
                    .map(|r| format!(" (release {r})"))
                    .unwrap_or_default();
                checks.push(passed(
                    CheckKind::ConsoleReachable,
                    format!("the console answered{release}"),
                ));
                checks.push(passed(
                    CheckKind::TokenAccepted,
                    "the console accepted the API token",
                ));
            }
            Err(e) if e.is_deadline() => {
                checks.push(out_of_time(CheckKind::ConsoleReachable, timeout));
                skip_rest_out_of_time(&mut checks);
                return ConnectionReport { checks, groups };
            }
            Err(e @ S1Error::Unauthorized { .. }) => {
                checks.push(passed(CheckKind::ConsoleReachable, "the console answered"));
                checks.push(failed(CheckKind::TokenAccepted, &e));
                skip_rest(&mut checks, "the API token was rejected");
                return ConnectionReport { checks, groups };
            }
            Err(e) => {
                checks.push(failed(CheckKind::ConsoleReachable, &e));
                skip_rest(&mut checks, "the console could not be reached");
                return ConnectionReport { checks, groups };
            }
        }

        let permissions = [
            (
                CheckKind::PermissionAgents,
                Endpoint::Agents,
                "agents (Endpoints.view)",
            ),
            (
                CheckKind::PermissionThreats,
                Endpoint::Threats,
                "threats (Threats.view)",
            ),
            (
                CheckKind::PermissionGroups,
                Endpoint::Groups,
                "groups (Groups.view)",
            ),
        ];
        let mut groups_readable = true;
        for (kind, endpoint, what) in permissions {
            if self.out_of_time() {
                skip_rest_out_of_time(&mut checks);
                return ConnectionReport { checks, groups };
            }
            match self.bounded(endpoint, self.probe(endpoint)).await {
                Ok(()) => checks.push(passed(kind, format!("the token can read {what}"))),
                Err(e) if e.is_deadline() => {
                    checks.push(out_of_time(kind, timeout));
                    skip_rest_out_of_time(&mut checks);
                    return ConnectionReport { checks, groups };
                }
                Err(e) => {
                    if endpoint == Endpoint::Groups {
                        groups_readable = false;
                    }
                    checks.push(failed(kind, &e));
                }
            }
        }

        if self.out_of_time() {
            skip_rest_out_of_time(&mut checks);
            return ConnectionReport { checks, groups };
        }
        match self
            .bounded(Endpoint::Risks, self.probe(Endpoint::Risks))
            .await
        {
            Ok(()) => checks.push(passed(
                CheckKind::PermissionVulnerabilities,
                "the token can read application vulnerabilities (Applications Page.viewRisks)",
            )),
            Err(e) if e.is_deadline() => {
                checks.push(out_of_time(CheckKind::PermissionVulnerabilities, timeout));
                skip_rest_out_of_time(&mut checks);
                return ConnectionReport { checks, groups };
            }
            Err(e) => checks.push(vulnerabilities_unreadable(&e)),
        }

        if self.out_of_time() {
            skip_rest_out_of_time(&mut checks);
            return ConnectionReport { checks, groups };
        }
        checks.push(match self
            .bounded(Endpoint::ApiTokenDetails, self.token_details())
            .await
        {
            Ok(details) => expiry_check(details.expires_at, now),
            // Like any failure of this call, only a warning; the group check still gets its chance below.
            Err(e) if e.is_deadline() => CheckResult {
                check: CheckKind::TokenExpiry,
                status: CheckStatus::Warning,
                detail: format!(
                    "the connection test ran out of time ({}) before the token's expiry date could be read; check it \
                     in the SentinelOne console under the service user",
                    seconds(timeout)
                ),
                error_kind: Some(OUT_OF_TIME_KIND),
            },
            Err(e) => CheckResult {
                check: CheckKind::TokenExpiry,
                status: CheckStatus::Warning,
                detail: format!(
                    "the token's expiry date could not be read ({e}); check it in the SentinelOne console under the \
                     service user"
                ),
                error_kind: Some(e.kind()),
            },
        });

        checks.push(if filter.is_all() {
            passed(
                CheckKind::GroupsResolved,
                "no group filter is configured: every group is imported",
            )
        } else if !groups_readable {
            skipped(CheckKind::GroupsResolved, "the token cannot read groups")
        } else if self.out_of_time() {
            skip_rest_out_of_time(&mut checks);
            return ConnectionReport { checks, groups };
        } else {
            match self
                .bounded(Endpoint::Groups, self.resolve_groups(filter))
                .await
            {
                Ok(found) => {
                    let listed: Vec<String> = found
                        .iter()
                        .map(|g| match &g.site_id {
                            Some(site) => format!("{} (site {site})", g.name),
                            None => g.name.clone(),
                        })
                        .collect();
                    let detail = format!("{} group(s) matched: {}", found.len(), listed.join(", "));
                    groups = found;
                    passed(CheckKind::GroupsResolved, detail)
                }
                Err(e) if e.is_deadline() => out_of_time(CheckKind::GroupsResolved, timeout),
                Err(e) => failed(CheckKind::GroupsResolved, &e),
            }
        });

        ConnectionReport { checks, groups }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_refused_url_gives_a_full_report() {
        let report = ConnectionReport::url_refused(&UrlPolicyError::UserInfo);
        assert!(!report.passed());
        assert_eq!(report.checks.len(), ALL.len());
        assert_eq!(report.checks[0].error_kind, Some("url_refused"));
        assert!(report.checks[1..]
            .iter()
            .all(|c| c.status == CheckStatus::Skipped));
        let json = serde_json::to_value(&report).unwrap_or_default();
        assert_eq!(json["checks"][0]["check"], "url_allowed");
        assert_eq!(json["checks"][0]["status"], "failed");
    }

    #[test]
    fn checks_skipped_for_lack_of_time_do_not_pass() {
        let mut checks = vec![passed(CheckKind::UrlAllowed, "ok")];
        skip_rest_out_of_time(&mut checks);
        let report = ConnectionReport {
            checks,
            groups: Vec::new(),
        };
        assert!(!report.passed());
        assert_eq!(report.checks.len(), ALL.len());
        let json = serde_json::to_value(&report).unwrap_or_default();
        assert_eq!(json["checks"][1]["status"], "skipped");
        assert_eq!(
            json["checks"][1]["detail"],
            "not run: the connection test ran out of time before this check"
        );
        // Skipped after a failure (the existing meaning) stays as it was.
        let mut checks = vec![passed(CheckKind::UrlAllowed, "ok")];
        skip_rest(&mut checks, "the console could not be reached");
        assert!(checks[1..].iter().all(|c| c.error_kind.is_none()));
    }

    #[test]
    fn expiry_warns_under_thirty_days() {
        let now = datetime!(2026-11-25 12:00 UTC);
        assert_eq!(
            expiry_check(Some(datetime!(2027-06-01 00:00 UTC)), now).status,
            CheckStatus::Passed
        );
        let soon = expiry_check(Some(datetime!(2026-12-10 00:00 UTC)), now);
        assert_eq!(soon.status, CheckStatus::Warning);
        assert!(soon.detail.contains("2026-12-10"), "{}", soon.detail);
        assert_eq!(
            expiry_check(Some(datetime!(2026-11-01 00:00 UTC)), now).status,
            CheckStatus::Failed
        );
        assert_eq!(expiry_check(None, now).status, CheckStatus::Passed);
    }
}
