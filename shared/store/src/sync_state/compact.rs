//! The checkpoint as stored: its empty parts are left out (each reads back as it was), so the `SYNC` item that
//! every heartbeat rewrites stays under 1 KB (one write unit a heartbeat) through an ordinary run. The counters
//! keep their names, as in the run's record, but only those that are not zero: a re-sync that changed nothing
//! counts a few kinds only.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::runs::RunCounters;

pub(super) fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub(super) fn is_false(b: &bool) -> bool {
    !*b
}

pub(super) fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

/// The counters without their zeros (a tally without counts is left out whole); read back with every missing
/// count zero, which is also how a checkpoint that stored them all reads.
pub(super) mod counters {
    use super::*;
    use serde_json::Value;

    pub(in crate::sync_state) fn serialize<S: Serializer>(
        counters: &RunCounters,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(counters).map_err(serde::ser::Error::custom)?;
        strip_zeros(&mut value);
        value.serialize(s)
    }

    pub(in crate::sync_state) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<RunCounters, D::Error> {
        RunCounters::deserialize(d)
    }

    /// Drops zero numbers, and maps left empty, from a map (recursively).
    fn strip_zeros(value: &mut Value) {
        if let Value::Object(map) = value {
            for v in map.values_mut() {
                strip_zeros(v);
            }
            map.retain(|_, v| match v {
                Value::Number(n) => n.as_u64() != Some(0),
                Value::Object(m) => !m.is_empty(),
                _ => true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AgentWalkTally, Checkpoint, PinnedVerdicts, VulnerabilityWalk};
    use crate::runs::{RunCounters, Tally};
    use aws_sdk_dynamodb::types::AttributeValue;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            run_id: "run-1".into(),
            phase: "groups".into(),
            cursor: None,
            page_no: 0,
            counters: RunCounters::default(),
            group_ids: Vec::new(),
            threats_since: None,
            threats_high_water: None,
            scope: None,
            agent_walk: AgentWalkTally::default(),
            verdicts: None,
            reevaluating_version: None,
            threat_walk: AgentWalkTally::default(),
            vulnerabilities: VulnerabilityWalk::default(),
        }
    }

    #[test]
    fn an_empty_checkpoint_stores_only_its_run_and_phase_and_reads_back_the_same() {
        let cp = checkpoint();
        let stored = serde_dynamo::to_attribute_value::<_, AttributeValue>(&cp).unwrap();
        let AttributeValue::M(map) = &stored else {
            panic!("{stored:?}")
        };
        let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["counters", "phase", "run_id"]);
        assert_eq!(map["counters"], AttributeValue::M(Default::default()));
        let back: Checkpoint = serde_dynamo::from_attribute_value(stored).unwrap();
        assert_eq!(back, cp);
    }

    #[test]
    fn a_full_checkpoint_reads_back_the_same_and_an_old_one_with_every_field_still_reads() {
        let mut cp = checkpoint();
        cp.cursor = Some("c".into());
        cp.page_no = 7;
        cp.counters.assets = Tally {
            unchanged: 9,
            ..Tally::default()
        };
        cp.counters.items_fetched = 12;
        cp.group_ids = vec!["g".into()];
        cp.threats_since = Some("2026-01-01T00:00:00Z".into());
        cp.threats_high_water = Some(time::macros::datetime!(2026-01-02 0:00 UTC));
        cp.scope = Some("s".into());
        cp.agent_walk = AgentWalkTally {
            walked: 3,
            unusable: 0,
            expected: Some(3),
        };
        cp.verdicts = Some(PinnedVerdicts {
            version: 2,
            list: vec!["true_positive".into()],
        });
        cp.reevaluating_version = Some(2);
        cp.threat_walk.walked = 1;
        cp.vulnerabilities.groups_done = 1;
        cp.vulnerabilities.began_without_vulnerabilities = true;
        let stored = serde_dynamo::to_attribute_value::<_, AttributeValue>(&cp).unwrap();
        let AttributeValue::M(map) = &stored else {
            panic!("{stored:?}")
        };
        let AttributeValue::M(counters) = &map["counters"] else {
            panic!("{map:?}")
        };
        let mut kept: Vec<&str> = counters.keys().map(String::as_str).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["assets", "items_fetched"]);
        let back: Checkpoint = serde_dynamo::from_attribute_value(stored).unwrap();
        assert_eq!(back, cp);

        // As stored before empty parts were left out: every field, zeros and nulls included.
        let old = serde_json::json!({
            "run_id": "run-1", "phase": "agents", "cursor": null, "page_no": 0, "group_ids": [],
            "threats_since": null, "threats_high_water": null, "scope": null,
            "counters": serde_json::to_value(RunCounters::default()).unwrap(),
            "agent_walk": {"walked": 0, "unusable": 0, "expected": null},
            "threat_walk": {"walked": 0, "unusable": 0, "expected": null},
            "verdicts": null, "reevaluating_version": null,
            "vulnerabilities": serde_json::to_value(VulnerabilityWalk::default()).unwrap()
        });
        let old: AttributeValue = serde_dynamo::to_attribute_value(old).unwrap();
        let read: Checkpoint = serde_dynamo::from_attribute_value(old).unwrap();
        assert_eq!(
            read,
            Checkpoint {
                phase: "agents".into(),
                ..checkpoint()
            }
        );
    }
}
