//! The views read only what they return: on a tenant where most findings and assets do not match, every filter
//! and combination the views accept reads at most twice the items each page returns (counted by an SDK
//! interceptor), and items stored before the facet indexes existed show again once the backfill ran.

mod common;

use std::collections::BTreeSet;

use connector_store::{AssetFilter, FindingFilter, PageTokenKey, Store, TenantId};
use s1_core::lifecycle::FindingState;
use s1_core::{AnalystVerdict, Asset, AssetDecision, Finding, FindingStatus, Severity};
use serde_json::json;
use test_support::items_read::ItemsRead;

fn finding(
    id: &str,
    asset: &str,
    attached: bool,
    verdict: &str,
    severity: &str,
    resolved: bool,
) -> Finding {
    let failed = verdict == "true_positive" || verdict == "suspicious";
    serde_json::from_value(json!({
        "id": id, "threat_id": id, "asset_key": asset, "asset_name": asset, "attached": attached,
        "title": "Trojan detected", "status": if failed { "failed" } else { "passed" }, "severity": severity,
        "analyst_verdict": verdict, "incident_status": if resolved { Some("resolved") } else { None },
        "mitigation_status": null, "confidence_level": null,
        "classification": "Trojan", "threat_name": "evil.exe", "file_path": "C:\\evil.exe",
        "sha1": null, "sha256": null, "md5": null, "detection_engines": [], "detection_type": null,
        "mitre_tactics": [], "mitre_techniques": [], "first_seen": null, "last_seen": null, "updated_at": null,
        "console_url": null, "agent_id": null
    }))
    .expect("finding json")
}

fn asset(name: &str) -> Asset {
    serde_json::from_value(json!({
        "key": name, "name": name, "ipv4": ["10.0.0.1"], "ipv6": [], "mac_addresses": [],
        "os_name": "Windows Server 2022", "os_type": "windows", "os_version": "1", "machine_type": "server",
        "model": null, "serial": null, "domain": "corp", "agent_version": "24.1.2", "site_id": "1", "site_name": "HQ",
        "group_id": "2", "group_name": "Default Group", "account_id": "3", "account_name": "Acme",
        "active": true, "decommissioned": false, "infected": false, "last_seen": "2026-11-24T10:00:00Z",
        "console_url": null, "primary_agent_id": format!("a-{name}"), "agent_ids": [format!("a-{name}")],
        "custom_fields": {}, "tags": [], "origin": "agent"
    }))
    .expect("asset json")
}

/// 500 findings that match none of the narrow filters (passed, low, open; 400 attached, 50 of them under
/// `srv-a`, and 100 unattached) and 10 that do: 5 under `srv-a` (failed, critical, resolved) and 5 unattached
/// (failed, critical, open).
fn fixture() -> Vec<Finding> {
    let mut all = Vec::new();
    for i in 0..500 {
        let (asset, attached) = match i {
            0..=49 => ("srv-a", true),
            50..=399 => ("noise-host", true),
            _ => ("ghost", false),
        };
        all.push(finding(
            &format!("n-{i:04}"),
            asset,
            attached,
            "false_positive",
            "low",
            false,
        ));
    }
    for i in 0..5 {
        all.push(finding(
            &format!("t-{i:04}"),
            "srv-a",
            true,
            "true_positive",
            "critical",
            true,
        ));
        all.push(finding(
            &format!("u-{i:04}"),
            "ghost",
            false,
            "true_positive",
            "critical",
            false,
        ));
    }
    all
}

struct Walk {
    ids: Vec<String>,
    /// The most items one page read per item it returned (a page returning nothing must read nothing).
    worst: f64,
}

async fn walk_findings(
    store: &Store,
    reads: &ItemsRead,
    t: &TenantId,
    filter: &FindingFilter,
    state: Option<FindingState>,
    limit: u32,
) -> Walk {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    let mut worst: f64 = 0.0;
    loop {
        let (before, gets_before) = (reads.total(), reads.single_gets());
        let page = store
            .list_findings_in_state(t, filter, state, token.as_deref(), limit)
            .await
            .expect("page");
        // A tenant-wide page also reads the tenant's record layout item: one GetItem, a fixed cost per request.
        let gets = reads.single_gets() - gets_before;
        assert!(gets <= 1, "one layout read per request at most, not {gets}");
        let read = (reads.total() - before - gets) as f64;
        let returned = page.items.len() as f64;
        let ratio = if returned == 0.0 {
            if read == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            read / returned
        };
        worst = worst.max(ratio);
        ids.extend(page.items.into_iter().map(|f| f.id));
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => return Walk { ids, worst },
        }
    }
}

