//! The findings listing's query: its filters and the kind rule.

use connector_store::{
    AnyKindFilter, FindingFilter, FindingKind, SharedState, VulnerabilityFilter,
};
use s1_core::lifecycle::FindingState;
use s1_core::vulnerability::lifecycle::VulnerabilityState;
use s1_core::{AnalystVerdict, FieldError, FindingStatus, LengthLimit, Severity};

use super::Params;

/// `GET …/findings`: `kind`, `verdict`, `status`, `severity`, `asset`, `attached`, `cve`, `state`, `sort` (only
/// `id`, and only where the listing is in id order), `limit`, `pageToken`.
///
/// The kind rule: without `kind` both kinds are listed (threats first); a filter only one kind has selects that
/// kind (`status`, `verdict`, `attached=true` and the states `resolved` and `closed` are threat filters; `cve` and
/// the state `fixed` are vulnerability filters); a filter of the other kind than the one asked for, or filters of
/// both kinds together, are refused naming the parameter. `severity`, `asset`, `attached=false` and the states
/// `open` and `reopened` apply to both kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingQuery {
    pub selection: FindingSelection,
    pub limit: u32,
    pub page_token: Option<String>,
}

/// Which findings a query lists, with the filters of that kind.
#[derive(Debug, Clone, PartialEq)]
pub enum FindingSelection {
    /// Threat findings, and their lifecycle state (`open`, `resolved`, `closed`, `reopened`).
    Threats {
        filter: FindingFilter,
        state: Option<FindingState>,
    },
    Vulnerabilities(VulnerabilityFilter),
    Both(AnyKindFilter),
}

impl FindingSelection {
    /// Whether the listing is in id order (otherwise by facet: see the store's views).
    fn lists_by_id(&self) -> bool {
        match self {
            Self::Threats { filter, state } => filter.lists_by_id(*state),
            Self::Vulnerabilities(f) => {
                f.state.is_none() && f.severity.is_none() && f.cve.is_none()
            }
            Self::Both(f) => f.state.is_none() && f.severity.is_none(),
        }
    }
}

/// A state value of the finding listing: shared by both kinds or one kind's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateParam {
    Open,
    Reopened,
    Resolved,
    Closed,
    Fixed,
}

const STATES: [(&str, StateParam); 5] = [
    ("open", StateParam::Open),
    ("reopened", StateParam::Reopened),
    ("resolved", StateParam::Resolved),
    ("closed", StateParam::Closed),
    ("fixed", StateParam::Fixed),
];

/// CVE ids are short (`CVE-2025-0411`); the bound keeps a junk value out of the keys it becomes part of.
const CVE_LIMIT: LengthLimit = LengthLimit::ascii(64);

