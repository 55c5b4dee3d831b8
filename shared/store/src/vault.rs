//! The token vault: one Secrets Manager secret per tenant, named `<prefix><tenant id>`, so an IAM policy can scope
//! the functions to `arn:…:secret:<prefix>*`. Reads are cached in-process for a short time: a sync reads the
//! token once per invocation, the handlers once per request, and neither should cost a Secrets Manager call each.
//!
//! What a secret holds: `{"consoleUrl": …, "apiToken": …}`, the token bound to the console it was saved for, so a
//! token is only ever handed out for that console ([`Vault::token_for_console`] refuses any other). Secrets written
//! before tokens were bound hold the bare token; they are read as bound to the tenant's configured console (the save
//! rule of that time already sent a stored token to the stored console only) and are rewritten bound by the next
//! save that carries a token.
//!
//! New versions are encrypted with the deployment's customer-managed KMS key when one is set (every write passes
//! it, so a secret created under Secrets Manager's default key moves to it on its next write), and after every write
//! the replaced version loses its `AWSPREVIOUS` label: a replaced token is not kept readable by stage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s1_core::ApiToken;

use crate::error::{Result, StoreError};
use crate::keys::TenantId;

/// How long a read token is served from memory. A token replaced through another process is seen after this.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

/// The stage Secrets Manager moves to the replaced version on every write.
const PREVIOUS_STAGE: &str = "AWSPREVIOUS";

type Cache = HashMap<TenantId, (Instant, Option<StoredToken>)>;

/// A tenant's stored token and the console it was saved for (`None`: a secret written before tokens were bound).
#[derive(Clone, PartialEq)]
pub struct StoredToken {
    pub token: ApiToken,
    pub console_url: Option<String>,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("token", &self.token)
            .field("console_url", &self.console_url)
            .finish()
    }
}

impl StoredToken {
    /// The secret's text: the bound pair as JSON, or the bare token of a secret written before binding (put back
    /// as it was by an undo).
    fn secret_string(&self) -> String {
        match &self.console_url {
            Some(url) => serde_json::json!({ "consoleUrl": url, "apiToken": self.token.expose() })
                .to_string(),
            None => self.token.expose().to_string(),
        }
    }

    fn parse(raw: String) -> Result<Self> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Bound {
            console_url: String,
            api_token: String,
        }
        if raw.trim_start().starts_with('{') {
            let bound: Bound =
                serde_json::from_str(&raw).map_err(|_| StoreError::StoredTokenInvalid)?;
            return Ok(Self {
                token: ApiToken::new(bound.api_token)
                    .map_err(|_| StoreError::StoredTokenInvalid)?,
                console_url: Some(bound.console_url),
            });
        }
        Ok(Self {
            token: ApiToken::new(raw).map_err(|_| StoreError::StoredTokenInvalid)?,
            console_url: None,
        })
    }
}

/// Secrets Manager, one secret per tenant. Cheap to clone (the cache is shared).
#[derive(Clone)]
pub struct Vault {
    secrets: aws_sdk_secretsmanager::Client,
    prefix: String,
    cache: Arc<Mutex<Cache>>,
    ttl: Duration,
    /// The customer-managed KMS key new secret versions are encrypted with (`None`: Secrets Manager's default key).
    kms_key_id: Option<String>,
}

impl Vault {
    pub fn new(secrets: aws_sdk_secretsmanager::Client, prefix: impl Into<String>) -> Self {
        Self {
            secrets,
            prefix: prefix.into(),
            cache: Arc::new(Mutex::new(HashMap::new())),
            ttl: CACHE_TTL,
            kms_key_id: None,
        }
    }

    /// Encrypts every secret version this vault writes with `key_id` (a KMS key id, ARN or alias).
    pub fn with_kms_key(mut self, key_id: impl Into<String>) -> Self {
        self.kms_key_id = Some(key_id.into());
        self
    }

    /// Changes how long reads are cached (`Duration::ZERO` turns the cache off).
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The secret name of `tenant`. The tenant id's charset keeps it inside the prefix.
    pub fn secret_name(&self, tenant: &TenantId) -> String {
        format!("{}{}", self.prefix, tenant.as_str())
    }

