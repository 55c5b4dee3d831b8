//! The connector's only door to a customer's SentinelOne console (Management API v2.1): which URLs may be called
//! and to which addresses, the API token in its one header, cursor paging as streams of pages, the retry policy and
//! request pacing, and errors a user can act on. Record types and page decoding belong to `s1-core`.

pub mod client;
pub mod connection_test;
pub mod error;
pub mod paging;
pub mod retry;
pub mod risks;
pub mod url_policy;

pub use client::{ClientOptions, S1Client, SystemInfo, TokenDetails};
pub use connection_test::{CheckKind, CheckResult, CheckStatus, ConnectionReport};
pub use error::{ConsoleMessage, S1Error};
pub use paging::{
    format_timestamp, AgentPage, AgentQuery, Page, Sort, SortField, SortOrder, ThreatPage,
    ThreatQuery,
};
pub use retry::{Clock, RateLimiter, RecordingClock, RetryPolicy, TokioClock};
pub use risks::{RiskPage, RiskQuery};
pub use url_policy::{
    resolve_checked, ConsoleUrl, Resolve, StaticResolver, SystemResolver, UrlPolicy, UrlPolicyError,
};
