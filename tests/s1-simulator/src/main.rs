//! `s1-simulator`: runs the simulated SentinelOne console for local runs and benches. Prints one
//! JSON line `{"url":...,"token":...}` on stdout when ready and serves until SIGINT/SIGTERM.

use std::process::ExitCode;

use s1_simulator::{SimConfig, Simulator, TenantSpec};

const USAGE: &str =
    "usage: s1-simulator [--agents N] [--threats T] [--sites S] [--groups-per-site G] \
[--seed X] [--port P] [--token TOKEN] [--rate-limit R]";

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("unknown argument {0:?}; {USAGE}")]
    Unknown(String),
    #[error("{0} needs a value; {USAGE}")]
    MissingValue(String),
    #[error("{flag} expects a non-negative integer, got {value:?}")]
    NotANumber { flag: String, value: String },
}

struct Args {
    spec: TenantSpec,
    config: SimConfig,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, CliError> {
    let mut spec = TenantSpec::small();
    let mut config = SimConfig::default();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| CliError::MissingValue(flag.clone()))
        };
        let number = |v: String| -> Result<u64, CliError> {
            v.parse::<u64>().map_err(|_| CliError::NotANumber {
                flag: flag.clone(),
                value: v,
            })
        };
        match flag.as_str() {
            "--agents" => spec.agents = number(value()?)? as usize,
            "--threats" => spec.threats = number(value()?)? as usize,
            "--sites" => spec.sites = number(value()?)? as usize,
            "--groups-per-site" => spec.groups_per_site = number(value()?)? as usize,
            "--seed" => spec.seed = number(value()?)?,
            "--port" => {
                let v = value()?;
                config.port = v.parse().map_err(|_| CliError::NotANumber {
                    flag: flag.clone(),
                    value: v,
                })?
            }
            "--token" => config.token = Some(value()?),
            "--rate-limit" => {
                let v = value()?;
                config.rate_limit_per_sec = Some(v.parse().map_err(|_| CliError::NotANumber {
                    flag: flag.clone(),
                    value: v,
                })?)
            }
            other => return Err(CliError::Unknown(other.to_owned())),
        }
    }
    Ok(Args { spec, config })
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let (agents, threats) = (args.spec.agents, args.spec.threats);
    let handle = match Simulator::new(args.spec).config(args.config).start().await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("the simulator could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        agents,
        threats,
        startup_ms = started.elapsed().as_millis() as u64,
        url = %handle.base_url(),
        "simulator ready"
    );
    println!(
        "{}",
        serde_json::json!({"url": handle.base_url(), "token": handle.token()})
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    ExitCode::SUCCESS
}
