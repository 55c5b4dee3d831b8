use lambda_runtime::{run, service_fn, Error};
use sync_dead_letter::handle;
use sync_engine::worker::DEFAULT_MAX_RECEIVES;
use sync_engine::DeadLetters;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deployment = connector_store::Deployment::from_env(&sdk).await?;
    let max_receives = std::env::var("SYNC_MAX_RECEIVES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_RECEIVES);
    let dead_letters = DeadLetters {
        store: deployment.store,
        // A scheduled run deferred behind the given-up one is queued on the sync queue.
        queue: sync_engine::environment::queue_from_env(&sdk)?,
        max_receives,
    };
    run(service_fn(|event| handle(&dead_letters, event))).await
}
