//! What a run that began its agent walk on a tenant without any asset knows about the assets it wrote, so that it
//! reads and plans only what can exist. Held in memory for one invocation: a run continued in another invocation
//! reads and plans as usual.
//!
//! Only the sync writes SentinelOne's description of an asset, under the tenant's lease; a registration may
//! create an asset item at any time, but one that SentinelOne never described, which retirement never touches.

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
}
