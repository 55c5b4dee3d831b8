//! Property tests: mapping never panics on arbitrary JSON in any field; content hashes are stable across field
//! order and runs and change when any mapped field changes.

mod common;

use common::*;
use proptest::prelude::*;
use s1_core::custom_fields::{apply_tags_to_custom_fields, CustomFieldDefinition};
use s1_core::mapping::{
    asset_from_threat, assets_from_agents, findings_from_threats, map_agent, map_threat,
    MappingSettings,
};
use s1_core::merge::{decide_asset, decide_finding};
use s1_core::records::{
    decode_agents_page, decode_groups_page, decode_risks_page, decode_threats_page, Tag,
};
use s1_core::vulnerability::{map_risk, Vulnerability};
use s1_core::{Asset, ContentHash, Finding};
use serde_json::{json, Value};

/// Strings that have tripped real integrations, mixed with arbitrary ones.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("True".to_string()),
        Just("None".to_string()),
        Just("boolean".to_string()),
        Just("{}".to_string()),
        Just(String::new()),
        Just("  ".to_string()),
        Just("0000-01-01T00:00:00+01:00".to_string()),
        Just("9999-12-31T23:59:59-01:00".to_string()),
        Just("2022-04-06T08:45:54.519988Z".to_string()),
        Just("::ffff:10.0.0.1".to_string()),
        Just("00-00-5E-00-53-00".to_string()),
        Just("n/a".to_string()),
        Just("İSTANBUL-PC".to_string()),
        any::<String>(),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(tricky_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a value inside `v` (object keys and array indices), the root excluded.
fn paths(v: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                prefix.push(PathStep::Key(k.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn set_path(v: &mut Value, path: &[PathStep], new: Value) {
    let mut cur = v;
    for step in path {
        cur = match step {
            PathStep::Key(k) => &mut cur[k.as_str()],
            PathStep::Index(i) => &mut cur[*i],
        };
    }
    *cur = new;
}

fn all_sample_records() -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for name in AGENT_SAMPLES {
        out.extend(sample_records(name).into_iter().map(|v| ("agent", v)));
    }
    for name in THREAT_SAMPLES {
        out.extend(sample_records(name).into_iter().map(|v| ("threat", v)));
    }
    for name in GROUP_SAMPLES {
        out.extend(sample_records(name).into_iter().map(|v| ("group", v)));
    }
    for (name, _) in RISK_SAMPLES {
        out.extend(sample_records(name).into_iter().map(|v| ("risk", v)));
    }
    out
}

/// The fields whose replacement may legitimately make a record skippable (identity).
fn touches_identity(kind: &str, path: &[PathStep]) -> bool {
    let first = match path.first() {
        Some(PathStep::Key(k)) => k.as_str(),
        _ => return true,
    };
    match kind {
        "agent" => matches!(first, "id" | "computerName"),
        "threat" => match first {
            "id" | "threatInfo" => true,
            "agentRealtimeInfo" => match path.get(1) {
                None => true,
                Some(PathStep::Key(k)) => k == "agentComputerName",
                Some(PathStep::Index(_)) => false,
            },
            _ => false,
        },
        "risk" => first == "id",
        _ => matches!(first, "id" | "name"),
    }
}

/// Runs every rule on one page body; the property is that none of this panics.
fn run_everything(kind: &str, body: &[u8]) -> usize {
    let settings = settings();
    let defs = [CustomFieldDefinition {
        name: "key123".into(),
    }];
    match kind {
        "agent" => {
            let Ok(page) = decode_agents_page(body) else {
                return 0;
            };
            let mut assets = assets_from_agents(&page.records, &settings);
            for a in &mut assets {
                apply_tags_to_custom_fields(a, &defs);
                let _ = a.content_hash();
                let _ = decide_asset(a, None, &settings);
                let _ = decide_asset(
                    a,
                    Some(a),
                    &MappingSettings {
                        update_metadata: false,
                        ..settings.clone()
                    },
                );
                serde_json::to_string(a).expect("assets always serialize");
            }
            page.records.len()
        }
        "threat" => {
            let Ok(page) = decode_threats_page(body) else {
                return 0;
            };
            let mapped = findings_from_threats(&page.records, &settings);
            for f in &mapped.findings {
                let _ = f.content_hash();
                let _ = decide_finding(f, false);
                serde_json::to_string(f).expect("findings always serialize");
            }
            for t in &page.records {
                if let Some(a) = asset_from_threat(t, &settings) {
                    let _ = a.content_hash();
                }
                let _ = map_threat(t, &settings);
            }
            page.records.len()
        }
        "risk" => {
            let Ok(page) = decode_risks_page(body) else {
                return 0;
            };
            for r in &page.records {
                let v = map_risk(r, &settings.console_base_url);
                let _ = v.content_hash();
                serde_json::to_string(&v).expect("vulnerabilities always serialize");
            }
            page.records.len()
        }
        _ => {
            let Ok(page) = decode_groups_page(body) else {
                return 0;
            };
            let _ = s1_core::groups::GroupFilter::parse("Default Group").resolve(&page.records);
            page.records.len()
        }
    }
}

fn sample_and_path() -> impl Strategy<Value = (&'static str, Value, Vec<PathStep>)> {
    let samples = all_sample_records();
    (0..samples.len()).prop_flat_map(move |i| {
        let (kind, value) = samples[i].clone();
        let mut all = Vec::new();
        paths(&value, &mut Vec::new(), &mut all);
        (Just(kind), Just(value), prop::sample::select(all))
    })
}

proptest! {
    // Integration tests have no lib.rs beside them for proptest's regression files; failures print the case.
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_value_in_any_field_never_panics_and_keeps_the_record(
        (kind, mut record, path) in sample_and_path(),
        value in arb_json(),
    ) {
        set_path(&mut record, &path, value);
        let kept = run_everything(kind, &page(&[record]));
        if !touches_identity(kind, &path) {
            prop_assert_eq!(kept, 1, "a non-identity field must not cost the record: {:?}", path);
        }
    }

    #[test]
    fn several_fields_at_once_never_panic(
        (kind, mut record, path) in sample_and_path(),
        (_, _, path2) in sample_and_path(),
        value in arb_json(),
        value2 in arb_json(),
    ) {
        set_path(&mut record, &path, value);
        // path2 may belong to another sample or be invalidated by the first change; indexing a missing path on a
        // Value inserts or is ignored, and either way the body stays JSON.
        if let Some(PathStep::Key(_)) = path2.first() {
            if record.is_object() { set_path_lenient(&mut record, &path2, value2); }
        }
        run_everything(kind, &page(&[record]));
    }

    #[test]
    fn any_record_value_never_panics(value in arb_json()) {
        for kind in ["agent", "threat", "group", "risk"] {
            run_everything(kind, &page(std::slice::from_ref(&value)));
        }
    }

    #[test]
    fn any_body_never_panics(body in prop::collection::vec(any::<u8>(), 0..256), value in arb_json()) {
        for kind in ["agent", "threat", "group", "risk"] {
            run_everything(kind, &body);
            run_everything(kind, value.to_string().as_bytes());
            run_everything(kind, json!({"data": value, "pagination": value}).to_string().as_bytes());
        }
    }
}

/// Like `set_path`, but stops where the path no longer exists instead of indexing into a non-container.
fn set_path_lenient(v: &mut Value, path: &[PathStep], new: Value) {
    let mut cur = v;
    for step in path {
        let next = match step {
            PathStep::Key(k) => cur.as_object_mut().and_then(|m| m.get_mut(k)),
            PathStep::Index(i) => cur.as_array_mut().and_then(|a| a.get_mut(*i)),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    *cur = new;
}

fn sample_assets() -> Vec<Asset> {
    let mut out = Vec::new();
    for name in AGENT_SAMPLES {
        let page = decode_agents_page(&page(&sample_records(name))).unwrap();
        out.extend(page.records.iter().map(|a| map_agent(a, &settings())));
    }
    out
}

fn sample_findings() -> Vec<Finding> {
    let page = decode_threats_page(&page(&sample_records(THREAT_SAMPLES[0]))).unwrap();
    page.records
        .iter()
        .map(|t| map_threat(t, &settings()).unwrap())
        .collect()
}

#[test]
fn hash_is_stable_across_field_order_and_runs() {
    for name in AGENT_SAMPLES {
        let records = sample_records(name);
        let forward = decode_agents_page(&page(&records)).unwrap();
        let reversed_body = format!("{{\"data\":[{}]}}", reversed_key_order(&records[0]));
        let reversed = decode_agents_page(reversed_body.as_bytes()).unwrap();
        let a = map_agent(&forward.records[0], &settings());
        let b = map_agent(&reversed.records[0], &settings());
        assert_eq!(a.content_hash(), b.content_hash(), "{name}");
        assert_eq!(a.content_hash(), a.clone().content_hash());
        // Through the store and back.
        let stored: Asset = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(stored.content_hash(), a.content_hash());
        assert_eq!(a.content_hash().len(), 64);
    }
    let records = sample_records(THREAT_SAMPLES[0]);
    let reversed_body = format!(
        "{{\"data\":[{}]}}",
        records
            .iter()
            .map(reversed_key_order)
            .collect::<Vec<_>>()
            .join(",")
    );
    let reversed = decode_threats_page(reversed_body.as_bytes()).unwrap();
    for (f, t) in sample_findings().iter().zip(&reversed.records) {
        let g = map_threat(t, &settings()).unwrap();
        assert_eq!(f.content_hash(), g.content_hash());
        let stored: Finding = serde_json::from_str(&serde_json::to_string(f).unwrap()).unwrap();
        assert_eq!(stored.content_hash(), f.content_hash());
    }
    // Across runs and builds: the snapshot files pin the sample hashes (tests/snapshots/*hashes*).
}

type AssetEdit = (&'static str, fn(&mut Asset));

#[test]
fn asset_hash_changes_when_any_mapped_field_changes() {
    let edits: &[AssetEdit] = &[
        ("key", |a| {
            a.key = s1_core::normalize_computer_name("other").unwrap()
        }),
        ("name", |a| a.name.push('x')),
        ("ipv4", |a| a.ipv4.push("192.0.2.9".into())),
        ("ipv6", |a| a.ipv6.push("2001:db8::9".into())),
        ("mac_addresses", |a| {
            a.mac_addresses.push("02:00:00:00:00:09".into())
        }),
        ("os_name", |a| a.os_name = Some("Other OS".into())),
        ("os_type", |a| {
            a.os_type = Some(s1_core::records::OsType::Macos)
        }),
        ("os_version", |a| a.os_version = Some("99".into())),
        ("machine_type", |a| {
            a.machine_type = Some(s1_core::records::MachineType::Laptop)
        }),
        ("model", |a| a.model = Some("m".into())),
        ("serial", |a| a.serial = Some("SN1".into())),
        ("domain", |a| a.domain = Some("corp".into())),
        ("agent_version", |a| a.agent_version = Some("1".into())),
        ("site_id", |a| a.site_id = Some("9".into())),
        ("site_name", |a| a.site_name = Some("s".into())),
        ("group_id", |a| a.group_id = Some("9".into())),
        ("group_name", |a| a.group_name = Some("g".into())),
        ("account_id", |a| a.account_id = Some("9".into())),
        ("account_name", |a| a.account_name = Some("acc".into())),
        ("active", |a| a.active = Some(!a.active.unwrap_or(false))),
        ("decommissioned", |a| a.decommissioned = None),
        ("infected", |a| {
            a.infected = Some(!a.infected.unwrap_or(false))
        }),
        ("last_seen", |a| {
            a.last_seen = Some(time::OffsetDateTime::UNIX_EPOCH)
        }),
        ("console_url", |a| a.console_url = None),
        ("primary_agent_id", |a| {
            a.primary_agent_id = Some("other".into())
        }),
        ("agent_ids", |a| {
            a.agent_ids.insert("extra".into());
        }),
        ("custom_fields", |a| {
            a.custom_fields.insert("Owner".into(), "x".into());
        }),
        ("tags", |a| {
            a.tags.push(Tag {
                key: "k".into(),
                value: "v".into(),
                id: None,
            })
        }),
        ("origin", |a| {
            a.origin = s1_core::asset::AssetOrigin::ThreatAgentInfo
        }),
    ];
    for base in sample_assets() {
        let fields: Vec<String> = match serde_json::to_value(&base).unwrap() {
            Value::Object(m) => m.keys().cloned().collect(),
            _ => unreachable!(),
        };
        for f in &fields {
            assert!(
                edits.iter().any(|(n, _)| n == f),
                "no edit covers Asset field {f}: add one"
            );
        }
        let h = base.content_hash();
        for (name, edit) in edits {
            let mut changed = base.clone();
            edit(&mut changed);
            assert_ne!(changed, base, "edit {name} changed nothing");
            assert_ne!(changed.content_hash(), h, "hash ignores {name}");
        }
    }
}

type FindingEdit = (&'static str, fn(&mut Finding));

#[test]
fn finding_hash_changes_when_any_mapped_field_changes() {
    use s1_core::records::{ConfidenceLevel, IncidentStatus, MitigationStatus};
    let edits: &[FindingEdit] = &[
        ("id", |f| f.id.push('x')),
        ("threat_id", |f| f.threat_id.push('x')),
        ("asset_key", |f| {
            f.asset_key = s1_core::normalize_computer_name("other")
        }),
        ("asset_name", |f| f.asset_name.push('x')),
        ("attached", |f| f.attached = !f.attached),
        ("title", |f| f.title.push('x')),
        ("status", |f| {
            f.status = match f.status {
                s1_core::FindingStatus::Failed => s1_core::FindingStatus::Passed,
                s1_core::FindingStatus::Passed => s1_core::FindingStatus::Failed,
            }
        }),
        ("severity", |f| f.severity = s1_core::Severity::Info),
        ("analyst_verdict", |f| {
            f.analyst_verdict = s1_core::AnalystVerdict::FalsePositive
        }),
        ("incident_status", |f| {
            f.incident_status = Some(IncidentStatus::Resolved)
        }),
        ("mitigation_status", |f| {
            f.mitigation_status = Some(MitigationStatus::Mitigated)
        }),
        ("confidence_level", |f| {
            f.confidence_level = Some(ConfidenceLevel::Suspicious)
        }),
        ("classification", |f| f.classification = Some("PUA".into())),
        ("threat_name", |f| f.threat_name = Some("n".into())),
        ("file_path", |f| f.file_path = Some("/x".into())),
        ("sha1", |f| f.sha1 = Some("00".into())),
        ("sha256", |f| f.sha256 = Some("00".into())),
        ("md5", |f| f.md5 = Some("00".into())),
        ("detection_engines", |f| {
            f.detection_engines.push("E".into())
        }),
        ("detection_type", |f| {
            f.detection_type = Some("other".into())
        }),
        ("mitre_tactics", |f| f.mitre_tactics.push("Impact".into())),
        ("mitre_techniques", |f| {
            f.mitre_techniques.push("T9999".into())
        }),
        ("first_seen", |f| {
            f.first_seen = Some(time::OffsetDateTime::UNIX_EPOCH)
        }),
        ("last_seen", |f| {
            f.last_seen = Some(time::OffsetDateTime::UNIX_EPOCH)
        }),
        ("updated_at", |f| f.updated_at = None),
        ("console_url", |f| f.console_url = None),
        ("agent_id", |f| f.agent_id = Some("other".into())),
    ];
    for base in sample_findings() {
        let fields: Vec<String> = match serde_json::to_value(&base).unwrap() {
            Value::Object(m) => m.keys().cloned().collect(),
            _ => unreachable!(),
        };
        for f in &fields {
            assert!(
                edits.iter().any(|(n, _)| n == f),
                "no edit covers Finding field {f}: add one"
            );
        }
        let h = base.content_hash();
        for (name, edit) in edits {
            let mut changed = base.clone();
            edit(&mut changed);
            assert_ne!(changed, base, "edit {name} changed nothing");
            assert_ne!(changed.content_hash(), h, "hash ignores {name}");
        }
    }
}

type VulnerabilityEdit = (&'static str, fn(&mut Vulnerability));

#[test]
fn vulnerability_hash_changes_when_any_mapped_field_changes_and_never_with_the_scan() {
    use s1_core::vulnerability::{Cvss, Detection, ScoreSource};
    let edits: &[VulnerabilityEdit] = &[
        ("id", |v| v.id.push('x')),
        ("cve_id", |v| v.cve_id = Some("CVE-1999-0001".into())),
        ("application", |v| v.application.version = Some("0".into())),
        ("severity", |v| v.severity = s1_core::Severity::Info),
        ("severity_raw", |v| v.severity_raw = Some("NONE".into())),
        ("cvss", |v| {
            v.cvss = Some(Cvss {
                base_score: 1.5,
                version: Some("2.0".into()),
                source: ScoreSource::Base,
            })
        }),
        ("risk_score", |v| v.risk_score = Some(0.5)),
        ("exploit_code_maturity", |v| {
            v.exploit_code_maturity = Some("High".into())
        }),
        ("remediation_level", |v| {
            v.remediation_level = Some("Workaround".into())
        }),
        ("report_confidence", |v| {
            v.report_confidence = Some("Unknown".into())
        }),
        ("published_at", |v| {
            v.published_at = Some(time::OffsetDateTime::UNIX_EPOCH)
        }),
        ("detected_at", |v| {
            v.detected_at = Some(time::OffsetDateTime::UNIX_EPOCH)
        }),
        ("detection", |v| v.detection = Detection::Removed),
        ("status_raw", |v| v.status_raw = Some("Other".into())),
        ("mitigation_status", |v| {
            v.mitigation_status = Some("On hold".into())
        }),
        ("endpoint_id", |v| v.endpoint_id = Some("other".into())),
        ("endpoint_name", |v| v.endpoint_name = Some("other".into())),
        ("endpoint_key", |v| {
            v.endpoint_key = s1_core::normalize_computer_name("other")
        }),
        ("endpoint_type", |v| v.endpoint_type = Some("server".into())),
        ("os_type", |v| v.os_type = Some("linux".into())),
        ("mark_type", |v| v.mark_type = json!({"description": "x"})),
        ("marked_by", |v| v.marked_by = Some("analyst".into())),
        ("console_url", |v| v.console_url = Some("https://x".into())),
    ];
    let scan_only: &[VulnerabilityEdit] = &[
        ("scan.last_scan_at", |v| {
            v.scan.last_scan_at = Some(time::OffsetDateTime::UNIX_EPOCH)
        }),
        ("scan.last_scan_result", |v| {
            v.scan.last_scan_result = Some("Failed".into())
        }),
        ("scan.days_detected", |v| v.scan.days_detected = Some(9999)),
    ];
    for (name, _) in RISK_SAMPLES {
        let page = decode_risks_page(&page(&sample_records(name))).unwrap();
        for base in page
            .records
            .iter()
            .map(|r| map_risk(r, "https://c.example"))
        {
            let fields: Vec<String> = match serde_json::to_value(&base).unwrap() {
                Value::Object(m) => m.keys().cloned().collect(),
                _ => unreachable!(),
            };
            for f in fields.iter().filter(|f| *f != "scan") {
                assert!(
                    edits.iter().any(|(n, _)| n == f),
                    "no edit covers Vulnerability field {f}: add one"
                );
            }
            let h = base.content_hash();
            for (field, edit) in edits {
                let mut changed = base.clone();
                edit(&mut changed);
                assert_ne!(changed, base, "edit {field} changed nothing");
                assert_ne!(changed.content_hash(), h, "hash ignores {field}");
            }
            for (field, edit) in scan_only {
                let mut changed = base.clone();
                edit(&mut changed);
                assert_ne!(changed, base, "edit {field} changed nothing");
                assert_eq!(changed.content_hash(), h, "{field} counted as a change");
            }
        }
    }
}
