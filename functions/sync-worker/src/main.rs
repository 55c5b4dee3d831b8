use lambda_runtime::{run, service_fn, Error};
use sync_worker::handle;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let worker = sync_engine::environment::worker_from_env(&sdk)
        .await
        .map_err(|e| format!("sync-worker cannot start: {e}"))?;
    run(service_fn(|event| handle(&worker, event))).await
}
