//! What a run that began its agent walk on a tenant without any asset knows about the assets it wrote, and what a
//! run that began its vulnerability walk on a tenant without any vulnerability knows about the ids it applied, so
//! that it reads and plans only what can exist. Held in memory for one invocation: a run continued in another
//! invocation reads and plans as usual.
//!
//! Only the sync writes SentinelOne's description of an asset, under the tenant's lease; a registration may
//! create an asset item at any time, but one that SentinelOne never described, which retirement never touches.
//! Only the sync's vulnerability walk (and its fixing) writes a vulnerability, under the lease.

use std::collections::HashSet;

use s1_core::AssetDecision;

#[derive(Debug, Default)]
pub(super) struct FreshAssets {
    /// Every key the agent walk decided (a superset of what it wrote): only these can hold a description.
    decided: HashSet<String>,
    /// Keys the run wrote an asset item for (a create or an update is always written): stored now.
    stored: HashSet<String>,
    /// Whether the run wrote a description that may be active without the agent walk recording it as seen: an
    /// asset the threat walk onboarded, or a decommissioned machine's (written retired unless a registration
    /// created its item first). Without one, no asset can be unseen and live, so retirement has nothing to plan.
    unseen_live: bool,
}

impl FreshAssets {
    /// Of `keys`, those the agent walk may have stored before: the only ones worth reading.
    pub(super) fn maybe_decided(&self, keys: &[String]) -> Vec<String> {
        keys.iter()
            .filter(|k| self.decided.contains(*k))
            .cloned()
            .collect()
    }

    /// Of `keys`, those whose asset item may exist and is not known to: the ones to read (a registration may
    /// have created any of them).
    pub(super) fn not_known_stored(&self, keys: &[String]) -> Vec<String> {
        keys.iter()
            .filter(|k| !self.stored.contains(*k))
            .cloned()
            .collect()
    }

    /// Whether the run wrote this key's asset item.
    pub(super) fn stored(&self, key: &str) -> bool {
        self.stored.contains(key)
    }

    /// Notes an applied page of the agent walk: its keys and the decisions written for them.
    pub(super) fn note_walked(&mut self, keys: Vec<String>, decisions: &[AssetDecision]) {
        self.decided.extend(keys);
        for d in decisions {
            if let AssetDecision::Create(a) | AssetDecision::Update(a) = d {
                self.stored.insert(a.key.as_str().to_string());
                if a.decommissioned == Some(true) {
                    self.unseen_live = true;
                }
            }
        }
    }

    /// Notes the decisions the threat walk wrote for machines the agent walk did not return.
    pub(super) fn note_onboarded(&mut self, decisions: &[AssetDecision]) {
        for d in decisions {
            if let AssetDecision::Create(a) | AssetDecision::Update(a) = d {
                self.stored.insert(a.key.as_str().to_string());
                self.unseen_live = true;
            }
        }
    }

    /// True when no asset the run wrote can be live and unseen: retirement would plan nothing.
    pub(super) fn nothing_to_retire(&self) -> bool {
        !self.unseen_live
    }
}

/// The record ids a vulnerability walk that began on a tenant without vulnerabilities has applied in this
/// invocation, as a Bloom filter: "not held" is certain (nothing else can be stored, so the row is new and its
/// stored head need not be read), "held" may be wrong at a small rate and only costs that row's read. Its size is
/// fixed when the first page says how many rows the walk holds (about 10 bits a row, at most 4 MiB), so a large
/// tenant's first sync holds no set of its ids; more rows than sized for only make "held" more frequent.
#[derive(Debug, Default)]
pub(super) struct AppliedVulnerabilities {
    /// Empty until the first page is noted.
    bits: Vec<u64>,
}

/// Bits set (and tested) per id.
const PROBES: u64 = 6;
const BITS_PER_ROW: u64 = 10;
/// 64 Ki bits (8 KiB) to 32 Mi bits (4 MiB); a power of two, so a probe is masked rather than divided.
const FEWEST_BITS: u64 = 1 << 16;
const MOST_BITS: u64 = 1 << 25;
/// Sized for this many rows when the console does not say.
const ROWS_UNSAID: u64 = 100_000;

