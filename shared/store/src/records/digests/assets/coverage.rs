//! Whether finalize can know, without reading every active asset, that its run saw them all.
//!
//! The retirement plan reads every active asset of the tenant (a query charged for whole asset items, about one
//! read unit per 4 assets) to find those the run did not see. The asset digests can prove that there are none: the
//! marker's `covers_active` says that every active asset SentinelOne describes (the assets a plan considers) has
//! an entry or is named in the journal. Then, when every entry and every journal name is an asset this run recorded
//! as seen, no active asset is unseen, and the plan is empty without the query.
//!
//! Why `covers_active` stays true once set:
//! - it is set by a plan that read every active asset ([`AssetDigests::cover`]), which also drops the entries of
//!   assets that are not active (a lease-holding finalize: no sync writes an asset meanwhile);
//! - only a sync write makes an asset active and SentinelOne-described (a registration creates a platform asset,
//!   and revives one with its SentinelOne side retired); every sync write names the written assets in the journal
//!   first while the flag is set ([`AssetDigests::expect_writes`]) and takes them out only once their entry is set;
//!   a write that leaves an active asset without an entry (a retired machine's write that a registration kept
//!   active, a `last_seen` an entry cannot hold, an overflowing bucket) clears the flag;
//! - entries are only ever dropped for assets that leave the active set (retirement drops the entries of the
//!   assets it retired, after retiring them);
//! - a release that writes assets without knowing the flag either rewrites the marker without it (a release with
//!   asset digests: the flag reads false) or breaks the run chain the proof requires (one without).
//!
//! Entry keys are 8 bytes of SHA-256 of the asset's sort key: an unseen active asset taken for a seen one needs
//! two keys of the tenant sharing them (a 2^-64 chance per pair).

use std::collections::HashSet;

use super::{asset_entry_key, AssetDigests, ASSET_BUCKETS};

impl AssetDigests {
    /// Whether the digests prove that every active asset SentinelOne describes is among `seen` (asset keys):
    /// they cover the active assets, every entry and every journal name is in `seen`, and they were kept by this
    /// run (`run_id`) right after `run_before`, the run before it in the history.
    pub(in crate::records) fn prove_all_seen(
        &self,
        run_id: &str,
        run_before: Option<&str>,
        seen: &HashSet<String>,
    ) -> bool {
        if !self.covers_active || self.overflow {
            return false;
        }
        if self.run.as_deref() != Some(run_id)
            || self.prev.is_none()
            || self.prev.as_deref() != run_before
        {
            return false;
        }
        let seen: HashSet<u64> = seen.iter().map(|k| asset_entry_key(k)).collect();
        self.pending.iter().all(|k| seen.contains(k))
            && self
                .buckets
                .values()
                .all(|b| b.entries.keys().all(|k| seen.contains(k)))
    }

    /// After a plan that read every active asset (`active`: their [`Self::entry_key_of`]): drops the entries of
    /// assets that are not active, and records whether every active asset has an entry.
    pub(in crate::records) fn cover(&mut self, active: &HashSet<u64>) {
        if self.overflow {
            return;
        }
        for bucket in self.buckets.values_mut() {
            let before = bucket.entries.len();
            bucket.entries.retain(|k, _| active.contains(k));
            bucket.dirty |= bucket.entries.len() != before;
        }
        let covers = active.iter().all(|k| {
            self.buckets
                .get(&(k % ASSET_BUCKETS))
                .is_some_and(|b| b.entries.contains_key(k))
        });
        if covers != self.covers_active {
            self.covers_active = covers;
            self.marker_dirty = true;
        }
    }

    /// The key of an asset's entry.
    pub(in crate::records) fn entry_key_of(asset_key: &str) -> u64 {
        asset_entry_key(asset_key)
    }

    /// Whether the digests say they cover every active asset (see the module documentation).
    pub(in crate::records) fn covers_active(&self) -> bool {
        self.covers_active && !self.overflow
    }

