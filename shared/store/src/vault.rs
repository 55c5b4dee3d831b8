//! The token vault: one Secrets Manager secret per tenant, named `<prefix><tenant id>`, so an IAM policy can scope
//! the functions to `arn:…:secret:<prefix>*`. Reads are cached in-process for a short time: a sync reads the
//! token once per invocation, the handlers once per request, and neither should cost a Secrets Manager call each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use s1_core::ApiToken;

use crate::error::{Result, StoreError};
use crate::keys::TenantId;

/// How long a read token is served from memory. A token replaced through another process is seen after this.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

type Cache = HashMap<TenantId, (Instant, Option<ApiToken>)>;

/// Secrets Manager, one secret per tenant. Cheap to clone (the cache is shared).
#[derive(Clone)]
pub struct Vault {
    secrets: aws_sdk_secretsmanager::Client,
    prefix: String,
    cache: Arc<Mutex<Cache>>,
    ttl: Duration,
}

impl Vault {
    pub fn new(secrets: aws_sdk_secretsmanager::Client, prefix: impl Into<String>) -> Self {
        Self {
            secrets,
            prefix: prefix.into(),
            cache: Arc::new(Mutex::new(HashMap::new())),
            ttl: CACHE_TTL,
        }
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

    fn cached(&self, tenant: &TenantId) -> Option<Option<ApiToken>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(tenant)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, token)| token.clone())
    }

    fn remember(&self, tenant: &TenantId, token: Option<ApiToken>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(tenant.clone(), (Instant::now(), token));
        }
    }

    fn forget(&self, tenant: &TenantId) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(tenant);
        }
    }

    /// Stores `token` as the tenant's secret: a new version of an existing secret, or a new secret.
    pub async fn put_token(&self, tenant: &TenantId, token: &ApiToken) -> Result<()> {
        let name = self.secret_name(tenant);
        // Forget first: if the write fails half-way, the next read goes to Secrets Manager, not to a stale cache.
        self.forget(tenant);
        let put = self
            .secrets
            .put_secret_value()
            .secret_id(&name)
            .secret_string(token.expose())
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(e) => {
                let err = StoreError::secrets("PutSecretValue", e);
                if !is_not_found(&err) {
                    return Err(err);
                }
                let created = self
                    .secrets
                    .create_secret()
                    .name(&name)
                    .secret_string(token.expose())
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
                    self.secrets
                        .put_secret_value()
                        .secret_id(&name)
                        .secret_string(token.expose())
                        .send()
                        .await
                        .map_err(|e| StoreError::secrets("PutSecretValue", e))?;
                }
            }
        }
        tracing::info!(tenant = %tenant, "api token stored");
        self.remember(tenant, Some(token.clone()));
        Ok(())
    }

    /// The tenant's token; `None` when no secret exists.
    pub async fn get_token(&self, tenant: &TenantId) -> Result<Option<ApiToken>> {
        if let Some(hit) = self.cached(tenant) {
            return Ok(hit);
        }
        let token = self.read(tenant).await?;
        self.remember(tenant, token.clone());
        Ok(token)
    }

    /// Reads past the cache (used before a change that may need to be undone).
    pub(crate) async fn read(&self, tenant: &TenantId) -> Result<Option<ApiToken>> {
        let res = self
            .secrets
            .get_secret_value()
            .secret_id(self.secret_name(tenant))
            .send()
            .await;
        match res {
            Ok(out) => {
                let raw = out.secret_string.ok_or(StoreError::StoredTokenInvalid)?;
                ApiToken::new(raw)
                    .map(Some)
                    .map_err(|_| StoreError::StoredTokenInvalid)
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
