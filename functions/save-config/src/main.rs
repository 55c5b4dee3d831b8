use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let config = tenant_config::TenantConfigService::from_env(&sdk)
        .await
        .map_err(|e| format!("save-config cannot start: {e}"))?;
    let edge = http_api::Edge::from_env(&config.store)
        .map_err(|e| format!("save-config cannot start: {e}"))?;
    let deps = save_config::Deps {
        config,
        queue: sync_engine::environment::queue_from_env(&sdk)
            .map_err(|e| format!("save-config cannot start: {e}"))?,
        edge,
    };
    run(service_fn(|request: Request| {
        save_config::handle(&deps, request)
    }))
    .await
}
