//! The invocation's time: when to stop taking pages and when every wait must have ended.

use std::time::Duration;

use tokio::time::Instant;

/// When the invocation must stop taking new pages (`stop_at`: the Lambda deadline minus the safety margin), and
/// when every wait must have ended (`hard_stop`: the deadline minus a quarter of the margin, kept for saving the
/// checkpoint and queueing the continuation). A page started before `stop_at` has until `hard_stop`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    stop_at: Option<Instant>,
    hard_stop: Option<Instant>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Self {
            stop_at: None,
            hard_stop: None,
        }
    }

    /// Stops `margin` before `deadline` (the invocation's deadline as a wall-clock time).
    pub fn until(deadline: std::time::SystemTime, margin: Duration) -> Self {
        let left = deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        let now = Instant::now();
        Self {
            stop_at: Some(now + left.saturating_sub(margin)),
            hard_stop: Some(now + left.saturating_sub(margin / 4)),
        }
    }

    /// Stops taking pages after `limit` from now, with no hard stop (tests and the local run force checkpoints).
    pub fn for_duration(limit: Duration) -> Self {
        Self {
            stop_at: Some(Instant::now() + limit),
            hard_stop: None,
        }
    }

    /// Stops taking pages after `soft` and ends every wait after `hard` (tests of the deadline path).
    pub fn with_hard_stop(soft: Duration, hard: Duration) -> Self {
        let now = Instant::now();
        Self {
            stop_at: Some(now + soft),
            hard_stop: Some(now + hard.max(soft)),
        }
    }

    pub fn exhausted(&self) -> bool {
        self.stop_at.is_some_and(|t| Instant::now() >= t)
    }

    /// The instant by which SentinelOne calls and page writes must have ended, if any.
    pub fn hard_stop(&self) -> Option<Instant> {
        self.hard_stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_until_past_deadline_is_exhausted() {
        let b = Budget::until(std::time::SystemTime::now(), Duration::from_secs(60));
        assert!(b.exhausted());
        assert!(!Budget::unlimited().exhausted());
    }
}
