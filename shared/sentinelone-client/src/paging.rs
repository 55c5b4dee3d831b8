//! Cursor paging as streams of pages (contract decision 4): `limit` at the API maximum, only the cursor (never
//! `skip`), the same filters re-sent with every cursor, the walk ending on a missing cursor, a repeated cursor
//! stopping the walk with an error, and a rejected cursor restarting the walk once. An empty `data` ends the walk
//! only without a next cursor: an empty page that names a next page is a malformed answer, asked again under the
//! retry policy and never followed, because taking it as the end would make an incomplete walk look complete (and
//! retire live assets). A walk is also capped in pages ([`page_cap`]). A stream fetches the next page only when
//! polled, so it holds at most one page.

use std::collections::HashSet;

use futures::Stream;
use s1_core::records::{decode_agents_page, decode_threats_page, Agent, Threat};
use s1_core::{DecodedPage, MalformedPage, SkippedRecord};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::client::{Endpoint, S1Client};
use crate::error::S1Error;

/// One page of a walk, as the engine consumes and checkpoints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub records: Vec<T>,
    pub skipped: Vec<SkippedRecord>,
    /// Fields, over all records of the page, that arrived in an unusable shape.
    pub field_warnings: u64,
    /// The cursor of the next page; `None` on the last page. Checkpoint it to resume the walk later.
    pub next_cursor: Option<String>,
    pub total_items: Option<u64>,
    /// The cursor this page was fetched with (`None` for a walk's first page).
    pub cursor: Option<String>,
    /// Set on the first page after the console rejected a cursor and the walk restarted from the beginning: records
    /// already seen in this walk will come again.
    pub restarted: bool,
}

pub type AgentPage = Page<Agent>;
pub type ThreatPage = Page<Threat>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

impl SortOrder {
    fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

/// The sort keys the connector uses (the API accepts many more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Id,
    UpdatedAt,
    CreatedAt,
}

impl SortField {
    fn as_str(self) -> &'static str {
        match self {
            SortField::Id => "id",
            SortField::UpdatedAt => "updatedAt",
            SortField::CreatedAt => "createdAt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub order: SortOrder,
}

/// An agents walk. Default: the full walk of decision 5 (sorted by `id`, no `isDecommissioned` filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentQuery {
    /// `groupIds`; empty means every group.
    pub group_ids: Vec<String>,
    /// `updatedAt__gt`, sent as ISO-8601 UTC with microseconds.
    pub updated_after: Option<OffsetDateTime>,
    pub sort: Sort,
    /// Resume a walk from a checkpointed `next_cursor`.
    pub resume_cursor: Option<String>,
}

impl Default for AgentQuery {
    fn default() -> Self {
        AgentQuery {
            group_ids: Vec::new(),
            updated_after: None,
            sort: Sort {
                field: SortField::Id,
                order: SortOrder::Asc,
            },
            resume_cursor: None,
        }
    }
}

/// A threats walk. Default: decision 6's order (`updatedAt` ascending); set `updated_after` to the watermark minus
/// the overlap for an incremental sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreatQuery {
    pub group_ids: Vec<String>,
    pub updated_after: Option<OffsetDateTime>,
    pub sort: Sort,
    pub resume_cursor: Option<String>,
}

impl Default for ThreatQuery {
    fn default() -> Self {
        ThreatQuery {
            group_ids: Vec::new(),
            updated_after: None,
            sort: Sort {
                field: SortField::UpdatedAt,
                order: SortOrder::Asc,
            },
            resume_cursor: None,
        }
    }
}

const ISO_MICROS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// `2018-02-27T04:49:26.257525Z`, the timestamp form the API documents.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    // Formatting a valid date with this description cannot fail; fall back to RFC 3339 rather than panic.
    let utc = at.to_offset(UtcOffset::UTC);
    utc.format(ISO_MICROS)
        .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

/// The filters of one walk, re-sent unchanged with every cursor.
#[derive(Debug, Clone)]
pub(crate) struct WalkParams {
    filters: Vec<(&'static str, String)>,
    resume_cursor: Option<String>,
}

impl WalkParams {
    pub(crate) fn groups() -> WalkParams {
        WalkParams {
            filters: vec![("sortBy", "id".into()), ("sortOrder", "asc".into())],
            resume_cursor: None,
        }
    }

