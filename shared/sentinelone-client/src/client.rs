//! The HTTP client for one console: the endpoints the connector calls, each through the one retry policy and the
//! per-console rate limiter, with the token only in `Authorization: ApiToken <token>`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use s1_core::groups::{GroupFilter, ResolvedGroup};
use s1_core::records::{decode_groups_page, Group};
use s1_core::ApiToken;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::error::{ConsoleMessage, S1Error};
use crate::retry::{with_retries, AttemptError, Clock, RateLimiter, RetryPolicy, TokioClock};
use crate::url_policy::{
    resolve_checked, CheckingResolver, ConsoleUrl, Resolve, SystemResolver, UrlPolicyError,
};

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
}

impl Endpoint {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Endpoint::SystemInfo => "system/info",
            Endpoint::Agents => "agents",
            Endpoint::Threats => "threats",
            Endpoint::Groups => "groups",
            Endpoint::ApiTokenDetails => "users/api-token-details",
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
        }
    }
}

/// What `GET system/info` says about the console, read leniently (fields vary by release).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SystemInfo {
    pub release: Option<String>,
    pub build: Option<String>,
    pub latest_agent_version: Option<String>,
}

/// What `POST users/api-token-details` says about the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenDetails {
    pub created_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
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

    /// Resolves the console host and checks its addresses (the `url_allowed` check, without a request).
    pub async fn check_addresses(&self) -> Result<(), S1Error> {
        resolve_checked(&self.inner.console, self.inner.options.resolver.as_ref())
            .await
            .map(|_| ())
            .map_err(policy_error)
    }

    /// `GET system/info`: proves the console answers and accepts the token.
    pub async fn system_info(&self) -> Result<SystemInfo, S1Error> {
        self.call(Endpoint::SystemInfo, Method::GET, &[], None, |body| {
            Ok(parse_system_info(body).unwrap_or_default())
        })
        .await
    }

    /// `POST users/api-token-details`. The endpoint's documented body is `{"data":{"apiToken":…}}`: it looks the
    /// token up by value, so this one request also carries the token in its (TLS-protected) body, to the same
    /// console that already holds it. Nothing else ever does.
    pub async fn token_details(&self) -> Result<TokenDetails, S1Error> {
        let body = serde_json::json!({ "data": { "apiToken": self.inner.token.expose() } });
        self.call(
            Endpoint::ApiTokenDetails,
            Method::POST,
            &[],
            Some(&body),
            |bytes| {
                parse_token_details(bytes).ok_or(S1Error::MalformedBody {
                    endpoint: Endpoint::ApiTokenDetails.path().to_string(),
                    offset: 0,
                })
            },
        )
        .await
    }

    /// `GET <endpoint>?limit=1`: the cheapest proof that the token holds the endpoint's view permission.
    pub(crate) async fn probe(&self, endpoint: Endpoint) -> Result<(), S1Error> {
        self.call(
            endpoint,
            Method::GET,
            &[("limit", "1".to_string())],
            None,
            |_| Ok(()),
        )
        .await
    }

    /// Resolves configured group names to ids by walking every group page (decision 3's matching is done here,
    /// not by the console's `name` filter, whose case rules are undocumented). No names: no request, empty result.
    pub async fn resolve_groups(
        &self,
        filter: &GroupFilter,
    ) -> Result<Vec<ResolvedGroup>, S1Error> {
        if filter.is_all() {
            return Ok(Vec::new());
        }
        let groups = self.all_groups().await?;
        filter
            .resolve(&groups)
            .map_err(|unknown| S1Error::UnknownGroups {
                names: unknown.names,
            })
    }

    async fn all_groups(&self) -> Result<Vec<Group>, S1Error> {
        use futures::TryStreamExt;
        let query = crate::paging::WalkParams::groups();
        let pages = crate::paging::walk(self.clone(), Endpoint::Groups, query, decode_groups_page);
        futures::pin_mut!(pages);
        let mut groups = Vec::new();
        while let Some(page) = pages.try_next().await? {
            if page.restarted {
                groups.clear();
            }
            groups.extend(page.records);
        }
        Ok(groups)
    }

    /// One call through the retry policy; `decode` runs inside the retry loop so a truncated or malformed body is
    /// retried like a reset connection.
    pub(crate) async fn call<T>(
        &self,
        endpoint: Endpoint,
        method: Method,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        decode: impl Fn(&[u8]) -> Result<T, S1Error>,
    ) -> Result<T, S1Error> {
        let inner = &self.inner;
        let decode = &decode;
        with_retries(
            &inner.options.retry,
            inner.options.clock.as_ref(),
            self.deadline,
            endpoint.path(),
            |attempt| {
                let method = method.clone();
                async move {
                    self.attempt(endpoint, method, query, body, decode, attempt)
                        .await
                }
            },
        )
        .await
    }

    /// One exchange within the deadline: the pacing wait must end before it, and the request's timeout is cut to
    /// the time left, so a timeout caused by the cut is the deadline (not a console fault to retry).
    async fn attempt<T>(
        &self,
        endpoint: Endpoint,
        method: Method,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        decode: &impl Fn(&[u8]) -> Result<T, S1Error>,
        attempt: u32,
    ) -> Result<T, AttemptError> {
        let deadline_reached = || {
            AttemptError::Fatal(S1Error::DeadlineReached {
                endpoint: endpoint.path().to_string(),
            })
        };
        if !self.inner.limiter.acquire_until(self.deadline).await {
            tracing::info!(
                endpoint = endpoint.path(),
                attempt,
                "the pacing wait would pass the deadline"
            );
            return Err(deadline_reached());
        }
        let request_timeout = self.inner.options.request_timeout;
        let (timeout, cut) = match self.time_left() {
            Some(left) if left.is_zero() => return Err(deadline_reached()),
            Some(left) if left < request_timeout => (left, true),
            _ => (request_timeout, false),
        };
        match self
            .exchange(endpoint, method, query, body, decode, attempt, timeout)
            .await
        {
            Err(AttemptError::Transient {
                error: S1Error::Timeout { .. },
                ..
            }) if cut => Err(deadline_reached()),
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn exchange<T>(
        &self,
        endpoint: Endpoint,
        method: Method,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        decode: &impl Fn(&[u8]) -> Result<T, S1Error>,
        attempt: u32,
        timeout: Duration,
    ) -> Result<T, AttemptError> {
        let inner = &self.inner;
        let url = inner.console.api_url(endpoint.path());
        let mut request = inner
            .http
            .request(method, url)
            .timeout(timeout)
            .header(AUTHORIZATION, inner.auth.clone());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(endpoint, &inner.console, &e))?;
        let status = response.status();
        tracing::debug!(
            endpoint = endpoint.path(),
            status = status.as_u16(),
            attempt,
            "console answered"
        );

        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(redirect_target)
                .unwrap_or_else(|| "an unnamed location".to_string());
            return Err(AttemptError::Fatal(S1Error::Redirect {
                endpoint: endpoint.path().to_string(),
                status: status.as_u16(),
                location,
            }));
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::retry::parse_retry_after(v, SystemTime::now()));
        let limit = if status.is_success() {
            inner.options.max_body_bytes
        } else {
            64 * 1024
        };
        let bytes = read_body(response, limit, endpoint, status.is_success()).await?;
        let path = endpoint.path().to_string();
        match status {
            s if s.is_success() => decode(&bytes).map_err(|error| match error {
                // An empty page that still names a next page is as unreadable as a cut body: ask again.
                e @ (S1Error::MalformedBody { .. } | S1Error::EmptyPageWithCursor { .. }) => {
                    AttemptError::Transient {
                        error: e,
                        retry_after: None,
                        rate_limited: false,
                    }
                }
                other => AttemptError::Fatal(other),
            }),
            StatusCode::BAD_REQUEST => Err(AttemptError::Fatal(S1Error::BadRequest {
                endpoint: path,
                message: ConsoleMessage::from_body_without(&bytes, inner.token.expose()),
            })),
            StatusCode::UNAUTHORIZED => Err(AttemptError::Fatal(S1Error::Unauthorized {
                status: 401,
                message: ConsoleMessage::from_body_without(&bytes, inner.token.expose()),
            })),
            StatusCode::FORBIDDEN => Err(AttemptError::Fatal(S1Error::Forbidden {
                permission: endpoint.permission().to_string(),
                endpoint: path,
                message: ConsoleMessage::from_body_without(&bytes, inner.token.expose()),
            })),
            StatusCode::NOT_FOUND => Err(AttemptError::Fatal(S1Error::NotFound { endpoint: path })),
            StatusCode::TOO_MANY_REQUESTS => Err(AttemptError::Transient {
                error: S1Error::RateLimited {
                    endpoint: path,
                    budget_secs: inner.options.retry.budget.as_secs(),
                },
                retry_after,
                rate_limited: true,
            }),
            StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Err(AttemptError::Transient {
                error: S1Error::Server {
                    endpoint: path,
                    status: status.as_u16(),
                    message: ConsoleMessage::from_body_without(&bytes, inner.token.expose()),
                },
                // A 503 may also say when to come back.
                retry_after,
                rate_limited: false,
            }),
            other if other.is_server_error() => Err(AttemptError::Fatal(S1Error::Server {
                endpoint: path,
                status: other.as_u16(),
                message: ConsoleMessage::from_body_without(&bytes, inner.token.expose()),
            })),
            other => Err(AttemptError::Fatal(S1Error::UnexpectedStatus {
                endpoint: path,
                status: other.as_u16(),
            })),
        }
    }
}

