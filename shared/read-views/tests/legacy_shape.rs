//! The typed views answer exactly what the API answered before they existed: each record serialised and its field
//! names turned to camelCase by hand (except inside maps keyed by data). That older shaping is kept here as the
//! oracle, so a view that drops, renames or reshapes a field fails this test rather than a client.

use connector_store::{StoredAsset, SyncRun};
use read_views::{AssetView, FindingView, RunView};
use s1_core::finding::Finding;
use serde_json::{json, Map, Value};

/// Field names to camelCase, recursively, except inside maps keyed by user or data values.
fn camel_case(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = Map::with_capacity(o.len());
            for (k, v) in o {
                let key = to_camel(&k);
                let value = if matches!(k.as_str(), "custom_fields" | "skip_reasons") {
                    v
                } else {
                    camel_case(v)
                };
                out.insert(key, value);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case).collect()),
        other => other,
    }
}

fn to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn camel_case_leaves_data_keyed_maps_alone() {
    let v =
        camel_case(json!({"os_name":"x","custom_fields":{"cost_center":"1"},"nested":[{"a_b":1}]}));
    assert_eq!(
        v,
        json!({"osName":"x","customFields":{"cost_center":"1"},"nested":[{"aB":1}]})
    );
}

fn stored_asset(retired: bool) -> StoredAsset {
    serde_json::from_value(json!({
        "asset": {
            "key": "web-01", "name": "WEB-01",
            "ipv4": ["10.0.0.1"], "ipv6": ["fe80::1"], "mac_addresses": ["aa:bb:cc:dd:ee:ff"],
            "os_name": "Ubuntu", "os_type": "linux", "os_version": "22.04", "machine_type": "server",
            "model": "VM", "serial": "S-1", "domain": "corp", "agent_version": "23.1",
            "site_id": "1", "site_name": "Site", "group_id": "2", "group_name": "Default",
            "account_id": "3", "account_name": "Acme",
            "active": true, "decommissioned": false, "infected": null,
            "last_seen": "2026-11-20T10:00:00Z", "console_url": "https://console.example/agents/1",
            "primary_agent_id": "1", "agent_ids": ["1", "9"],
            "custom_fields": {"cost_center": "42", "Owner Team": "blue"},
            "tags": [{"key": "cost_center", "value": "42", "id": "7"}, {"key": "env", "value": "prod"}],
            "origin": "threat_agent_info"
        },
        "content_hash": "h", "active": !retired,
        "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-20T10:00:01Z",
        "last_run_id": "r1",
        "retired_at": if retired { Value::from("2026-11-21T00:00:00Z") } else { Value::Null }
    }))
    .expect("stored asset")
}

/// What the API answered for an asset before the typed view: the asset, with the store's lifecycle written over it.
fn legacy_asset(a: &StoredAsset) -> Value {
    let mut v = serde_json::to_value(&a.asset).expect("asset");
    if let Value::Object(o) = &mut v {
        o.insert("active".into(), Value::Bool(a.active));
        o.insert(
            "retired_at".into(),
            serde_json::to_value(&a.retired_at).expect("retired_at"),
        );
        o.insert("updated_at".into(), Value::String(a.updated_at.clone()));
        // Added with platform registrations, after the typed views: who registered the asset, the platform's
        // own description and when the SentinelOne side was retired.
        o.insert(
            "sources".into(),
            serde_json::to_value(&a.sources).expect("sources"),
        );
        o.insert(
            "platform".into(),
            serde_json::to_value(&a.platform).expect("platform"),
        );
        o.insert(
            "sentinelone_retired_at".into(),
            serde_json::to_value(&a.sentinelone_retired_at).expect("sentinelone_retired_at"),
        );
    }
    camel_case(v)
}

#[test]
fn the_asset_view_is_the_legacy_shape() {
    for retired in [false, true] {
        let stored = stored_asset(retired);
        let legacy = legacy_asset(&stored);
        let view = serde_json::to_value(AssetView::from(stored)).expect("view");
        assert_eq!(view, legacy);
        assert_eq!(view["active"], !retired);
        assert_eq!(view["customFields"]["cost_center"], "42");
    }
}

#[test]
fn the_finding_view_is_the_legacy_shape() {
    let finding: Finding = serde_json::from_value(json!({
        "id": "s1-threat-1", "threat_id": "1", "asset_key": "web-01", "asset_name": "WEB-01",
        "attached": false, "title": "Trojan on WEB-01", "status": "failed", "severity": "high",
        "analyst_verdict": "true_positive", "incident_status": "unresolved",
        "mitigation_status": "mitigated", "confidence_level": "malicious",
        "classification": "Trojan", "threat_name": "evil.exe", "file_path": "C:\\evil.exe",
        "sha1": "aa", "sha256": "bb", "md5": null,
        "detection_engines": ["Static AI"], "detection_type": "static",
        "mitre_tactics": ["Execution"], "mitre_techniques": ["T1059"],
        "first_seen": "2026-11-19T10:00:00Z", "last_seen": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z", "console_url": null, "agent_id": "1"
    }))
    .expect("finding");
    let legacy = camel_case(serde_json::to_value(&finding).expect("finding"));
    assert_eq!(
        serde_json::to_value(FindingView::from(finding)).expect("view"),
        legacy
    );
}

#[test]
fn the_run_view_is_the_legacy_shape_without_the_tenant() {
    let run: SyncRun = serde_json::from_value(json!({
        "id": "20261125T011500123Z-1a2b3c4d", "tenant": "acme", "trigger": "scheduled",
        "status": "partial", "phase": "threats", "pages": 7,
        "counters": {
            "assets": {"created": 1, "updated": 2, "unchanged": 3, "skipped": 4},
            "findings": {"created": 5, "updated": 6, "unchanged": 7, "skipped": 8},
            "findings_failed": 9, "findings_passed": 10, "items_fetched": 11, "assets_retired": 12,
            "assets_retirement_withheld": 13, "findings_unattached": 14, "findings_repeated": 15,
            "findings_reevaluated": 16
        },
        "skip_reasons": {"missing_computer_name": 2, "other": 1},
        "errors": ["page 3 failed"], "errors_dropped": 1, "warnings": ["retirement withheld"],
        "message": "partly synced", "created_at": "2026-11-25T01:15:00Z",
        "started_at": "2026-11-25T01:15:01Z", "finished_at": null,
        "vulnerabilities": {"created": 17, "updated": 18, "unchanged": 19, "fixed": 20, "reopened": 21,
                            "skipped": 22, "fetched": 23, "fix_withheld": 24,
                            "skipped_reason": "vulnerabilities skipped: 404"}
    }))
    .expect("run");
    let mut legacy = serde_json::to_value(&run).expect("run");
    if let Value::Object(o) = &mut legacy {
        o.remove("tenant");
    }
    let legacy = camel_case(legacy);
    let view = serde_json::to_value(RunView::from(run)).expect("view");
    assert_eq!(view, legacy);
    assert!(view.get("tenant").is_none());
    assert_eq!(view["skipReasons"]["missing_computer_name"], 2);
    assert_eq!(view["vulnerabilities"]["fixWithheld"], 24);
}
