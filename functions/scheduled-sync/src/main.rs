use lambda_runtime::{run, service_fn, Error};
use scheduled_sync::{handle, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let cannot_start = |e: &dyn std::fmt::Display| format!("scheduled-sync cannot start: {e}");
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let queue = sync_engine::environment::queue_from_env(&sdk).map_err(|e| cannot_start(&e))?;
    let deployment = connector_store::Deployment::from_env(&sdk)
        .await
        .map_err(|e| cannot_start(&e))?;
    let deps = Deps {
        store: deployment.store,
        queue,
    };
    run(service_fn(|event| handle(&deps, event))).await
}