/// Reads at most `limit` bytes. Error bodies are only read for their envelope, so an oversized one is cut rather
/// than refused; a success body over the limit is refused.
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    endpoint: Endpoint,
    success: bool,
) -> Result<Vec<u8>, AttemptError> {
    let expected = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok());
    if success && expected.is_some_and(|n| n > limit) {
        return Err(AttemptError::Fatal(S1Error::BodyTooLarge {
            endpoint: endpoint.path().to_string(),
            limit_bytes: limit as u64,
        }));
    }
    // A Content-Length is only a claim; growth past the first 8 MiB is paid as the bytes actually arrive.
    let mut bytes = Vec::with_capacity(expected.unwrap_or(8 * 1024).min(limit).min(8 << 20));
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(bytes),
            Err(e) if e.is_timeout() => {
                return Err(AttemptError::Transient {
                    error: S1Error::Timeout {
                        endpoint: endpoint.path().to_string(),
                    },
                    retry_after: None,
                    rate_limited: false,
                })
            }
            // A reset or a body shorter than its Content-Length.
            Err(_) => {
                return Err(AttemptError::Transient {
                    error: S1Error::Interrupted {
                        endpoint: endpoint.path().to_string(),
                    },
                    retry_after: None,
                    rate_limited: false,
                })
            }
        };
        if bytes.len() + chunk.len() > limit {
            if !success {
                let room = limit - bytes.len();
                bytes.extend_from_slice(&chunk[..room]);
                return Ok(bytes);
            }
            return Err(AttemptError::Fatal(S1Error::BodyTooLarge {
                endpoint: endpoint.path().to_string(),
                limit_bytes: limit as u64,
            }));
        }
        bytes.extend_from_slice(&chunk);
    }
}

