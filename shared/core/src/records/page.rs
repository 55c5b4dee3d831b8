//! Page decoding: a response body becomes the records whose identity is usable, the records skipped (with the
//! reason), field warnings and the cursor; only a body that is not a page is a [`MalformedPage`].

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::lenient;
use super::{Agent, Group, Risk, Threat};
use crate::asset::usable_computer_name;

/// Why a record was not imported. Display is a sentence for a sync report.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A `data[]` element that is not a JSON object.
    NotAnObject,
    /// A record that could not be decoded at all (for example a key that appears twice).
    Undecodable,
    /// No usable `id`.
    MissingId,
    /// An agent without a usable `computerName` (blank, or the API documentation's placeholder `"string"`).
    MissingComputerName,
    /// A group without a usable `name`.
    MissingGroupName,
    /// No platform asset exists and auto-onboarding is off, so the asset is not created.
    AutoOnboardDisabled,
}

impl SkipReason {
    /// The key runs and the store count this reason under (the serde name).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NotAnObject => "not_an_object",
            Self::Undecodable => "undecodable",
            Self::MissingId => "missing_id",
            Self::MissingComputerName => "missing_computer_name",
            Self::MissingGroupName => "missing_group_name",
            Self::AutoOnboardDisabled => "auto_onboard_disabled",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAnObject => "the record is not a JSON object",
            Self::Undecodable => "the record could not be decoded (for example a field appears twice)",
            Self::MissingId => "the record has no id",
            Self::MissingComputerName => "the agent has no computer name, so it cannot be matched to an asset",
            Self::MissingGroupName => "the group has no name",
            Self::AutoOnboardDisabled => {
                "no matching asset exists and auto-onboarding is off; turn it on to create assets from SentinelOne"
            }
        })
    }
}

/// A record that was not imported, with the id when one was readable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedRecord {
    pub id: Option<String>,
    pub reason: SkipReason,
}

impl fmt::Display for SkippedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "record {id} skipped: {}", self.reason),
            None => write!(f, "record without id skipped: {}", self.reason),
        }
    }
}

/// One decoded page of a list endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedPage<T> {
    pub records: Vec<T>,
    pub skipped: Vec<SkippedRecord>,
    /// Fields (over all kept records) that arrived in an unusable shape and were treated as unknown.
    pub field_warnings: u64,
    /// `pagination.nextCursor`; `None` when missing, null, empty or whitespace: the walk ends.
    pub next_cursor: Option<String>,
    pub total_items: Option<u64>,
}

/// A response body that is not a page: not JSON, not an object, or without a `data` array.
/// Display never includes body content (it may hold anything, including data from another tenant's proxy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SentinelOne returned a response that is not a valid page (at byte {offset}): {message}")]
pub struct MalformedPage {
    /// Byte offset into the body where decoding stopped.
    pub offset: usize,
    pub message: String,
}

/// What the page decoder needs to know about a record type.
trait PageRecord: serde::de::DeserializeOwned {
    /// `Err` when the identity is unusable; may fill in fallbacks (for example the threat id).
    fn check_identity(&mut self) -> Result<(), SkipReason>;
    fn set_field_warnings(&mut self, n: u64);
}

fn usable_id(id: &str) -> bool {
    !id.trim().is_empty()
}

impl PageRecord for Agent {
    fn check_identity(&mut self) -> Result<(), SkipReason> {
        if !usable_id(&self.id) {
            return Err(SkipReason::MissingId);
        }
        if usable_computer_name(&self.computer_name).is_none() {
            return Err(SkipReason::MissingComputerName);
        }
        Ok(())
    }
    fn set_field_warnings(&mut self, n: u64) {
        self.field_warnings = n;
    }
}

impl PageRecord for Threat {
    fn check_identity(&mut self) -> Result<(), SkipReason> {
        if !usable_id(&self.id) {
            match &self.threat_info.threat_id {
                Some(t) if usable_id(t) => self.id = t.clone(),
                _ => return Err(SkipReason::MissingId),
            }
        }
        // A threat without a usable agent computer name is kept: it becomes an unattached finding.
        Ok(())
    }
    fn set_field_warnings(&mut self, n: u64) {
        self.field_warnings = n;
    }
}

impl PageRecord for Group {
    fn check_identity(&mut self) -> Result<(), SkipReason> {
        if !usable_id(&self.id) {
            return Err(SkipReason::MissingId);
        }
        if self.name.trim().is_empty() {
            return Err(SkipReason::MissingGroupName);
        }
        Ok(())
    }
    fn set_field_warnings(&mut self, n: u64) {
        self.field_warnings = n;
    }
}

impl PageRecord for Risk {
    fn check_identity(&mut self) -> Result<(), SkipReason> {
        // Without its id a row could not be told apart from the next scan's, so it could never be updated or fixed.
        // A row without an endpoint is kept: it becomes an unattached finding, like a threat.
        if usable_id(&self.id) {
            Ok(())
        } else {
            Err(SkipReason::MissingId)
        }
    }
    fn set_field_warnings(&mut self, n: u64) {
        self.field_warnings = n;
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "lenient::object")]
    pagination: Pagination,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Pagination {
    #[serde(deserialize_with = "lenient::text")]
    next_cursor: Option<String>,
    #[serde(deserialize_with = "lenient::count")]
    total_items: Option<u64>,
}

