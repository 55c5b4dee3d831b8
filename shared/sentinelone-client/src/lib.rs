//! The connector's only door to a customer's SentinelOne console (Management API v2.1): which URLs may be called
//! and to which addresses, the API token in its one header, cursor paging as streams of pages, the retry policy and
//! request pacing, and errors a user can act on. Record types and page decoding belong to `s1-core`.

pub mod error;
pub mod retry;
pub mod url_policy;

pub use error::{ConsoleMessage, S1Error};
pub use retry::{Clock, RateLimiter, RecordingClock, RetryPolicy, TokioClock};
pub use url_policy::{
    resolve_checked, ConsoleUrl, Resolve, StaticResolver, SystemResolver, UrlPolicy, UrlPolicyError,
};
