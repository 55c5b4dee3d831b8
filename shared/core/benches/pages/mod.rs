//! The benchmark pages: 1,000 agents and 1,000 threats built from the committed real samples with varied ids,
//! names and addresses. Shared by the criterion bench and the allocation count so both measure the same input.

use std::path::PathBuf;

use s1_core::custom_fields::CustomFieldDefinition;
use s1_core::mapping::MappingSettings;
use serde_json::{json, Value};

pub const PAGE: usize = 1_000;

fn sample(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/samples")
        .join(name);
    let text = std::fs::read_to_string(path).expect("sample fixture");
    if name.ends_with(".ndjson") {
        text.lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    } else {
        serde_json::from_str::<Vec<Value>>(&text).expect("json array")
    }
}

pub fn agents_page() -> Vec<u8> {
    let mut templates = sample("agents_list_demisto_agents_raw_response.json");
    templates.extend(sample("agent_elastic_test_pipeline_agent.ndjson"));
    let data: Vec<Value> = (0..PAGE)
        .map(|i| {
            let mut a = templates[i % templates.len()].clone();
            a["id"] = json!(format!("{}", 657_613_730_168_000_000u64 + i as u64));
            // Every 10th machine shares a name with the previous one: a re-imaged machine.
            a["computerName"] = json!(format!("HOST-{:05}", i - usize::from(i % 10 == 9)));
            a["externalIp"] = json!(format!("198.51.{}.{}", i / 256, i % 256));
            a["lastActiveDate"] = json!(format!("2024-01-{:02}T10:00:00.{:06}Z", 1 + i % 28, i));
            a
        })
        .collect();
    serde_json::to_vec(&json!({"data": data, "pagination": {"nextCursor": "YWdlbnRfaWQ6MQ==", "totalItems": 50_000}}))
        .expect("page")
}

pub fn threats_page() -> Vec<u8> {
    let templates = sample("threats_elastic_test_pipeline_threat_lines1-2.ndjson");
    let data: Vec<Value> = (0..PAGE)
        .map(|i| {
            let mut t = templates[i % templates.len()].clone();
            let id = format!("{}", 1_234_567_890_000_000_000u64 + i as u64);
            t["id"] = json!(id);
            t["threatInfo"]["threatId"] = json!(id);
            t["agentRealtimeInfo"]["agentComputerName"] = json!(format!("HOST-{:05}", i % 700));
            t["threatInfo"]["updatedAt"] =
                json!(format!("2024-02-01T00:00:{:02}.{:06}Z", i % 60, i));
            t
        })
        .collect();
    serde_json::to_vec(
        &json!({"data": data, "pagination": {"nextCursor": null, "totalItems": PAGE}}),
    )
    .expect("page")
}

/// The tenant settings both benches map with: deep links on, default flags and verdicts.
pub fn settings() -> MappingSettings {
    MappingSettings {
        console_base_url: "https://usea1-acme.sentinelone.net".into(),
        ..MappingSettings::default()
    }
}

/// One custom field, named after a tag key the samples carry.
pub fn custom_fields() -> [CustomFieldDefinition; 1] {
    [CustomFieldDefinition {
        name: "key123".into(),
    }]
}
