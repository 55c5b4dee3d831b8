//! The configuration request body and its validation. Every loosely typed field arrives as raw JSON so that a
//! wrong type is reported as an error on that field (with every other field's errors), not as an unreadable body.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use s1_core::groups::GroupFilter;
use s1_core::{ApiToken, VerdictInclusionList};
use s1_core::{FieldError, Severity};
use sentinelone_client::{ConsoleUrl, UrlPolicy, UrlPolicyError};

use connector_store::AUTO_SYNC_DAYS;

/// At most this many group names may be configured.
pub const MAX_GROUP_NAMES: usize = 100;
/// A group name is at most this many characters (after trimming).
pub const MAX_GROUP_NAME_CHARS: usize = 256;

/// `Some(value)` when the field is present, even as `null`; `None` when absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The body of `PUT …/config` and `POST …/test-connection` (camelCase JSON, unknown fields refused).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigBody {
    #[serde(default, deserialize_with = "present")]
    pub console_url: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub api_token: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub analyst_verdicts: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub auto_sync_days: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub auto_onboard: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub update_metadata: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub group_names: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub skip_connection_test: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub import_vulnerabilities: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub minimum_vulnerability_severity: Option<Value>,
}

// The raw token is in here: Debug shows only whether one was sent.
impl std::fmt::Debug for ConfigBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigBody")
            .field("console_url", &self.console_url)
            .field("api_token", &self.api_token.as_ref().map(|_| "[redacted]"))
            .field("analyst_verdicts", &self.analyst_verdicts)
            .field("auto_sync_days", &self.auto_sync_days)
            .field("auto_onboard", &self.auto_onboard)
            .field("update_metadata", &self.update_metadata)
            .field("group_names", &self.group_names)
            .field("skip_connection_test", &self.skip_connection_test)
            .field("import_vulnerabilities", &self.import_vulnerabilities)
            .field(
                "minimum_vulnerability_severity",
                &self.minimum_vulnerability_severity,
            )
            .finish()
    }
}

// The token is in here: Debug must never print it.
impl std::fmt::Debug for ValidatedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatedBody")
            .field("console_url", &self.console_url)
            .field("api_token", &self.api_token.as_ref().map(|_| "[redacted]"))
            .field("verdicts", &self.verdicts)
            .field("auto_sync_days", &self.auto_sync_days)
            .field("auto_onboard", &self.auto_onboard)
            .field("update_metadata", &self.update_metadata)
            .field("group_names", &self.group_names)
            .field("skip_connection_test", &self.skip_connection_test)
            .field("import_vulnerabilities", &self.import_vulnerabilities)
            .field(
                "minimum_vulnerability_severity",
                &self.minimum_vulnerability_severity,
            )
            .finish()
    }
}

/// A body whose every present field passed its rule. `None` = the field was absent (keep / default).
pub struct ValidatedBody {
    /// The console URL as given: `Ok` when it passed the URL policy. The test-connection use case reports a refused
    /// URL as the `url_allowed` check; the save use case refuses it as a field error.
    pub console_url: Option<Result<ConsoleUrl, UrlPolicyError>>,
    pub api_token: Option<ApiToken>,
    pub verdicts: Option<VerdictInclusionList>,
    /// `Some(None)`: auto-sync off.
    pub auto_sync_days: Option<Option<u16>>,
    pub auto_onboard: Option<bool>,
    pub update_metadata: Option<bool>,
    pub group_names: Option<GroupFilter>,
    pub skip_connection_test: bool,
    pub import_vulnerabilities: Option<bool>,
    pub minimum_vulnerability_severity: Option<Severity>,
}

impl ValidatedBody {
    /// The console URL when it was given and allowed.
    pub fn console(&self) -> Option<&ConsoleUrl> {
        self.console_url.as_ref().and_then(|r| r.as_ref().ok())
    }
}

/// Which rules apply to the URL: the save refuses a disallowed URL as a field error; the connection test reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRule {
    FieldError,
    Report,
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

fn boolean(field: &str, v: &Option<Value>, errors: &mut Vec<FieldError>) -> Option<bool> {
    match v {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.push(FieldError::new(field, "must be true or false"));
            None
        }
    }
}

/// A minimum vulnerability severity: the four SentinelOne sends, any case. `info` is refused: SentinelOne's
/// rows carry no such severity, so a minimum of `info` would only mean "also the rows whose severity is unknown".
fn minimum_severity(raw: &str) -> Option<Severity> {
    [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ]
    .into_iter()
    .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
}

