//! The HTTP client for one console: the endpoints the connector calls, each through the one retry policy and the
//! per-console rate limiter, with the token only in `Authorization: ApiToken <token>`.
//!
//! This file holds the client, its options and the endpoint table; `endpoints` holds the calls other than the
//! paged walks (system info, token details, permission probes, groups), `transport` one call through the retry
//! policy (request, redirects refused, body limits, errors a user can act on).

mod endpoints;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use s1_core::ApiToken;
use tokio::time::Instant;

use crate::error::S1Error;
use crate::retry::{Clock, RateLimiter, RetryPolicy, TokioClock};
use crate::url_policy::{CheckingResolver, ConsoleUrl, Resolve, SystemResolver};

pub use endpoints::{SystemInfo, TokenDetails};
pub(crate) use transport::policy_error;

/// How the client behaves toward one console. `Default` follows the contract: 10 requests/s, pages of 1,000.
#[derive(Clone)]
pub struct ClientOptions {
    /// One HTTP exchange, connect to last body byte.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts, backoff and the total time budget of one call. A wait that would end past the budget is not
    /// started, so one call takes at most `retry.budget` plus one `request_timeout`.
    pub retry: RetryPolicy,
    /// Average request rate toward the console (decision 7).
    pub requests_per_second: f64,
    /// Page size: the API maximum (decision 4). Values outside 1..=1000 are clamped.
    pub page_limit: u32,
    pub user_agent: String,
    /// Largest response body the client will hold; a page of 1,000 full agents is a few MB.
    pub max_body_bytes: usize,
    pub resolver: Arc<dyn Resolve>,
    pub clock: Arc<dyn Clock>,
    /// When the caller's time ends (for a sync: the Lambda deadline minus a margin). With it, no request starts and
    /// no wait (Retry-After, backoff, pacing) is started that would end at or after it, and each request's timeout
    /// is cut to the time left; the call then fails with [`S1Error::DeadlineReached`], which a caller turns into a
    /// checkpoint. Read on [`Self::clock`]'s time; `None` (the default) means no deadline. Copied into the client
    /// by [`S1Client::new`]; an absolute instant, so build one client per invocation or use
    /// [`S1Client::with_deadline`].
    pub deadline: Option<Instant>,
    /// The most pages one walk may fetch when the console's first page reports no `totalItems`, so a console that
    /// never stops handing out new cursors cannot keep a walk going forever (with a total, the cap comes from it).
    pub max_pages_without_total: u64,
    /// The whole connection test's time, so it answers within API Gateway's 29 s even when the console is slow:
    /// checks not reached in time are reported as skipped.
    pub connection_test_timeout: Duration,
}

impl ClientOptions {
    /// These options with `deadline` set (see [`ClientOptions::deadline`]); for a caller that keeps one set of
    /// options from init and builds a client per invocation.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            requests_per_second: 10.0,
            page_limit: 1000,
            user_agent: format!("s1-connector/{}", env!("CARGO_PKG_VERSION")),
            max_body_bytes: 64 * 1024 * 1024,
            resolver: Arc::new(SystemResolver),
            clock: Arc::new(TokioClock),
            deadline: None,
            max_pages_without_total: 100_000,
            connection_test_timeout: Duration::from_secs(25),
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("requests_per_second", &self.requests_per_second)
            .field("page_limit", &self.page_limit)
            .field("user_agent", &self.user_agent)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("deadline", &self.deadline)
            .field("max_pages_without_total", &self.max_pages_without_total)
            .field("connection_test_timeout", &self.connection_test_timeout)
            .finish_non_exhaustive()
    }
}

/// The endpoints the connector calls, with the permission each needs (for 403 messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    SystemInfo,
    Agents,
    Threats,
    Groups,
    ApiTokenDetails,
    Risks,
}

impl Endpoint {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Endpoint::SystemInfo => "system/info",
            Endpoint::Agents => "agents",
            Endpoint::Threats => "threats",
            Endpoint::Groups => "groups",
            Endpoint::ApiTokenDetails => "users/api-token-details",
            Endpoint::Risks => "application-management/risks",
        }
    }

    fn permission(self) -> &'static str {
        match self {
            // No public source names a permission for these two; the Viewer role is known to include them.
            Endpoint::SystemInfo => "Viewer role",
            Endpoint::Agents => "Endpoints.view",
            Endpoint::Threats => "Threats.view",
            Endpoint::Groups => "Groups.view",
            Endpoint::ApiTokenDetails => "Viewer role",
            Endpoint::Risks => "Applications Page.viewRisks",
        }
    }
}

/// The client for one console. Cheap to clone; clones share the connection pool and the rate limiter.
#[derive(Clone)]
pub struct S1Client {
    pub(crate) inner: Arc<Inner>,
    /// Outside `inner` so that [`S1Client::with_deadline`] can give a clone its own deadline.
    deadline: Option<Instant>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) console: ConsoleUrl,
    token: ApiToken,
    auth: HeaderValue,
    pub(crate) options: ClientOptions,
    limiter: RateLimiter,
}

impl fmt::Debug for S1Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S1Client")
            .field("console", &self.inner.console)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl S1Client {
    pub fn new(
        console: ConsoleUrl,
        token: ApiToken,
        options: ClientOptions,
    ) -> Result<S1Client, S1Error> {
        let mut auth =
            HeaderValue::from_str(&format!("ApiToken {}", token.expose())).map_err(|_| {
                S1Error::ClientSetup {
                    reason: "the API token is not a valid header value".into(),
                }
            })?;
        // Keeps the value out of Debug output and out of HTTP/2 header compression tables.
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        // reqwest is built without a crypto provider of its own and takes the process default: aws-lc-rs, the one
        // the AWS SDK links anyway, so a Lambda binary carries one TLS crypto library instead of ring as well. An
        // Err only means a provider is installed already, which is then the one used.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .default_headers(headers)
            // A redirect could point anywhere, including inside the VPC; the user is told to fix the URL instead.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf to addresses our resolver never checked.
            .no_proxy()
            .dns_resolver(Arc::new(CheckingResolver::new(
                &console,
                options.resolver.clone(),
            )))
            .https_only(!console.is_dev_loopback())
            .use_rustls_tls()
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|e| S1Error::ClientSetup {
                reason: e.to_string(),
            })?;
        let limiter = RateLimiter::new(options.requests_per_second, options.clock.clone());
        let deadline = options.deadline;
        Ok(S1Client {
            deadline,
            inner: Arc::new(Inner {
                http,
                console,
                token,
                auth,
                options,
                limiter,
            }),
        })
    }

    pub fn console(&self) -> &ConsoleUrl {
        &self.inner.console
    }

    /// The deadline this client's calls honour (see [`ClientOptions::deadline`]).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// A clone with another deadline that shares this client's connection pool and rate limiter: for a client
    /// built once per cold start and given each invocation's deadline.
    pub fn with_deadline(&self, deadline: Option<Instant>) -> S1Client {
        S1Client {
            inner: self.inner.clone(),
            deadline,
        }
    }

    /// The time left before the deadline, on the client's clock; `None` without a deadline.
    pub(crate) fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(self.inner.options.clock.now()))
    }
}
