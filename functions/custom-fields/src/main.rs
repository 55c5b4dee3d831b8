use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deployment = connector_store::Deployment::from_env(&sdk)
        .await
        .map_err(|e| format!("custom-fields cannot start: {e}"))?;
    let edge = http_api::Edge::from_env(&deployment.store)
        .map_err(|e| format!("custom-fields cannot start: {e}"))?;
    let deps = custom_fields::Deps {
        store: deployment.store,
        edge,
    };
    run(service_fn(|request: Request| {
        custom_fields::handle(&deps, request)
    }))
    .await
}
