//! The run's record while the run works: rewritten when something only it holds has changed, and otherwise at
//! most every [`PROGRESS_EVERY`], not after every page and phase. An unchanged re-sync then writes it twice (when
//! the invocation takes the run, and when the run ends) instead of once per page.
//!
//! Why nothing is lost:
//! - the counters and the page count are also in the checkpoint, written with every heartbeat before the record
//!   ever is; a resumed run takes them from there ([`resume`]), so a record that lags behind (the invocation ran
//!   out of time, crashed or lost its lease) is caught up by the next invocation, and the finishing write records
//!   them in full;
//! - what only the record holds (skip reasons, errors, warnings, the vulnerability walk's counts, a dry run's
//!   report) is written at the first checkpoint after it changed, as before;
//! - the phase a watcher sees trails by at most [`PROGRESS_EVERY`]; the run's status (running, then finished) is
//!   written as before, so no run looks stuck or unfinished for want of a progress write.

use std::time::Duration;

use connector_store::{Checkpoint, SyncRun};
use tokio::time::Instant;

/// How often a run's record is refreshed for watchers while only its counters, pages and phase move.
pub(super) const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// The run's record as this invocation last wrote it, and when.
#[derive(Debug)]
pub(super) struct Written {
    run: SyncRun,
    at: Instant,
}

impl Written {
    /// `run` as just written.
    pub(super) fn now(run: &SyncRun) -> Self {
        Self {
            run: run.clone(),
            at: Instant::now(),
        }
    }

    /// Whether `run` is to be written at a checkpoint taken at `now`: something besides its counters, page count
    /// and phase differs from the record, or the record is [`PROGRESS_EVERY`] old.
    pub(super) fn due(&self, run: &SyncRun, now: Instant) -> bool {
        if now.saturating_duration_since(self.at) >= PROGRESS_EVERY {
            return true;
        }
        let mut moved = run.clone();
        moved.counters = self.run.counters;
        moved.pages = self.run.pages;
        moved.phase.clone_from(&self.run.phase);
        moved != self.run
    }
}

/// A run resumed from `checkpoint`: its counters and page count as the checkpoint holds them, which is never
/// behind the record (every checkpoint write comes before the record's write of the same progress).
pub(super) fn resume(run: &mut SyncRun, checkpoint: &Checkpoint) {
    run.counters = checkpoint.counters;
    run.pages = run.pages.max(checkpoint.page_no);
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_store::{TenantId, Trigger};

    fn run() -> SyncRun {
        // One run: the id is fixed so that two calls build equal runs.
        let mut run = SyncRun::new(TenantId::new("t").expect("tenant"), Trigger::OnDemand);
        run.id = "20261201T000000000Z-00000000".into();
        run.created_at = "2026-12-01T00:00:00Z".into();
        run
    }

    #[test]
    fn only_counters_pages_and_phase_wait_for_the_period() {
        let written = Written::now(&run());
        let at = written.at;
        let mut r = run();
        r.counters.items_fetched = 1000;
        r.counters.assets.unchanged = 1000;
        r.pages = 3;
        r.phase = Some("threats".into());
        assert!(!written.due(&r, at + Duration::from_secs(1)));
        assert!(written.due(&r, at + PROGRESS_EVERY));
        let mut skipped = r.clone();
        skipped.skip_reasons.insert("no usable identity".into(), 1);
        assert!(written.due(&skipped, at));
        let mut warned = r.clone();
        warned.warnings.push("retirement withheld".into());
        assert!(written.due(&warned, at));
        let mut vulnerable = r;
        vulnerable.vulnerabilities.unchanged = 1;
        assert!(written.due(&vulnerable, at));
    }
}
