//! The token vault on the local stack: a replaced token is not left readable as the previous version, the token
//! is handed out only for the console it was saved for, a secret written before binding still serves the
//! configured console and is bound by the next save, and every write uses the deployment's KMS key.

mod common;

use connector_store::{save_configuration, StoreError, TenantConfig, Vault};
use s1_core::ApiToken;

const ACME: &str = "https://acme.sentinelone.net";
const OTHER: &str = "https://other.sentinelone.net";

fn token(tag: &str) -> ApiToken {
    ApiToken::new(format!(
        "eyJraWQiOiJ0ZXN0LXRva2Vu.{tag}.c2lnbmF0dXJlLXZhbHVl"
    ))
    .expect("token")
}

/// The stages of every version of the secret, as Secrets Manager lists them.
async fn stages(env: &common::Env, name: &str) -> Vec<Vec<String>> {
    env.stack
        .secrets
        .list_secret_version_ids()
        .secret_id(name)
        .send()
        .await
        .expect("list versions")
        .versions
        .unwrap_or_default()
        .iter()
        .map(|v| v.version_stages().to_vec())
        .collect()
}

#[tokio::test]
async fn a_replaced_token_is_not_readable_as_the_previous_version() {
    let env = common::env().await;
    let t = common::tenant("vault-previous");
    let name = env.vault.secret_name(&t);
    env.vault.put_token(&t, ACME, &token("one")).await.unwrap();
    env.vault.put_token(&t, ACME, &token("two")).await.unwrap();
    let previous = env
        .stack
        .secrets
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSPREVIOUS")
        .send()
        .await;
    assert!(previous.is_err(), "the replaced token is still AWSPREVIOUS");
    let labelled = stages(&env, &name).await;
    assert!(
        labelled.iter().flatten().all(|s| s != "AWSPREVIOUS"),
        "{labelled:?}"
    );
    assert_eq!(
        env.vault.get_token(&t).await.unwrap(),
        Some(token("two")),
        "the new token is the current one"
    );
}

#[tokio::test]
async fn a_token_is_handed_out_only_for_the_console_it_was_saved_for() {
    let env = common::env().await;
    let t = common::tenant("vault-bound");
    env.vault.put_token(&t, ACME, &token("acme")).await.unwrap();
    assert_eq!(
        env.vault.token_for_console(&t, ACME).await.unwrap(),
        Some(token("acme"))
    );
    let refused = env.vault.token_for_console(&t, OTHER).await;
    assert!(
        matches!(refused, Err(StoreError::TokenConsoleMismatch)),
        "{refused:?}"
    );
    // The secret holds the pair, not the bare token.
    let raw = env
        .stack
        .secrets
        .get_secret_value()
        .secret_id(env.vault.secret_name(&t))
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    let pair: serde_json::Value = serde_json::from_str(&raw).expect("the secret is JSON");
    assert_eq!(pair["consoleUrl"], ACME);
    assert_eq!(pair["apiToken"], token("acme").expose());
}

#[tokio::test]
async fn a_secret_written_before_binding_serves_the_configured_console_and_the_next_save_binds_it()
{
    let env = common::env().await;
    let t = common::tenant("vault-legacy");
    let config = TenantConfig::new(ACME);
    save_configuration(&env.store, &env.vault, &t, config, Some(&token("first")))
        .await
        .unwrap();
    // As an older release stored it: the bare token.
    env.stack
        .secrets
        .put_secret_value()
        .secret_id(env.vault.secret_name(&t))
        .secret_string(token("legacy").expose())
        .send()
        .await
        .unwrap();
    let fresh = Vault::new(env.stack.secrets.clone(), &env.prefix)
        .with_cache_ttl(std::time::Duration::ZERO);
    assert_eq!(
        fresh.token_for_console(&t, ACME).await.unwrap(),
        Some(token("legacy"))
    );
    // The next save with a token binds it.
    let saved = env.store.get_config(&t).await.unwrap().expect("config");
    save_configuration(&env.store, &fresh, &t, saved, Some(&token("rebound")))
        .await
        .unwrap();
    assert!(matches!(
        fresh.token_for_console(&t, OTHER).await,
        Err(StoreError::TokenConsoleMismatch)
    ));
    assert_eq!(
        fresh.token_for_console(&t, ACME).await.unwrap(),
        Some(token("rebound"))
    );
}

#[tokio::test]
async fn every_write_uses_the_deployments_kms_key() {
    let env = common::env().await;
    let key = "alias/s1-connector-test-tokens";
    let t = common::tenant("vault-kms");
    let name = env.vault.secret_name(&t);
    // A secret created under the default key (an older release), then written through a vault with the key.
    env.vault
        .put_token(&t, ACME, &token("default-key"))
        .await
        .unwrap();
    let before = env
        .stack
        .secrets
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(before.kms_key_id(), None);
    let keyed = env.vault.clone().with_kms_key(key);
    keyed.put_token(&t, ACME, &token("keyed")).await.unwrap();
    let after = env
        .stack
        .secrets
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(after.kms_key_id(), Some(key));
    // A new secret is created with it.
    let u = common::tenant("vault-kms-new");
    keyed.put_token(&u, ACME, &token("new")).await.unwrap();
    let created = env
        .stack
        .secrets
        .describe_secret()
        .secret_id(keyed.secret_name(&u))
        .send()
        .await
        .unwrap();
    assert_eq!(created.kms_key_id(), Some(key));
}