    fn cached(&self, tenant: &TenantId) -> Option<Option<StoredToken>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(tenant)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, token)| token.clone())
    }

    fn remember(&self, tenant: &TenantId, token: Option<StoredToken>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(tenant.clone(), (Instant::now(), token));
        }
    }

    fn forget(&self, tenant: &TenantId) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(tenant);
        }
    }

    /// Stores `token`, bound to `console_url`, as the tenant's secret: a new version of an existing secret (the
    /// replaced one unlabelled), or a new secret.
    pub async fn put_token(
        &self,
        tenant: &TenantId,
        console_url: &str,
        token: &ApiToken,
    ) -> Result<()> {
        self.write(
            tenant,
            &StoredToken {
                token: token.clone(),
                console_url: Some(console_url.to_string()),
            },
        )
        .await
    }

    /// Writes back exactly what [`Vault::read`] returned (an undo after a failed save).
    pub(crate) async fn restore(&self, tenant: &TenantId, stored: &StoredToken) -> Result<()> {
        self.write(tenant, stored).await
    }

    async fn write(&self, tenant: &TenantId, stored: &StoredToken) -> Result<()> {
        let name = self.secret_name(tenant);
        let value = stored.secret_string();
        // Forget first: if the write fails half-way, the next read goes to Secrets Manager, not to a stale cache.
        self.forget(tenant);
        let mut replaced = true;
        if let Err(err) = self.update(&name, &value).await {
            if !is_not_found(&err) {
                return Err(err);
            }
            replaced = false;
            let created = self
                .secrets
                .create_secret()
                .name(&name)
                .secret_string(&value)
                .set_kms_key_id(self.kms_key_id.clone())
                .send()
                .await;
            if let Err(e) = created {
                let err = StoreError::secrets("CreateSecret", e);
                let exists = matches!(&err, StoreError::SecretsManager { source, .. }
                    if matches!(**source, aws_sdk_secretsmanager::Error::ResourceExistsException(_)));
                if !exists {
                    return Err(err);
                }
                // Created concurrently by another request: write our value as its newest version.
                self.update(&name, &value).await?;
                replaced = true;
            }
        }
        if replaced {
            self.unlabel_previous(tenant, &name).await;
        }
        tracing::info!(tenant = %tenant, bound = stored.console_url.is_some(), "api token stored");
        self.remember(tenant, Some(stored.clone()));
        Ok(())
    }

    /// A new version of an existing secret, encrypted with the vault's key (UpdateSecret rather than PutSecretValue:
    /// it also moves a secret created under another key to this one).
    async fn update(&self, name: &str, value: &str) -> Result<()> {
        self.secrets
            .update_secret()
            .secret_id(name)
            .secret_string(value)
            .set_kms_key_id(self.kms_key_id.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::secrets("UpdateSecret", e))
    }

    /// Takes `AWSPREVIOUS` off the version a write replaced, so the replaced token cannot be read back by stage.
    /// The new token is stored either way: a failure here is logged for the operators, not turned into a failed
    /// save (which would put the replaced token back as the current one).
    async fn unlabel_previous(&self, tenant: &TenantId, name: &str) {
        let versions = match self
            .secrets
            .list_secret_version_ids()
            .secret_id(name)
            .send()
            .await
        {
            Ok(out) => out.versions.unwrap_or_default(),
            Err(e) => {
                let err = StoreError::secrets("ListSecretVersionIds", e);
                tracing::error!(tenant = %tenant, error = %err, "the replaced token keeps its AWSPREVIOUS label");
                return;
            }
        };
        for v in versions {
            let previous = v
                .version_stages()
                .iter()
                .any(|stage| stage == PREVIOUS_STAGE);
            let (true, Some(id)) = (previous, v.version_id()) else {
                continue;
            };
            let removed = self
                .secrets
                .update_secret_version_stage()
                .secret_id(name)
                .version_stage(PREVIOUS_STAGE)
                .remove_from_version_id(id)
                .send()
                .await;
            if let Err(e) = removed {
                let err = StoreError::secrets("UpdateSecretVersionStage", e);
                tracing::error!(tenant = %tenant, error = %err, "the replaced token keeps its AWSPREVIOUS label");
            }
        }
    }

    /// The tenant's token whatever console it is bound to; `None` when no secret exists. For "is a token stored";
    /// a caller that sends the token anywhere uses [`Vault::token_for_console`].
    pub async fn get_token(&self, tenant: &TenantId) -> Result<Option<ApiToken>> {
        Ok(self.stored(tenant).await?.map(|s| s.token))
    }

    /// The tenant's token for `console_url`; `None` when no secret exists, and
    /// [`StoreError::TokenConsoleMismatch`] when the token was saved for another console (it is never handed out
    /// for one it does not belong to). A secret written before binding counts as bound to the configured console.
    pub async fn token_for_console(
        &self,
        tenant: &TenantId,
        console_url: &str,
    ) -> Result<Option<ApiToken>> {
        match self.stored(tenant).await? {
            None => Ok(None),
            Some(StoredToken {
                console_url: Some(bound),
                ..
            }) if bound != console_url => {
                tracing::warn!(tenant = %tenant, "stored token refused: it was saved for another console");
                Err(StoreError::TokenConsoleMismatch)
            }
            Some(stored) => Ok(Some(stored.token)),
        }
    }

    async fn stored(&self, tenant: &TenantId) -> Result<Option<StoredToken>> {
        if let Some(hit) = self.cached(tenant) {
            return Ok(hit);
        }
        let stored = self.read(tenant).await?;
        self.remember(tenant, stored.clone());
        Ok(stored)
    }

    /// Reads past the cache (used before a change that may need to be undone).
    pub(crate) async fn read(&self, tenant: &TenantId) -> Result<Option<StoredToken>> {
        let res = self
            .secrets
            .get_secret_value()
            .secret_id(self.secret_name(tenant))
            .send()
            .await;
        match res {
            Ok(out) => {
                let raw = out.secret_string.ok_or(StoreError::StoredTokenInvalid)?;
                StoredToken::parse(raw).map(Some)
            }
            Err(e) => {
                let err = StoreError::secrets("GetSecretValue", e);
                if is_not_found(&err) {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Deletes the tenant's secret at once (no recovery window: a disconnected tenant's token must not linger).
    /// Deleting a missing secret is not an error.
    pub async fn delete_token(&self, tenant: &TenantId) -> Result<()> {
        self.forget(tenant);
        let res = self
            .secrets
            .delete_secret()
            .secret_id(self.secret_name(tenant))
            .force_delete_without_recovery(true)
            .send()
            .await;
        self.forget(tenant);
        match res {
            Ok(_) => {
                tracing::info!(tenant = %tenant, "api token deleted");
                Ok(())
            }
            Err(e) => {
                let err = StoreError::secrets("DeleteSecret", e);
                if is_not_found(&err) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

fn is_not_found(err: &StoreError) -> bool {
    matches!(err, StoreError::SecretsManager { source, .. }
        if matches!(**source, aws_sdk_secretsmanager::Error::ResourceNotFoundException(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ApiToken {
        ApiToken::new("eyJraWQiOiJ0ZXN0.dG9rZW4.c2ln".to_string()).expect("token")
    }

    #[test]
    fn a_bound_secret_round_trips_and_a_bare_one_reads_as_unbound() {
        let bound = StoredToken {
            token: token(),
            console_url: Some("https://acme.sentinelone.net".into()),
        };
        assert_eq!(
            StoredToken::parse(bound.secret_string()).expect("parses"),
            bound
        );
        let legacy = StoredToken::parse(token().expose().to_string()).expect("parses");
        assert_eq!(legacy.console_url, None);
        assert_eq!(legacy.secret_string(), token().expose());
        assert!(matches!(
            StoredToken::parse("{\"apiToken\":\"x\"}".into()),
            Err(StoreError::StoredTokenInvalid)
        ));
        // Debug never shows the token.
        assert!(!format!("{bound:?}").contains(token().expose()));
    }
}