/// A CVE id as a filter: at most 64 letters, digits and `-_.:` (e.g. `CVE-2025-0411`, any case).
fn valid_cve(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

impl FindingQuery {
    /// The query from parameters looked up by name.
    pub fn parse(get: &impl Fn(&str) -> Option<String>) -> Result<Self, Vec<FieldError>> {
        let mut p = Params::new(get);
        let kind = p.one_of(
            "kind",
            &[
                ("threat", FindingKind::Threat),
                ("vulnerability", FindingKind::Vulnerability),
            ],
        );
        let verdict = p.keyword("verdict").and_then(|raw| {
            match AnalystVerdict::from_wire(&raw.to_ascii_lowercase()) {
                AnalystVerdict::Other(_) => {
                    p.errors.push(FieldError::new(
                        "verdict",
                        format!("must be one of: {}", AnalystVerdict::KNOWN.join(", ")),
                    ));
                    None
                }
                known => Some(known),
            }
        });
        let status = p.one_of("status", &FindingStatus::ALL.map(|s| (s.as_str(), s)));
        let severity = p.one_of("severity", &Severity::ALL.map(|s| (s.as_str(), s)));
        let asset = p.bounded("asset", LengthLimit::NAME);
        // `attached=false` lists the findings whose asset does not exist (yet) in the platform.
        let attached = p.boolean("attached");
        let cve = p
            .bounded("cve", CVE_LIMIT)
            .and_then(|raw| match valid_cve(&raw) {
                true => Some(raw),
                false => {
                    p.errors.push(FieldError::new(
                    "cve",
                    "must be a CVE id such as CVE-2025-0411 (letters, digits and -_.:, at most 64)",
                ));
                    None
                }
            });
        let state = p.one_of("state", &STATES);

        // The kind each filter implies, in the documented parameter order.
        let threat_only: Vec<&str> = [
            ("verdict", verdict.is_some()),
            ("status", status.is_some()),
            ("attached", attached == Some(true)),
            (
                "state",
                matches!(state, Some(StateParam::Resolved | StateParam::Closed)),
            ),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        let vulnerability_only: Vec<&str> = [
            ("cve", cve.is_some()),
            ("state", state == Some(StateParam::Fixed)),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        let kind = match kind {
            Some(FindingKind::Threat) => {
                for name in &vulnerability_only {
                    p.errors.push(FieldError::new(
                        *name,
                        "filters vulnerabilities only and kind=threat was asked: drop it or ask for kind=vulnerability",
                    ));
                }
                Some(FindingKind::Threat)
            }
            Some(FindingKind::Vulnerability) => {
                for name in &threat_only {
                    p.errors.push(FieldError::new(
                        *name,
                        "filters threats only and kind=vulnerability was asked: drop it or ask for kind=threat",
                    ));
                }
                Some(FindingKind::Vulnerability)
            }
            None if !threat_only.is_empty() && !vulnerability_only.is_empty() => {
                for name in &vulnerability_only {
                    p.errors.push(FieldError::new(
                        *name,
                        format!(
                            "filters vulnerabilities only, and {} threats only: list one kind at a time",
                            threat_only.join(", ")
                        ),
                    ));
                }
                None
            }
            None if !threat_only.is_empty() => Some(FindingKind::Threat),
            None if !vulnerability_only.is_empty() => Some(FindingKind::Vulnerability),
            None => None,
        };
        let selection = match kind {
            Some(FindingKind::Threat) => FindingSelection::Threats {
                filter: FindingFilter {
                    status,
                    severity,
                    asset,
                    verdict,
                    attached,
                },
                state: state.and_then(|s| match s {
                    StateParam::Open => Some(FindingState::Open),
                    StateParam::Reopened => Some(FindingState::Reopened),
                    StateParam::Resolved => Some(FindingState::Resolved),
                    StateParam::Closed => Some(FindingState::Closed),
                    StateParam::Fixed => None,
                }),
            },
            Some(FindingKind::Vulnerability) => {
                FindingSelection::Vulnerabilities(VulnerabilityFilter {
                    state: state.and_then(|s| match s {
                        StateParam::Open => Some(VulnerabilityState::Open),
                        StateParam::Reopened => Some(VulnerabilityState::Reopened),
                        StateParam::Fixed => Some(VulnerabilityState::Fixed),
                        StateParam::Resolved | StateParam::Closed => None,
                    }),
                    severity,
                    cve,
                    asset,
                    attached,
                })
            }
            None => FindingSelection::Both(AnyKindFilter {
                severity,
                state: state.and_then(|s| match s {
                    StateParam::Open => Some(SharedState::Open),
                    StateParam::Reopened => Some(SharedState::Reopened),
                    _ => None,
                }),
                asset,
                attached,
            }),
        };
        // Id order is a key order only without filters or with `asset` or `attached=false` alone; every other
        // filter is read from the facet index, in facet order (an id order there would read every facet's first
        // page to merge them, many times what a page returns).
        match p.keyword("sort") {
            Some(sort) if sort != "id" => p.errors.push(FieldError::new(
                "sort",
                "must be id (findings are listed by id, or by facet when filtered)",
            )),
            Some(_) if !selection.lists_by_id() => p.errors.push(FieldError::new(
                "sort",
                "id order is served only without filters or with asset or attached=false alone; drop sort to \
                 list these findings by their filtered values (state, severity, ...), then id",
            )),
            _ => {}
        }
        let (limit, page_token) = (p.limit(), p.page_token());
        p.finish(Self {
            selection,
            limit,
            page_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::params;

    #[test]
    fn every_bad_parameter_is_reported_at_once_in_documented_order() {
        let errors = FindingQuery::parse(&params(&[
            ("verdict", "maybe"),
            ("status", "open"),
            ("severity", "urgent"),
            ("attached", "yes"),
            ("sort", "name"),
            ("limit", "0"),
            ("pageToken", &"t".repeat(4097)),
        ]))
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "verdict",
                "status",
                "severity",
                "attached",
                "sort",
                "limit",
                "pageToken"
            ]
        );
        assert_eq!(errors[1].message, "must be one of: failed, passed");
        assert_eq!(
            errors[2].message,
            "must be one of: critical, high, medium, low, info"
        );
    }

    #[test]
    fn enum_values_are_case_insensitive() {
        let q = FindingQuery::parse(&params(&[
            ("status", "FAILED"),
            ("severity", "High"),
            ("verdict", "True_Positive"),
        ]))
        .expect("valid");
        let (filter, _) = threats(q);
        assert_eq!(filter.status, Some(FindingStatus::Failed));
        assert_eq!(filter.severity, Some(Severity::High));
        assert_eq!(filter.verdict, Some(AnalystVerdict::TruePositive));
    }

    fn threats(q: FindingQuery) -> (FindingFilter, Option<FindingState>) {
        match q.selection {
            FindingSelection::Threats { filter, state } => (filter, state),
            other => panic!("not a threat listing: {other:?}"),
        }
    }

    fn selection(pairs: &[(&str, &str)]) -> FindingSelection {
        FindingQuery::parse(&params(pairs))
            .unwrap_or_else(|e| panic!("{pairs:?}: {e:?}"))
            .selection
    }

    fn refused(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        FindingQuery::parse(&params(pairs))
            .expect_err("refused")
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    #[test]
    fn without_kind_both_kinds_are_listed_and_a_filter_of_one_kind_selects_it() {
        assert_eq!(
            selection(&[
                ("severity", "high"),
                ("state", "reopened"),
                ("asset", "srv-a")
            ]),
            FindingSelection::Both(AnyKindFilter {
                severity: Some(Severity::High),
                state: Some(SharedState::Reopened),
                asset: Some("srv-a".into()),
                attached: None,
            })
        );
        for threat_filter in [
            vec![("status", "failed")],
            vec![("verdict", "suspicious")],
            vec![("attached", "true")],
            vec![("state", "resolved")],
            vec![("state", "CLOSED")],
            vec![("kind", "Threat"), ("state", "open")],
        ] {
            assert!(
                matches!(selection(&threat_filter), FindingSelection::Threats { .. }),
                "{threat_filter:?}"
            );
        }
        assert_eq!(
            selection(&[("cve", "cve-2025-0411"), ("state", "open")]),
            FindingSelection::Vulnerabilities(VulnerabilityFilter {
                state: Some(VulnerabilityState::Open),
                cve: Some("cve-2025-0411".into()),
                ..Default::default()
            })
        );
        assert_eq!(
            selection(&[("state", "fixed"), ("attached", "false")]),
            FindingSelection::Vulnerabilities(VulnerabilityFilter {
                state: Some(VulnerabilityState::Fixed),
                attached: Some(false),
                ..Default::default()
            })
        );
        assert!(matches!(
            selection(&[("kind", "vulnerability")]),
            FindingSelection::Vulnerabilities(_)
        ));
    }

    #[test]
    fn a_filter_of_the_other_kind_is_refused_naming_the_parameter() {
        for (pairs, field) in [
            (vec![("kind", "threat"), ("cve", "CVE-2025-1")], "cve"),
            (vec![("kind", "threat"), ("state", "fixed")], "state"),
            (
                vec![("kind", "vulnerability"), ("verdict", "suspicious")],
                "verdict",
            ),
            (
                vec![("kind", "vulnerability"), ("status", "failed")],
                "status",
            ),
            (
                vec![("kind", "vulnerability"), ("attached", "true")],
                "attached",
            ),
            (
                vec![("kind", "vulnerability"), ("state", "resolved")],
                "state",
            ),
            (vec![("status", "failed"), ("cve", "CVE-2025-1")], "cve"),
            (vec![("verdict", "suspicious"), ("state", "fixed")], "state"),
        ] {
            let errors = refused(&pairs);
            assert_eq!(errors.len(), 1, "{pairs:?}: {errors:?}");
            assert_eq!(errors[0].0, field, "{pairs:?}: {errors:?}");
        }
        let errors = refused(&[("kind", "incident"), ("cve", "CVE 2025#1")]);
        assert_eq!(
            errors,
            [
                (
                    "kind".to_string(),
                    "must be one of: threat, vulnerability".to_string()
                ),
                (
                    "cve".to_string(),
                    "must be a CVE id such as CVE-2025-0411 (letters, digits and -_.:, at most 64)"
                        .to_string()
                )
            ]
        );
    }

    #[test]
    fn id_order_of_vulnerabilities_and_of_both_kinds_is_served_only_unfiltered_or_by_asset() {
        for ok in [
            vec![("sort", "id"), ("kind", "vulnerability")],
            vec![
                ("sort", "id"),
                ("kind", "vulnerability"),
                ("asset", "srv-a"),
            ],
            vec![("sort", "id"), ("attached", "false")],
        ] {
            assert!(FindingQuery::parse(&params(&ok)).is_ok(), "{ok:?}");
        }
        for pairs in [
            vec![("sort", "id"), ("cve", "CVE-2025-1")],
            vec![
                ("sort", "id"),
                ("kind", "vulnerability"),
                ("severity", "low"),
            ],
            vec![("sort", "id"), ("severity", "low")],
        ] {
            let errors = refused(&pairs);
            assert_eq!(errors.len(), 1, "{pairs:?}");
            assert_eq!(errors[0].0, "sort");
        }
    }

    #[test]
    fn sort_by_id_is_refused_where_the_filter_is_read_in_facet_order() {
        for ok in [
            vec![("sort", "id")],
            vec![("sort", "id"), ("asset", "srv-a")],
            vec![("sort", "id"), ("attached", "false")],
            vec![("sort", "id"), ("asset", "srv-a"), ("attached", "true")],
        ] {
            assert!(FindingQuery::parse(&params(&ok)).is_ok(), "{ok:?}");
        }
        for refused in [
            vec![("sort", "id"), ("status", "failed")],
            vec![("sort", "id"), ("state", "open")],
            vec![("sort", "id"), ("attached", "true")],
            vec![
                ("sort", "id"),
                ("asset", "srv-a"),
                ("verdict", "suspicious"),
            ],
        ] {
            let errors = FindingQuery::parse(&params(&refused)).expect_err("refused");
            assert_eq!(errors.len(), 1, "{refused:?}");
            assert_eq!(errors[0].field, "sort");
            assert!(
                errors[0].message.contains("drop sort"),
                "{}",
                errors[0].message
            );
        }
        // Without sort every combination is served.
        let q = FindingQuery::parse(&params(&[
            ("status", "failed"),
            ("asset", "srv-a"),
            ("state", "open"),
        ]));
        assert!(q.is_ok());
    }

    #[test]
    fn the_state_filter_takes_the_lifecycle_states_of_either_kind_only() {
        let q = FindingQuery::parse(&params(&[("state", "Closed")])).expect("valid");
        assert_eq!(threats(q).1, Some(FindingState::Closed));
        assert_eq!(
            FindingQuery::parse(&params(&[])).expect("none").selection,
            FindingSelection::Both(AnyKindFilter::default())
        );
        let errors = FindingQuery::parse(&params(&[("state", "gone")])).expect_err("invalid");
        assert_eq!(errors[0].field, "state");
        assert_eq!(
            errors[0].message,
            "must be one of: open, reopened, resolved, closed, fixed"
        );
    }
}
