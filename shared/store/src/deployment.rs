//! What a deployed function reads from its environment to reach its data: built once per cold start, failing
//! fast with a message that names the missing variable. The SAM template sets every variable read here.

use crate::{PageTokenKey, Store, StoreError, Vault};

/// The table, the token vault and the page-token key of this deployment.
#[derive(Clone)]
pub struct Deployment {
    pub store: Store,
    pub vault: Vault,
}

/// Reads a required environment variable.
pub fn required_env(name: &str) -> Result<String, StoreError> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| StoreError::InvalidInput(format!("environment variable {name} is not set")))
}

impl Deployment {
    /// `TABLE_NAME`, `SECRET_PREFIX`, and the page-token key from the secret named by `PAGE_TOKEN_SECRET_ARN`
    /// (or, for local runs without that secret, `PAGE_TOKEN_KEY` itself).
    pub async fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, StoreError> {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let key = match std::env::var("PAGE_TOKEN_SECRET_ARN")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            Some(arn) => {
                let out = secrets
                    .get_secret_value()
                    .secret_id(arn.trim())
                    .send()
                    .await
                    .map_err(|e| StoreError::secrets("GetSecretValue", e))?;
                PageTokenKey::new(out.secret_string().unwrap_or_default().as_bytes().to_vec())?
            }
            None => PageTokenKey::new(required_env("PAGE_TOKEN_KEY")?.into_bytes())?,
        };
        Ok(Self {
            store: Store::new(dynamodb, required_env("TABLE_NAME")?, key),
            vault: Vault::new(secrets, required_env("SECRET_PREFIX")?),
        })
    }
}
