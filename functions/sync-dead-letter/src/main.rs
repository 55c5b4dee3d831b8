use lambda_runtime::{run, service_fn, Error};
use sync_dead_letter::handle;
use sync_engine::DeadLetters;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let cannot_start = |e: &dyn std::fmt::Display| format!("sync-dead-letter cannot start: {e}");
    let max_receives =
        sync_engine::environment::max_receives_from_env().map_err(|e| cannot_start(&e))?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // A scheduled run deferred behind the given-up one is queued on the sync queue.
    let queue = sync_engine::environment::queue_from_env(&sdk).map_err(|e| cannot_start(&e))?;
    let deployment = connector_store::Deployment::from_env(&sdk)
        .await
        .map_err(|e| cannot_start(&e))?;
    let dead_letters = DeadLetters {
        store: deployment.store,
        queue,
        max_receives,
    };
    run(service_fn(|event| handle(&dead_letters, event))).await
}
