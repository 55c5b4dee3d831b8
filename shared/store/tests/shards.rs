//! Record shards against the local stack: a new tenant's findings and vulnerabilities spread over `T#<tenant>#R#<nn>`,
//! a legacy tenant stays under `T#<tenant>`, every walk and view sees every shard, and the migration from one to
//! the other loses and doubles nothing, even stopped half-way and run again.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::types::WriteRequest;
use connector_store::batch::{BoxFuture, GetOutcome, Item, Projection};
use connector_store::{
    BatchApi, FindingFilter, PageTokenKey, PlacedVulnerability, RecordLayout, SdkBatch, Store,
    StoreError, TenantId, VulnerabilityFilter,
};
use s1_core::records::decode_risks_page;
use s1_core::vulnerability::{map_risk, Vulnerability};
use s1_core::{AnalystVerdict, Finding, FindingStatus, VerdictInclusionList};
use serde_json::json;
use test_support::items_read::ItemsRead;

fn finding(i: usize, attached: bool) -> Finding {
    let verdict = ["true_positive", "suspicious", "false_positive"][i % 3];
    let failed = VerdictInclusionList::default().contains(&AnalystVerdict::from_wire(verdict));
    serde_json::from_value(json!({
        "id": format!("s1-{i:05}"), "threat_id": format!("{i:05}"), "asset_key": format!("host-{}", i % 7),
        "asset_name": format!("host-{}", i % 7), "attached": attached, "title": "Trojan detected",
        "status": if failed { "failed" } else { "passed" }, "severity": (["high", "low"][i % 2]),
        "analyst_verdict": verdict, "incident_status": null, "mitigation_status": null, "confidence_level": null,
        "classification": "Trojan", "threat_name": "evil.exe", "file_path": "C:\\evil.exe",
        "sha1": null, "sha256": null, "md5": null, "detection_engines": [], "detection_type": null,
        "mitre_tactics": [], "mitre_techniques": [], "first_seen": null, "last_seen": null, "updated_at": null,
        "console_url": null, "agent_id": null
    }))
    .expect("finding json")
}

fn findings(n: usize) -> Vec<Finding> {
    (0..n).map(|i| finding(i, i % 5 != 0)).collect()
}

fn vulnerabilities(n: usize) -> Vec<PlacedVulnerability> {
    let rows: Vec<_> = (0..n)
        .map(|i| {
            json!({"id": format!("vr-{i}"), "cveId": format!("CVE-2025-{i}"),
               "severity": (["HIGH", "LOW"][i % 2]), "status": "Detected",
               "baseScore": "7.00", "cvssVersion": "3.1", "applicationName": "7-Zip", "applicationVersion": "22.01",
               "applicationVendor": "Igor Pavlov", "endpointId": "1", "endpointName": "HOST-1",
               "daysDetected": 1, "lastScanDate": "2025-07-29T19:25:47Z", "detectionDate": "2025-06-02T04:46:51Z"})
        })
        .collect();
    let body = json!({"data": rows, "pagination": {"nextCursor": null}});
    let vs: Vec<Vulnerability> = decode_risks_page(body.to_string().as_bytes())
        .expect("page")
        .records
        .iter()
        .map(|r| map_risk(r, "https://console.example"))
        .collect();
    vs.into_iter()
        .map(|v| PlacedVulnerability {
            vulnerability: v,
            asset_key: None,
        })
        .collect()
}

