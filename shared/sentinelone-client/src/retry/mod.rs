//! The crate's one retry policy and its request pacing (contract decision 7). Time goes through [`Clock`] so tests
//! can run the real policy under tokio's paused clock or record the waits it asks for.
//!
//! This file holds the policy (backoff, `Retry-After`, attempts, budget, deadline) and the retry loop; `clock`
//! holds the clocks, `rate_limit` the per-console request pacing.

mod clock;
mod rate_limit;

use std::future::Future;
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::time::Instant;

use crate::error::S1Error;

pub use clock::{Clock, RecordingClock, TokioClock};
pub use rate_limit::RateLimiter;

/// Retry limits. Defaults: 0.5 s base, 30 s cap (decision 7), 8 attempts, 120 s of waiting in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total time one call may take across all its attempts and waits.
    pub budget: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            budget: Duration::from_secs(120),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// "Full jitter": a uniform draw in `[0, min(cap, base·2^retry)]`, so many clients backing off from the same
    /// console spread out instead of retrying in lockstep. `retry` counts from 1.
    pub fn backoff(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(retry);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.random_range(0..=millis))
    }

    /// The upper bound of [`RetryPolicy::backoff`] for a retry.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1).min(30))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Reads `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// One attempt's outcome as the retry loop sees it.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// Give up now with this error (4xx, TLS, policy refusals…).
    Fatal(S1Error),
    /// Worth another attempt; `retry_after` is what the console asked for, if anything.
    Transient {
        error: S1Error,
        retry_after: Option<Duration>,
        rate_limited: bool,
    },
}

/// Runs `attempt` until it succeeds, fails fatally, or the policy's attempts or budget run out. A wait that would
/// overrun the budget is not started: the call fails at once with the last error. With a `deadline`, no attempt
/// starts once it has come and no wait is started that would end at or after it: the call ends with
/// [`S1Error::DeadlineReached`] instead, so the caller can checkpoint rather than be killed mid-wait.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    deadline: Option<Instant>,
    endpoint: &str,
    mut attempt: F,
) -> Result<T, S1Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let started = clock.now();
    let mut number = 0u32;
    loop {
        number += 1;
        if deadline.is_some_and(|d| clock.now() >= d) {
            return Err(deadline_reached(endpoint, number - 1));
        }
        let (error, retry_after, rate_limited) = match attempt(number).await {
            Ok(value) => return Ok(value),
            Err(AttemptError::Fatal(error)) => return Err(error),
            Err(AttemptError::Transient {
                error,
                retry_after,
                rate_limited,
            }) => (error, retry_after, rate_limited),
        };
        let wait = retry_after.unwrap_or_else(|| policy.backoff(number, &mut rand::rng()));
        let spent = clock.now().saturating_duration_since(started);
        let out_of_budget = spent.saturating_add(wait) > policy.budget;
        if number >= policy.max_attempts || out_of_budget {
            tracing::warn!(
                endpoint,
                attempts = number,
                kind = error.kind(),
                "giving up after retries"
            );
            if rate_limited {
                return Err(S1Error::RateLimited {
                    endpoint: endpoint.to_string(),
                    budget_secs: policy.budget.as_secs(),
                });
            }
            return Err(error);
        }
        // Checked after the attempts and the budget: a call that has failed by its own policy is a failure even when
        // the deadline is near, and must not be resumed forever as if only time had run out.
        if would_pass(deadline, clock.now(), wait) {
            tracing::info!(
                endpoint,
                attempts = number,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                kind = error.kind(),
                "the wait before the next attempt would pass the deadline"
            );
            return Err(deadline_reached(endpoint, number));
        }
        tracing::info!(
            endpoint,
            attempt = number,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            kind = error.kind(),
            "retrying"
        );
        clock.sleep(wait).await;
    }
}

/// Whether a wait of `wait` from `now` would end at or after the deadline. Ending exactly on it counts: the request
/// after the wait would start with no time left.
pub(crate) fn would_pass(deadline: Option<Instant>, now: Instant, wait: Duration) -> bool {
    deadline.is_some_and(|d| now.checked_add(wait).is_none_or(|end| end >= d))
}

