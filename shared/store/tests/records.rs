//! Assets, findings and the views against the local stack: writes cost what changed, retries of unprocessed
//! items, retirement, status re-evaluation, paging with signed tokens.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use connector_store::{
    AssetFilter, FindingFilter, RecordLayout, RetryPolicy, SdkBatch, StoreError,
    UnprocessedInjector,
};
use s1_core::custom_fields::CustomFieldDefinition;
use s1_core::{AnalystVerdict, Asset, AssetDecision, Finding, FindingStatus, VerdictInclusionList};
use serde_json::json;

fn asset(name: &str, os_version: &str) -> Asset {
    serde_json::from_value(json!({
        "key": name, "name": name, "ipv4": ["10.0.0.1"], "ipv6": [], "mac_addresses": [],
        "os_name": "Windows Server 2022", "os_type": "windows", "os_version": os_version, "machine_type": "server",
        "model": null, "serial": null, "domain": "corp", "agent_version": "24.1.2", "site_id": "1", "site_name": "HQ",
        "group_id": "2", "group_name": "Default Group", "account_id": "3", "account_name": "Acme",
        "active": true, "decommissioned": false, "infected": false, "last_seen": "2026-11-24T10:00:00Z",
        "console_url": null, "primary_agent_id": format!("a-{name}"), "agent_ids": [format!("a-{name}")],
        "custom_fields": {}, "tags": [], "origin": "agent"
    }))
    .expect("asset json")
}

