//! `scripts/serve-local`: prints the console's URL as its first line of standard output, then what to type into the
//! configuration form, and serves until Ctrl-C (which stops the server, the queue drainer and the simulator).
//!   SERVE_PORT                  the server's port on 127.0.0.1 (default: a free one)
//!   S1_URL                      a real console instead of the simulator
//!   SIM_AGENTS / SIM_THREATS    the simulated tenant's size (default 120 / 600)
//!   SIM_PORT                    the simulator's port (default 47292: fixed, so a restart re-syncs the same console)

use serve_local::{ConsoleSource, Failure, Options};

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, Failure> {
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} must be a whole number, got {v:?}").into()),
    }
}

#[tokio::main]
async fn main() {
    // Logs go to standard error (JSON, one event a line), so standard output starts with the URL.
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn".into()),
        )
        .init();
    if let Err(e) = run().await {
        eprintln!("serve-local: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Failure> {
    let console = match env("S1_URL") {
        Some(url) => ConsoleSource::Real { url },
        None => ConsoleSource::Simulator {
            agents: env_number("SIM_AGENTS", 120)?,
            threats: env_number("SIM_THREATS", 600)?,
            port: env_number("SIM_PORT", 47_292)?,
            // Fixed, like the port: a restart keeps the saved configuration valid against the same simulator.
            token: "local-simulator-console-token".into(),
        },
    };
    let running = serve_local::start(Options {
        console,
        port: env_number("SERVE_PORT", 0)?,
        table: "s1-connector-console-local".into(),
        queue: "s1-connector-console-local-sync".into(),
        secret_prefix: "s1-connector/console-local/".into(),
        record_responses: false,
    })
    .await?;
    println!("{}", running.console_url);
    println!("Console URL to configure: {}", running.s1_url);
    match &running.s1_token {
        Some(token) => println!("API token of the simulated console (local only): {token}"),
        None => println!(
            "API token: your console's service-user token (typed into the form, never printed)"
        ),
    }
    println!(
        "Tenant: {} (fixed). Ctrl-C stops the server and the simulator.",
        serve_local::LOCAL_TENANT
    );
    tokio::signal::ctrl_c().await?;
    eprintln!("serve-local: stopping");
    running.stop().await;
    Ok(())
}
