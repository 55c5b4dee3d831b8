//! The vulnerability write path against the local stack: a page writes only what changed (a scan alone writes
//! nothing), lifecycle moves, attachment by agent id before name, and fixing by absence with conditional updates.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{
    AssetDirectory, PlacedVulnerability, SdkBatch, UnprocessedInjector, VulnerabilityWrites,
};
use s1_core::records::decode_risks_page;
use s1_core::vulnerability::{map_risk, Vulnerability};
use s1_core::AssetKey;
use serde_json::{json, Value};

fn rows(rows: Value) -> Vec<Vulnerability> {
    let body = json!({"data": rows, "pagination": {"nextCursor": null}});
    decode_risks_page(body.to_string().as_bytes())
        .expect("page")
        .records
        .iter()
        .map(|r| map_risk(r, "https://console.example"))
        .collect()
}

fn row(id: &str, severity: &str, status: &str, days: u64) -> Value {
    json!({"id": id, "cveId": format!("CVE-2025-{id}"), "severity": severity, "status": status,
           "baseScore": "7.00", "cvssVersion": "3.1", "applicationName": "7-Zip", "applicationVersion": "22.01",
           "applicationVendor": "Igor Pavlov", "endpointId": "2162143406517023959", "endpointName": "DESKTOP-1",
           "daysDetected": days, "lastScanDate": "2025-07-29T19:25:47Z", "detectionDate": "2025-06-02T04:46:51.710569Z"})
}

fn placed(vs: Vec<Vulnerability>, asset: Option<&str>) -> Vec<PlacedVulnerability> {
    vs.into_iter()
        .map(|v| PlacedVulnerability {
            vulnerability: v,
            asset_key: asset.and_then(|a| AssetKey::try_from(a.to_string()).ok()),
        })
        .collect()
}

/// The partition the tenant's layout puts this record in.
async fn record_pk(env: &common::Env, tenant: &str, id: &str) -> String {
    let t = common::tenant(tenant);
    let layout = env.store.record_layout(&t).await.expect("layout");
    layout.record_pk(&t, id)
}

async fn item(env: &common::Env, tenant: &str, id: &str) -> HashMap<String, AttributeValue> {
    env.stack
        .dynamodb
        .get_item()
        .table_name(&env.table)
        .key("pk", AttributeValue::S(record_pk(env, tenant, id).await))
        .key("sk", AttributeValue::S(format!("VULN#{id}")))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
        .expect("stored")
}