fn finding(id: usize, asset: &str, verdict: &str) -> Finding {
    let failed = VerdictInclusionList::default().contains(&AnalystVerdict::from_wire(verdict));
    serde_json::from_value(json!({
        "id": format!("s1-threat-{id:06}"), "threat_id": format!("{id:06}"), "asset_key": asset, "asset_name": asset,
        "title": "Trojan detected", "status": if failed { "failed" } else { "passed" }, "severity": "high",
        "analyst_verdict": verdict, "incident_status": null, "mitigation_status": null, "confidence_level": null,
        "classification": "Trojan", "threat_name": "evil.exe", "file_path": "C:\\evil.exe",
        "sha1": null, "sha256": null, "md5": null, "detection_engines": [], "detection_type": null,
        "mitre_tactics": [], "mitre_techniques": [], "first_seen": null, "last_seen": null, "updated_at": null,
        "console_url": null, "agent_id": null
    }))
    .expect("finding json")
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(20),
        deadline: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn unchanged_page_writes_nothing_and_one_change_writes_one() {
    let env = common::env().await;
    let counter = Arc::new(UnprocessedInjector::new(
        Arc::new(SdkBatch(env.stack.dynamodb.clone())),
        0,
    ));
    let store = env.store.clone().with_batch_api(counter.clone());
    let t = common::tenant("writes");
    let page: Vec<AssetDecision> = (0..60)
        .map(|i| AssetDecision::Create(asset(&format!("host-{i:03}"), "1")))
        .collect();
    let first = store
        .apply_asset_decisions(&t, &page, "run1")
        .await
        .unwrap();
    assert_eq!((first.created, first.updated, first.unchanged), (60, 0, 0));
    assert_eq!(counter.items_written(), 60);

    let (write_calls, get_calls) = (counter.write_calls(), counter.get_calls());
    let again = store
        .apply_asset_decisions(&t, &page, "run2")
        .await
        .unwrap();
    assert_eq!(
        counter.write_calls(),
        write_calls,
        "not even an empty BatchWriteItem call"
    );
    assert_eq!(
        counter.get_calls(),
        get_calls + 1,
        "one BatchGetItem reads the 60 stored hashes"
    );
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 60));
    assert_eq!(
        counter.items_written(),
        60,
        "an unchanged page costs no write"
    );

    let mut changed = page.clone();
    changed[17] = AssetDecision::Update(asset("host-017", "2"));
    let third = store
        .apply_asset_decisions(&t, &changed, "run3")
        .await
        .unwrap();
    assert_eq!((third.created, third.updated, third.unchanged), (0, 1, 59));
    assert_eq!(counter.items_written(), 61);
    let stored = store
        .load_assets(&t, &["host-017".into(), "host-018".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored["host-017"].asset.os_version.as_deref(), Some("2"));
    assert_eq!(stored["host-017"].last_run_id.as_deref(), Some("run3"));
    assert_eq!(stored["host-018"].last_run_id.as_deref(), Some("run1"));

    // Findings: same rule.
    let findings: Vec<Finding> = (0..40)
        .map(|i| finding(i, "host-001", "true_positive"))
        .collect();
    assert_eq!(
        store
            .apply_findings(&t, common::layout(&store, &t).await, &findings)
            .await
            .unwrap()
            .created,
        40
    );
    let before = counter.items_written();
    let same = store
        .apply_findings(&t, common::layout(&store, &t).await, &findings)
        .await
        .unwrap();
    assert_eq!((same.written(), same.unchanged), (0, 40));
    let mut one = findings.clone();
    one[5].title = "Trojan quarantined".into();
    let c = store
        .apply_findings(&t, common::layout(&store, &t).await, &one)
        .await
        .unwrap();
    assert_eq!((c.created, c.updated, c.unchanged), (0, 1, 39));
    assert_eq!(counter.items_written(), before + 1);

    // Skips and attach-only.
    let ids: BTreeSet<String> = ["a-host-002".to_string(), "a-new".to_string()].into();
    let mixed = vec![
        AssetDecision::Unchanged,
        AssetDecision::Skip {
            name: "x".into(),
            reason: s1_core::SkipReason::AutoOnboardDisabled,
        },
        AssetDecision::AttachOnly {
            key: s1_core::normalize_computer_name("host-002").unwrap(),
            agent_ids: ids.clone(),
        },
    ];
    let m = store
        .apply_asset_decisions(&t, &mixed, "run4")
        .await
        .unwrap();
    assert_eq!((m.updated, m.unchanged, m.skipped), (1, 1, 1));
    assert_eq!(m.skip_reasons.get("auto_onboard_disabled"), Some(&1));
    let host2 = &store.load_assets(&t, &["host-002".into()]).await.unwrap()["host-002"];
    assert_eq!(host2.asset.agent_ids, ids);
    assert_eq!(
        host2.asset.os_version.as_deref(),
        Some("1"),
        "attach-only leaves metadata alone"
    );
    let m2 = store
        .apply_asset_decisions(&t, &mixed[2..], "run5")
        .await
        .unwrap();
    assert_eq!(
        m2.unchanged, 1,
        "attaching the same ids again writes nothing"
    );
}