impl AppliedVulnerabilities {
    /// The bit positions of `record_id`: double hashing on the two halves of its 64-bit fingerprint (SHA-256).
    fn probes(&self, record_id: &str) -> impl Iterator<Item = usize> {
        let mask = (self.bits.len() as u64 * 64).saturating_sub(1);
        let fp = connector_store::vulnerability_fingerprint(record_id);
        let (low, high) = (fp & 0xffff_ffff, (fp >> 32) | 1);
        (0..PROBES).map(move |i| (low.wrapping_add(i.wrapping_mul(high)) & mask) as usize)
    }

    /// Whether `record_id` may have been applied by this invocation's walk (false: it certainly was not).
    pub(super) fn may_hold(&self, record_id: &str) -> bool {
        !self.bits.is_empty()
            && self
                .probes(record_id)
                .all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// Notes ids about to be applied; the first call sizes the filter for `expected_rows` (the walk's rows).
    pub(super) fn note<'a>(
        &mut self,
        record_ids: impl IntoIterator<Item = &'a str>,
        expected_rows: Option<u64>,
    ) {
        if self.bits.is_empty() {
            let wanted = expected_rows
                .unwrap_or(ROWS_UNSAID)
                .saturating_mul(BITS_PER_ROW);
            let bits = wanted.clamp(FEWEST_BITS, MOST_BITS).next_power_of_two();
            self.bits = vec![0; (bits / 64) as usize];
        }
        for id in record_ids {
            let probes: Vec<usize> = self.probes(id).collect();
            for bit in probes {
                self.bits[bit / 64] |= 1 << (bit % 64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s1_core::Asset;

    fn asset(key: &str, decommissioned: Option<bool>) -> Asset {
        let mut a: Asset = serde_json::from_value(serde_json::json!({
            "key": key, "name": key, "ipv4": [], "ipv6": [], "mac_addresses": [], "last_seen": null,
            "agent_ids": [], "custom_fields": {}, "tags": [], "origin": "agent"
        }))
        .expect("a minimal asset");
        a.decommissioned = decommissioned;
        a
    }

    #[test]
    fn a_walk_of_live_machines_leaves_nothing_to_retire() {
        let mut fresh = FreshAssets::default();
        fresh.note_walked(
            vec!["a".into(), "b".into(), "c".into()],
            &[
                AssetDecision::Create(asset("a", Some(false))),
                AssetDecision::Create(asset("b", None)),
                AssetDecision::Unchanged,
            ],
        );
        assert!(fresh.nothing_to_retire());
        assert!(fresh.stored("a") && fresh.stored("b") && !fresh.stored("c"));
        let keys = vec!["a".to_string(), "c".to_string(), "d".to_string()];
        assert_eq!(fresh.maybe_decided(&keys), vec!["a", "c"]);
        assert_eq!(fresh.not_known_stored(&keys), vec!["c", "d"]);
    }

    #[test]
    fn a_decommissioned_or_onboarded_asset_may_need_retiring() {
        let mut fresh = FreshAssets::default();
        fresh.note_walked(
            vec!["a".into()],
            &[AssetDecision::Create(asset("a", Some(true)))],
        );
        assert!(!fresh.nothing_to_retire());

        let mut fresh = FreshAssets::default();
        fresh.note_onboarded(&[AssetDecision::Create(asset("x", None))]);
        assert!(!fresh.nothing_to_retire());
        assert!(fresh.stored("x"));
    }

    #[test]
    fn an_applied_id_is_always_held_and_an_unseen_one_almost_never() {
        let mut applied = AppliedVulnerabilities::default();
        assert!(!applied.may_hold("r-1"), "nothing applied yet");
        let ids: Vec<String> = (0..20_000).map(|i| format!("r-{i}")).collect();
        applied.note(ids.iter().map(String::as_str), Some(20_000));
        assert!(ids.iter().all(|id| applied.may_hold(id)));
        let strangers = (0..20_000)
            .filter(|i| applied.may_hold(&format!("other-{i}")))
            .count();
        // About 1 % at 10 bits a row and 6 probes (rounded up to a power of two: fewer): each costs one read.
        assert!(strangers < 400, "{strangers} of 20,000 unseen ids held");
    }

    #[test]
    fn more_rows_than_sized_for_stay_held() {
        let mut applied = AppliedVulnerabilities::default();
        let ids: Vec<String> = (0..50_000).map(|i| format!("r-{i}")).collect();
        applied.note(ids.iter().take(10).map(String::as_str), Some(10));
        applied.note(ids.iter().skip(10).map(String::as_str), None);
        assert!(ids.iter().all(|id| applied.may_hold(id)));
    }
}