    /// A walk that sends exactly `filters` (plus `limit` and the cursor) on every page.
    pub(crate) fn with_filters(
        filters: Vec<(&'static str, String)>,
        resume: Option<String>,
    ) -> WalkParams {
        WalkParams {
            filters,
            resume_cursor: resume.filter(|c| !c.trim().is_empty()),
        }
    }

    fn list(
        group_ids: &[String],
        updated_after: Option<OffsetDateTime>,
        sort: Sort,
        resume: Option<String>,
    ) -> Self {
        let mut filters = vec![
            ("sortBy", sort.field.as_str().to_string()),
            ("sortOrder", sort.order.as_str().into()),
        ];
        if !group_ids.is_empty() {
            filters.push(("groupIds", group_ids.join(",")));
        }
        if let Some(at) = updated_after {
            filters.push(("updatedAt__gt", format_timestamp(at)));
        }
        WalkParams {
            filters,
            resume_cursor: resume.filter(|c| !c.trim().is_empty()),
        }
    }
}

impl From<AgentQuery> for WalkParams {
    fn from(q: AgentQuery) -> Self {
        WalkParams::list(&q.group_ids, q.updated_after, q.sort, q.resume_cursor)
    }
}

impl From<ThreatQuery> for WalkParams {
    fn from(q: ThreatQuery) -> Self {
        WalkParams::list(&q.group_ids, q.updated_after, q.sort, q.resume_cursor)
    }
}

type Decoder<T> = fn(&[u8]) -> Result<DecodedPage<T>, MalformedPage>;

enum Next {
    Fetch(Option<String>),
    Fail(S1Error),
    Done,
}

struct Walk<T> {
    client: S1Client,
    endpoint: Endpoint,
    params: WalkParams,
    decode: Decoder<T>,
    next: Next,
    seen: HashSet<String>,
    restarted_once: bool,
    /// Pages fetched since the walk (or its one restart) began; a resumed walk counts from the page it resumes at.
    pages: u64,
    /// Set from the first page's `totalItems` (see [`page_cap`]).
    page_cap: Option<u64>,
}

/// The most pages one walk may fetch before it is taken to be looping. The console's count of `total_items` needs
/// `ceil(total / limit)` pages; the walk may take twice that plus ten, because records added or moved while the walk
/// runs (a live console keeps changing) push items onto later pages, and a small listing still deserves a few short
/// pages of room. Beyond that the console is handing out cursors without end. Without a count, `without_total`
/// (`ClientOptions::max_pages_without_total`) is the cap. The count is the whole listing's, so a walk resumed from a
/// checkpoint, which counts its pages from where it resumes, gets at least as much room as a fresh one.
pub(crate) fn page_cap(total_items: Option<u64>, page_limit: u32, without_total: u64) -> u64 {
    match total_items {
        Some(total) => {
            let limit = u64::from(page_limit.clamp(1, 1000));
            total.div_ceil(limit).saturating_mul(2).saturating_add(10)
        }
        None => without_total.max(1),
    }
}

impl<T> Walk<T> {
    async fn fetch(&self, cursor: Option<&str>) -> Result<DecodedPage<T>, S1Error> {
        let limit = self.client.inner.options.page_limit.clamp(1, 1000);
        let mut query = Vec::with_capacity(self.params.filters.len() + 2);
        query.push(("limit", limit.to_string()));
        query.extend(self.params.filters.iter().cloned());
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_string()));
        }
        let endpoint = self.endpoint;
        let decode = self.decode;
        self.client
            .call(endpoint, reqwest::Method::GET, &query, None, |body| {
                let page = decode(body).map_err(|e| S1Error::MalformedBody {
                    endpoint: endpoint.path().to_string(),
                    offset: e.offset as u64,
                })?;
                // Inside the retry loop, so the same request (same cursor) is asked again; its cursor is not
                // followed, since nothing says it points past records this page should have held.
                if page.records.is_empty() && page.skipped.is_empty() && page.next_cursor.is_some()
                {
                    tracing::warn!(
                        endpoint = endpoint.path(),
                        "the console sent an empty page with a next cursor"
                    );
                    return Err(S1Error::EmptyPageWithCursor {
                        endpoint: endpoint.path().to_string(),
                    });
                }
                Ok(page)
            })
            .await
    }

    async fn step(&mut self) -> Option<Result<Page<T>, S1Error>> {
        let cursor = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return None,
            Next::Fail(error) => return Some(Err(error)),
            Next::Fetch(cursor) => cursor,
        };
        let (decoded, cursor, restarted) = match self.fetch(cursor.as_deref()).await {
            Ok(decoded) => (decoded, cursor, false),
            Err(S1Error::BadRequest { message, .. }) if cursor.is_some() => {
                if self.restarted_once {
                    return Some(Err(S1Error::CursorRejected {
                        endpoint: self.endpoint.path().to_string(),
                        message,
                    }));
                }
                tracing::warn!(
                    endpoint = self.endpoint.path(),
                    "console rejected the cursor; restarting the walk once"
                );
                self.restarted_once = true;
                self.seen.clear();
                match self.fetch(None).await {
                    Ok(decoded) => (decoded, None, true),
                    Err(error) => return Some(Err(error)),
                }
            }
            Err(error) => return Some(Err(error)),
        };
        if restarted {
            // The one restart begins a new walk, with its own count and cap.
            self.pages = 0;
            self.page_cap = None;
        }
        self.pages += 1;
        let options = &self.client.inner.options;
        let (limit, without_total) = (options.page_limit, options.max_pages_without_total);
        let cap = *self
            .page_cap
            .get_or_insert_with(|| page_cap(decoded.total_items, limit, without_total));
        tracing::debug!(
            endpoint = self.endpoint.path(),
            records = decoded.records.len(),
            skipped = decoded.skipped.len(),
            page = self.pages,
            cap,
            restarted,
            "page decoded"
        );
        // `fetch` refused an empty page with a cursor, so an empty page here has none and ends the walk.
        let next_cursor = decoded.next_cursor;
        self.next = match &next_cursor {
            None => Next::Done,
            Some(next) if !self.seen.insert(next.clone()) => Next::Fail(S1Error::RepeatedCursor {
                endpoint: self.endpoint.path().to_string(),
            }),
            Some(_) if self.pages >= cap => {
                tracing::warn!(
                    endpoint = self.endpoint.path(),
                    pages = self.pages,
                    cap,
                    "too many pages; stopping the walk"
                );
                Next::Fail(S1Error::TooManyPages {
                    endpoint: self.endpoint.path().to_string(),
                    pages: self.pages,
                    limit: cap,
                })
            }
            Some(next) => Next::Fetch(Some(next.clone())),
        };
        Some(Ok(Page {
            records: decoded.records,
            skipped: decoded.skipped,
            field_warnings: decoded.field_warnings,
            next_cursor,
            total_items: decoded.total_items,
            cursor,
            restarted,
        }))
    }
}

