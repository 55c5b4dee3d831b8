use std::time::Duration;

use lambda_runtime::{run, service_fn, Error};
use sync_engine::worker::DEFAULT_MAX_RECEIVES;
use sync_engine::Worker;
use sync_worker::handle;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let worker = Worker {
        engine: sync_engine::environment::engine_from_env(&sdk).await?,
        queue: sync_engine::environment::queue_from_env(&sdk)?,
        max_receives: u32::try_from(env_u64(
            "SYNC_MAX_RECEIVES",
            u64::from(DEFAULT_MAX_RECEIVES),
        ))
        .unwrap_or(5),
        safety_margin: Duration::from_secs(env_u64("SYNC_SAFETY_MARGIN_SECS", 60)),
    };
    run(service_fn(|event| handle(&worker, event))).await
}
