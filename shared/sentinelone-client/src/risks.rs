//! The application-vulnerability walk (`GET /application-management/risks`): one row per CVE × application
//! version × endpoint, cursor-paged like the other listings. The scope ids take a single id on this endpoint
//! ("Single … ID" in the reference), so a walk names at most one group; the caller walks each resolved group in
//! turn.

use futures::Stream;
use s1_core::records::{decode_risks_page, Risk};
use time::OffsetDateTime;

use crate::client::{Endpoint, S1Client};
use crate::error::S1Error;
use crate::paging::{format_timestamp, walk, Page, WalkParams};

pub type RiskPage = Page<Risk>;

/// One risks walk, sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskQuery {
    /// `groupIds` with one id; `None` walks every group the token can see.
    pub group_id: Option<String>,
    /// `riskUpdatedDate__gte`: only rows whose risk changed since then (the console's delta mechanism).
    pub changed_since: Option<OffsetDateTime>,
    /// `includeRemovals=true`: rows SentinelOne marked `Removed` come too.
    pub include_removals: bool,
    /// Resume a walk from a checkpointed `next_cursor`.
    pub resume_cursor: Option<String>,
}

impl From<RiskQuery> for WalkParams {
    fn from(q: RiskQuery) -> Self {
        let mut filters = vec![("sortBy", "id".to_string()), ("sortOrder", "asc".into())];
        if let Some(group) = q.group_id.filter(|g| !g.trim().is_empty()) {
            filters.push(("groupIds", group));
        }
        if let Some(at) = q.changed_since {
            filters.push(("riskUpdatedDate__gte", format_timestamp(at)));
        }
        if q.include_removals {
            filters.push(("includeRemovals", "true".into()));
        }
        WalkParams::with_filters(filters, q.resume_cursor)
    }
}

impl S1Client {
    /// The risks walk as a stream of pages, like [`S1Client::agents`]: a page is fetched only when polled, so memory
    /// holds one page.
    pub fn risks(
        &self,
        query: RiskQuery,
    ) -> impl Stream<Item = Result<RiskPage, S1Error>> + Send + 'static {
        walk(
            self.clone(),
            Endpoint::Risks,
            query.into(),
            decode_risks_page,
        )
    }
}
