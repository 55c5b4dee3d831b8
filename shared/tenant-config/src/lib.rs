//! A tenant's SentinelOne configuration use cases, so the HTTP handlers stay thin: the request body and its
//! validation (every field error at once), the connection test (writes nothing), the save (test first, token to the
//! vault; a verdict-list change only bumps the list's version, the sync worker re-evaluates stored findings), the
//! configuration view (never the token) and disconnect. It knows nothing of HTTP: handlers read the caller's tenant
//! and map [`ConfigError`] to problem+json at the edge (`http-api`).

mod body;
mod error;
mod view;

use std::sync::Arc;
use std::time::Duration;

use connector_store::{
    disconnect, save_configuration, SourceStatus, Store, StoreError, TenantConfig, Vault,
};
use s1_core::groups::GroupFilter;
use s1_core::{ApiToken, FieldError, TenantId};
use sentinelone_client::{
    CheckKind, ClientOptions, ConsoleUrl, Resolve, RetryPolicy, S1Client, SystemResolver, UrlPolicy,
};

pub use body::{
    validate, ConfigBody, UrlRule, ValidatedBody, MAX_GROUP_NAMES, MAX_GROUP_NAME_CHARS,
};
pub use error::ConfigError;
pub use view::{url_refused_report, CheckView, ConfigView, ConnectionTestView, GroupView};

/// What the configuration use cases need; built once per cold start.
#[derive(Clone)]
pub struct TenantConfigService {
    pub store: Store,
    pub vault: Vault,
    pub url_policy: UrlPolicy,
    /// Options of the client the connection test uses (tests plug in a resolver and short timeouts here).
    pub client_options: ClientOptions,
}

/// Client options for a connection test: it answers an HTTP request behind API Gateway's 29 s limit, so every call
/// gets a short timeout and at most one retry instead of the sync's patient budget.
pub fn connection_test_options(resolver: Arc<dyn Resolve>) -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(8),
        connect_timeout: Duration::from_secs(4),
        retry: RetryPolicy {
            budget: Duration::from_secs(12),
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
            max_attempts: 2,
        },
        resolver,
        ..ClientOptions::default()
    }
}

/// The result of a save: what is stored now, and the connection test when it ran.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveOutcome {
    pub config: ConfigView,
    pub connection_test: Option<ConnectionTestView>,
}

