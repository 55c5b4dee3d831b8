//! The two sides of an asset against the local stack: a registration (import, manual) and the sync's description
//! never clobber each other, in either order or at the same time (the sync writes whole-item puts), and retirement
//! only retires SentinelOne's side of an asset a registration holds.

mod common;

use connector_store::RegistrationOutcome;
use s1_core::asset::AssetOrigin;
use s1_core::registry::{AssetRegistration, PlatformAsset};
use s1_core::{Asset, AssetDecision, AssetSource};
use serde_json::json;

fn described(name: &str, os_version: &str) -> Asset {
    serde_json::from_value(json!({
        "key": name, "name": name, "ipv4": ["10.0.0.1"], "ipv6": [], "mac_addresses": [],
        "os_name": "Windows Server 2022", "os_type": "windows", "os_version": os_version, "machine_type": "server",
        "model": null, "serial": "S1-SERIAL", "domain": "corp", "agent_version": "24.1.2", "site_id": "1",
        "site_name": "HQ", "group_id": "2", "group_name": "Default Group", "account_id": "3", "account_name": "Acme",
        "active": true, "decommissioned": false, "infected": false, "last_seen": "2026-11-24T10:00:00Z",
        "console_url": null, "primary_agent_id": format!("a-{name}"), "agent_ids": [format!("a-{name}")],
        "custom_fields": {}, "tags": [], "origin": "agent"
    }))
    .expect("asset json")
}

fn registered(name: &str, serial: &str) -> PlatformAsset {
    AssetRegistration {
        computer_name: Some(name.into()),
        serial_number: Some(serial.into()),
        ..AssetRegistration::default()
    }
    .check(None)
    .expect("valid registration")
}

#[tokio::test]
async fn neither_side_clobbers_the_other_in_either_order_or_concurrently() {
    let env = common::env().await;
    let store = env.store.clone();
    let t = common::tenant("sides");

    // Sync first, then a registration: SentinelOne's description stays.
    store
        .apply_asset_decisions(&t, &[AssetDecision::Create(described("a", "1"))], "run1")
        .await
        .unwrap();
    let out = store
        .register_platform_assets(&t, &[registered("A", "IMP-A")], AssetSource::Import)
        .await
        .unwrap();
    assert_eq!(out, [RegistrationOutcome::Updated]);
    // Registration first, then the sync: the registration stays.
    store
        .register_platform_assets(&t, &[registered("b", "IMP-B")], AssetSource::Manual)
        .await
        .unwrap();
    let b_before = store.load_assets(&t, &["b".into()]).await.unwrap()["b"].clone();
    assert_eq!(
        b_before.asset.origin,
        AssetOrigin::Platform,
        "the registration's own description"
    );
    store
        .apply_asset_decisions(&t, &[AssetDecision::Create(described("b", "1"))], "run1")
        .await
        .unwrap();
    let got = store
        .load_assets(&t, &["a".into(), "b".into()])
        .await
        .unwrap();
    for (key, serial) in [("a", "IMP-A"), ("b", "IMP-B")] {
        let a = &got[key];
        assert_eq!(
            a.asset.origin,
            AssetOrigin::Agent,
            "{key}: SentinelOne's description"
        );
        assert_eq!(a.asset.serial.as_deref(), Some("S1-SERIAL"));
        assert_eq!(
            a.platform.as_ref().unwrap().serial.as_deref(),
            Some(serial),
            "{key}"
        );
        assert!(a.sources.contains(&AssetSource::Sentinelone), "{key}");
    }
    assert_eq!(
        got["b"].created_at, b_before.created_at,
        "created when first registered"
    );

    // At the same time, on 40 assets: every asset ends with both sides.
    let names: Vec<String> = (0..40).map(|i| format!("host-{i:02}")).collect();
    let decisions: Vec<AssetDecision> = names
        .iter()
        .map(|n| AssetDecision::Create(described(n, "7")))
        .collect();
    let registrations: Vec<PlatformAsset> = names.iter().map(|n| registered(n, "IMP")).collect();
    let (sync, import) = tokio::join!(
        store.apply_asset_decisions(&t, &decisions, "run2"),
        store.register_platform_assets(&t, &registrations, AssetSource::Import)
    );
    sync.unwrap();
    import.unwrap();
    let got = store.load_assets(&t, &names).await.unwrap();
    assert_eq!(got.len(), 40);
    for (key, a) in &got {
        assert_eq!(
            a.asset.os_version.as_deref(),
            Some("7"),
            "{key}: the sync's write landed"
        );
        assert_eq!(
            a.platform.as_ref().and_then(|p| p.serial.as_deref()),
            Some("IMP"),
            "{key}: the registration landed"
        );
        assert_eq!(
            a.sources,
            [AssetSource::Sentinelone, AssetSource::Import]
                .into_iter()
                .collect()
        );
    }
}

#[tokio::test]
async fn retirement_retires_only_the_sentinelone_side_of_a_registered_asset() {
    let env = common::env().await;
    let store = env.store.clone();
    let t = common::tenant("retire-sides");
    let decisions: Vec<AssetDecision> = (0..10)
        .map(|i| AssetDecision::Create(described(&format!("h{i}"), "1")))
        .collect();
    store
        .apply_asset_decisions(&t, &decisions, "run1")
        .await
        .unwrap();
    store
        .register_platform_assets(
            &t,
            &[registered("h0", "X"), registered("only-imported", "Y")],
            AssetSource::Import,
        )
        .await
        .unwrap();
    // Run 2 saw h2..h9: h0 (registered) and h1 (not) are unseen; the registration-only asset is not SentinelOne's.
    let seen: Vec<String> = (2..10).map(|i| format!("h{i}")).collect();
    store
        .record_seen_assets(&t, "run2", 0, &seen)
        .await
        .unwrap();
    let plan = store.plan_retirement(&t, "run2").await.unwrap();
    assert_eq!(
        plan.active, 10,
        "the registration-only asset has no SentinelOne side"
    );
    let mut unseen = plan.unseen.clone();
    unseen.sort();
    assert_eq!(unseen, ["ASSET#h0", "ASSET#h1"]);
    let counts = store.retire_assets(&t, "run2", plan.unseen).await.unwrap();
    assert_eq!((counts.retired, counts.kept_by_platform), (1, 1));
    let got = store
        .load_assets(&t, &["h0".into(), "h1".into(), "only-imported".into()])
        .await
        .unwrap();
    assert!(got["h0"].active && got["h0"].sentinelone_retired_at.is_some());
    assert!(!got["h1"].active && got["h1"].retired_at.is_some());
    assert!(got["only-imported"].active);
    // The next plan does not count h0 again; SentinelOne returning it revives its side.
    let plan = store.plan_retirement(&t, "run3").await.unwrap();
    assert_eq!(plan.active, 8);
    store
        .apply_asset_decisions(&t, &[AssetDecision::Update(described("h0", "1"))], "run3")
        .await
        .unwrap();
    let h0 = &store.load_assets(&t, &["h0".into()]).await.unwrap()["h0"];
    assert!(h0.sentinelone_active());
    assert_eq!(h0.platform.as_ref().unwrap().serial.as_deref(), Some("X"));
}
