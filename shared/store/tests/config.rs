//! Token vault, configuration saves (and what failures leave behind), disconnect, and the due index.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{
    disconnect, save_configuration, AssetFilter, SourceStatus, StoreError, SyncRun, TenantConfig,
    Trigger, Vault,
};
use s1_core::ApiToken;
use time::OffsetDateTime;

fn token(tag: &str) -> ApiToken {
    ApiToken::new(format!(
        "eyJraWQiOiJ0ZXN0LXRva2Vu.{tag}.c2lnbmF0dXJlLXZhbHVl"
    ))
    .unwrap()
}

/// A vault with the same prefix but no cache, to see what Secrets Manager really holds.
fn uncached(env: &common::Env) -> Vault {
    Vault::new(env.stack.secrets.clone(), &env.prefix).with_cache_ttl(Duration::ZERO)
}

fn config() -> TenantConfig {
    let mut c = TenantConfig::new("https://acme.sentinelone.net");
    c.group_names = vec!["Servers".into()];
    c
}

/// Group names too large for a DynamoDB item (400 KB): the config write fails after the secret was written.
fn oversized(mut c: TenantConfig) -> TenantConfig {
    c.group_names = (0..500)
        .map(|i| format!("{i}-{}", "g".repeat(1000)))
        .collect();
    c
}

#[tokio::test]
async fn secret_create_update_read_delete() {
    let env = common::env().await;
    let t = common::tenant("vault-1");
    assert!(env.vault.get_token(&t).await.unwrap().is_none());
    env.vault
        .put_token(&t, "https://acme.sentinelone.net", &token("one"))
        .await
        .unwrap();
    assert_eq!(env.vault.get_token(&t).await.unwrap(), Some(token("one")));
    assert_eq!(
        uncached(&env).get_token(&t).await.unwrap(),
        Some(token("one"))
    );
    env.vault
        .put_token(&t, "https://acme.sentinelone.net", &token("two"))
        .await
        .unwrap();
    assert_eq!(env.vault.get_token(&t).await.unwrap(), Some(token("two")));
    assert_eq!(
        uncached(&env).get_token(&t).await.unwrap(),
        Some(token("two"))
    );
    let listed = env
        .stack
        .secrets
        .describe_secret()
        .secret_id(env.vault.secret_name(&t))
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.name(),
        Some(format!("{}vault-1", env.prefix).as_str())
    );
    env.vault.delete_token(&t).await.unwrap();
    assert!(env.vault.get_token(&t).await.unwrap().is_none());
    assert!(uncached(&env).get_token(&t).await.unwrap().is_none());
    env.vault.delete_token(&t).await.unwrap();
    // Deleted without a recovery window: the name can be reused at once.
    env.vault
        .put_token(&t, "https://acme.sentinelone.net", &token("three"))
        .await
        .unwrap();
    assert_eq!(
        uncached(&env).get_token(&t).await.unwrap(),
        Some(token("three"))
    );
}