/// Only the id, to name a record that failed to decode.
#[derive(Deserialize)]
struct IdProbe {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    id: Option<String>,
}

/// Decodes one `GET /agents` response body.
pub fn decode_agents_page(body: &[u8]) -> Result<DecodedPage<Agent>, MalformedPage> {
    decode_page(body)
}

/// Decodes one `GET /threats` response body.
pub fn decode_threats_page(body: &[u8]) -> Result<DecodedPage<Threat>, MalformedPage> {
    decode_page(body)
}

/// Decodes one `GET /groups` response body.
pub fn decode_groups_page(body: &[u8]) -> Result<DecodedPage<Group>, MalformedPage> {
    decode_page(body)
}

/// Decodes one `GET /application-management/risks` response body.
pub fn decode_risks_page(body: &[u8]) -> Result<DecodedPage<Risk>, MalformedPage> {
    decode_page(body)
}

fn first_non_ws(bytes: &[u8]) -> Option<(usize, u8)> {
    bytes
        .iter()
        .enumerate()
        .find(|(_, b)| !b.is_ascii_whitespace())
        .map(|(i, b)| (i, *b))
}

/// Byte offset of `inner` inside `outer`; both come from the same buffer when called.
fn offset_in(outer: &[u8], inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// Turns serde_json's line/column into a byte offset and a message that names the problem's kind only:
/// serde_json's own messages quote input ("invalid type: string \"...\""), which must not reach logs.
fn malformed(body: &[u8], base: usize, err: &serde_json::Error) -> MalformedPage {
    let region = body.get(base..).unwrap_or_default();
    let mut offset = 0usize;
    let mut line = 1usize;
    for (i, b) in region.iter().enumerate() {
        if line == err.line() {
            offset = i;
            break;
        }
        if *b == b'\n' {
            line += 1;
            offset = i + 1;
        }
    }
    let offset = base + (offset + err.column().saturating_sub(1)).min(region.len());
    let message = match err.classify() {
        serde_json::error::Category::Io => "the body could not be read".to_owned(),
        serde_json::error::Category::Syntax => "the body is not valid JSON".to_owned(),
        serde_json::error::Category::Eof => "the body ends before the JSON does".to_owned(),
        serde_json::error::Category::Data => {
            "the JSON does not have the page shape {\"data\": [...], \"pagination\": {...}}"
                .to_owned()
        }
    };
    MalformedPage { offset, message }
}

fn decode_page<T: PageRecord>(body: &[u8]) -> Result<DecodedPage<T>, MalformedPage> {
    // A derived struct would also accept a JSON array as a positional struct; a page must be an object.
    match first_non_ws(body) {
        Some((_, b'{')) => {}
        Some((at, _)) => {
            return Err(MalformedPage {
                offset: at,
                message: "the body is not a JSON object".to_owned(),
            })
        }
        None => {
            return Err(MalformedPage {
                offset: body.len(),
                message: "the body is empty".to_owned(),
            })
        }
    }
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| malformed(body, 0, &e))?;
    let Some(data) = envelope.data else {
        return Err(MalformedPage {
            offset: 0,
            message: "the page has no data array".to_owned(),
        });
    };
    let data_at = offset_in(body, data.get());
    if !data.get().starts_with('[') {
        return Err(MalformedPage {
            offset: data_at,
            message: "the page's data is not an array".to_owned(),
        });
    }
    let items: Vec<&RawValue> =
        serde_json::from_str(data.get()).map_err(|e| malformed(body, data_at, &e))?;

    let mut records = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    let mut field_warnings = 0u64;
    for item in items {
        let text = item.get();
        if !text.starts_with('{') {
            skipped.push(SkippedRecord {
                id: None,
                reason: SkipReason::NotAnObject,
            });
            continue;
        }
        let (decoded, warnings) = lenient::count_warnings(|| serde_json::from_str::<T>(text));
        match decoded {
            Ok(mut record) => match record.check_identity() {
                Ok(()) => {
                    record.set_field_warnings(warnings);
                    field_warnings = field_warnings.saturating_add(warnings);
                    records.push(record);
                }
                Err(reason) => skipped.push(SkippedRecord {
                    id: probe_id(text),
                    reason,
                }),
            },
            Err(_) => skipped.push(SkippedRecord {
                id: probe_id(text),
                reason: SkipReason::Undecodable,
            }),
        }
    }

    let next_cursor = envelope
        .pagination
        .next_cursor
        .filter(|c| !c.trim().is_empty());
    Ok(DecodedPage {
        records,
        skipped,
        field_warnings,
        next_cursor,
        total_items: envelope.pagination.total_items,
    })
}

fn probe_id(text: &str) -> Option<String> {
    lenient::count_warnings(|| serde_json::from_str::<IdProbe>(text))
        .0
        .ok()
        .and_then(|p| p.id)
        .filter(|id| usable_id(id))
}

#[cfg(test)]
mod skip_reason_tests {
    use super::SkipReason;

    #[test]
    fn as_str_is_the_serde_spelling() {
        for r in [
            SkipReason::NotAnObject,
            SkipReason::Undecodable,
            SkipReason::MissingId,
            SkipReason::MissingComputerName,
            SkipReason::MissingGroupName,
            SkipReason::AutoOnboardDisabled,
        ] {
            assert_eq!(serde_json::to_value(&r).unwrap(), r.as_str());
        }
    }
}
