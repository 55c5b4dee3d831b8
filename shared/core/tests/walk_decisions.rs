//! The sync's page-walk decisions: an agent's asset against the stored one (re-activating a retired asset that
//! SentinelOne returns live again) and which threats of a page create the asset their finding needs.

mod common;

use common::*;
use proptest::prelude::*;
use s1_core::mapping::{asset_from_threat, map_agent, merge_agent_into, MappingSettings};
use s1_core::merge::{
    assets_onboarded_by_threats, decide_asset, decide_walked_asset, AssetDecision,
};
use s1_core::records::{decode_agents_page, decode_threats_page, Agent, Threat};
use s1_core::Asset;
use serde_json::{json, Value};

fn agents(values: &[Value]) -> Vec<Agent> {
    let page = decode_agents_page(&page(values)).unwrap();
    assert!(page.skipped.is_empty());
    page.records
}

fn asset(id: &str, name: &str, last_active: &str, os: &str) -> Asset {
    let mut v = sample_records("agent_elastic_test_pipeline_agent.ndjson").remove(0);
    v["id"] = json!(id);
    v["computerName"] = json!(name);
    v["lastActiveDate"] = json!(last_active);
    v["osName"] = json!(os);
    map_agent(&agents(&[v])[0], &settings())
}

/// Threats of the sample whose machines are named `names` (one threat per name, ids made distinct).
fn threats_on(names: &[&str]) -> Vec<Threat> {
    let base = sample_records(THREAT_SAMPLES[0]).remove(0);
    let values: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut v = base.clone();
            v["id"] = json!(format!("90000000000000000{i}"));
            v["agentRealtimeInfo"]["agentComputerName"] = json!(name);
            v
        })
        .collect();
    let page = decode_threats_page(&page(&values)).unwrap();
    assert!(page.skipped.is_empty());
    page.records
}

fn flags(auto_onboard: bool, update_metadata: bool) -> MappingSettings {
    MappingSettings {
        auto_onboard,
        update_metadata,
        ..settings()
    }
}

fn key_of(a: &Asset) -> String {
    a.key.as_str().to_string()
}

#[test]
fn a_retired_asset_returned_live_again_is_reactivated_even_when_nothing_changed() {
    let incoming = asset("1", "host-a", "2024-01-02T00:00:00Z", "Windows 11");
    let stored = incoming.clone();
    for update in [true, false] {
        let settings = flags(true, update);
        assert_eq!(
            decide_walked_asset(&incoming, Some((&stored, true)), &settings),
            AssetDecision::Unchanged,
            "an active asset with nothing new is left alone (update_metadata={update})"
        );
        assert_eq!(
            decide_walked_asset(&incoming, Some((&stored, false)), &settings),
            AssetDecision::AttachOnly {
                key: stored.key.clone(),
                agent_ids: stored.agent_ids.clone(),
            },
            "a retired asset returned live is re-activated (update_metadata={update})"
        );
    }
}

#[test]
fn a_retired_asset_returned_decommissioned_stays_retired() {
    let mut incoming = asset("1", "host-a", "2024-01-02T00:00:00Z", "Windows 11");
    let stored = incoming.clone();
    incoming.decommissioned = Some(true);
    let mut stored_decommissioned = stored.clone();
    stored_decommissioned.decommissioned = Some(true);
    assert_eq!(
        decide_walked_asset(
            &incoming,
            Some((&stored_decommissioned, false)),
            &flags(true, true)
        ),
        AssetDecision::Unchanged
    );
}