fn text(i: &HashMap<String, AttributeValue>, name: &str) -> String {
    i.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_page_writes_only_what_changed_and_a_scan_alone_writes_nothing() {
    let env = common::env().await;
    let counter = Arc::new(UnprocessedInjector::new(
        Arc::new(SdkBatch(env.stack.dynamodb.clone())),
        0,
    ));
    let store = env.store.clone().with_batch_api(counter.clone());
    let t = common::tenant("vuln-writes");
    let mut first = rows(json!([
        row("1", "HIGH", "Detected", 10),
        row("2", "LOW", "Detected", 10),
        row("1", "HIGH", "Detected", 11)
    ]));
    let page = placed(first.clone(), Some("desktop-1"));
    let c = store
        .apply_vulnerabilities(&t, common::layout(&store, &t).await, &page)
        .await
        .unwrap();
    assert_eq!(
        c,
        VulnerabilityWrites {
            created: 2,
            unchanged: 1,
            ..Default::default()
        },
        "an id repeated within a page is written once"
    );
    assert_eq!(counter.items_written(), 2);

    // The next scan moves daysDetected and lastScanDate only: nothing is written.
    let scanned = placed(
        rows(json!([
            row("1", "HIGH", "Detected", 30),
            row("2", "LOW", "Detected", 30)
        ])),
        Some("desktop-1"),
    );
    let c = store
        .apply_vulnerabilities(&t, common::layout(&store, &t).await, &scanned)
        .await
        .unwrap();
    assert_eq!((c.written(), c.unchanged), (0, 2));
    assert_eq!(counter.items_written(), 2);

    // A rescored row and a row now on another asset are written; the rest is not.
    first.truncate(2);
    let rescored = rows(json!([row("1", "CRITICAL", "Detected", 30)]));
    let mut page = placed(rescored, Some("desktop-1"));
    page.extend(placed(vec![first[1].clone()], Some("desktop-2")));
    let c = store
        .apply_vulnerabilities(&t, common::layout(&store, &t).await, &page)
        .await
        .unwrap();
    assert_eq!((c.created, c.updated, c.unchanged), (0, 2, 0));
    assert_eq!(counter.items_written(), 4);
    let moved = item(&env, "vuln-writes", "2").await;
    assert_eq!(text(&moved, "asset_key"), "desktop-2");
    assert_eq!(text(&moved, "gsi1pk"), "T#vuln-writes#ASSET#desktop-2");
    let one = item(&env, "vuln-writes", "1").await;
    assert_eq!(text(&one, "severity"), "critical");
    assert!(text(&one, "facet_sk").starts_with("VULN#open#critical#CVE-2025-1#"));
    assert_eq!(text(&one, "vopen_sk"), "critical#1");
}

#[tokio::test]
async fn removed_rows_fix_and_detected_again_reopen_with_their_keys() {
    let env = common::env().await;
    let store = env.store.clone();
    let t = common::tenant("vuln-lifecycle");
    let at = |status: &str| {
        placed(
            rows(json!([row("9", "HIGH", status, 5)])),
            Some("desktop-1"),
        )
    };
    store
        .apply_vulnerabilities(&t, common::layout(&store, &t).await, &at("Detected"))
        .await
        .unwrap();
    let c = store
        .apply_vulnerabilities(&t, common::layout(&store, &t).await, &at("Removed"))
        .await
        .unwrap();
    assert_eq!((c.updated, c.fixed), (1, 1));
    let fixed = item(&env, "vuln-lifecycle", "9").await;
    assert_eq!(text(&fixed, "state"), "fixed");
    assert!(!fixed.contains_key("vopen_pk") && !fixed.contains_key("vopen_sk"));
    assert!(text(&fixed, "facet_sk").starts_with("VULN#fixed#"));
    // Removed again: already fixed, nothing written.
    let c = store
        .apply_vulnerabilities(&t, common::layout(&store, &t).await, &at("Removed"))
        .await
        .unwrap();
    assert_eq!((c.written(), c.fixed), (0, 0));
    let c = store
        .apply_vulnerabilities(&t, common::layout(&store, &t).await, &at("Detected"))
        .await
        .unwrap();
    assert_eq!((c.updated, c.reopened), (1, 1));
    let back = item(&env, "vuln-lifecycle", "9").await;
    assert_eq!(text(&back, "state"), "reopened");
    assert_eq!(text(&back, "vopen_sk"), "high#9");
    assert_eq!(
        text(&back, "created_at"),
        text(&fixed, "created_at"),
        "created_at is kept"
    );
}

#[tokio::test]
async fn fixing_by_absence_moves_state_and_keys_and_a_stale_plan_fixes_nothing() {
    let env = common::env().await;
    let store = env.store.clone();
    let t = common::tenant("vuln-fix");
    let page = placed(
        rows(json!([
            row("1", "HIGH", "Detected", 1),
            row("2", "MEDIUM", "Detected", 1),
            row("3", "LOW", "Detected", 1)
        ])),
        None,
    );
    store
        .apply_vulnerabilities(&t, common::layout(&store, &t).await, &page)
        .await
        .unwrap();
    let plan = store
        .plan_fixing_vulnerabilities(&t, common::layout(&store, &t).await, |id| id != "2")
        .await
        .unwrap();
    assert_eq!(plan.live, 3);
    assert_eq!(plan.absent.len(), 1);
    assert_eq!(plan.absent[0].sk, "VULN#2");
    let stale = plan.absent.clone();
    assert_eq!(
        store
            .fix_vulnerabilities(&t, common::layout(&store, &t).await, plan.absent)
            .await
            .unwrap(),
        1
    );
    let fixed = item(&env, "vuln-fix", "2").await;
    assert_eq!(text(&fixed, "state"), "fixed");
    assert!(text(&fixed, "facet_sk").starts_with("VULN#fixed#medium#CVE-2025-2#2"));
    assert!(fixed.contains_key("content_hash") && fixed.contains_key("vulnerability"));
    // The same plan again: the item is no longer what it was planned from, so the condition refuses the update.
    assert_eq!(
        store
            .fix_vulnerabilities(&t, common::layout(&store, &t).await, stale)
            .await
            .unwrap(),
        0
    );
    let again = store
        .plan_fixing_vulnerabilities(&t, common::layout(&store, &t).await, |id| id != "2")
        .await
        .unwrap();
    assert_eq!((again.live, again.absent.len()), (2, 0));
}

#[test]
fn attachment_prefers_the_asset_carrying_the_agent_id_then_the_name() {
    let mut dir = AssetDirectory::default();
    dir.insert("renamed-host", ["2162143406517023959".to_string()]);
    dir.insert("desktop-1", []);
    let v = rows(json!([row("1", "HIGH", "Detected", 1)])).remove(0);
    assert_eq!(
        dir.place(&v).map(|k| k.as_str().to_string()).as_deref(),
        Some("renamed-host")
    );
    let mut by_name = v.clone();
    by_name.endpoint_id = Some("1".into());
    assert_eq!(
        dir.place(&by_name)
            .map(|k| k.as_str().to_string())
            .as_deref(),
        Some("desktop-1")
    );
    by_name.endpoint_key = AssetKey::try_from("unknown".to_string()).ok();
    assert_eq!(dir.place(&by_name), None);
}
