//! Test helpers: the committed copies of the real SentinelOne samples, and page bodies built from them.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{json, Value};

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/samples")
}

pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The `data[]` elements of a sample: a `.json` file holds the array, an `.ndjson` file one element per line.
pub fn sample_records(name: &str) -> Vec<Value> {
    let text = fixture(name);
    if name.ends_with(".ndjson") {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("sample line is JSON"))
            .collect()
    } else {
        match serde_json::from_str(&text).expect("sample is JSON") {
            Value::Array(items) => items,
            other => vec![other],
        }
    }
}

pub const AGENT_SAMPLES: &[&str] = &[
    "agents_list_demisto_agents_raw_response.json",
    "agent_elastic_test_pipeline_agent.ndjson",
];
pub const THREAT_SAMPLES: &[&str] = &["threats_elastic_test_pipeline_threat_lines1-2.ndjson"];
/// Risk rows: the real base-tier records (Elastic), the Vulnerability Management tier (a hand-written fixture of
/// that tier's key set) and a synthetic fixture with numeric scores; with how many rows each holds.
pub const RISK_SAMPLES: &[(&str, usize)] = &[
    ("risks/elastic_risks_pipeline_test.json", 5),
    ("risks/fixture_full_tier_risk_record_HANDWRITTEN.json", 1),
    ("risks/cartography_finding_fixture_SYNTHETIC.json", 3),
];
pub const GROUP_SAMPLES: &[&str] = &["group_elastic_test_pipeline_group.ndjson"];

pub fn page(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "data": records,
        "pagination": {"nextCursor": null, "totalItems": records.len()}
    }))
    .expect("page serializes")
}

pub fn settings() -> s1_core::MappingSettings {
    s1_core::MappingSettings {
        console_base_url: "https://usea1-acme.sentinelone.net".into(),
        ..s1_core::MappingSettings::default()
    }
}

/// JSON text with every object's keys written in reverse order, to show that field order does not matter.
pub fn reversed_key_order(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.reverse();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String(k.clone()),
                        reversed_key_order(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(reversed_key_order).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}