#[tokio::test]
async fn saves_keep_the_token_out_of_the_table_and_versions_guard_concurrent_edits() {
    let env = common::env().await;
    let t = common::tenant("acme");
    assert!(matches!(
        save_configuration(&env.store, &env.vault, &t, config(), None).await,
        Err(StoreError::TokenRequired)
    ));
    assert_eq!(env.store.get_config(&t).await.unwrap(), None);
    assert_eq!(
        env.store.source_status(&t).await.unwrap(),
        SourceStatus::NeverConnected
    );

    let v1 = save_configuration(&env.store, &env.vault, &t, config(), Some(&token("first")))
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    assert!(v1.token_updated_at.is_some());
    assert_eq!(env.store.get_config(&t).await.unwrap(), Some(v1.clone()));
    assert_eq!(
        env.store.source_status(&t).await.unwrap(),
        SourceStatus::Connected
    );

    // Update without a token keeps the stored one.
    let mut edit = v1.clone();
    edit.auto_onboard = false;
    let v2 = save_configuration(&env.store, &env.vault, &t, edit, None)
        .await
        .unwrap();
    assert_eq!(
        (v2.version, v2.auto_onboard, v2.token_updated_at.clone()),
        (2, false, v1.token_updated_at.clone())
    );
    assert_eq!(
        uncached(&env).get_token(&t).await.unwrap(),
        Some(token("first"))
    );

    // A stale edit (version 1) is refused, and its token is not stored.
    let stale = save_configuration(
        &env.store,
        &env.vault,
        &t,
        v1.clone(),
        Some(&token("stale")),
    )
    .await;
    assert!(
        matches!(
            stale,
            Err(StoreError::VersionConflict {
                expected: 1,
                found: 2
            })
        ),
        "{stale:?}"
    );
    assert_eq!(
        uncached(&env).get_token(&t).await.unwrap(),
        Some(token("first"))
    );
    assert_eq!(env.store.get_config(&t).await.unwrap(), Some(v2.clone()));

    let v3 = save_configuration(
        &env.store,
        &env.vault,
        &t,
        v2.clone(),
        Some(&token("second")),
    )
    .await
    .unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(
        uncached(&env).get_token(&t).await.unwrap(),
        Some(token("second"))
    );

    // Out-of-range interval refused before anything is written.
    let mut bad = v3.clone();
    bad.auto_sync_days = Some(31);
    assert!(matches!(
        save_configuration(&env.store, &env.vault, &t, bad, None).await,
        Err(StoreError::InvalidInput(_))
    ));

    // A full flow: runs, assets, findings, disconnect, reconnect. Then no item anywhere holds a token.
    let mut run = SyncRun::new(t.clone(), Trigger::OnDemand);
    env.store.create_run(&run).await.unwrap();
    run.record_error("API token rejected (401): generate a new token");
    env.store.update_run(&run).await.unwrap();
    env.store
        .record_seen_assets(&t, &run.id, 0, &["a".into()])
        .await
        .unwrap();
    assert!(disconnect(&env.store, &env.vault, &t).await.unwrap());
    assert!(matches!(
        env.store.source_status(&t).await.unwrap(),
        SourceStatus::Disconnected { .. }
    ));
    assert_eq!(env.store.get_config(&t).await.unwrap(), None);
    assert_eq!(uncached(&env).get_token(&t).await.unwrap(), None);
    assert!(
        !disconnect(&env.store, &env.vault, &t).await.unwrap(),
        "disconnecting twice is harmless"
    );
    save_configuration(&env.store, &env.vault, &t, config(), Some(&token("third")))
        .await
        .unwrap();
    let items = common::scan_all(&env).await;
    assert!(
        items.len() >= 4,
        "config, source marker, run and seen page are there: {}",
        items.len()
    );
    for secret in ["first", "second", "stale", "third"] {
        let value = token(secret);
        assert!(
            items.iter().all(|i| !i.contains(value.expose())),
            "token {secret} found in the table"
        );
        assert!(items.iter().all(|i| !i.contains(&format!(".{secret}."))));
    }
}

#[tokio::test]
async fn a_failed_config_write_leaves_no_orphan_secret_and_keeps_an_existing_token() {
    let env = common::env().await;
    let vault = uncached(&env);
    // First save: the secret is written, the config write fails, the secret is removed again.
    let t = common::tenant("first-save-fails");
    let err = save_configuration(
        &env.store,
        &vault,
        &t,
        oversized(config()),
        Some(&token("orphan")),
    )
    .await;
    assert!(matches!(err, Err(StoreError::DynamoDb { .. })), "{err:?}");
    assert_eq!(env.store.get_config(&t).await.unwrap(), None);
    assert_eq!(vault.get_token(&t).await.unwrap(), None, "no orphan secret");
    let gone = env
        .stack
        .secrets
        .describe_secret()
        .secret_id(vault.secret_name(&t))
        .send()
        .await;
    assert!(gone.is_err(), "the secret does not exist at all");

    // Update: the new token is written, the config write fails, the previous token is put back.
    let u = common::tenant("update-fails");
    let v1 = save_configuration(&env.store, &vault, &u, config(), Some(&token("kept")))
        .await
        .unwrap();
    let err = save_configuration(
        &env.store,
        &vault,
        &u,
        oversized(v1.clone()),
        Some(&token("lost")),
    )
    .await;
    assert!(err.is_err());
    assert_eq!(vault.get_token(&u).await.unwrap(), Some(token("kept")));
    assert_eq!(env.store.get_config(&u).await.unwrap(), Some(v1));
}