/// Partition key of every finding and vulnerability of the table, by sort key (a key twice: listed twice).
async fn record_pks(env: &common::Env, t: &TenantId) -> Vec<(String, String)> {
    let own = format!("T#{}", t.as_str());
    let mut out: Vec<(String, String)> = test_support::scan_table(&env.stack.dynamodb, &env.table)
        .await
        .into_iter()
        .filter_map(|item| {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            let (pk, sk) = (text("pk")?, text("sk")?);
            let record = sk.starts_with("FINDING#") || sk.starts_with("VULN#");
            let tenants = pk == own || pk.starts_with(&format!("{own}#"));
            (record && tenants).then_some((sk, pk))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_new_tenants_records_land_in_its_shards() {
    let env = common::env().await;
    let t = common::tenant("spread-new");
    let layout = common::layout(&env.store, &t).await;
    assert_eq!(layout, RecordLayout::SPREAD, "no record yet: spread");
    assert_eq!(env.store.record_layout(&t).await.unwrap(), layout);
    let created = env
        .store
        .apply_findings(&t, layout, &findings(300))
        .await
        .unwrap();
    assert_eq!(created.created, 300);
    let v = env
        .store
        .apply_vulnerabilities(&t, layout, &vulnerabilities(60))
        .await
        .unwrap();
    assert_eq!(v.created, 60);

    let stored = record_pks(&env, &t).await;
    assert_eq!(stored.len(), 360, "each record once");
    let shards: BTreeSet<&str> = stored.iter().map(|(_, pk)| pk.as_str()).collect();
    assert_eq!(shards.len(), 16, "every shard used: {shards:?}");
    for (sk, pk) in &stored {
        assert!(pk.starts_with("T#spread-new#R#"), "{sk} under {pk}");
        let id = sk.split_once('#').unwrap().1;
        assert_eq!(*pk, layout.record_pk(&t, id));
    }
    // Re-applied: the digests and heads find them in their shards, nothing is written again.
    let again = env
        .store
        .apply_findings(&t, layout, &findings(300))
        .await
        .unwrap();
    assert_eq!((again.written(), again.unchanged), (0, 300));
    let v = env
        .store
        .apply_vulnerabilities(&t, layout, &vulnerabilities(60))
        .await
        .unwrap();
    assert_eq!((v.written(), v.unchanged), (0, 60));
    // One by id, from its shard.
    let one = env.store.get_finding(&t, "s1-00042", None).await.unwrap();
    assert!(matches!(one, Some(connector_store::StoredFinding::Threat(f)) if f.id == "s1-00042"));
    let vr = env.store.get_finding(&t, "vr-7", None).await.unwrap();
    assert!(matches!(
        vr,
        Some(connector_store::StoredFinding::Vulnerability(_))
    ));
}

#[tokio::test]
async fn only_the_call_that_records_an_empty_tenants_layout_says_it_held_no_record() {
    let env = common::env().await;
    let t = common::tenant("layout-fresh");
    let first = env.store.ensure_record_layout_noting_records(&t).await;
    assert_eq!(first.unwrap(), (RecordLayout::SPREAD, true));
    // Recorded before: this call did not create it, so records may have been written since.
    let again = env.store.ensure_record_layout_noting_records(&t).await;
    assert_eq!(again.unwrap(), (RecordLayout::SPREAD, false));

    let legacy = common::tenant("layout-held-records");
    env.store
        .apply_findings(&legacy, RecordLayout::LEGACY, &findings(3))
        .await
        .unwrap();
    let recorded = env.store.ensure_record_layout_noting_records(&legacy).await;
    assert_eq!(recorded.unwrap(), (RecordLayout::LEGACY, false));
}

#[tokio::test]
async fn a_legacy_tenant_keeps_its_partition() {
    let env = common::env().await;
    let t = common::tenant("legacy-kept");
    // Stored before layouts existed: no layout item, records under T#<tenant>.
    env.store
        .apply_findings(&t, RecordLayout::LEGACY, &findings(40))
        .await
        .unwrap();
    assert_eq!(
        env.store.record_layout(&t).await.unwrap(),
        RecordLayout::LEGACY
    );
    let layout = common::layout(&env.store, &t).await;
    assert_eq!(
        layout,
        RecordLayout::LEGACY,
        "a tenant with records stays legacy"
    );
    let mut more = findings(50);
    more[3].title = "changed".into();
    let c = env.store.apply_findings(&t, layout, &more).await.unwrap();
    assert_eq!((c.created, c.updated, c.unchanged), (10, 1, 39));
    env.store
        .apply_vulnerabilities(&t, layout, &vulnerabilities(5))
        .await
        .unwrap();
    let stored = record_pks(&env, &t).await;
    assert_eq!(stored.len(), 55);
    assert!(stored.iter().all(|(_, pk)| pk == "T#legacy-kept"));
    let page = env
        .store
        .list_findings(&t, &FindingFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 50);
}

/// Every id a listing returns over all its pages, with the worst items read (besides the layout's GetItem) per
/// item a page returned.
async fn walk<F>(reads: &ItemsRead, mut page: F) -> (Vec<String>, f64)
where
    F: AsyncFnMut(Option<String>) -> (Vec<String>, Option<String>),
{
    let (mut ids, mut worst, mut token) = (Vec::new(), 0.0f64, None);
    loop {
        let (before, gets) = (reads.total(), reads.single_gets());
        let (got, next) = page(token.take()).await;
        let layout_reads = reads.single_gets() - gets;
        assert!(layout_reads <= 1, "one layout read per request");
        let read = (reads.total() - before - layout_reads) as f64;
        let ratio = match got.len() {
            0 if read == 0.0 => 0.0,
            0 => f64::INFINITY,
            n => read / n as f64,
        };
        worst = worst.max(ratio);
        ids.extend(got);
        match next {
            Some(n) => token = Some(n),
            None => return (ids, worst),
        }
    }
}

#[tokio::test]
async fn listings_read_every_shard_once_and_only_what_they_return() {
    let env = common::env().await;
    let t = common::tenant("spread-views");
    let layout = common::layout(&env.store, &t).await;
    env.store
        .apply_findings(&t, layout, &findings(120))
        .await
        .unwrap();
    env.store
        .apply_vulnerabilities(&t, layout, &vulnerabilities(30))
        .await
        .unwrap();
    let reads = ItemsRead::default();
    let store = Store::new(
        reads.client(&env.stack.dynamodb),
        &env.table,
        PageTokenKey::random(),
    );
    let all: BTreeSet<String> = (0..120).map(|i| format!("s1-{i:05}")).collect();
    let failed: BTreeSet<String> = (0..120)
        .filter(|i| i % 3 != 2)
        .map(|i| format!("s1-{i:05}"))
        .collect();
    let cases = [
        ("none", FindingFilter::default(), all),
        (
            "status",
            FindingFilter {
                status: Some(FindingStatus::Failed),
                ..Default::default()
            },
            failed,
        ),
    ];
    for (name, filter, want) in cases {
        for limit in [7, 1000] {
            let (ids, worst) = walk(&reads, async |token: Option<String>| {
                let p = store
                    .list_findings(&t, &filter, token.as_deref(), limit)
                    .await
                    .expect("page");
                (
                    p.items.into_iter().map(|f| f.id).collect(),
                    p.next_page_token,
                )
            })
            .await;
            assert_eq!(ids.len(), want.len(), "{name}/{limit}: each once");
            assert_eq!(
                ids.iter().cloned().collect::<BTreeSet<_>>(),
                want,
                "{name}/{limit}"
            );
            assert!(
                worst <= 1.0,
                "{name}/{limit}: {worst} items read per item returned"
            );
            // Without a filter: shard by shard, id order within each.
            if name == "none" {
                let keys: Vec<(String, &String)> = ids
                    .iter()
                    .map(|id| (layout.record_pk(&t, id), id))
                    .collect();
                assert!(keys.windows(2).all(|w| w[0] < w[1]), "shard, then id order");
            }
        }
    }
    let vfilter = VulnerabilityFilter::default();
    let (ids, worst) = walk(&reads, async |token: Option<String>| {
        let p = store
            .list_vulnerabilities(&t, &vfilter, token.as_deref(), 4)
            .await
            .expect("page");
        let ids = p
            .items
            .into_iter()
            .map(|f| match f {
                connector_store::StoredFinding::Vulnerability(v) => v.vulnerability.id,
                connector_store::StoredFinding::Threat(f) => f.id,
            })
            .collect();
        (ids, p.next_page_token)
    })
    .await;
    assert_eq!(ids.len(), 30);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 30);
    assert!(worst <= 1.0);

    // A token of the legacy layout (no shard, the tenant's own partition) is refused, not resumed elsewhere.
    let legacy = common::tenant("spread-views-old");
    store
        .apply_findings(&legacy, RecordLayout::LEGACY, &findings(5))
        .await
        .unwrap();
    let old = store
        .list_findings(&legacy, &FindingFilter::default(), None, 2)
        .await
        .unwrap();
    let token = old.next_page_token.expect("more");
    assert!(matches!(
        store
            .list_findings(&t, &FindingFilter::default(), Some(&token), 2)
            .await,
        Err(StoreError::InvalidPageToken)
    ));
}

#[tokio::test]
async fn closing_fixing_and_reevaluating_see_every_shard() {
    let env = common::env().await;
    let t = common::tenant("spread-walks");
    let layout = common::layout(&env.store, &t).await;
    let all = findings(64);
    env.store.apply_findings(&t, layout, &all).await.unwrap();
    // Closing: every live finding is planned, the absent ones in every shard.
    let plan = env
        .store
        .plan_closing(&t, layout, |threat| threat.ends_with('0'))
        .await
        .unwrap();
    assert_eq!(plan.live, 64);
    assert_eq!(plan.absent.len(), 57);
    let shards: BTreeSet<String> = plan
        .absent
        .iter()
        .map(|(sk, _)| layout.record_pk(&t, sk.trim_start_matches("FINDING#")))
        .collect();
    assert!(
        shards.len() > 8,
        "absent findings in many shards: {shards:?}"
    );
    assert_eq!(
        env.store
            .close_findings(&t, layout, plan.absent)
            .await
            .unwrap(),
        57
    );
    let after = env.store.plan_closing(&t, layout, |_| true).await.unwrap();
    assert_eq!(after.live, 7);

    // Re-evaluation walks every shard: only true positives fail now.
    let list = VerdictInclusionList::from_list(&["true_positive".to_string()]).unwrap();
    let (mut flipped, mut pages, mut at) = (0, 0, None);
    loop {
        let (n, next) = env
            .store
            .reevaluate_finding_statuses_page(&t, layout, &list, at)
            .await
            .unwrap();
        flipped += n;
        pages += 1;
        match next {
            Some(n) => at = Some(n),
            None => break,
        }
    }
    assert_eq!(flipped, (0..64).filter(|i| i % 3 == 1).count() as u64);
    assert!(pages >= 16, "a page per shard at least");

    // Fixing: every present vulnerability is planned, in every shard.
    env.store
        .apply_vulnerabilities(&t, layout, &vulnerabilities(40))
        .await
        .unwrap();
    let fix = env
        .store
        .plan_fixing_vulnerabilities(&t, layout, |id| id == "vr-0")
        .await
        .unwrap();
    assert_eq!((fix.live, fix.absent.len()), (40, 39));
    assert_eq!(
        env.store
            .fix_vulnerabilities(&t, layout, fix.absent)
            .await
            .unwrap(),
        39
    );
    let left = env
        .store
        .plan_fixing_vulnerabilities(&t, layout, |_| true)
        .await
        .unwrap();
    assert_eq!(left.live, 1);
}

/// A BatchWriteItem that fails, as a crash would, once `budget` calls were made (negative: never).
struct Crashing {
    inner: SdkBatch,
    budget: AtomicI64,
}

impl BatchApi for Crashing {
    fn batch_get<'a>(
        &'a self,
        table: &'a str,
        keys: Vec<Item>,
        projection: &'a Projection,
    ) -> BoxFuture<'a, connector_store::Result<GetOutcome>> {
        self.inner.batch_get(table, keys, projection)
    }

    fn batch_write<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, connector_store::Result<Vec<WriteRequest>>> {
        if self.budget.fetch_sub(1, Ordering::SeqCst) == 0 {
            return Box::pin(async { Err(StoreError::InvalidInput("injected crash".into())) });
        }
        self.inner.batch_write(table, requests)
    }
}

