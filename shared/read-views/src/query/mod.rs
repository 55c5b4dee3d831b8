//! The query rules of each listing. Parameters arrive by name, trimmed, with empty meaning absent (the edge's
//! `query_param`); every invalid one is reported at once, in the order the parameters are documented, and nothing
//! is read before the whole query is valid.

mod findings;

pub use findings::{FindingQuery, FindingSelection};

use connector_store::AssetFilter;
use s1_core::{FieldError, LengthLimit};

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

    pub(super) fn params(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
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
    fn asset_names_are_bounded() {
        let errors = AssetQuery::parse(&params(&[("name", &"a".repeat(257)), ("active", "no")]))
            .expect_err("invalid");
        assert_eq!(errors[0].field, "name");
        assert_eq!(errors[1].field, "active");
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
