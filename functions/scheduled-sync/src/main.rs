use lambda_runtime::{run, service_fn, Error};
use scheduled_sync::{handle, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deployment = connector_store::Deployment::from_env(&sdk).await?;
    let deps = Deps {
        store: deployment.store,
        queue: sync_engine::environment::queue_from_env(&sdk)?,
    };
    run(service_fn(|event| handle(&deps, event))).await
}
