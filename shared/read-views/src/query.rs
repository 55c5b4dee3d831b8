//! The query rules of each listing. Parameters arrive by name, trimmed, with empty meaning absent (the edge's
//! `query_param`); every invalid one is reported at once, in the order the parameters are documented, and nothing
//! is read before the whole query is valid.

use connector_store::{AssetFilter, FindingFilter};
use s1_core::lifecycle::FindingState;
use s1_core::{AnalystVerdict, FieldError, FindingStatus, LengthLimit, Severity};

/// Page size when the caller names none, and the largest one a caller may ask for.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

/// `GET …/assets`: `name` (computer-name prefix), `active`, `limit`, `pageToken`.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetQuery {
    pub filter: AssetFilter,
    pub limit: u32,
    pub page_token: Option<String>,
}

/// `GET …/findings`: `verdict`, `status`, `severity`, `asset`, `attached`, `state`, `sort` (only `id`, and only
/// where the listing is in id order: see [`FindingFilter::lists_by_id`]), `limit`, `pageToken`.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingQuery {
    pub filter: FindingFilter,
    /// The lifecycle state (`open`, `resolved`, `closed`, `reopened`).
    pub state: Option<FindingState>,
    pub limit: u32,
    pub page_token: Option<String>,
}

/// `GET …/sync-runs`: `limit`, `pageToken`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunQuery {
    pub limit: u32,
    pub page_token: Option<String>,
}

/// `GET …/sync-runs/{id}/unmatched`: `format` (`json`, the default, one page; `csv`, every kept agent of the
/// run), `limit`, `pageToken`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnmatchedQuery {
    pub format: UnmatchedFormat,
    pub limit: u32,
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedFormat {
    Json,
    Csv,
}

/// Reads parameters by name and collects what is wrong with them.
struct Params<'p, F> {
    get: &'p F,
    errors: Vec<FieldError>,
}

impl<'p, F: Fn(&str) -> Option<String>> Params<'p, F> {
    fn new(get: &'p F) -> Self {
        Self {
            get,
            errors: Vec::new(),
        }
    }

    /// The value within `limit`; an over-long one is an error and counts as absent.
    fn bounded(&mut self, name: &str, limit: LengthLimit) -> Option<String> {
        let value = (self.get)(name)?;
        match limit.check(name, &value) {
            Ok(()) => Some(value),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    fn keyword(&mut self, name: &str) -> Option<String> {
        self.bounded(name, LengthLimit::KEYWORD)
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.keyword(name)?.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.errors
                    .push(FieldError::new(name, "must be true or false"));
                None
            }
        }
    }

    /// A value that must be one of `accepted` (compared case-insensitively).
    fn one_of<T>(&mut self, name: &str, accepted: &[(&str, T)]) -> Option<T>
    where
        T: Copy,
    {
        let raw = self.keyword(name)?.to_ascii_lowercase();
        match accepted.iter().find(|(wire, _)| *wire == raw) {
            Some((_, v)) => Some(*v),
            None => {
                let names: Vec<&str> = accepted.iter().map(|(wire, _)| *wire).collect();
                self.errors.push(FieldError::new(
                    name,
                    format!("must be one of: {}", names.join(", ")),
                ));
                None
            }
        }
    }

