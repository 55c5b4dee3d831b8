//! Counting findings, not writes: a threat SentinelOne returns twice in one walk (on two pages, or again after a
//! resumed invocation) is one finding. The run keeps, per threat id, a 64-bit fingerprint and the status it was
//! counted under; each page's entries are stored with the page (see `Store::record_seen_threats`) so a resumed
//! invocation continues the same tally.

use std::collections::HashMap;

use connector_store::RunCounters;
use s1_core::{Finding, FindingStatus};
use sha2::{Digest, Sha256};

/// A stable 64-bit fingerprint of a threat id (collisions among a tenant's threats are negligible:
/// a chance of about 3 in 10^8 of any collision among a million threats).
pub fn fingerprint(threat_id: &str) -> u64 {
    let digest = Sha256::digest(threat_id.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

/// The distinct findings a run has counted so far.
#[derive(Debug, Default)]
pub struct FindingTally {
    seen: HashMap<u64, FindingStatus>,
}

impl FindingTally {
    pub fn from_seen(seen: HashMap<u64, FindingStatus>) -> Self {
        Self { seen }
    }

    /// Counts one page's findings into `counters` and returns the entries to store with the page.
    pub fn count_page(
        &mut self,
        findings: &[Finding],
        counters: &mut RunCounters,
    ) -> Vec<(u64, FindingStatus)> {
        let mut entries = Vec::with_capacity(findings.len());
        for f in findings {
            let fp = fingerprint(&f.threat_id);
            match self.seen.insert(fp, f.status) {
                None => {
                    bump(counters, f.status, 1);
                    if !f.attached {
                        counters.findings_unattached += 1;
                    }
                }
                Some(before) => {
                    counters.findings_repeated += 1;
                    if before != f.status {
                        // The newer sighting decides the finding's status; the count moves with it.
                        bump(counters, before, -1);
                        bump(counters, f.status, 1);
                    }
                }
            }
            entries.push((fp, f.status));
        }
        entries
    }
}

fn bump(counters: &mut RunCounters, status: FindingStatus, by: i64) {
    let slot = match status {
        FindingStatus::Failed => &mut counters.findings_failed,
        FindingStatus::Passed => &mut counters.findings_passed,
    };
    *slot = slot.saturating_add_signed(by);
}