    /// Drops the entries of these assets (retired: no longer active).
    pub(in crate::records) fn forget<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        for key in keys {
            let k = asset_entry_key(key);
            if let Some(bucket) = self.buckets.get_mut(&(k % ASSET_BUCKETS)) {
                bucket.dirty |= bucket.entries.remove(&k).is_some();
            }
        }
    }

    /// While the digests cover the active assets, names every asset about to be written in the journal.
    pub(super) fn expect_covered(&mut self, keys: &[String]) {
        if !self.covers_active || self.overflow {
            return;
        }
        for key in keys {
            self.journal_dirty |= self.pending.insert(asset_entry_key(key));
        }
        if self.pending.len() > super::MAX_PENDING {
            self.switch_off();
        }
    }

    /// The digests no longer know that every active asset has an entry.
    pub(super) fn lose_coverage(&mut self) {
        if self.covers_active {
            self.covers_active = false;
            self.marker_dirty = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s1_core::Asset;

    fn asset(name: &str) -> Asset {
        super::super::tests::asset(name, None)
    }

    fn keys(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn entries(names: &[&str]) -> HashSet<u64> {
        names
            .iter()
            .map(|k| AssetDigests::entry_key_of(k))
            .collect()
    }

    /// Digests of run `r2` (after `r1`) holding live entries for `names`, covering the active assets.
    fn covering(names: &[&str]) -> AssetDigests {
        let mut d = AssetDigests {
            run: Some("r2".into()),
            prev: Some("r1".into()),
            ..AssetDigests::default()
        };
        for n in names {
            d.stored(n, Some(&asset(n)), true);
        }
        d.cover(&entries(names));
        assert!(d.covers_active() && d.marker_dirty);
        d
    }

    #[test]
    fn a_plan_is_proven_empty_only_when_every_entry_and_journal_name_was_seen_in_an_unbroken_chain()
    {
        let d = covering(&["a", "b"]);
        assert!(d.prove_all_seen("r2", Some("r1"), &keys(&["a", "b", "c"])));
        assert!(
            !d.prove_all_seen("r2", Some("r1"), &keys(&["a"])),
            "b is active and unseen"
        );
        assert!(
            !d.prove_all_seen("r2", Some("r0"), &keys(&["a", "b"])),
            "a run between broke the chain"
        );
        assert!(
            !d.prove_all_seen("r3", Some("r2"), &keys(&["a", "b"])),
            "kept by another run"
        );
        let mut named = covering(&["a"]);
        named.expect_writes(&["x".to_string()]);
        assert!(named.pending.contains(&AssetDigests::entry_key_of("x")));
        assert!(
            !named.prove_all_seen("r2", Some("r1"), &keys(&["a"])),
            "x is being written and may be active"
        );
        let mut not_covering = covering(&["a"]);
        not_covering.covers_active = false;
        assert!(!not_covering.prove_all_seen("r2", Some("r1"), &keys(&["a"])));
    }

    #[test]
    fn covering_drops_entries_of_inactive_assets_and_needs_an_entry_for_every_active_one() {
        let mut d = covering(&["a", "b", "c"]);
        d.marker_dirty = false;
        // c is no longer active: its entry goes.
        d.cover(&entries(&["a", "b"]));
        assert_eq!(d.entries(), 2);
        assert!(d.buckets.values().any(|b| b.dirty));
        assert!(d.covers_active() && !d.marker_dirty);
        // An active asset without an entry: not covered.
        d.cover(&entries(&["a", "b", "z"]));
        assert!(!d.covers_active() && d.marker_dirty);
        assert!(!d.prove_all_seen("r2", Some("r1"), &keys(&["a", "b", "z"])));
        // Retired assets leave with their entries.
        let mut d = covering(&["a", "b"]);
        d.forget(["b"]);
        assert!(d.prove_all_seen("r2", Some("r1"), &keys(&["a"])));
    }

    #[test]
    fn writes_that_may_leave_an_active_asset_without_an_entry_end_the_coverage() {
        // Named for the write while covering, out of the journal once the entry is set.
        let mut d = covering(&["a"]);
        d.expect_writes(&["n".to_string()]);
        d.written("n", Some(&asset("n")), true);
        assert!(d.pending.is_empty() && d.covers_active());
        assert!(d.prove_all_seen("r2", Some("r1"), &keys(&["a", "n"])));
        // A machine written retired may have stayed active (a registration kept it).
        let mut d = covering(&["a"]);
        d.written("r", Some(&asset("r")), false);
        assert!(!d.covers_active() && d.marker_dirty);
        // A live asset whose `last_seen` an entry cannot hold.
        let mut d = covering(&["a"]);
        let mut odd = asset("o");
        odd.last_seen = Some(time::macros::datetime!(2026-01-01 10:00 +01:00));
        d.written("o", Some(&odd), true);
        assert!(!d.covers_active());
        // Not covering: only assets with an entry are named, as before.
        let mut d = AssetDigests::default();
        d.expect_writes(&["n".to_string()]);
        assert!(d.pending.is_empty());
    }
}