    fn limit(&mut self) -> u32 {
        match self.keyword("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    self.errors
                        .push(FieldError::new("limit", "must be an integer from 1 to 200"));
                    DEFAULT_LIMIT
                }
            },
        }
    }

    fn page_token(&mut self) -> Option<String> {
        self.bounded("pageToken", LengthLimit::PAGE_TOKEN)
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

impl AssetQuery {
    /// The query from parameters looked up by name.
    pub fn parse(get: &impl Fn(&str) -> Option<String>) -> Result<Self, Vec<FieldError>> {
        let mut p = Params::new(get);
        let filter = AssetFilter {
            name_prefix: p.bounded("name", LengthLimit::NAME),
            active: p.boolean("active"),
        };
        let (limit, page_token) = (p.limit(), p.page_token());
        p.finish(Self {
            filter,
            limit,
            page_token,
        })
    }
}

impl FindingQuery {
    /// The query from parameters looked up by name.
    pub fn parse(get: &impl Fn(&str) -> Option<String>) -> Result<Self, Vec<FieldError>> {
        let mut p = Params::new(get);
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
        let filter = FindingFilter {
            status: p.one_of("status", &FindingStatus::ALL.map(|s| (s.as_str(), s))),
            severity: p.one_of("severity", &Severity::ALL.map(|s| (s.as_str(), s))),
            asset: p.bounded("asset", LengthLimit::NAME),
            verdict,
            // `attached=false` lists the findings whose asset does not exist (yet) in the platform.
            attached: p.boolean("attached"),
        };
        let state = p.one_of(
            "state",
            &[
                FindingState::Open,
                FindingState::Resolved,
                FindingState::Closed,
                FindingState::Reopened,
            ]
            .map(|st| (st.as_str(), st)),
        );
        // Id order is a key order only without filters or with `asset` or `attached=false` alone; every other
        // filter is read from the facet index, in facet order (an id order there would read every facet's first
        // page to merge them, many times what a page returns).
        match p.keyword("sort") {
            Some(sort) if sort != "id" => p.errors.push(FieldError::new(
                "sort",
                "must be id (findings are listed by id, or by facet when filtered)",
            )),
            Some(_) if !filter.lists_by_id(state) => p.errors.push(FieldError::new(
                "sort",
                "id order is served only without filters or with asset or attached=false alone; drop sort to \
                 list these findings by status, state, severity and verdict, then id",
            )),
            _ => {}
        }
        let (limit, page_token) = (p.limit(), p.page_token());
        p.finish(Self {
            filter,
            state,
            limit,
            page_token,
        })
    }
}

impl RunQuery {
    /// The query from parameters looked up by name.
    pub fn parse(get: &impl Fn(&str) -> Option<String>) -> Result<Self, Vec<FieldError>> {
        let mut p = Params::new(get);
        let (limit, page_token) = (p.limit(), p.page_token());
        p.finish(Self { limit, page_token })
    }
}

impl UnmatchedQuery {
    /// The query from parameters looked up by name.
    pub fn parse(get: &impl Fn(&str) -> Option<String>) -> Result<Self, Vec<FieldError>> {
        let mut p = Params::new(get);
        let format = p
            .one_of(
                "format",
                &[
                    ("json", UnmatchedFormat::Json),
                    ("csv", UnmatchedFormat::Csv),
                ],
            )
            .unwrap_or(UnmatchedFormat::Json);
        let (limit, page_token) = (p.limit(), p.page_token());
        if format == UnmatchedFormat::Csv && page_token.is_some() {
            p.errors.push(FieldError::new(
                "pageToken",
                "a CSV download holds every kept agent of the run: drop the page token",
            ));
        }
        p.finish(Self {
            format,
            limit,
            page_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn limit_is_bounded() {
        let errors = RunQuery::parse(&params(&[("limit", "500")])).expect_err("500");
        assert_eq!(errors[0].field, "limit");
        assert_eq!(
            RunQuery::parse(&params(&[])).expect("default").limit,
            DEFAULT_LIMIT
        );
        assert_eq!(
            RunQuery::parse(&params(&[("limit", "200")]))
                .expect("max")
                .limit,
            200
        );
    }

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
        assert_eq!(q.filter.status, Some(FindingStatus::Failed));
        assert_eq!(q.filter.severity, Some(Severity::High));
        assert_eq!(q.filter.verdict, Some(AnalystVerdict::TruePositive));
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
    fn asset_names_are_bounded() {
        let errors = AssetQuery::parse(&params(&[("name", &"a".repeat(257)), ("active", "no")]))
            .expect_err("invalid");
        assert_eq!(errors[0].field, "name");
        assert_eq!(errors[1].field, "active");
    }

    #[test]
    fn the_state_filter_takes_the_lifecycle_states_only() {
        let q = FindingQuery::parse(&params(&[("state", "Closed")])).expect("valid");
        assert_eq!(q.state, Some(FindingState::Closed));
        assert_eq!(FindingQuery::parse(&params(&[])).expect("none").state, None);
        let errors = FindingQuery::parse(&params(&[("state", "fixed")])).expect_err("invalid");
        assert_eq!(errors[0].field, "state");
        assert_eq!(
            errors[0].message,
            "must be one of: open, resolved, closed, reopened"
        );
    }

    #[test]
    fn unmatched_agents_come_as_json_pages_or_one_csv() {
        let q = UnmatchedQuery::parse(&params(&[])).expect("default");
        assert_eq!(q.format, UnmatchedFormat::Json);
        let q = UnmatchedQuery::parse(&params(&[("format", "CSV")])).expect("csv");
        assert_eq!(q.format, UnmatchedFormat::Csv);
        let errors = UnmatchedQuery::parse(&params(&[("format", "xml")])).expect_err("xml");
        assert_eq!(errors[0].field, "format");
        let errors = UnmatchedQuery::parse(&params(&[("format", "csv"), ("pageToken", "t")]))
            .expect_err("csv pages");
        assert_eq!(errors[0].field, "pageToken");
    }
}