#[tokio::test]
async fn a_failed_secret_write_writes_no_config() {
    let env = common::env().await;
    let t = common::tenant("secret-fails");
    // A secret pending deletion refuses new values, as Secrets Manager does after a non-forced delete.
    let name = env.vault.secret_name(&t);
    env.stack
        .secrets
        .create_secret()
        .name(&name)
        .secret_string("placeholder-value-000000")
        .send()
        .await
        .unwrap();
    env.stack
        .secrets
        .delete_secret()
        .secret_id(&name)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let err = save_configuration(&env.store, &env.vault, &t, config(), Some(&token("x"))).await;
    assert!(
        matches!(err, Err(StoreError::SecretsManager { .. })),
        "{err:?}"
    );
    assert_eq!(env.store.get_config(&t).await.unwrap(), None);
    assert_eq!(
        env.store.source_status(&t).await.unwrap(),
        SourceStatus::NeverConnected
    );
    // The error's text names the operation, not the token.
    let text = format!(
        "{} {:?}",
        err.as_ref().unwrap_err(),
        err.as_ref().unwrap_err()
    );
    assert!(!text.contains(token("x").expose()));
}

#[tokio::test]
async fn due_index_lists_exactly_the_due_tenants_and_scheduling_is_once_per_day() {
    let env = common::env().await;
    let store = &env.store;
    let mut on = Vec::new();
    for i in 0..40 {
        let t = common::tenant(&format!("due-{i:02}"));
        let mut c = config();
        c.auto_sync_days = if i % 4 == 0 {
            None
        } else {
            Some((i % 7 + 1) as u16)
        };
        let saved = save_configuration(store, &env.vault, &t, c, Some(&token("due")))
            .await
            .unwrap();
        if saved.auto_sync_days.is_some() {
            assert!(saved.next_due_at.is_some());
            on.push(t);
        } else {
            assert!(saved.next_due_at.is_none());
        }
    }
    let now = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let mut due = store.list_due_tenants(now).await.unwrap();
    due.sort();
    assert_eq!(due, on, "exactly the tenants with auto-sync on");
    let before = store
        .list_due_tenants(now - time::Duration::hours(1))
        .await
        .unwrap();
    assert!(
        before.is_empty(),
        "nobody is due before they turned auto-sync on"
    );

    // Scheduling moves the tenant's next due time; the same day again is refused.
    let first = &on[0];
    let next = "2099-01-02T01:15:00Z";
    assert!(store
        .mark_scheduled(first, "2026-11-25", next)
        .await
        .unwrap());
    assert!(!store
        .mark_scheduled(first, "2026-11-25", next)
        .await
        .unwrap());
    let due_now = store.list_due_tenants(now).await.unwrap();
    assert_eq!(due_now.len(), on.len() - 1);
    assert!(!due_now.contains(first));
    assert_eq!(
        store
            .get_config(first)
            .await
            .unwrap()
            .unwrap()
            .next_due_at
            .as_deref(),
        Some(next)
    );
    let later =
        OffsetDateTime::parse(next, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(store.list_due_tenants(later).await.unwrap().len(), on.len());
    assert!(store
        .mark_scheduled(first, "2099-01-02", "2099-01-09T01:15:00Z")
        .await
        .unwrap());
    // Auto-sync off: leaves the index, and cannot be scheduled.
    let off_tenant = &on[1];
    let mut c = store.get_config(off_tenant).await.unwrap().unwrap();
    c.auto_sync_days = None;
    save_configuration(store, &env.vault, off_tenant, c, None)
        .await
        .unwrap();
    assert!(!store
        .list_due_tenants(now)
        .await
        .unwrap()
        .contains(off_tenant));
    assert!(!store
        .mark_scheduled(off_tenant, "2026-11-26", next)
        .await
        .unwrap());
    assert!(store.mark_scheduled(first, "bad-day", next).await.is_err());
}

#[tokio::test]
async fn disconnect_keeps_imported_data() {
    let env = common::env().await;
    let t = common::tenant("keeps-data");
    save_configuration(&env.store, &env.vault, &t, config(), Some(&token("k")))
        .await
        .unwrap();
    env.store.record_seen_assets(&t, "r", 0, &[]).await.unwrap();
    let decisions = vec![s1_core::AssetDecision::Create(
        serde_json::from_value(serde_json::json!({
            "key": "kept", "name": "kept", "ipv4": [], "ipv6": [], "mac_addresses": [], "os_name": null,
            "os_type": null, "os_version": null, "machine_type": null, "model": null, "serial": null, "domain": null,
            "agent_version": null, "site_id": null, "site_name": null, "group_id": null, "group_name": null,
            "account_id": null, "account_name": null, "active": null, "decommissioned": null, "infected": null,
            "last_seen": null, "console_url": null, "primary_agent_id": null, "agent_ids": [], "custom_fields": {},
            "tags": [], "origin": "agent"
        }))
        .unwrap(),
    )];
    env.store
        .apply_asset_decisions(&t, &decisions, "r")
        .await
        .unwrap();
    disconnect(&env.store, &env.vault, &t).await.unwrap();
    let assets = env
        .store
        .list_assets(&t, &AssetFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(assets.items.len(), 1);
    assert!(matches!(
        env.store.source_status(&t).await.unwrap(),
        SourceStatus::Disconnected { .. }
    ));
}

#[tokio::test]
async fn a_save_in_progress_blocks_other_saves_until_released_or_expired() {
    // The lock is what keeps a losing concurrent save's rollback from undoing the winner's token. It is tested
    // deterministically (a held lock planted in the table) because moto's threaded server does not serialise
    // conditional writes to one item the way DynamoDB does.
    let env = common::env().await;
    let t = common::tenant("locked");
    let v1 = save_configuration(&env.store, &env.vault, &t, config(), Some(&token("before")))
        .await
        .unwrap();
    let plant = |expires_ms: i64| {
        env.stack
            .dynamodb
            .put_item()
            .table_name(&env.table)
            .item("pk", AttributeValue::S("T#locked".into()))
            .item("sk", AttributeValue::S("CONFIGLOCK".into()))
            .item("owner", AttributeValue::S("someone-else".into()))
            .item("lock_expires_ms", AttributeValue::N(expires_ms.to_string()))
            .send()
    };
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    plant(now_ms + 60_000).await.unwrap();
    let blocked = save_configuration(
        &env.store,
        &env.vault,
        &t,
        v1.clone(),
        Some(&token("during")),
    )
    .await;
    assert!(
        matches!(blocked, Err(StoreError::SaveInProgress)),
        "{blocked:?}"
    );
    assert!(matches!(
        disconnect(&env.store, &env.vault, &t).await,
        Err(StoreError::SaveInProgress)
    ));
    assert_eq!(
        uncached(&env).get_token(&t).await.unwrap(),
        Some(token("before")),
        "secret untouched"
    );
    assert_eq!(env.store.get_config(&t).await.unwrap(), Some(v1.clone()));
    // A lock left by a crashed save expires.
    plant(now_ms - 1).await.unwrap();
    let v2 = save_configuration(&env.store, &env.vault, &t, v1, Some(&token("after")))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(
        uncached(&env).get_token(&t).await.unwrap(),
        Some(token("after"))
    );
    // And a successful save releases its own lock.
    save_configuration(&env.store, &env.vault, &t, v2, None)
        .await
        .unwrap();
}
