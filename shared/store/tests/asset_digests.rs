//! Asset digests against the local stack: a walk page as the sync engine applies it (digests loaded, the assets
//! they cannot vouch for named in the journal, recorded as seen, read, decided, applied). An unchanged asset the
//! previous run saw is not read; an asset changed since, retired since, left mid-page by a crash, or rewritten
//! outside the walk is read; a run the marker does not know breaks the chain.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use connector_store::{Store, SyncRun, TenantId, Trigger};
use s1_core::mapping::MappingSettings;
use s1_core::merge::decide_walked_asset;
use s1_core::{Asset, AssetDecision};
use serde_json::json;

fn described(name: &str, last_seen: &str) -> Asset {
    serde_json::from_value(json!({
        "key": name, "name": name, "ipv4": ["10.0.0.1"], "ipv6": [], "mac_addresses": [],
        "os_name": "Windows Server 2022", "os_type": "windows", "os_version": "1", "machine_type": "server",
        "model": null, "serial": "S1-SERIAL", "domain": "corp", "agent_version": "24.1.2", "site_id": "1",
        "site_name": "HQ", "group_id": "2", "group_name": "Default Group", "account_id": "3", "account_name": "Acme",
        "active": true, "decommissioned": false, "infected": false,
        "last_seen": last_seen, "console_url": null, "primary_agent_id": format!("a-{name}"),
        "agent_ids": [format!("a-{name}")], "custom_fields": {}, "tags": [], "origin": "agent"
    }))
    .expect("asset json")
}

/// A new run in the tenant's history (run ids sort by their start, to the millisecond).
async fn new_run(store: &Store, t: &TenantId) -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let run = SyncRun::new(t.clone(), Trigger::OnDemand);
    store.create_run(&run).await.expect("run created");
    run.id
}

#[derive(Debug, Default)]
struct Walked {
    /// Keys the digests vouched for (not read).
    vouched: BTreeSet<String>,
    /// Keys read.
    read: Vec<String>,
    updated: u64,
}

/// How far a page gets before it stops (a crash).
#[derive(PartialEq)]
enum Until {
    Applied,
    RecordedSeen,
}

/// One page of `run`'s agent walk, as the engine applies it.
async fn walk(store: &Store, t: &TenantId, run: &str, assets: &[Asset], until: Until) -> Walked {
    let settings = MappingSettings::default();
    let mut digests = store.load_asset_digests(t, run).await.unwrap();
    let mut walked = Walked::default();
    for a in assets {
        let unchanged = digests.vouch(a).is_some_and(|stored| {
            decide_walked_asset(a, Some((&stored, true)), &settings) == AssetDecision::Unchanged
        });
        if unchanged {
            walked.vouched.insert(a.key.as_str().to_string());
        } else {
            walked.read.push(a.key.as_str().to_string());
        }
    }
    store
        .expect_asset_reads(t, &mut digests, &walked.read)
        .await
        .unwrap();
    let live: Vec<String> = assets.iter().map(|a| a.key.as_str().to_string()).collect();
    store.record_seen_assets(t, run, 0, &live).await.unwrap();
    if until == Until::RecordedSeen {
        return walked;
    }
    let existing = store.load_asset_heads(t, &walked.read).await.unwrap();
    let decisions: Vec<AssetDecision> = assets
        .iter()
        .map(|a| {
            if walked.vouched.contains(a.key.as_str()) {
                return AssetDecision::Unchanged;
            }
            let stored = existing
                .get(a.key.as_str())
                .map(|s| (&s.asset, s.sentinelone_active()));
            decide_walked_asset(a, stored, &settings)
        })
        .collect();
    let counts = store
        .apply_walked_page(t, &decisions, run, &existing, (&mut digests, &walked.read))
        .await
        .unwrap();
    walked.updated = counts.updated;
    walked
}