/// Only scheme, host and port of a redirect target: enough for the user, without echoing a query string.
fn redirect_target(location: &str) -> String {
    match url::Url::parse(location) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
            (Some(host), None) => format!("{}://{host}", url.scheme()),
            _ => "an unreadable location".to_string(),
        },
        // A relative redirect stays on the console.
        Err(_) => "another path on the console".to_string(),
    }
}

pub(crate) fn policy_error(e: UrlPolicyError) -> S1Error {
    match e {
        UrlPolicyError::Resolution { host, reason } => S1Error::Dns { host, reason },
        UrlPolicyError::NoAddress { host } => S1Error::Dns {
            host,
            reason: "no addresses".into(),
        },
        other => S1Error::UrlRefused(other),
    }
}

/// The resolver's refusal, however the connector stack boxed it on the way up.
fn as_policy_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a UrlPolicyError> {
    // An io::Error's source() skips its own payload, so the payload is looked at explicitly.
    err.downcast_ref::<UrlPolicyError>()
        .or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref()?.downcast_ref::<UrlPolicyError>())
        })
        .or_else(|| {
            err.downcast_ref::<Box<UrlPolicyError>>()
                .map(|inner| inner.as_ref())
        })
}

fn transport_error(endpoint: Endpoint, console: &ConsoleUrl, e: &reqwest::Error) -> AttemptError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut messages = Vec::new();
    while let Some(err) = source {
        if let Some(policy) = as_policy_error(err) {
            return AttemptError::Fatal(policy_error(policy.clone()));
        }
        messages.push(err.to_string().to_ascii_lowercase());
        source = err.source();
    }
    let host = console.host().to_string();
    let transient = |error| AttemptError::Transient {
        error,
        retry_after: None,
        rate_limited: false,
    };
    if e.is_timeout() {
        return transient(S1Error::Timeout {
            endpoint: endpoint.path().to_string(),
        });
    }
    let mentions = |words: &[&str]| messages.iter().any(|m| words.iter().any(|w| m.contains(w)));
    if mentions(&["certificate", "tls", "handshake", "alert"]) {
        let reason = messages.last().cloned().unwrap_or_default();
        return AttemptError::Fatal(S1Error::Tls { host, reason });
    }
    let reason = messages
        .last()
        .cloned()
        .unwrap_or_else(|| "connection failed".to_string());
    transient(S1Error::Connect { host, reason })
}

