use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deployment = connector_store::Deployment::from_env(&sdk)
        .await
        .map_err(|e| format!("asset-registry cannot start: {e}"))?;
    let edge = http_api::Edge::from_env(&deployment.store)
        .map_err(|e| format!("asset-registry cannot start: {e}"))?;
    let deps = asset_registry::Deps {
        store: deployment.store,
        edge,
    };
    run(service_fn(|request: Request| {
        asset_registry::handle(&deps, request)
    }))
    .await
}