pub(crate) fn walk<T>(
    client: S1Client,
    endpoint: Endpoint,
    params: WalkParams,
    decode: Decoder<T>,
) -> impl Stream<Item = Result<Page<T>, S1Error>> {
    let start = params.resume_cursor.clone();
    let mut seen = HashSet::new();
    if let Some(cursor) = &start {
        seen.insert(cursor.clone());
    }
    let walk = Walk {
        client,
        endpoint,
        params,
        decode,
        next: Next::Fetch(start),
        seen,
        restarted_once: false,
        pages: 0,
        page_cap: None,
    };
    futures::stream::unfold(walk, |mut walk| async move {
        walk.step().await.map(|item| (item, walk))
    })
}

impl S1Client {
    /// The agents walk as a stream of pages; the next page is fetched only when the stream is polled. After an
    /// error the stream ends.
    pub fn agents(
        &self,
        query: AgentQuery,
    ) -> impl Stream<Item = Result<AgentPage, S1Error>> + Send + 'static {
        walk(
            self.clone(),
            Endpoint::Agents,
            query.into(),
            decode_agents_page,
        )
    }

    /// The threats walk, like [`S1Client::agents`].
    pub fn threats(
        &self,
        query: ThreatQuery,
    ) -> impl Stream<Item = Result<ThreatPage, S1Error>> + Send + 'static {
        walk(
            self.clone(),
            Endpoint::Threats,
            query.into(),
            decode_threats_page,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        assert_eq!(
            format_timestamp(datetime!(2018-02-27 04:49:26.257525 UTC)),
            "2018-02-27T04:49:26.257525Z"
        );
        assert_eq!(
            format_timestamp(datetime!(2026-11-25 14:00:00 +02:00)),
            "2026-11-25T12:00:00.000000Z"
        );
    }

    #[test]
    fn the_page_cap_gives_twice_the_counted_pages_plus_ten() {
        assert_eq!(page_cap(Some(0), 1000, 7), 10);
        assert_eq!(page_cap(Some(1), 1000, 7), 12);
        assert_eq!(page_cap(Some(1000), 1000, 7), 12);
        assert_eq!(page_cap(Some(1001), 1000, 7), 14);
        assert_eq!(page_cap(Some(5), 2, 7), 16);
        // The limit is clamped like the request's.
        assert_eq!(page_cap(Some(5), 0, 7), 20);
        assert_eq!(page_cap(Some(u64::MAX), 1, 7), u64::MAX);
        assert_eq!(page_cap(None, 1000, 7), 7);
        assert_eq!(page_cap(None, 1000, 0), 1);
    }

    #[test]
    fn filters_use_the_real_parameter_names() {
        let q = ThreatQuery {
            group_ids: vec!["1".into(), "2".into()],
            updated_after: Some(datetime!(2026-01-01 00:00:00 UTC)),
            ..ThreatQuery::default()
        };
        let p = WalkParams::from(q);
        assert_eq!(
            p.filters,
            vec![
                ("sortBy", "updatedAt".to_string()),
                ("sortOrder", "asc".to_string()),
                ("groupIds", "1,2".to_string()),
                ("updatedAt__gt", "2026-01-01T00:00:00.000000Z".to_string()),
            ]
        );
        let a = WalkParams::from(AgentQuery::default());
        assert_eq!(
            a.filters,
            vec![
                ("sortBy", "id".to_string()),
                ("sortOrder", "asc".to_string())
            ]
        );
    }
}
