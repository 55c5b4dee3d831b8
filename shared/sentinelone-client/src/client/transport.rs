//! One call through the retry policy and the rate limiter: the request with the token header, redirects refused,
//! bounded body reads, and every failure mapped to an error a user can act on (retryable or not).

use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use super::{Endpoint, S1Client};
use crate::error::{ConsoleMessage, S1Error};
use crate::retry::{with_retries, AttemptError};
use crate::url_policy::{ConsoleUrl, UrlPolicyError};

impl S1Client {
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
}
