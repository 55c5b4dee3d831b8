use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let config = tenant_config::TenantConfigService::from_env(&sdk)
        .await
        .map_err(|e| format!("test-connection cannot start: {e}"))?;
    let edge = http_api::Edge::from_env(&config.store)
        .map_err(|e| format!("test-connection cannot start: {e}"))?;
    let deps = test_connection::Deps { config, edge };
    run(service_fn(|request: Request| {
        test_connection::handle(&deps, request)
    }))
    .await
}