fn keys(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn an_unchanged_asset_the_previous_run_saw_is_not_read_and_a_changed_one_is() {
    let env = common::env().await;
    let (store, t) = (&env.store, common::tenant("digest-unchanged"));
    let page = [
        described("alpha", "2026-11-24T10:00:00.123456Z"),
        described("beta", "2026-11-24T10:00:00Z"),
    ];
    let r1 = new_run(store, &t).await;
    let first = walk(store, &t, &r1, &page, Until::Applied).await;
    assert!(first.vouched.is_empty(), "no digest before the first run");

    // `lastActiveDate` moved by minutes: not written (hourly refresh), and the digests vouch without a read.
    let mut later = page.clone();
    for a in &mut later {
        a.last_seen = Some(a.last_seen.unwrap() + Duration::from_secs(600));
    }
    let r2 = new_run(store, &t).await;
    let second = walk(store, &t, &r2, &later, Until::Applied).await;
    assert_eq!(second.vouched, keys(&["alpha", "beta"]));
    assert!(second.read.is_empty());

    // A changed address, and `last_seen` past the hourly refresh: both read and written.
    let mut changed = later.clone();
    changed[0].ipv4 = vec!["10.0.0.9".into()];
    changed[1].last_seen = Some(changed[1].last_seen.unwrap() + Duration::from_secs(7200));
    let r3 = new_run(store, &t).await;
    let third = walk(store, &t, &r3, &changed, Until::Applied).await;
    assert!(third.vouched.is_empty(), "{third:?}");
    assert_eq!(third.updated, 2);
    let stored = store
        .load_assets(&t, &["alpha".into(), "beta".into()])
        .await
        .unwrap();
    assert_eq!(stored["alpha"].asset.ipv4, ["10.0.0.9"]);
    assert_eq!(stored["beta"].asset.last_seen, changed[1].last_seen);

    // What was written is vouched for next time.
    let r4 = new_run(store, &t).await;
    let fourth = walk(store, &t, &r4, &changed, Until::Applied).await;
    assert_eq!(fourth.vouched, keys(&["alpha", "beta"]));
}

#[tokio::test]
async fn an_asset_retired_since_is_read_and_comes_back_live() {
    let env = common::env().await;
    let (store, t) = (&env.store, common::tenant("digest-retired"));
    let page = [
        described("alpha", "2026-11-24T10:00:00Z"),
        described("beta", "2026-11-24T10:00:00Z"),
    ];
    let r1 = new_run(store, &t).await;
    walk(store, &t, &r1, &page, Until::Applied).await;
    // SentinelOne leaves beta out of a complete walk: finalize retires it (the digests are not told).
    let r2 = new_run(store, &t).await;
    walk(store, &t, &r2, &page[..1], Until::Applied).await;
    assert_eq!(store.retire_unseen_assets(&t, &r2).await.unwrap(), 1);

    let r3 = new_run(store, &t).await;
    let third = walk(store, &t, &r3, &page, Until::Applied).await;
    assert_eq!(
        third.vouched,
        keys(&["alpha"]),
        "the previous run did not see beta"
    );
    let stored = store.load_assets(&t, &["beta".into()]).await.unwrap();
    assert!(stored["beta"].active, "SentinelOne returns it live again");
}

#[tokio::test]
async fn a_page_stopped_after_recording_what_it_saw_leaves_its_assets_named_in_the_journal() {
    let env = common::env().await;
    let (store, t) = (&env.store, common::tenant("digest-crash"));
    let page = [
        described("alpha", "2026-11-24T10:00:00Z"),
        described("beta", "2026-11-24T10:00:00Z"),
    ];
    let r1 = new_run(store, &t).await;
    walk(store, &t, &r1, &page, Until::Applied).await;
    let r2 = new_run(store, &t).await;
    walk(store, &t, &r2, &page[..1], Until::Applied).await;
    assert_eq!(store.retire_unseen_assets(&t, &r2).await.unwrap(), 1);
    // The next run records beta as seen, then stops before bringing it back (and is never resumed).
    let r3 = new_run(store, &t).await;
    let stopped = walk(store, &t, &r3, &page, Until::RecordedSeen).await;
    assert_eq!(stopped.read, ["beta"]);

    let r4 = new_run(store, &t).await;
    let fourth = walk(store, &t, &r4, &page, Until::Applied).await;
    assert_eq!(
        fourth.vouched,
        keys(&["alpha"]),
        "beta's entry is named in the journal"
    );
    let stored = store.load_assets(&t, &["beta".into()]).await.unwrap();
    assert!(stored["beta"].active);
    // Brought up to date and out of the journal: vouched for again.
    let r5 = new_run(store, &t).await;
    let fifth = walk(store, &t, &r5, &page, Until::Applied).await;
    assert_eq!(fifth.vouched, keys(&["alpha", "beta"]));
}

#[tokio::test]
async fn a_write_outside_the_walk_keeps_the_entry_honest() {
    let env = common::env().await;
    let (store, t) = (&env.store, common::tenant("digest-outside"));
    let page = [described("alpha", "2026-11-24T10:00:00Z")];
    let r1 = new_run(store, &t).await;
    walk(store, &t, &r1, &page, Until::Applied).await;
    // Another writer of the sync (as threat onboarding does) rewrites the asset.
    let mut rewritten = page[0].clone();
    rewritten.serial = Some("OTHER".into());
    store
        .apply_walked_assets(
            &t,
            &[AssetDecision::Update(rewritten.clone())],
            &r1,
            &HashMap::new(),
        )
        .await
        .unwrap();
    let r2 = new_run(store, &t).await;
    let second = walk(store, &t, &r2, &page, Until::Applied).await;
    assert!(second.vouched.is_empty(), "the entry describes the rewrite");
    assert_eq!(
        second.updated, 1,
        "SentinelOne's description is written back"
    );
}

#[tokio::test]
async fn a_run_the_marker_does_not_know_breaks_the_chain() {
    let env = common::env().await;
    let (store, t) = (&env.store, common::tenant("digest-chain"));
    let page = [described("alpha", "2026-11-24T10:00:00Z")];
    let r1 = new_run(store, &t).await;
    walk(store, &t, &r1, &page, Until::Applied).await;
    // A run that never walked with digests (it could have retired anything its walk did not see).
    new_run(store, &t).await;
    let r3 = new_run(store, &t).await;
    let third = walk(store, &t, &r3, &page, Until::Applied).await;
    assert!(third.vouched.is_empty());
    let r4 = new_run(store, &t).await;
    let fourth = walk(store, &t, &r4, &page, Until::Applied).await;
    assert_eq!(fourth.vouched, keys(&["alpha"]));
}
