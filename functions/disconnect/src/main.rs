use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let config = tenant_config::TenantConfigService::from_env(&sdk)
        .await
        .map_err(|e| format!("disconnect cannot start: {e}"))?;
    let edge = http_api::Edge::from_env(&config.store)
        .map_err(|e| format!("disconnect cannot start: {e}"))?;
    let deps = disconnect::Deps { config, edge };
    run(service_fn(|request: Request| {
        disconnect::handle(&deps, request)
    }))
    .await
}