impl TenantConfigService {
    /// The deployment's store and vault (see [`Deployment::from_env`]) and the URL policy from the environment.
    pub async fn from_env(
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, connector_store::StoreError> {
        let url_policy = UrlPolicy::from_env()
            .map_err(|e| connector_store::StoreError::InvalidInput(e.to_string()))?;
        let d = connector_store::Deployment::from_env(sdk).await?;
        Ok(Self::new(d.store, d.vault, url_policy))
    }

    pub fn new(store: Store, vault: Vault, url_policy: UrlPolicy) -> Self {
        Self {
            store,
            vault,
            url_policy,
            client_options: connection_test_options(Arc::new(SystemResolver)),
        }
    }

    /// Runs the connection test for the URL, token and group names of `body`; what is omitted comes from the
    /// tenant's stored configuration. The stored token is only ever sent to the stored console: a different URL
    /// needs the token in the body. Writes nothing.
    pub async fn test_connection(
        &self,
        tenant: &TenantId,
        body: ConfigBody,
    ) -> Result<ConnectionTestView, ConfigError> {
        let body =
            validate(body, &self.url_policy, UrlRule::Report).map_err(ConfigError::Invalid)?;
        let stored = self.store.get_config(tenant).await?;
        let groups = body
            .group_names
            .clone()
            .or_else(|| {
                stored
                    .as_ref()
                    .map(|c| GroupFilter::from_list(&c.group_names))
            })
            .unwrap_or_default();
        let console = match (&body.console_url, &stored) {
            (Some(Ok(url)), _) => url.clone(),
            (Some(Err(refused)), _) => {
                tracing::info!(tenant = %tenant, check = "url_allowed", "connection test refused the console URL");
                return Ok(url_refused_report(refused));
            }
            (None, Some(c)) => self.stored_console(c)?,
            (None, None) => {
                return Err(ConfigError::field(
                    "consoleUrl",
                    "is required: no configuration is saved yet",
                ))
            }
        };
        let token = self
            .token_for(tenant, &body, &console, stored.as_ref())
            .await?;
        let report = self.run_test(&console, token, &groups).await;
        tracing::info!(tenant = %tenant, passed = report.passed, failed_check = ?report.failed_check().map(|c| c.check), "connection test run");
        Ok(report)
    }

    /// Validates, tests the connection (unless skipped) and saves. A failed test saves nothing. A changed verdict
    /// list is recorded as a new list version (see [`save_configuration`]); re-evaluating stored findings is the
    /// sync worker's job, which a tenant of any size cannot fit in this request, so the caller starts a run.
    pub async fn save(
        &self,
        tenant: &TenantId,
        body: ConfigBody,
    ) -> Result<SaveOutcome, ConfigError> {
        let stored = self.store.get_config(tenant).await?;
        // Fields a first save cannot do without are reported together with every other field error.
        let mut missing = Vec::new();
        if stored.is_none() {
            if body.console_url.is_none() {
                missing.push(FieldError::new(
                    "consoleUrl",
                    "is required on the first save",
                ));
            }
            if body
                .api_token
                .as_ref()
                .is_none_or(serde_json::Value::is_null)
            {
                missing.push(FieldError::new("apiToken", "is required on the first save"));
            }
        }
        let body = match validate(body, &self.url_policy, UrlRule::FieldError) {
            Ok(body) if missing.is_empty() => body,
            Ok(_) => return Err(ConfigError::Invalid(missing)),
            Err(mut errors) => {
                errors.append(&mut missing);
                return Err(ConfigError::Invalid(errors));
            }
        };
        let console = match (body.console(), &stored) {
            (Some(url), _) => url.clone(),
            (None, Some(c)) => self.stored_console(c)?,
            (None, None) => {
                return Err(ConfigError::field(
                    "consoleUrl",
                    "is required on the first save",
                ))
            }
        };

        let mut config = stored
            .clone()
            .unwrap_or_else(|| TenantConfig::new(console.as_str()));
        config.console_url = console.as_str().to_string();
        if let Some(v) = &body.verdicts {
            config.verdicts = v.to_strings();
        }
        if let Some(d) = body.auto_sync_days {
            config.auto_sync_days = d;
        }
        if let Some(b) = body.auto_onboard {
            config.auto_onboard = b;
        }
        if let Some(b) = body.update_metadata {
            config.update_metadata = b;
        }
        if let Some(g) = &body.group_names {
            config.group_names = g.names().to_vec();
        }
        if let Some(b) = body.import_vulnerabilities {
            config.import_vulnerabilities = b;
        }
        if let Some(s) = body.minimum_vulnerability_severity {
            config.minimum_vulnerability_severity = s;
        }

        let connection_test = if body.skip_connection_test {
            // The token rule still holds without a test: a new console needs its own token.
            self.token_for(tenant, &body, &console, stored.as_ref())
                .await?;
            None
        } else {
            let token = self
                .token_for(tenant, &body, &console, stored.as_ref())
                .await?;
            let report = self
                .run_test(
                    &console,
                    token,
                    &GroupFilter::from_list(&config.group_names),
                )
                .await;
            if let Some(failed) = report.failed_check() {
                tracing::info!(tenant = %tenant, failed_check = ?failed.check, "configuration not saved: connection test failed");
                return Err(ConfigError::ConnectionTestFailed {
                    detail: format!("the configuration was not saved: {}", failed.detail),
                    report: Box::new(report),
                });
            }
            Some(report)
        };

        let saved = save_configuration(
            &self.store,
            &self.vault,
            tenant,
            config,
            body.api_token.as_ref(),
        )
        .await?;
        let token_expires_at = if body.api_token.is_some() {
            self.store.forget_token_expiry(tenant).await?;
            None
        } else {
            self.store.load_sync_state(tenant).await?.token_expires_at
        };
        Ok(SaveOutcome {
            config: ConfigView::new(&saved, saved.token_updated_at.is_some(), token_expires_at),
            connection_test,
        })
    }

    /// The stored configuration, without the token.
    pub async fn view(&self, tenant: &TenantId) -> Result<ConfigView, ConfigError> {
        let config = self
            .store
            .get_config(tenant)
            .await?
            .ok_or(ConfigError::NotConfigured)?;
        // The save sets token_updated_at exactly when it stores a token, and a config never outlives its secret (see
        // the store's save order), so the read path needs no Secrets Manager permission at all.
        let token_expires_at = self.store.load_sync_state(tenant).await?.token_expires_at;
        Ok(ConfigView::new(
            &config,
            config.token_updated_at.is_some(),
            token_expires_at,
        ))
    }

    /// Deletes the configuration and the token; imported data stays, labelled as from a disconnected source.
    pub async fn disconnect(&self, tenant: &TenantId) -> Result<(), ConfigError> {
        if disconnect(&self.store, &self.vault, tenant).await? {
            Ok(())
        } else {
            Err(ConfigError::NotConfigured)
        }
    }

    /// Whether the tenant's data comes from a connected source.
    pub async fn source(&self, tenant: &TenantId) -> Result<SourceStatus, ConfigError> {
        Ok(self.store.source_status(tenant).await?)
    }

    fn stored_console(&self, config: &TenantConfig) -> Result<ConsoleUrl, ConfigError> {
        // The stored URL passed the policy when saved; the policy may have been tightened since.
        ConsoleUrl::parse(&config.console_url, &self.url_policy)
            .map_err(|e| ConfigError::field("consoleUrl", e.to_string()))
    }

    /// The body's token, or the stored one when the console is the stored console.
    async fn token_for(
        &self,
        tenant: &TenantId,
        body: &ValidatedBody,
        console: &ConsoleUrl,
        stored: Option<&TenantConfig>,
    ) -> Result<ApiToken, ConfigError> {
        if let Some(t) = &body.api_token {
            return Ok(t.clone());
        }
        match stored {
            Some(c) if c.console_url == console.as_str() => {
                // The vault refuses a token saved for another console (TokenConsoleMismatch, a 422 naming the fix).
                if let Some(token) = self.vault.token_for_console(tenant, console.as_str()).await? {
                    return Ok(token);
                }
                // A configuration never outlives its token, so a missing token under a configuration this save
                // read means a disconnect (or another save) changed it meanwhile: the caller reloads and retries,
                // like any other lost race, rather than being told to send a token.
                let found = self.store.get_config(tenant).await?.map_or(0, |now| now.version);
                if found != c.version {
                    return Err(ConfigError::Store(StoreError::VersionConflict {
                        expected: c.version,
                        found,
                    }));
                }
                Err(ConfigError::field("apiToken", "is required: no token is stored for this tenant"))
            }
            Some(_) => Err(ConfigError::field(
                "apiToken",
                "is required when the console URL changes: the stored token is only ever sent to the stored console",
            )),
            None => Err(ConfigError::field("apiToken", "is required: no configuration is saved yet")),
        }
    }

    async fn run_test(
        &self,
        console: &ConsoleUrl,
        token: ApiToken,
        groups: &GroupFilter,
    ) -> ConnectionTestView {
        match S1Client::new(console.clone(), token, self.client_options.clone()) {
            Ok(client) => client.test_connection(groups).await.into(),
            Err(e) => view::failed_at_first(
                CheckKind::ConsoleReachable,
                e.to_string(),
                e.kind(),
                "the client could not be set up",
            ),
        }
    }
}
