use lambda_http::{run, service_fn, Error};
use on_demand_sync::{handle, Deps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deployment = connector_store::Deployment::from_env(&sdk).await?;
    let deps = Deps {
        store: deployment.store,
        queue: sync_engine::environment::queue_from_env(&sdk)?,
        tenant_claim: http_api::tenant_claim_from_env(),
    };
    run(service_fn(|request| handle(&deps, request))).await
}
