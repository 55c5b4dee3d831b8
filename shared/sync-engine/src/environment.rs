//! Building the engine and the queue from a deployed function's environment (once per cold start).

use connector_store::{required_env, Deployment, StoreError};
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

/// The engine over this deployment's table and vault, with the console URL policy of `UrlPolicy::from_env`.
pub async fn engine_from_env(sdk: &aws_config::SdkConfig) -> Result<SyncEngine, StoreError> {
    let Deployment { store, vault } = Deployment::from_env(sdk).await?;
    Ok(SyncEngine {
        store,
        vault,
        url_policy: UrlPolicy::from_env(),
        client_options: ClientOptions::default(),
    })
}
