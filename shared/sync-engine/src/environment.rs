//! Building the engine and the queue from a deployed function's environment (once per cold start).

use connector_store::{required_env, Deployment, StoreError};
use s1_core::retirement::DEFAULT_MAX_RETIRE_PERCENT;
use sentinelone_client::{ClientOptions, UrlPolicy};

use crate::engine::SyncEngine;
use crate::queue::SyncQueue;

/// The sync queue named by `SYNC_QUEUE_URL`.
pub fn queue_from_env(sdk: &aws_config::SdkConfig) -> Result<SyncQueue, StoreError> {
    Ok(SyncQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        required_env("SYNC_QUEUE_URL")?,
    ))
}

/// The engine over this deployment's table and vault, with the console URL policy of `UrlPolicy::from_env` and
/// the retirement limit of `SYNC_MAX_RETIRE_PERCENT` (default 20; 0-100).
pub async fn engine_from_env(sdk: &aws_config::SdkConfig) -> Result<SyncEngine, StoreError> {
    let Deployment { store, vault } = Deployment::from_env(sdk).await?;
    Ok(SyncEngine {
        store,
        vault,
        url_policy: UrlPolicy::from_env(),
        client_options: ClientOptions::default(),
        max_retire_percent: max_retire_percent_from(std::env::var("SYNC_MAX_RETIRE_PERCENT").ok())?,
    })
}

/// `SYNC_MAX_RETIRE_PERCENT`: unset means the default; anything but 0-100 is a deployment error, not a guess.
fn max_retire_percent_from(value: Option<String>) -> Result<u8, StoreError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(DEFAULT_MAX_RETIRE_PERCENT),
        Some(v) => v.parse::<u8>().ok().filter(|p| *p <= 100).ok_or_else(|| {
            StoreError::InvalidInput(format!(
                "SYNC_MAX_RETIRE_PERCENT must be a whole number from 0 to 100, not {v:?}"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retire_limit_defaults_and_refuses_nonsense() {
        assert_eq!(
            max_retire_percent_from(None).ok(),
            Some(DEFAULT_MAX_RETIRE_PERCENT)
        );
        assert_eq!(max_retire_percent_from(Some("35".into())).ok(), Some(35));
        assert!(max_retire_percent_from(Some("101".into())).is_err());
        assert!(max_retire_percent_from(Some("twenty".into())).is_err());
    }
}
