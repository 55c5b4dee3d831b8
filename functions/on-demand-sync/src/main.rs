use lambda_http::{run, service_fn, Error};
use on_demand_sync::{handle, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let cannot_start = |e: &dyn std::fmt::Display| format!("on-demand-sync cannot start: {e}");
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let queue = sync_engine::environment::queue_from_env(&sdk).map_err(|e| cannot_start(&e))?;
    let deployment = connector_store::Deployment::from_env(&sdk)
        .await
        .map_err(|e| cannot_start(&e))?;
    let edge = http_api::Edge::from_env(&deployment.store).map_err(|e| cannot_start(&e))?;
    let deps = Deps {
        store: deployment.store,
        queue,
        edge,
    };
    run(service_fn(|request| handle(&deps, request))).await
}
