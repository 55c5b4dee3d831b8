//! Merge rules (all four flag combinations), re-imaged machines, duplicates within a run, threats whose agent was
//! not walked, and tags to custom fields.

mod common;

use std::collections::BTreeSet;

use common::*;
use s1_core::custom_fields::{apply_tags_to_custom_fields, CustomFieldDefinition};
use s1_core::mapping::{
    asset_from_threat, assets_from_agents, findings_from_threats, map_agent, map_threat,
    merge_agent_into, MappingSettings,
};
use s1_core::merge::{decide_asset, decide_finding, AssetDecision};
use s1_core::records::{decode_agents_page, decode_threats_page, Agent, SkipReason, Tag, Threat};
use s1_core::verdicts::{finding_status, VerdictInclusionList};
use s1_core::{Asset, FindingStatus};
use serde_json::{json, Value};

fn agents(values: &[Value]) -> Vec<Agent> {
    let page = decode_agents_page(&page(values)).unwrap();
    assert!(page.skipped.is_empty());
    page.records
}

fn threats(values: &[Value]) -> Vec<Threat> {
    let page = decode_threats_page(&page(values)).unwrap();
    assert!(page.skipped.is_empty());
    page.records
}

fn agent_value(id: &str, name: &str, last_active: &str, os: &str) -> Value {
    let mut v = sample_records("agent_elastic_test_pipeline_agent.ndjson").remove(0);
    v["id"] = json!(id);
    v["computerName"] = json!(name);
    v["lastActiveDate"] = json!(last_active);
    v["osName"] = json!(os);
    v
}

fn asset(id: &str, name: &str, last_active: &str, os: &str) -> Asset {
    map_agent(
        &agents(&[agent_value(id, name, last_active, os)])[0],
        &settings(),
    )
}

fn flags(auto_onboard: bool, update_metadata: bool) -> MappingSettings {
    MappingSettings {
        auto_onboard,
        update_metadata,
        ..settings()
    }
}

#[derive(Debug, PartialEq)]
enum Expect {
    Create,
    Update,
    Attach(&'static [&'static str]),
    Unchanged,
    Skip,
}