#[test]
fn a_walked_asset_is_merged_with_the_stored_one_of_the_same_origin() {
    let stored = asset("10", "build-01", "2023-05-01T00:00:00Z", "Windows 10");
    let incoming = asset("30", "BUILD-01", "2024-05-01T00:00:00Z", "Windows 11");
    let decision = decide_walked_asset(&incoming, Some((&stored, true)), &flags(true, true));
    assert_eq!(
        decision,
        decide_asset(
            &merge_agent_into(&stored, &incoming),
            Some(&stored),
            &flags(true, true)
        )
    );
    match decision {
        AssetDecision::Update(a) => {
            assert_eq!(a.agent_ids, ["10".to_string(), "30".to_string()].into());
            assert_eq!(a.os_name.as_deref(), Some("Windows 11"));
        }
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn a_walked_asset_the_platform_does_not_hold_follows_the_merge_table() {
    let incoming = asset("1", "host-a", "2024-01-02T00:00:00Z", "Windows 11");
    for (auto, update) in [(true, true), (true, false), (false, true), (false, false)] {
        assert_eq!(
            decide_walked_asset(&incoming, None, &flags(auto, update)),
            decide_asset(&incoming, None, &flags(auto, update))
        );
    }
}

#[test]
fn threats_onboard_only_missing_machines_their_findings_name_and_only_with_auto_onboard() {
    let threats = threats_on(&["alpha", "Bravo", "ALPHA", "charlie"]);
    let alpha = asset_from_threat(&threats[0], &settings()).unwrap();
    let bravo = asset_from_threat(&threats[1], &settings()).unwrap();
    let charlie = asset_from_threat(&threats[3], &settings()).unwrap();
    let mut keys = vec![key_of(&alpha), key_of(&bravo), key_of(&charlie)];
    keys.sort();

    let none_exist = |_: &str| false;
    let created = assets_onboarded_by_threats(&threats, &keys, none_exist, &flags(true, true));
    assert_eq!(
        created.keys().cloned().collect::<Vec<_>>(),
        keys,
        "one asset per machine"
    );
    assert_eq!(
        created[&key_of(&alpha)].name,
        "alpha",
        "the first threat of a machine wins"
    );

    let bravo_key = key_of(&bravo);
    let created = assets_onboarded_by_threats(
        &threats,
        &keys,
        |k| k == bravo_key.as_str(),
        &flags(true, true),
    );
    assert!(
        !created.contains_key(&bravo_key),
        "an existing asset is not created again"
    );
    assert_eq!(created.len(), 2);

    let only_charlie = vec![key_of(&charlie)];
    let created =
        assets_onboarded_by_threats(&threats, &only_charlie, none_exist, &flags(true, true));
    assert_eq!(
        created.keys().cloned().collect::<Vec<_>>(),
        only_charlie,
        "a machine no finding names is not created"
    );

    assert!(
        assets_onboarded_by_threats(&threats, &keys, none_exist, &flags(false, true)).is_empty(),
        "auto-onboard off creates nothing"
    );
}

#[test]
fn a_threat_without_a_usable_machine_name_onboards_nothing() {
    let threats = threats_on(&["string", "  "]);
    let keys: Vec<String> = vec!["string".into()];
    assert!(assets_onboarded_by_threats(&threats, &keys, |_| false, &flags(true, true)).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The walk's decision is the merge table's decision on the merged candidate, except that a retired asset
    /// returned live with nothing new is re-activated; an active one never is.
    #[test]
    fn walked_decision_is_the_table_plus_reactivation(
        auto in any::<bool>(),
        update in any::<bool>(),
        active in any::<bool>(),
        decommissioned in any::<bool>(),
        same_agent in any::<bool>(),
        newer in any::<bool>(),
    ) {
        let stored = asset("1", "host-a", "2024-01-02T00:00:00Z", "Windows 11");
        let (id, at, os) = match (same_agent, newer) {
            (true, _) => ("1", "2024-01-02T00:00:00Z", "Windows 11"),
            (false, true) => ("2", "2024-06-02T00:00:00Z", "Windows 11"),
            (false, false) => ("2", "2023-06-02T00:00:00Z", "Windows 10"),
        };
        let mut incoming = asset(id, "HOST-A", at, os);
        if decommissioned {
            incoming.decommissioned = Some(true);
        }
        let settings = flags(auto, update);
        let table = decide_asset(&merge_agent_into(&stored, &incoming), Some(&stored), &settings);
        let decision = decide_walked_asset(&incoming, Some((&stored, active)), &settings);
        if table == AssetDecision::Unchanged && !active && !decommissioned {
            let reactivated = matches!(decision, AssetDecision::AttachOnly { ref key, .. } if key == &stored.key);
            prop_assert!(reactivated, "{:?}", decision);
        } else {
            prop_assert_eq!(decision, table);
        }
    }

    /// Whatever the page, an onboarded asset is a machine a finding names that the platform does not hold, and
    /// auto-onboard off creates none.
    #[test]
    fn onboarded_assets_are_missing_named_machines(
        names in prop::collection::vec("[a-d]{1,2}", 0..8),
        named in prop::collection::btree_set("[a-d]{1,2}", 0..6),
        held in prop::collection::btree_set("[a-d]{1,2}", 0..6),
        auto in any::<bool>(),
    ) {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let threats = threats_on(&refs);
        let keys: Vec<String> = named.iter().cloned().collect();
        let created = assets_onboarded_by_threats(&threats, &keys, |k| held.contains(k), &flags(auto, true));
        if !auto {
            prop_assert!(created.is_empty());
        }
        for (key, asset) in &created {
            prop_assert_eq!(key, &key_of(asset));
            prop_assert!(named.contains(key) && !held.contains(key));
            prop_assert!(names.iter().any(|n| n == key));
        }
        if auto {
            for key in named.iter().filter(|k| !held.contains(*k) && names.contains(k)) {
                prop_assert!(created.contains_key(key));
            }
        }
    }
}
