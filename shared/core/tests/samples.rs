//! Every real sample maps without a skipped record or field warning; the mapped output is snapshot-tested.

mod common;

use common::*;
use s1_core::custom_fields::{apply_tags_to_custom_fields, CustomFieldDefinition};
use s1_core::mapping::{asset_from_threat, assets_from_agents, findings_from_threats, map_threat};
use s1_core::records::{
    decode_agents_page, decode_groups_page, decode_risks_page, decode_threats_page,
};
use s1_core::vulnerability::map_risk;
use s1_core::ContentHash;

#[test]
fn committed_fixtures_match_the_shared_samples_when_present() {
    // CI clones only this repository; on a workstation the shared originals sit beside it and must not drift.
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/sentinelone/samples");
    let Ok(entries) = std::fs::read_dir(&shared) else {
        return;
    };
    let mut compared = 0;
    // Risk samples this mapping reads are compared too; other sub-folders' files are not copied.
    let risks: Vec<_> = std::fs::read_dir(shared.join("risks"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| fixtures_dir().join("risks").join(e.file_name()).exists())
        .map(|e| {
            (
                e.path(),
                format!("risks/{}", e.file_name().to_string_lossy()),
            )
        })
        .collect();
    let top = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()));
    for (path, name) in top.chain(risks) {
        let original = std::fs::read(path).unwrap();
        let copy = std::fs::read(fixtures_dir().join(&name))
            .unwrap_or_else(|_| panic!("{name} is missing from tests/fixtures/samples"));
        assert_eq!(original, copy, "{name} differs from the shared sample");
        compared += 1;
    }
    assert!(compared >= 5 + RISK_SAMPLES.len());
}

#[test]
fn agent_samples_map_without_skips() {
    for name in AGENT_SAMPLES {
        let decoded = decode_agents_page(&page(&sample_records(name))).unwrap();
        assert!(decoded.skipped.is_empty(), "{name}: {:?}", decoded.skipped);
        assert_eq!(decoded.field_warnings, 0, "{name}");
        assert_eq!(decoded.records.len(), 1, "{name}");
        let mut assets = assets_from_agents(&decoded.records, &settings());
        let defs = [
            CustomFieldDefinition {
                name: "key123".into(),
            },
            CustomFieldDefinition {
                name: "Owner".into(),
            },
        ];
        for asset in &mut assets {
            apply_tags_to_custom_fields(asset, &defs);
        }
        let hashes: Vec<String> = assets.iter().map(ContentHash::content_hash).collect();
        insta::assert_json_snapshot!(format!("assets__{name}"), assets);
        insta::assert_json_snapshot!(format!("asset_hashes__{name}"), hashes);
    }
}

#[test]
fn threat_samples_map_without_skips() {
    for name in THREAT_SAMPLES {
        let decoded = decode_threats_page(&page(&sample_records(name))).unwrap();
        assert!(decoded.skipped.is_empty(), "{name}: {:?}", decoded.skipped);
        assert_eq!(decoded.field_warnings, 0, "{name}");
        assert_eq!(decoded.records.len(), 2, "{name}");
        let findings: Vec<_> = decoded
            .records
            .iter()
            .map(|t| map_threat(t, &settings()).expect("sample threats map"))
            .collect();
        let hashes: Vec<String> = findings.iter().map(ContentHash::content_hash).collect();
        insta::assert_json_snapshot!(format!("findings__{name}"), findings);
        insta::assert_json_snapshot!(format!("finding_hashes__{name}"), hashes);

        let assets: Vec<_> = decoded
            .records
            .iter()
            .map(|t| asset_from_threat(t, &settings()).expect("sample threats name their agent"))
            .collect();
        insta::assert_json_snapshot!(format!("assets_from_threats__{name}"), assets);
    }
}

#[test]
fn the_two_sample_threats_share_an_id_so_the_later_one_wins() {
    // The synthetic Elastic line 2 reuses line 1's top-level id (its threatInfo.threatId differs); the top-level
    // id is the threat's identity, so the batch holds one threat and the later updatedAt wins.
    let decoded = decode_threats_page(&page(&sample_records(THREAT_SAMPLES[0]))).unwrap();
    let mapped = findings_from_threats(&decoded.records, &settings());
    assert!(mapped.skipped.is_empty());
    assert_eq!(mapped.findings.len(), 1);
    assert_eq!(mapped.findings[0].threat_name.as_deref(), Some("Threats"));
    assert_eq!(mapped.findings[0].id, "s1-threat-1234567890123456789");
}

#[test]
fn group_samples_decode_without_skips() {
    for name in GROUP_SAMPLES {
        let decoded = decode_groups_page(&page(&sample_records(name))).unwrap();
        assert!(decoded.skipped.is_empty(), "{name}: {:?}", decoded.skipped);
        assert_eq!(decoded.field_warnings, 0, "{name}");
        insta::assert_debug_snapshot!(format!("groups__{name}"), decoded.records);
        let resolved = s1_core::groups::GroupFilter::parse(" default group ")
            .resolve(&decoded.records)
            .unwrap();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].id, "1234567890123456789");
    }
}

#[test]
fn risk_samples_of_both_tiers_map_without_skips() {
    for (name, rows) in RISK_SAMPLES {
        let decoded = decode_risks_page(&page(&sample_records(name))).unwrap();
        assert!(decoded.skipped.is_empty(), "{name}: {:?}", decoded.skipped);
        assert_eq!(decoded.field_warnings, 0, "{name}");
        assert_eq!(decoded.records.len(), *rows, "{name}");
        let vulnerabilities: Vec<_> = decoded
            .records
            .iter()
            .map(|r| map_risk(r, &settings().console_base_url))
            .collect();
        assert!(
            vulnerabilities.iter().all(|v| v.cvss.is_some()),
            "{name}: every sample row carries a score under one tier's key"
        );
        let hashes: Vec<String> = vulnerabilities
            .iter()
            .map(ContentHash::content_hash)
            .collect();
        let stem = name.trim_start_matches("risks/");
        insta::assert_json_snapshot!(format!("vulnerabilities__{stem}"), vulnerabilities);
        insta::assert_json_snapshot!(format!("vulnerability_hashes__{stem}"), hashes);
    }
}