fn deadline_reached(endpoint: &str, attempts: u32) -> S1Error {
    tracing::info!(endpoint, attempts, "deadline reached; stopping the call");
    S1Error::DeadlineReached {
        endpoint: endpoint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn transient() -> AttemptError {
        AttemptError::Transient {
            error: S1Error::Server {
                endpoint: "agents".into(),
                status: 503,
                message: Default::default(),
            },
            retry_after: None,
            rate_limited: false,
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_is_full_jitter_under_a_capped_exponential_ceiling() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.ceiling(1), Duration::from_millis(500));
        assert_eq!(policy.ceiling(2), Duration::from_secs(1));
        assert_eq!(policy.ceiling(7), Duration::from_secs(30));
        assert_eq!(policy.ceiling(60), Duration::from_secs(30));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let draws: Vec<Duration> = (0..200).map(|_| policy.backoff(7, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_secs(30)));
        // Full jitter spreads over the whole range, not just near the ceiling.
        assert!(draws.iter().any(|d| *d < Duration::from_secs(10)));
        assert!(draws.iter().any(|d| *d > Duration::from_secs(20)));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_on_tokio_time() {
        let started = Instant::now();
        let mut seen = Vec::new();
        let result = with_retries(&RetryPolicy::default(), &TokioClock, None, "agents", |n| {
            seen.push(n);
            async move {
                if n == 1 {
                    Err(AttemptError::Transient {
                        error: S1Error::Server {
                            endpoint: "agents".into(),
                            status: 429,
                            message: Default::default(),
                        },
                        retry_after: Some(Duration::from_secs(2)),
                        rate_limited: true,
                    })
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(2));
        assert_eq!(seen, vec![1, 2]);
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "waited {:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "waited {:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_errors_are_not_retried() {
        let mut calls = 0;
        let result: Result<(), S1Error> =
            with_retries(&RetryPolicy::default(), &TokioClock, None, "agents", |_| {
                calls += 1;
                async {
                    Err(AttemptError::Fatal(S1Error::NotFound {
                        endpoint: "agents".into(),
                    }))
                }
            })
            .await;
        assert_eq!(result.err().map(|e| e.kind()), Some("not_found"));
        assert_eq!(calls, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_bounds_total_time_and_429s_end_as_rate_limited() {
        let policy = RetryPolicy {
            budget: Duration::from_secs(10),
            max_attempts: 100,
            ..RetryPolicy::default()
        };
        let started = Instant::now();
        let mut calls = 0u32;
        let result: Result<(), S1Error> =
            with_retries(&policy, &TokioClock, None, "threats", |_| {
                calls += 1;
                async {
                    Err(AttemptError::Transient {
                        error: S1Error::Server {
                            endpoint: "threats".into(),
                            status: 429,
                            message: Default::default(),
                        },
                        retry_after: Some(Duration::from_secs(3)),
                        rate_limited: true,
                    })
                }
            })
            .await;
        // 3 s waits: after attempts 1, 2, 3 (9 s); a fourth wait would pass 10 s.
        assert_eq!(calls, 4);
        assert!(started.elapsed() <= Duration::from_secs(10));
        assert_eq!(result.err().map(|e| e.kind()), Some("rate_limited"));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_capped() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut calls = 0u32;
        let result: Result<(), S1Error> =
            with_retries(&policy, &TokioClock, None, "agents", |_| {
                calls += 1;
                async { Err(transient()) }
            })
            .await;
        assert_eq!(calls, 3);
        assert_eq!(result.err().map(|e| e.kind()), Some("server"));
    }

    fn rate_limited_for(secs: u64) -> AttemptError {
        AttemptError::Transient {
            error: S1Error::RateLimited {
                endpoint: "agents".into(),
                budget_secs: 120,
            },
            retry_after: Some(Duration::from_secs(secs)),
            rate_limited: true,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_deadline_is_not_started() {
        let started = Instant::now();
        let deadline = Some(started + Duration::from_secs(5));
        let mut calls = 0u32;
        let result: Result<(), S1Error> = with_retries(
            &RetryPolicy::default(),
            &TokioClock,
            deadline,
            "agents",
            |_| {
                calls += 1;
                async { Err(rate_limited_for(3)) }
            },
        )
        .await;
        // Waits 3 s once (ends at 3 s); the second 3 s wait would end at 6 s, past the 5 s deadline.
        assert_eq!(calls, 2);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        let error = result.err();
        assert_eq!(error.as_ref().map(S1Error::kind), Some("deadline_reached"));
        assert!(error.is_some_and(|e| e.is_deadline()));
    }

    #[tokio::test(start_paused = true)]
    async fn no_attempt_starts_after_the_deadline() {
        let deadline = Some(Instant::now());
        let mut calls = 0u32;
        let result: Result<(), S1Error> = with_retries(
            &RetryPolicy::default(),
            &TokioClock,
            deadline,
            "agents",
            |_| {
                calls += 1;
                async { Ok(()) }
            },
        )
        .await;
        assert_eq!(calls, 0);
        assert!(result.is_err_and(|e| e.is_deadline()));
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_still_wins_over_a_later_deadline() {
        // A Retry-After beyond the budget is a rate-limit failure, with or without a deadline.
        let deadline = Some(Instant::now() + Duration::from_secs(600));
        let result: Result<(), S1Error> = with_retries(
            &RetryPolicy::default(),
            &TokioClock,
            deadline,
            "agents",
            |_| async { Err(rate_limited_for(300)) },
        )
        .await;
        assert_eq!(result.err().map(|e| e.kind()), Some("rate_limited"));
    }
}
