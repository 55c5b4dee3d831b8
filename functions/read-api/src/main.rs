use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let cannot_start = |e: &dyn std::fmt::Display| format!("read-api cannot start: {e}");
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut config = tenant_config::TenantConfigService::from_env(&sdk)
        .await
        .map_err(|e| cannot_start(&e))?;
    // The one function that serves list views, so the one that reads the page-token key.
    let page_token_key = connector_store::Deployment::page_token_key_from_env(&sdk)
        .await
        .map_err(|e| cannot_start(&e))?;
    config.store = config.store.with_page_token_key(page_token_key);
    let edge = http_api::Edge::from_env(&config.store).map_err(|e| cannot_start(&e))?;
    let deps = read_api::Deps { config, edge };
    run(service_fn(|request: Request| {
        read_api::handle(&deps, request)
    }))
    .await
}