fn filter(f: impl FnOnce(&mut FindingFilter)) -> FindingFilter {
    let mut filter = FindingFilter::default();
    f(&mut filter);
    filter
}

fn ids(prefix: &str) -> BTreeSet<String> {
    (0..5).map(|i| format!("{prefix}-{i:04}")).collect()
}

#[tokio::test]
async fn every_finding_filter_and_combination_reads_at_most_twice_what_a_page_returns() {
    let env = common::env().await;
    let t = common::tenant("narrow-filters");
    env.store
        .apply_findings(&t, common::layout(&env.store, &t).await, &fixture())
        .await
        .unwrap();
    let reads = ItemsRead::default();
    let store = Store::new(
        reads.client(&env.stack.dynamodb),
        &env.table,
        PageTokenKey::random(),
    );

    let targets: BTreeSet<String> = ids("t").union(&ids("u")).cloned().collect();
    let cases: Vec<(&str, FindingFilter, Option<FindingState>, BTreeSet<String>)> = vec![
        (
            "status",
            filter(|f| f.status = Some(FindingStatus::Failed)),
            None,
            targets.clone(),
        ),
        (
            "severity",
            filter(|f| f.severity = Some(Severity::Critical)),
            None,
            targets.clone(),
        ),
        (
            "verdict",
            filter(|f| f.verdict = Some(AnalystVerdict::TruePositive)),
            None,
            targets.clone(),
        ),
        (
            "state",
            FindingFilter::default(),
            Some(FindingState::Resolved),
            ids("t"),
        ),
        (
            "asset",
            filter(|f| f.asset = Some("SRV-A".into())),
            Some(FindingState::Resolved),
            ids("t"),
        ),
        (
            "asset+status",
            filter(|f| {
                f.asset = Some("srv-a".into());
                f.status = Some(FindingStatus::Failed);
            }),
            None,
            ids("t"),
        ),
        (
            "asset+severity+verdict",
            filter(|f| {
                f.asset = Some("srv-a".into());
                f.severity = Some(Severity::Critical);
                f.verdict = Some(AnalystVerdict::TruePositive);
            }),
            None,
            ids("t"),
        ),
        (
            "attached=false+severity",
            filter(|f| {
                f.attached = Some(false);
                f.severity = Some(Severity::Critical);
            }),
            None,
            ids("u"),
        ),
        (
            "attached=true+status",
            filter(|f| {
                f.attached = Some(true);
                f.status = Some(FindingStatus::Failed);
            }),
            None,
            ids("t"),
        ),
        (
            "status+severity+verdict+state",
            filter(|f| {
                f.status = Some(FindingStatus::Failed);
                f.severity = Some(Severity::Critical);
                f.verdict = Some(AnalystVerdict::TruePositive);
            }),
            Some(FindingState::Open),
            ids("u"),
        ),
    ];
    for (name, f, state, expected) in cases {
        for limit in [2, 50] {
            let w = walk_findings(&store, &reads, &t, &f, state, limit).await;
            assert_eq!(
                w.ids.iter().cloned().collect::<BTreeSet<_>>(),
                expected,
                "{name}, pages of {limit}: exactly the matching findings"
            );
            assert_eq!(w.ids.len(), expected.len(), "{name}: each finding once");
            assert!(
                w.worst <= 2.0,
                "{name}, pages of {limit}: a page read {} items per item it returned",
                w.worst
            );
        }
    }

    // The broad filters too: most findings match, and the id-ordered ones stay in id order.
    let attached = walk_findings(
        &store,
        &reads,
        &t,
        &filter(|f| f.attached = Some(true)),
        None,
        200,
    )
    .await;
    assert_eq!(attached.ids.len(), 405);
    assert!(attached.worst <= 2.0, "attached=true: {}", attached.worst);
    let unattached = walk_findings(
        &store,
        &reads,
        &t,
        &filter(|f| f.attached = Some(false)),
        None,
        40,
    )
    .await;
    assert_eq!(unattached.ids.len(), 105);
    assert!(
        unattached.ids.windows(2).all(|w| w[0] < w[1]),
        "attached=false alone lists by id"
    );
    assert!(unattached.worst <= 2.0);
    let open = walk_findings(
        &store,
        &reads,
        &t,
        &FindingFilter::default(),
        Some(FindingState::Open),
        200,
    )
    .await;
    assert_eq!(open.ids.len(), 505);
    assert!(open.worst <= 2.0);
}