#[tokio::test]
async fn ten_thousand_findings_with_injected_unprocessed_items_are_all_stored() {
    let env = common::env().await;
    // 30 % of every BatchWriteItem/BatchGetItem call comes back unprocessed.
    let injector = Arc::new(UnprocessedInjector::new(
        Arc::new(SdkBatch(env.stack.dynamodb.clone())),
        300,
    ));
    let store = env
        .store
        .clone()
        .with_batch_api(injector.clone())
        .with_retry_policy(fast_retry());
    let t = common::tenant("bulk");
    let all: Vec<Finding> = (0..10_000)
        .map(|i| finding(i, &format!("host-{:03}", i % 500), "suspicious"))
        .collect();
    let mut created = 0;
    for page in all.chunks(1000) {
        created += store
            .apply_findings(&t, common::layout(&store, &t).await, page)
            .await
            .unwrap()
            .created;
    }
    assert_eq!(created, 10_000);
    assert!(
        injector.withheld() > 3000,
        "the retry path was exercised: {}",
        injector.withheld()
    );
    assert_eq!(
        injector.items_written(),
        10_000,
        "each item reached the table exactly once"
    );

    // Proof that all 10,000 are stored with their content: re-applying them finds each one unchanged (vouched for
    // by the digests written with them), so nothing is written.
    // (Read back by key rather than by listing: moto's Query is linear in the partition per call.)
    let withheld = injector.withheld();
    let mut unchanged = 0;
    for page in all.chunks(2500) {
        let again = store
            .apply_findings(&t, common::layout(&store, &t).await, page)
            .await
            .unwrap();
        assert_eq!(again.written(), 0);
        unchanged += again.unchanged;
    }
    assert_eq!(unchanged, 10_000);
    // Those pages touch every digest bucket and read them with one query; a small page reads its buckets by
    // key (BatchGetItem, through the same lossy wrapper).
    for page in all.chunks(10).take(3) {
        let again = store
            .apply_findings(&t, common::layout(&store, &t).await, page)
            .await
            .unwrap();
        assert_eq!((again.written(), again.unchanged), (0, 10));
    }
    assert_eq!(injector.items_written(), 10_000);
    assert!(injector.withheld() > withheld, "the reads were retried too");
    let sample = env
        .store
        .list_findings(
            &t,
            &FindingFilter {
                asset: Some("host-007".into()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(sample.items.len(), 20);
}

#[tokio::test]
async fn page_tokens_walk_every_asset_once_and_refuse_tampered_or_foreign_tokens() {
    let env = common::env().await;
    let store = env.store.clone().with_retry_policy(fast_retry());
    let a = common::tenant("pages-a");
    let b = common::tenant("pages-b");
    let decisions: Vec<AssetDecision> = (0..1250)
        .map(|i| AssetDecision::Create(asset(&format!("ws-{i:05}"), "1")))
        .collect();
    for page in decisions.chunks(1000) {
        store.apply_asset_decisions(&a, page, "r").await.unwrap();
    }
    store
        .apply_asset_decisions(&b, &decisions[..10], "r")
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_assets(&a, &AssetFilter::default(), token.as_deref(), 100)
            .await
            .unwrap();
        assert!(page.items.len() <= 100);
        pages += 1;
        seen.extend(
            page.items
                .into_iter()
                .map(|s| s.asset.key.as_str().to_string()),
        );
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 13, "12 full pages and a partial one");
    let expected: Vec<String> = (0..1250).map(|i| format!("ws-{i:05}")).collect();
    assert_eq!(seen, expected, "every asset exactly once, in key order");

    let first = store
        .list_assets(&a, &AssetFilter::default(), None, 100)
        .await
        .unwrap();
    let tok = first.next_page_token.unwrap();
    assert!(matches!(
        store
            .list_assets(&b, &AssetFilter::default(), Some(&tok), 100)
            .await,
        Err(StoreError::InvalidPageToken)
    ));
    assert!(matches!(
        store
            .list_findings(&a, &FindingFilter::default(), Some(&tok), 100)
            .await,
        Err(StoreError::InvalidPageToken)
    ));
    let other_filter = AssetFilter {
        active: Some(true),
        ..Default::default()
    };
    assert!(matches!(
        store.list_assets(&a, &other_filter, Some(&tok), 100).await,
        Err(StoreError::InvalidPageToken)
    ));
    let mut tampered = tok.into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(matches!(
        store
            .list_assets(&a, &AssetFilter::default(), Some(&tampered), 100)
            .await,
        Err(StoreError::InvalidPageToken)
    ));
    assert!(matches!(
        store
            .list_assets(&a, &AssetFilter::default(), Some("x.y"), 100)
            .await,
        Err(StoreError::InvalidPageToken)
    ));

    // Name prefix, case-insensitive, paged.
    let filter = AssetFilter {
        name_prefix: Some("WS-012".into()),
        active: None,
    };
    let p1 = store.list_assets(&a, &filter, None, 60).await.unwrap();
    let p2 = store
        .list_assets(&a, &filter, p1.next_page_token.as_deref(), 60)
        .await
        .unwrap();
    assert_eq!(p1.items.len() + p2.items.len(), 100);
    assert!(p1
        .items
        .iter()
        .chain(&p2.items)
        .all(|s| s.asset.key.as_str().starts_with("ws-012")));
}

#[tokio::test]
async fn unseen_assets_are_retired_not_deleted_and_filters_find_them() {
    let env = common::env().await;
    let store = env.store.clone();
    let t = common::tenant("retire");
    let all: Vec<AssetDecision> = (0..30)
        .map(|i| AssetDecision::Create(asset(&format!("pc-{i:02}"), "1")))
        .collect();
    store.apply_asset_decisions(&t, &all, "run1").await.unwrap();
    // Run 2 sees pc-00..pc-24 over three pages; pc-25..pc-29 are gone from SentinelOne.
    let keys: Vec<String> = (0..25).map(|i| format!("pc-{i:02}")).collect();
    for (page_no, page) in keys.chunks(10).enumerate() {
        store
            .record_seen_assets(&t, "run2", page_no as u64, page)
            .await
            .unwrap();
    }
    assert_eq!(store.retire_unseen_assets(&t, "run2").await.unwrap(), 5);
    assert_eq!(
        store.retire_unseen_assets(&t, "run2").await.unwrap(),
        0,
        "already retired ones are not rewritten"
    );
    let inactive = store
        .list_assets(
            &t,
            &AssetFilter {
                active: Some(false),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    let names: Vec<&str> = inactive
        .items
        .iter()
        .map(|s| s.asset.key.as_str())
        .collect();
    assert_eq!(names, ["pc-25", "pc-26", "pc-27", "pc-28", "pc-29"]);
    assert!(inactive.items.iter().all(|s| s.retired_at.is_some()));
    let active = store
        .list_assets(
            &t,
            &AssetFilter {
                active: Some(true),
                ..Default::default()
            },
            None,
            7,
        )
        .await
        .unwrap();
    assert_eq!(active.items.len(), 7);
    assert!(active.items.iter().all(|s| s.active));
    // A retired asset that comes back unchanged is written again (reactivated).
    let back = store
        .apply_asset_decisions(&t, &all[25..26], "run3")
        .await
        .unwrap();
    assert_eq!(back.updated, 1);
    assert!(store.load_assets(&t, &["pc-25".into()]).await.unwrap()["pc-25"].active);
}

#[tokio::test]
async fn finding_views_filter_by_asset_status_and_verdict_and_statuses_are_reevaluated() {
    let env = common::env().await;
    let store = env.store.clone();
    // A tenant stored before record layouts: no layout item, so every reader takes the legacy one.
    let t = common::tenant("findings");
    let mut all = Vec::new();
    for i in 0..30 {
        let verdict = ["true_positive", "false_positive", "suspicious"][i % 3];
        all.push(finding(i, if i < 12 { "srv-a" } else { "srv-b" }, verdict));
    }
    store
        .apply_findings(&t, RecordLayout::LEGACY, &all)
        .await
        .unwrap();
    let by_asset = FindingFilter {
        asset: Some("SRV-A".into()),
        ..Default::default()
    };
    let p1 = store.list_findings(&t, &by_asset, None, 5).await.unwrap();
    let p2 = store
        .list_findings(&t, &by_asset, p1.next_page_token.as_deref(), 5)
        .await
        .unwrap();
    let p3 = store
        .list_findings(&t, &by_asset, p2.next_page_token.as_deref(), 5)
        .await
        .unwrap();
    let ids: Vec<String> = p1
        .items
        .iter()
        .chain(&p2.items)
        .chain(&p3.items)
        .map(|f| f.id.clone())
        .collect();
    assert_eq!(
        ids,
        (0..12)
            .map(|i| format!("s1-threat-{i:06}"))
            .collect::<Vec<_>>()
    );
    assert!(
        p3.next_page_token.is_none()
            || store
                .list_findings(&t, &by_asset, p3.next_page_token.as_deref(), 5)
                .await
                .unwrap()
                .items
                .is_empty()
    );

    let passed = FindingFilter {
        status: Some(FindingStatus::Passed),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_findings(&t, &passed, None, 100)
            .await
            .unwrap()
            .items
            .len(),
        10
    );
    let fp = FindingFilter {
        verdict: Some(AnalystVerdict::FalsePositive),
        asset: Some("srv-b".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_findings(&t, &fp, None, 100)
            .await
            .unwrap()
            .items
            .len(),
        6
    );

    // Only true positives fail now: the 10 suspicious findings flip to passed, nothing else is written.
    let list = VerdictInclusionList::from_list(&["true_positive".to_string()]).unwrap();
    assert_eq!(reevaluate_all(&store, &t, &list).await, (10, 1));
    assert_eq!(reevaluate_all(&store, &t, &list).await, (0, 1));
    // Pages of 4: the same flips in 8 pages (30 findings), each continuing after the last sort key.
    let small = store.clone().with_reevaluate_page(4);
    let default_list = VerdictInclusionList::default();
    assert_eq!(reevaluate_all(&small, &t, &default_list).await, (10, 8));
    assert_eq!(reevaluate_all(&small, &t, &list).await, (10, 8));
    assert_eq!(
        store
            .list_findings(&t, &passed, None, 100)
            .await
            .unwrap()
            .items
            .len(),
        20
    );
    // The next sync maps the same threats under the new list: unchanged, no write.
    let remapped: Vec<Finding> = all
        .iter()
        .cloned()
        .map(|mut f| {
            f.status = s1_core::verdicts::finding_status(&f.analyst_verdict, &list);
            f
        })
        .collect();
    assert_eq!(
        store
            .apply_findings(&t, RecordLayout::LEGACY, &remapped)
            .await
            .unwrap()
            .written(),
        0
    );
}

#[tokio::test]
async fn custom_field_names_are_unique_per_tenant() {
    let env = common::env().await;
    let t = common::tenant("cf");
    let u = common::tenant("cf-other");
    let def = |n: &str| CustomFieldDefinition { name: n.into() };
    env.store.put_custom_field(&t, &def("Owner")).await.unwrap();
    env.store
        .put_custom_field(&t, &def("Cost Center"))
        .await
        .unwrap();
    assert!(matches!(
        env.store.put_custom_field(&t, &def("owner")).await,
        Err(StoreError::DuplicateCustomField { .. })
    ));
    assert!(matches!(
        env.store.put_custom_field(&t, &def("bad/name")).await,
        Err(StoreError::InvalidInput(_))
    ));
    env.store.put_custom_field(&u, &def("Owner")).await.unwrap();
    let names: Vec<String> = env
        .store
        .list_custom_fields(&t)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["Cost Center", "Owner"]);
    assert!(env.store.delete_custom_field(&t, "OWNER").await.unwrap());
    assert!(!env.store.delete_custom_field(&t, "Owner").await.unwrap());
    assert_eq!(env.store.list_custom_fields(&u).await.unwrap().len(), 1);
}

/// Walks every page of the re-evaluation; returns the findings flipped and the pages it took.
async fn reevaluate_all(
    store: &connector_store::Store,
    t: &connector_store::TenantId,
    list: &VerdictInclusionList,
) -> (u64, u64) {
    let (mut flipped, mut pages, mut cursor) = (0, 0, None);
    loop {
        let (n, next) = store
            .reevaluate_finding_statuses_page(
                t,
                store.record_layout(t).await.unwrap(),
                list,
                cursor,
            )
            .await
            .unwrap();
        flipped += n;
        pages += 1;
        match next {
            Some(c) => cursor = Some(c),
            None => return (flipped, pages),
        }
    }
}
