//! The agent walk's asset writes against the local stack: decided against the assets read once (no second read,
//! no registration read), and a new machine SentinelOne returns decommissioned created already retired, unless
//! something created the asset meanwhile (a registration), which stays active.

mod common;

use std::collections::HashMap;

use s1_core::registry::{AssetRegistration, PlatformAsset};
use s1_core::{Asset, AssetDecision, AssetSource};
use serde_json::json;

fn described(name: &str, decommissioned: bool) -> Asset {
    serde_json::from_value(json!({
        "key": name, "name": name, "ipv4": ["10.0.0.1"], "ipv6": [], "mac_addresses": [],
        "os_name": "Windows Server 2022", "os_type": "windows", "os_version": "1", "machine_type": "server",
        "model": null, "serial": "S1-SERIAL", "domain": "corp", "agent_version": "24.1.2", "site_id": "1",
        "site_name": "HQ", "group_id": "2", "group_name": "Default Group", "account_id": "3", "account_name": "Acme",
        "active": !decommissioned, "decommissioned": decommissioned, "infected": false,
        "last_seen": "2026-11-24T10:00:00Z", "console_url": null, "primary_agent_id": format!("a-{name}"),
        "agent_ids": [format!("a-{name}")], "custom_fields": {}, "tags": [], "origin": "agent"
    }))
    .expect("asset json")
}

fn registered(name: &str) -> PlatformAsset {
    AssetRegistration {
        computer_name: Some(name.into()),
        serial_number: Some("IMP-1".into()),
        ..AssetRegistration::default()
    }
    .check(None)
    .expect("valid registration")
}

#[tokio::test]
async fn a_new_decommissioned_machine_is_created_retired_and_a_registered_one_stays_active() {
    let env = common::env().await;
    let store = env.store.clone();
    let t = common::tenant("walked");
    assert!(
        !store.has_assets(&t).await.unwrap(),
        "a new tenant holds no asset"
    );

    // A registration lands between the walk's read (which found nothing) and its write.
    store
        .register_platform_assets(&t, &[registered("reg")], AssetSource::Import)
        .await
        .unwrap();
    assert!(
        store.has_assets(&t).await.unwrap(),
        "a registration creates the asset item"
    );
    let decisions = [
        AssetDecision::Create(described("gone", true)),
        AssetDecision::Create(described("reg", true)),
        AssetDecision::Create(described("live", false)),
    ];
    let counts = store
        .apply_walked_assets(&t, &decisions, "run1", &HashMap::new())
        .await
        .unwrap();
    assert_eq!(counts.created, 3);
    let keys = ["gone".to_string(), "reg".to_string(), "live".to_string()];
    let stored = store.load_assets(&t, &keys).await.unwrap();
    assert!(
        !stored["gone"].active,
        "a decommissioned machine is never live"
    );
    assert!(stored["gone"].retired_at.is_some());
    assert!(stored["live"].active);
    let reg = &stored["reg"];
    assert!(reg.active, "a registration keeps its asset active");
    assert!(reg.sources.contains(&AssetSource::Import));
    assert!(reg.sources.contains(&AssetSource::Sentinelone));

    // Applying the same page again (a crash before its checkpoint) against what it reads now writes nothing.
    let heads = store.load_asset_heads(&t, &keys).await.unwrap();
    assert!(
        heads.values().all(|a| a.platform.is_none()),
        "heads carry no registration"
    );
    let decisions: Vec<AssetDecision> = decisions
        .iter()
        .map(|d| match d {
            AssetDecision::Create(a) => {
                let s = &heads[a.key.as_str()];
                s1_core::merge::decide_walked_asset(
                    a,
                    Some((&s.asset, s.sentinelone_active())),
                    &s1_core::MappingSettings::default(),
                )
            }
            other => other.clone(),
        })
        .collect();
    let again = store
        .apply_walked_assets(&t, &decisions, "run1", &heads)
        .await
        .unwrap();
    assert_eq!((again.created, again.updated), (0, 0), "{again:?}");
    assert!(!store.load_assets(&t, &keys).await.unwrap()["gone"].active);
}

#[tokio::test]
async fn a_changed_asset_is_rewritten_against_the_heads_read_once() {
    let env = common::env().await;
    let store = env.store.clone();
    let t = common::tenant("walked-changed");
    store
        .apply_walked_assets(
            &t,
            &[AssetDecision::Create(described("a", false))],
            "run1",
            &HashMap::new(),
        )
        .await
        .unwrap();
    let heads = store.load_asset_heads(&t, &["a".into()]).await.unwrap();
    let mut changed = described("a", false);
    changed.os_version = Some("2".into());
    let counts = store
        .apply_walked_assets(&t, &[AssetDecision::Update(changed)], "run2", &heads)
        .await
        .unwrap();
    assert_eq!(counts.updated, 1);
    let stored = &store.load_assets(&t, &["a".into()]).await.unwrap()["a"];
    assert_eq!(stored.asset.os_version.as_deref(), Some("2"));
    assert_eq!(
        stored.created_at, heads["a"].created_at,
        "creation time kept"
    );
}

#[tokio::test]
async fn a_retired_machine_returned_decommissioned_and_changed_stays_retired_unless_a_registration_revived_it(
) {
    let env = common::env().await;
    let store = env.store.clone();
    let t = common::tenant("walked-retired");
    let keys = ["gone".to_string(), "rev".to_string()];
    store
        .apply_walked_assets(
            &t,
            &[
                AssetDecision::Create(described("gone", true)),
                AssetDecision::Create(described("rev", true)),
            ],
            "run1",
            &HashMap::new(),
        )
        .await
        .unwrap();
    let heads = store.load_asset_heads(&t, &keys).await.unwrap();
    assert!(heads.values().all(|a| !a.active));
    // After the walk read them, a registration revives one (only its SentinelOne side stays retired).
    store
        .register_platform_assets(&t, &[registered("rev")], AssetSource::Manual)
        .await
        .unwrap();
    let changed = |name: &str| {
        let mut a = described(name, true);
        a.os_version = Some("2".into());
        AssetDecision::Update(a)
    };
    let counts = store
        .apply_walked_assets(&t, &[changed("gone"), changed("rev")], "run2", &heads)
        .await
        .unwrap();
    assert_eq!(counts.updated, 2);
    let stored = store.load_assets(&t, &keys).await.unwrap();
    let gone = &stored["gone"];
    assert!(
        !gone.active,
        "a decommissioned machine is not revived by a change"
    );
    assert_eq!(gone.asset.os_version.as_deref(), Some("2"));
    assert_eq!(gone.created_at, heads["gone"].created_at);
    let rev = &stored["rev"];
    assert!(rev.active, "a registration revived it: it stays active");
    assert_eq!(rev.asset.os_version.as_deref(), Some("2"));
}
