//! Where the client reads the time and sleeps: tokio's clock, or a recording clock for tests.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

/// Where the client reads the time and sleeps.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// tokio's clock: real time in production, virtual time under `#[tokio::test(start_paused = true)]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A virtual clock that never really sleeps: each sleep is recorded and moves its time forward. Lets tests against a
/// real TCP server check every wait the policy asked for (a paused tokio clock would also skip the network I/O's
/// timers).
#[derive(Debug)]
pub struct RecordingClock {
    start: Instant,
    state: Mutex<RecordedState>,
}

#[derive(Debug, Default)]
struct RecordedState {
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl Default for RecordingClock {
    fn default() -> Self {
        RecordingClock {
            start: Instant::now(),
            state: Mutex::new(RecordedState::default()),
        }
    }
}

impl RecordingClock {
    pub fn new() -> Arc<RecordingClock> {
        Arc::new(RecordingClock::default())
    }

    /// Every sleep asked for, in order (including zero-length ones from the rate limiter are not recorded).
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sleeps
            .clone()
    }

    /// Virtual time passed so far.
    pub fn elapsed(&self) -> Duration {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed
    }
}

impl Clock for RecordingClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if !duration.is_zero() {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.elapsed += duration;
            state.sleeps.push(duration);
        }
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_clock_records_and_advances() {
        let clock = RecordingClock::new();
        let before = clock.now();
        futures::executor::block_on(clock.sleep(Duration::from_secs(2)));
        futures::executor::block_on(clock.sleep(Duration::ZERO));
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
        assert_eq!(clock.now() - before, Duration::from_secs(2));
    }
}