/// Applies every field rule and returns every error at once.
pub fn validate(
    body: ConfigBody,
    policy: &UrlPolicy,
    url_rule: UrlRule,
) -> Result<ValidatedBody, Vec<FieldError>> {
    let mut errors = Vec::new();

    let console_url = match &body.console_url {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() => match ConsoleUrl::parse(s, policy) {
            Ok(url) => Some(Ok(url)),
            Err(e) if url_rule == UrlRule::Report => Some(Err(e)),
            Err(e) => {
                errors.push(FieldError::new("consoleUrl", e.to_string()));
                None
            }
        },
        Some(Value::String(_)) => {
            errors.push(FieldError::new(
                "consoleUrl",
                "is empty: enter the console URL, e.g. https://<your-console>.sentinelone.net",
            ));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                "consoleUrl",
                "must be a string such as https://<your-console>.sentinelone.net",
            ));
            None
        }
    };

    let api_token = match body.api_token {
        // null counts as omitted: "keep the stored token".
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match ApiToken::new(s) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(FieldError::new("apiToken", e.to_string()));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(
                "apiToken",
                "must be a string (the token of the SentinelOne service user)",
            ));
            None
        }
    };

    let verdicts = match &body.analyst_verdicts {
        None | Some(Value::Null) => None,
        Some(v) => match string_list(v) {
            Some(items) => match VerdictInclusionList::from_list(&items) {
                Ok(list) => Some(list),
                Err(e) => {
                    errors.push(FieldError::new("analystVerdicts", e.to_string()));
                    None
                }
            },
            None => {
                errors.push(FieldError::new(
                    "analystVerdicts",
                    "must be a list of verdicts or a comma-separated string, e.g. [\"true_positive\", \"suspicious\"]",
                ));
                None
            }
        },
    };

    let range_msg = || {
        format!(
            "must be a whole number of days from {} to {}, or null (or 0) to turn auto-sync off",
            AUTO_SYNC_DAYS.start(),
            AUTO_SYNC_DAYS.end()
        )
    };
    let auto_sync_days = match &body.auto_sync_days {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => Some(None),
            Some(d) => match u16::try_from(d) {
                Ok(d) if AUTO_SYNC_DAYS.contains(&d) => Some(Some(d)),
                _ => {
                    errors.push(FieldError::new("autoSyncDays", range_msg()));
                    None
                }
            },
            None => {
                errors.push(FieldError::new("autoSyncDays", range_msg()));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("autoSyncDays", range_msg()));
            None
        }
    };

    let auto_onboard = boolean("autoOnboard", &body.auto_onboard, &mut errors);
    let update_metadata = boolean("updateMetadata", &body.update_metadata, &mut errors);
    let skip_connection_test = boolean(
        "skipConnectionTest",
        &body.skip_connection_test,
        &mut errors,
    )
    .unwrap_or(false);

    let import_vulnerabilities = boolean(
        "importVulnerabilities",
        &body.import_vulnerabilities,
        &mut errors,
    );
    let minimum_vulnerability_severity = match &body.minimum_vulnerability_severity {
        None => None,
        Some(v) => match v.as_str().and_then(minimum_severity) {
            Some(s) => Some(s),
            None => {
                errors.push(FieldError::new(
                    "minimumVulnerabilitySeverity",
                    "must be one of: critical, high, medium, low (any case)",
                ));
                None
            }
        },
    };

    let group_names = match &body.group_names {
        None => None,
        Some(Value::Null) => Some(GroupFilter::default()),
        Some(v) => match string_list(v) {
            Some(items) => {
                let filter = GroupFilter::from_list(&items);
                let mut ok = true;
                if filter.names().len() > MAX_GROUP_NAMES {
                    errors.push(FieldError::new(
                        "groupNames",
                        format!(
                            "lists {} groups; at most {MAX_GROUP_NAMES} may be configured",
                            filter.names().len()
                        ),
                    ));
                    ok = false;
                }
                if let Some(long) = filter
                    .names()
                    .iter()
                    .find(|n| n.chars().count() > MAX_GROUP_NAME_CHARS)
                {
                    errors.push(FieldError::new(
                        "groupNames",
                        format!(
                            "a group name is {} characters long; SentinelOne group names are at most \
                             {MAX_GROUP_NAME_CHARS}",
                            long.chars().count()
                        ),
                    ));
                    ok = false;
                }
                if filter
                    .names()
                    .iter()
                    .any(|n| n.chars().any(char::is_control))
                {
                    errors.push(FieldError::new(
                        "groupNames",
                        "a group name contains a control character (e.g. a line break)",
                    ));
                    ok = false;
                }
                ok.then_some(filter)
            }
            None => {
                errors.push(FieldError::new(
                    "groupNames",
                    "must be a list of group names or a comma-separated string",
                ));
                None
            }
        },
    };

    if errors.is_empty() {
        Ok(ValidatedBody {
            console_url,
            api_token,
            verdicts,
            auto_sync_days,
            auto_onboard,
            update_metadata,
            group_names,
            skip_connection_test,
            import_vulnerabilities,
            minimum_vulnerability_severity,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> ConfigBody {
        serde_json::from_str(json).expect("body")
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn every_field_error_is_reported_at_once() {
        let b = body(
            r#"{"consoleUrl":"http://x.sentinelone.net","apiToken":"Zq9x7","analystVerdicts":["maybe"],
                "autoSyncDays":31,"autoOnboard":"yes","updateMetadata":1,"groupNames":[1],"skipConnectionTest":"no"}"#,
        );
        let errors = validate(b, &UrlPolicy::default(), UrlRule::FieldError).expect_err("invalid");
        assert_eq!(
            fields(&errors),
            [
                "consoleUrl",
                "apiToken",
                "analystVerdicts",
                "autoSyncDays",
                "autoOnboard",
                "updateMetadata",
                "skipConnectionTest",
                "groupNames"
            ]
        );
        assert!(
            errors.iter().all(|e| !e.message.contains("Zq9x7")),
            "the token value is never echoed"
        );
    }

    #[test]
    fn loose_forms_are_accepted() {
        let b = body(
            r#"{"consoleUrl":"https://usea1-acme.sentinelone.net/dashboard","apiToken":"eyJhbGciOiJIUzI1NiJ9.abcdef",
                "analystVerdicts":"true positive, suspicious","autoSyncDays":0,"groupNames":"Default Group, Servers"}"#,
        );
        let v = validate(b, &UrlPolicy::default(), UrlRule::FieldError).expect("valid");
        assert_eq!(
            v.console().map(|c| c.as_str()),
            Some("https://usea1-acme.sentinelone.net")
        );
        assert_eq!(
            v.verdicts.map(|l| l.to_strings()),
            Some(vec!["true_positive".to_string(), "suspicious".to_string()])
        );
        assert_eq!(v.auto_sync_days, Some(None));
        assert_eq!(v.group_names.map(|g| g.names().len()), Some(2));
        assert!(!v.skip_connection_test);
    }

    #[test]
    fn days_range_is_enforced_at_both_ends() {
        for (days, ok) in [
            ("1", true),
            ("30", true),
            ("31", false),
            ("-1", false),
            ("2.5", false),
            ("\"7\"", false),
        ] {
            let b = body(&format!(r#"{{"autoSyncDays":{days}}}"#));
            assert_eq!(
                validate(b, &UrlPolicy::default(), UrlRule::FieldError).is_ok(),
                ok,
                "{days}"
            );
        }
    }

    #[test]
    fn refused_url_is_kept_for_the_report_when_asked() {
        let b = body(r#"{"consoleUrl":"https://169.254.169.254"}"#);
        let v = validate(b, &UrlPolicy::default(), UrlRule::Report).expect("reported, not refused");
        assert!(matches!(
            v.console_url,
            Some(Err(UrlPolicyError::IpLiteral { .. }))
        ));
    }

    #[test]
    fn debug_never_prints_the_token() {
        let raw = body(r#"{"apiToken":"eyJhbGciOiJIUzI1NiJ9.debug-token-value"}"#);
        assert!(!format!("{raw:?}").contains("debug-token-value"));
        let v = validate(raw, &UrlPolicy::default(), UrlRule::FieldError).expect("valid");
        assert!(v.api_token.is_some());
        assert!(!format!("{v:?}").contains("debug-token-value"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<ConfigBody>(r#"{"consoleUrl":"x","tenantId":"b"}"#).is_err()
        );
    }
}

#[cfg(test)]
mod vulnerability_settings {
    use super::*;

    fn validated(json: &str) -> Result<ValidatedBody, Vec<FieldError>> {
        let body: ConfigBody = serde_json::from_str(json).expect("body");
        validate(body, &UrlPolicy::default(), UrlRule::FieldError)
    }

    #[test]
    fn the_minimum_severity_is_one_of_four_in_any_case_and_absent_keeps_the_stored_value() {
        for (raw, want) in [
            ("CRITICAL", Severity::Critical),
            ("High", Severity::High),
            (" medium ", Severity::Medium),
            ("low", Severity::Low),
        ] {
            let v = validated(&format!(r#"{{"minimumVulnerabilitySeverity":"{raw}"}}"#))
                .expect("valid");
            assert_eq!(v.minimum_vulnerability_severity, Some(want), "{raw}");
        }
        let v = validated(r#"{"importVulnerabilities":false}"#).expect("valid");
        assert_eq!(
            (v.import_vulnerabilities, v.minimum_vulnerability_severity),
            (Some(false), None)
        );
    }

    #[test]
    fn info_other_words_and_wrong_types_are_refused_naming_the_field() {
        for bad in [r#""info""#, r#""urgent""#, "3", "null", r#""""#] {
            let errors = validated(&format!(
                r#"{{"minimumVulnerabilitySeverity":{bad},"importVulnerabilities":"yes"}}"#
            ))
            .expect_err("invalid");
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(
                fields,
                ["importVulnerabilities", "minimumVulnerabilitySeverity"],
                "{bad}"
            );
            assert_eq!(
                errors[1].message,
                "must be one of: critical, high, medium, low (any case)"
            );
        }
    }
}