#[test]
fn merge_rules_for_all_four_flag_combinations() {
    let incoming = asset("1", "host-a", "2024-01-02T00:00:00Z", "Windows 11");
    let same = incoming.clone();
    let stale_metadata = asset("1", "HOST-A", "2023-01-01T00:00:00Z", "Windows 10");
    let other_agent = asset("0", "host-a", "2024-01-02T00:00:00Z", "Windows 11");

    use Expect::*;
    // (auto_onboard, update_metadata, existing, expected)
    let table: &[(bool, bool, Option<&Asset>, Expect)] = &[
        (true, true, None, Create),
        (true, false, None, Create),
        (false, true, None, Skip),
        (false, false, None, Skip),
        (true, true, Some(&same), Unchanged),
        (true, true, Some(&stale_metadata), Update),
        (true, true, Some(&other_agent), Update),
        (false, true, Some(&same), Unchanged),
        (false, true, Some(&stale_metadata), Update),
        (false, true, Some(&other_agent), Update),
        (true, false, Some(&same), Unchanged),
        (true, false, Some(&stale_metadata), Unchanged),
        (true, false, Some(&other_agent), Attach(&["0", "1"])),
        (false, false, Some(&same), Unchanged),
        (false, false, Some(&stale_metadata), Unchanged),
        (false, false, Some(&other_agent), Attach(&["0", "1"])),
    ];
    for (auto, update, existing, expected) in table {
        let decision = decide_asset(&incoming, *existing, &flags(*auto, *update));
        let label = format!(
            "auto_onboard={auto} update_metadata={update} existing={:?}",
            existing.map(|e| &e.os_name)
        );
        match (&decision, expected) {
            (AssetDecision::Create(a), Create) => assert_eq!(a, &incoming, "{label}"),
            (AssetDecision::Update(a), Update) => {
                let existing = existing.unwrap();
                assert_eq!(
                    a.os_name, incoming.os_name,
                    "{label}: SentinelOne fields overwrite"
                );
                assert_eq!(a.key, existing.key, "{label}");
                let ids: BTreeSet<_> = existing
                    .agent_ids
                    .union(&incoming.agent_ids)
                    .cloned()
                    .collect();
                assert_eq!(a.agent_ids, ids, "{label}: agent ids are never dropped");
            }
            (AssetDecision::AttachOnly { key, agent_ids }, Attach(ids)) => {
                assert_eq!(key, &existing.unwrap().key, "{label}");
                let ids: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
                assert_eq!(agent_ids, &ids, "{label}");
            }
            (AssetDecision::Unchanged, Unchanged) => {}
            (AssetDecision::Skip { name, reason }, Skip) => {
                assert_eq!(name, "host-a", "{label}");
                assert_eq!(reason, &SkipReason::AutoOnboardDisabled, "{label}");
                assert!(reason.to_string().contains("auto-onboarding is off"));
            }
            _ => panic!("{label}: got {decision:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn findings_are_never_skipped_and_attach_only_to_an_existing_asset() {
    let t = threats(&sample_records(THREAT_SAMPLES[0]));
    let finding = map_threat(&t[0], &settings()).unwrap();
    for exists in [true, false] {
        let decided = decide_finding(&finding, exists);
        assert_eq!(decided.attached, exists);
        assert_eq!(decided.threat_id, "1234567890123456789");
        assert_eq!(
            decided.status, finding.status,
            "the verdict list decides the status either way"
        );
    }
    let mut nameless = t[0].clone();
    nameless.agent_realtime_info.agent_computer_name = "string".into();
    let f = map_threat(&nameless, &settings()).unwrap();
    assert!(
        !decide_finding(&f, true).attached,
        "no asset key: never attached"
    );
}

#[test]
fn a_threat_built_asset_never_overwrites_an_agent_built_one() {
    let t = threats(&sample_records(THREAT_SAMPLES[0]));
    let from_threat = asset_from_threat(&t[0], &settings()).unwrap();
    let mut from_agent = asset("5", "TEST-linux", "2024-01-01T00:00:00Z", "Linux Server");
    assert_eq!(
        decide_asset(&from_threat, Some(&from_agent), &flags(true, true)),
        AssetDecision::AttachOnly {
            key: from_agent.key.clone(),
            agent_ids: ["1234567890123456789".to_string(), "5".to_string()].into(),
        }
    );
    from_agent.agent_ids.insert("1234567890123456789".into());
    assert_eq!(
        decide_asset(&from_threat, Some(&from_agent), &flags(true, true)),
        AssetDecision::Unchanged
    );
}

#[test]
fn reimaged_machines_merge_and_the_most_recent_agent_wins() {
    let batch = agents(&[
        agent_value("10", "Build-01", "2023-05-01T00:00:00Z", "Windows 10"),
        agent_value("30", " build-01 ", "2024-05-01T00:00:00Z", "Windows 11"),
        agent_value("20", "BUILD-01", "2022-05-01T00:00:00Z", "Windows 8"),
        agent_value("40", "other", "2024-05-01T00:00:00Z", "Linux"),
    ]);
    let assets = assets_from_agents(&batch, &settings());
    assert_eq!(assets.len(), 2);
    let build = &assets[0];
    assert_eq!(build.key.as_str(), "build-01");
    assert_eq!(build.os_name.as_deref(), Some("Windows 11"));
    assert_eq!(build.name, "build-01");
    assert_eq!(build.primary_agent_id.as_deref(), Some("30"));
    assert_eq!(build.agent_ids, ["10", "20", "30"].map(String::from).into());

    // Input order does not matter.
    let mut reversed = batch.clone();
    reversed.reverse();
    assert_eq!(assets_from_agents(&reversed, &settings()), assets);

    // merge_agent_into is symmetric in what it keeps.
    let a = map_agent(&batch[0], &settings());
    let b = map_agent(&batch[1], &settings());
    assert_eq!(merge_agent_into(&a, &b), merge_agent_into(&b, &a));
}

#[test]
fn the_same_agent_id_twice_is_one_agent() {
    let mut older = agent_value("7", "dup", "2024-01-01T00:00:00Z", "old");
    older["updatedAt"] = json!("2024-01-01T00:00:00Z");
    let mut newer = agent_value("7", "dup", "2024-01-01T00:00:00Z", "new");
    newer["updatedAt"] = json!("2024-02-01T00:00:00Z");
    for order in [
        vec![older.clone(), newer.clone()],
        vec![newer.clone(), older.clone()],
    ] {
        let assets = assets_from_agents(&agents(&order), &settings());
        assert_eq!(assets.len(), 1);
        assert_eq!(assets[0].os_name.as_deref(), Some("new"));
        assert_eq!(assets[0].agent_ids.len(), 1);
    }
}

#[test]
fn the_same_threat_id_twice_is_one_finding_and_the_later_update_wins() {
    let base = sample_records(THREAT_SAMPLES[0]).remove(0);
    let mut early = base.clone();
    early["threatInfo"]["updatedAt"] = json!("2024-01-01T00:00:00Z");
    early["threatInfo"]["incidentStatus"] = json!("unresolved");
    let mut late = base.clone();
    late["threatInfo"]["updatedAt"] = json!("2024-01-02T00:00:00+01:00");
    late["threatInfo"]["incidentStatus"] = json!("resolved");
    let mut other = base;
    other["id"] = json!("555");
    for order in [
        vec![early.clone(), late.clone(), other.clone()],
        vec![late.clone(), other.clone(), early.clone()],
    ] {
        let mapped = findings_from_threats(&threats(&order), &settings());
        assert_eq!(mapped.findings.len(), 2);
        let f = mapped
            .findings
            .iter()
            .find(|f| f.threat_id == "1234567890123456789")
            .unwrap();
        assert_eq!(
            f.incident_status.as_ref().map(|s| s.as_str()),
            Some("resolved")
        );
        assert_eq!(
            f.updated_at.map(|t| t.to_string()),
            Some("2024-01-01 23:00:00.0 +00:00:00".to_string())
        );
    }
}

#[test]
fn threats_map_status_severity_and_links() {
    let mut t = sample_records(THREAT_SAMPLES[0]).remove(0);
    t["threatInfo"]["analystVerdict"] = json!("false_positive");
    t["threatInfo"]["sha1"] = json!("AAF4C61DDCC5E8A2DABEDE0F3B482CD9AEA9434D");
    t["threatInfo"]["threatName"] = json!(null);
    t["threatInfo"]["filePath"] = json!("\\Device\\HarddiskVolume1\\Users\\x\\evil.exe");
    t["threatInfo"]["classification"] = json!("Ransomware");
    let decoded = threats(&[t]);
    let f = map_threat(&decoded[0], &settings()).unwrap();
    assert_eq!(f.status, FindingStatus::Passed);
    assert_eq!(f.severity, s1_core::Severity::Critical);
    assert_eq!(f.title, "Ransomware: evil.exe");
    assert_eq!(
        f.sha1.as_deref(),
        Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
    );
    let all =
        VerdictInclusionList::parse("true_positive,suspicious,undefined,false_positive").unwrap();
    assert_eq!(
        map_threat(
            &decoded[0],
            &MappingSettings {
                verdicts: all.clone(),
                ..settings()
            }
        )
        .unwrap()
        .status,
        FindingStatus::Failed
    );
    assert_eq!(
        finding_status(&f.analyst_verdict, &all),
        FindingStatus::Failed
    );
    let no_links = map_threat(&decoded[0], &MappingSettings::default()).unwrap();
    assert_eq!(no_links.console_url, None);

    let missing_verdict: Threat = {
        let mut v = sample_records(THREAT_SAMPLES[0]).remove(0);
        v["threatInfo"]
            .as_object_mut()
            .unwrap()
            .remove("analystVerdict");
        threats(&[v]).remove(0)
    };
    let f = map_threat(&missing_verdict, &settings()).unwrap();
    assert_eq!(f.analyst_verdict, s1_core::AnalystVerdict::Undefined);
    assert_eq!(f.status, FindingStatus::Failed);

    for placeholder in [" ", "string", "String"] {
        let mut nameless = decoded[0].clone();
        nameless.agent_realtime_info.agent_computer_name = placeholder.into();
        nameless.agent_realtime_info.agent_id = Some("string".into());
        let f = map_threat(&nameless, &settings()).unwrap();
        assert_eq!(f.asset_key, None, "{placeholder:?} names no asset");
        assert!(!f.attached);
        assert_eq!(
            f.agent_id, None,
            "the placeholder agent id is not kept as an id"
        );
        assert_eq!(
            f.threat_id, decoded[0].id,
            "the threat is kept, not dropped"
        );
        assert!(asset_from_threat(&nameless, &settings()).is_none());
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
        id: None,
    }
}

#[test]
fn tags_fill_custom_fields_exactly() {
    let mut a = asset("1", "host", "2024-01-01T00:00:00Z", "x");
    a.tags = vec![
        tag("Owner", "zoe"),
        tag("Owner", "adam"),
        tag("Owner", "adam"),
        tag("owner", "case differs"),
        tag("Cost Center", "42"),
        tag("Unmatched", "ignored"),
        tag("Empty", "  "),
    ];
    a.custom_fields.insert("Stale".into(), "old value".into());
    let defs: Vec<CustomFieldDefinition> = ["Owner", "Cost Center", "Stale", "Empty", "Missing"]
        .into_iter()
        .map(|n| CustomFieldDefinition { name: n.into() })
        .collect();
    apply_tags_to_custom_fields(&mut a, &defs);
    let expected: std::collections::BTreeMap<String, String> =
        [("Owner", "adam, zoe"), ("Cost Center", "42")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    assert_eq!(a.custom_fields, expected);

    // The tag disappears: the field is cleared.
    a.tags.retain(|t| t.key != "Cost Center");
    apply_tags_to_custom_fields(&mut a, &defs);
    assert!(!a.custom_fields.contains_key("Cost Center"));
    assert_eq!(a.custom_fields.len(), 1);
}

#[test]
fn last_active_movement_alone_is_written_at_most_once_per_refresh_period() {
    let stored = asset("1", "host-a", "2024-01-02T00:00:00Z", "Windows 11");
    let moved_a_minute = asset("1", "host-a", "2024-01-02T00:01:00Z", "Windows 11");
    let moved_two_hours = asset("1", "host-a", "2024-01-02T02:00:00Z", "Windows 11");
    let moved_and_upgraded = asset("1", "host-a", "2024-01-02T00:01:00Z", "Windows 12");
    let on = flags(true, true);
    assert_eq!(
        decide_asset(&moved_a_minute, Some(&stored), &on),
        AssetDecision::Unchanged,
        "a live console's lastActiveDate churn alone does not rewrite the asset"
    );
    assert!(matches!(
        decide_asset(&moved_two_hours, Some(&stored), &on),
        AssetDecision::Update(a) if a.last_seen == moved_two_hours.last_seen
    ));
    assert!(
        matches!(
            decide_asset(&moved_and_upgraded, Some(&stored), &on),
            AssetDecision::Update(a) if a.last_seen == moved_and_upgraded.last_seen
        ),
        "any other change is written at once, with the current last-seen time"
    );
}

#[test]
fn agent_ids_per_asset_are_bounded_through_the_merge() {
    let mut stored = asset("1", "host-a", "2024-01-02T00:00:00Z", "Windows 11");
    stored.agent_ids = (0..500u32).map(|i| (10_000 + i).to_string()).collect();
    let incoming = asset("99999", "host-a", "2024-01-03T00:00:00Z", "Windows 11");
    match decide_asset(&incoming, Some(&stored), &flags(true, true)) {
        AssetDecision::Update(a) => {
            assert_eq!(a.agent_ids.len(), s1_core::asset::MAX_AGENT_IDS);
            assert!(a.agent_ids.contains("99999"));
        }
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn two_online_agents_of_one_name_do_not_trade_the_asset_on_every_sync() {
    // A live console moves both agents' lastActiveDate on every request; the winner must not flip with it.
    let first = assets_from_agents(
        &agents(&[
            agent_value("100", "dup", "2024-01-01T10:00:01Z", "Windows 11"),
            agent_value("200", "dup", "2024-01-01T10:00:00Z", "Windows 10"),
        ]),
        &settings(),
    );
    let second = assets_from_agents(
        &agents(&[
            agent_value("100", "dup", "2024-01-01T10:00:02Z", "Windows 11"),
            agent_value("200", "dup", "2024-01-01T10:00:03Z", "Windows 10"),
        ]),
        &settings(),
    );
    assert_eq!(first[0].primary_agent_id.as_deref(), Some("200"));
    assert_eq!(second[0].primary_agent_id, first[0].primary_agent_id);
}