#[tokio::test]
async fn asset_filters_read_at_most_twice_what_a_page_returns() {
    let env = common::env().await;
    let t = common::tenant("asset-filters");
    let all: Vec<AssetDecision> = (0..200)
        .map(|i| AssetDecision::Create(asset(&format!("noise-{i:03}"))))
        .chain((0..5).map(|i| AssetDecision::Create(asset(&format!("srv-{i}")))))
        .collect();
    env.store
        .apply_asset_decisions(&t, &all, "run-1")
        .await
        .unwrap();
    // A walk that saw nothing retires them all; then the five servers and 50 of the others come back.
    assert_eq!(
        env.store
            .retire_unseen_assets(&t, "run-none")
            .await
            .unwrap(),
        205
    );
    let back: Vec<AssetDecision> = (0..50)
        .map(|i| AssetDecision::Create(asset(&format!("noise-{i:03}"))))
        .chain((0..5).map(|i| AssetDecision::Create(asset(&format!("srv-{i}")))))
        .collect();
    env.store
        .apply_asset_decisions(&t, &back, "run-2")
        .await
        .unwrap();

    let reads = ItemsRead::default();
    let store = Store::new(
        reads.client(&env.stack.dynamodb),
        &env.table,
        PageTokenKey::random(),
    );
    let cases = [
        (Some("SRV"), Some(true), 5),
        (Some("srv"), Some(false), 0),
        (Some("srv"), None, 5),
        (None, Some(true), 55),
        (None, Some(false), 150),
        (Some("noise-0"), Some(true), 50),
        (Some("noise-1"), Some(false), 100),
    ];
    for (name, active, expected) in cases {
        let f = AssetFilter {
            name_prefix: name.map(str::to_string),
            active,
        };
        let mut token: Option<String> = None;
        let mut keys = Vec::new();
        loop {
            let before = reads.total();
            let page = store
                .list_assets(&t, &f, token.as_deref(), 7)
                .await
                .unwrap();
            let read = reads.total() - before;
            assert!(
                read <= 2 * page.items.len() as u64,
                "{f:?}: a page read {read} items and returned {}",
                page.items.len()
            );
            assert!(page
                .items
                .iter()
                .all(|a| active.is_none_or(|act| a.active == act)));
            keys.extend(page.items.into_iter().map(|a| a.key().to_string()));
            match page.next_page_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        assert_eq!(keys.len(), expected, "{f:?}");
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{f:?}: by key");
    }
}

#[tokio::test]
async fn items_stored_before_the_facet_indexes_show_again_after_the_backfill() {
    let env = common::env().await;
    let t = common::tenant("legacy-facets");
    env.store
        .apply_findings(&t, common::layout(&env.store, &t).await, &fixture())
        .await
        .unwrap();
    env.store
        .apply_asset_decisions(&t, &[AssetDecision::Create(asset("srv-0"))], "run-1")
        .await
        .unwrap();
    // As the previous version stored them: without facet_sk.
    for item in test_support::scan_table(&env.stack.dynamodb, &env.table).await {
        if !item.contains_key("facet_sk") {
            continue;
        }
        env.stack
            .dynamodb
            .update_item()
            .table_name(&env.table)
            .key("pk", item["pk"].clone())
            .key("sk", item["sk"].clone())
            .update_expression("REMOVE facet_sk")
            .send()
            .await
            .unwrap();
    }
    let failed = filter(|f| f.status = Some(FindingStatus::Failed));
    let active = AssetFilter {
        name_prefix: None,
        active: Some(true),
    };
    let before = env
        .store
        .list_findings(&t, &failed, None, 100)
        .await
        .unwrap();
    assert!(
        before.items.is_empty(),
        "not in the index before the backfill"
    );

    let set = backfill_all(&env.store).await;
    assert_eq!(set, 511, "every finding and asset once");
    let after = env
        .store
        .list_findings(&t, &failed, None, 100)
        .await
        .unwrap();
    let mut got: Vec<String> = after.items.into_iter().map(|f| f.id).collect();
    got.sort();
    let mut want: Vec<String> = ids("t").union(&ids("u")).cloned().collect();
    want.sort();
    assert_eq!(got, want);
    let resolved = env
        .store
        .list_findings_in_state(
            &t,
            &FindingFilter::default(),
            Some(FindingState::Resolved),
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(resolved.items.len(), 5);
    assert_eq!(
        env.store
            .list_assets(&t, &active, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // Again: nothing left to set.
    assert_eq!(backfill_all(&env.store).await, 0);
}

/// The whole backfill, in two segments.
async fn backfill_all(store: &Store) -> u64 {
    let mut set = 0;
    for segment in 0..2 {
        let mut cursor = None;
        loop {
            let (n, next) = store
                .backfill_facets_page(segment, 2, cursor)
                .await
                .unwrap();
            set += n;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    set
}
