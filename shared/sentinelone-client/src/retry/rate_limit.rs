//! Request pacing: one token bucket per client (so per console).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::{would_pass, Clock};

/// A token bucket per client (so per console): at most `rate` requests per second on average, with bursts of at most
/// one second's worth.
pub struct RateLimiter {
    rate: f64,
    capacity: f64,
    clock: Arc<dyn Clock>,
    state: Mutex<Bucket>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimiter {
    /// A non-positive or non-finite rate is treated as 1 request per second rather than "unlimited": pacing is a
    /// promise to the customer's console.
    pub fn new(requests_per_second: f64, clock: Arc<dyn Clock>) -> RateLimiter {
        let rate = if requests_per_second.is_finite() && requests_per_second > 0.0 {
            requests_per_second
        } else {
            1.0
        };
        let capacity = rate.max(1.0);
        let now = clock.now();
        RateLimiter {
            rate,
            capacity,
            clock,
            state: Mutex::new(Bucket {
                tokens: capacity,
                refilled_at: now,
            }),
        }
    }

    /// Takes one token, waiting for it if the bucket is empty. A token is reserved before waiting, so concurrent
    /// callers queue up fairly instead of all waking at once.
    pub async fn acquire(&self) {
        // Without a deadline a token is always taken.
        let _taken = self.acquire_until(None).await;
    }

    /// [`RateLimiter::acquire`], unless the wait for the token would end at or after `deadline`: then no token is
    /// taken, nothing is waited for, and the answer is `false`.
    pub async fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        let wait = {
            let mut bucket = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = self.clock.now();
            let refill = now
                .saturating_duration_since(bucket.refilled_at)
                .as_secs_f64()
                * self.rate;
            bucket.tokens = (bucket.tokens + refill).min(self.capacity);
            bucket.refilled_at = now;
            bucket.tokens -= 1.0;
            let wait = if bucket.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-bucket.tokens / self.rate)
            };
            if !wait.is_zero() && would_pass(deadline, now, wait) {
                // Given back under the same lock, so no later caller's reservation was computed without it.
                bucket.tokens += 1.0;
                return false;
            }
            wait
        };
        if !wait.is_zero() {
            self.clock.sleep(wait).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::TokioClock;

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_paces_to_the_configured_rate() {
        let limiter = RateLimiter::new(10.0, Arc::new(TokioClock));
        let started = Instant::now();
        for _ in 0..30 {
            limiter.acquire().await;
        }
        // A full bucket of 10 goes at once; the other 20 are spaced 100 ms apart.
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(1990), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(2100), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_refuses_a_wait_past_the_deadline_and_keeps_its_token() {
        let limiter = RateLimiter::new(1.0, Arc::new(TokioClock));
        let started = Instant::now();
        let deadline = Some(started + Duration::from_millis(500));
        assert!(
            limiter.acquire_until(deadline).await,
            "the full bucket's token"
        );
        // The next token comes in 1 s, after the deadline.
        assert!(!limiter.acquire_until(deadline).await);
        assert_eq!(started.elapsed(), Duration::ZERO);
        // The refused reservation was given back: the next token is still 1 s away, not 2 s.
        limiter.acquire().await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