/// What the views show of the tenant: every finding and vulnerability id, with how often each is listed.
async fn visible(store: &Store, t: &TenantId) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    let mut token = None;
    loop {
        let p = store
            .list_findings(t, &FindingFilter::default(), token.as_deref(), 50)
            .await
            .unwrap();
        for f in p.items {
            *seen.entry(f.id).or_insert(0) += 1;
        }
        match p.next_page_token {
            Some(n) => token = Some(n),
            None => break,
        }
    }
    let mut token = None;
    loop {
        let p = store
            .list_vulnerabilities(t, &VulnerabilityFilter::default(), token.as_deref(), 50)
            .await
            .unwrap();
        for f in p.items {
            if let connector_store::StoredFinding::Vulnerability(v) = f {
                *seen.entry(v.vulnerability.id).or_insert(0) += 1;
            }
        }
        match p.next_page_token {
            Some(n) => token = Some(n),
            None => break,
        }
    }
    seen
}

#[tokio::test]
async fn the_migration_stopped_anywhere_and_run_again_loses_and_doubles_nothing() {
    let env = common::env().await;
    // Crash during the copy (after 3 BatchWriteItem calls), right after the flip (on the first delete: the copy
    // takes 28 calls for 700 findings in pages of 500, 4 for 80 vulnerabilities), and never.
    for (name, crash_after) in [("copy", 3), ("delete", 32), ("none", -1)] {
        let t = common::tenant(&format!("migrate-{name}"));
        env.store
            .apply_findings(&t, RecordLayout::LEGACY, &findings(700))
            .await
            .unwrap();
        env.store
            .apply_vulnerabilities(&t, RecordLayout::LEGACY, &vulnerabilities(80))
            .await
            .unwrap();
        let before = visible(&env.store, &t).await;
        assert_eq!(before.len(), 780);
        let crashing = env.store.clone().with_batch_api(Arc::new(Crashing {
            inner: SdkBatch(env.stack.dynamodb.clone()),
            budget: AtomicI64::new(crash_after),
        }));
        let first = crashing.migrate_record_shards(&t, |_| {}).await;
        assert_eq!(first.is_err(), crash_after >= 0, "{name}: {first:?}");
        // Mid-way, the views still show every record once.
        assert_eq!(visible(&env.store, &t).await, before, "{name}: mid-way");
        if name == "delete" {
            assert_eq!(
                env.store.record_layout(&t).await.unwrap(),
                RecordLayout::SPREAD,
                "the crash came after the flip"
            );
        }
        // A sync cannot start meanwhile (unless the migration completed).
        let claimed = env
            .store
            .claim_run_slot(&t, "run-x", std::time::Duration::from_secs(60))
            .await;
        assert_eq!(claimed.is_err(), crash_after >= 0, "{name}: slot held");
        if crash_after < 0 {
            env.store.release_run_slot(&t, "run-x").await.unwrap();
        }
        // Run again (a completed one too: nothing left to do).
        let again = env.store.migrate_record_shards(&t, |_| {}).await.unwrap();
        assert!(again.already_spread || name == "copy", "{name}");
        assert_eq!(
            env.store.record_layout(&t).await.unwrap(),
            RecordLayout::SPREAD
        );
        let stored = record_pks(&env, &t).await;
        assert_eq!(stored.len(), 780, "{name}: nothing lost or doubled");
        assert!(stored
            .iter()
            .all(|(_, pk)| pk.starts_with(&format!("T#{}#R#", t.as_str()))));
        assert_eq!(
            visible(&env.store, &t).await,
            before,
            "{name}: the same set"
        );
        // The migrated tenant syncs as any spread one: its digests still vouch for its findings.
        let c = env
            .store
            .apply_findings(&t, RecordLayout::SPREAD, &findings(700))
            .await
            .unwrap();
        assert_eq!((c.written(), c.unchanged), (0, 700), "{name}");
        // And the run slot is free again.
        env.store
            .claim_run_slot(&t, "run-y", std::time::Duration::from_secs(60))
            .await
            .expect("slot free after the migration");
    }
}