fn parse_system_info(body: &[u8]) -> Option<SystemInfo> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data")?;
    let text = |keys: &[&str]| {
        keys.iter().find_map(|k| match data.get(*k) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                Some(s.trim().to_string())
            }
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    Some(SystemInfo {
        release: text(&["release", "version"]),
        build: text(&["build"]),
        latest_agent_version: text(&["latestAgentVersion"]),
    })
}

fn parse_token_details(body: &[u8]) -> Option<TokenDetails> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data")?;
    let at = |key: &str| {
        data.get(key).and_then(|v| v.as_str()).and_then(|s| {
            OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()
        })
    };
    Some(TokenDetails {
        created_at: at("createdAt"),
        expires_at: at("expiresAt"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_keep_only_the_origin() {
        assert_eq!(
            redirect_target("http://169.254.169.254/latest/meta-data/?x=1"),
            "http://169.254.169.254"
        );
        assert_eq!(
            redirect_target("https://evil.example:8443/a"),
            "https://evil.example:8443"
        );
        assert_eq!(redirect_target("/login"), "another path on the console");
    }

    #[test]
    fn token_details_read_rfc3339_dates() {
        let d = parse_token_details(br#"{"data":{"createdAt":"2026-01-01T00:00:00Z","expiresAt":"2027-01-01T00:00:00.123456Z"}}"#);
        let d = d.unwrap_or_default();
        assert_eq!(d.expires_at.map(|t| t.year()), Some(2027));
        assert!(parse_token_details(b"[]").is_none());
    }

    #[test]
    fn system_info_is_lenient() {
        let info = parse_system_info(
            br#"{"data":{"build":"123","release":"Vega","latestAgentVersion":24}}"#,
        );
        assert_eq!(
            info,
            Some(SystemInfo {
                release: Some("Vega".into()),
                build: Some("123".into()),
                latest_agent_version: Some("24".into())
            })
        );
    }
}
