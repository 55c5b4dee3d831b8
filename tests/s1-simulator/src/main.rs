//! `s1-simulator`: runs the simulated SentinelOne console for local runs and benches. Prints one
//! JSON line `{"url":...,"token":...}` on stdout when ready and serves until SIGINT/SIGTERM.
//!
//! The tenant's size and the console's strictness come from flags; the live-console
//! misbehaviours (each off unless its variable is set) come from the environment, so a script
//! that already passes `SIM_*` variables down can switch them on without new plumbing:
//!
//! | variable | effect |
//! |---|---|
//! | `SIM_CHURN=1` | online agents report `lastActiveDate` = now on every read |
//! | `SIM_PLACEHOLDER_AGENTS=<n>` | add n agents with the API docs' `"string"` values |
//! | `SIM_PLACEHOLDER_THREATS=<n>` | add n threats whose `agentRealtimeInfo` strings are `"string"` |
//! | `SIM_THREATS_WITHOUT_REALTIME_INFO=<n>` | add n threats without `agentRealtimeInfo` |
//! | `SIM_AGENTS_TOTAL_OFFSET=<i>` | agents `totalItems` and `agents/count` report the real count + i |
//! | `SIM_EMPTY_PAGE_AFTER=<n>` | after n list requests, serve empty pages that carry a cursor ... |
//! | `SIM_EMPTY_PAGE_COUNT=<c>` | ... c of them (default 1) |
//! | `SIM_429_FROM=<n>` | 429 on every request after the first n |
//! | `SIM_429_AFTER_MS=<ms>` | 429 on every request from ms milliseconds after start |
//! | `SIM_429_RETRY_AFTER=<s>` | those 429s carry `Retry-After: s` (default: no header) |
//! | `SIM_FAULT_PATH=<path>` | the empty pages and 429s above apply to this path only (e.g. `agents`) |

use std::process::ExitCode;
use std::time::Duration;

use s1_simulator::{
    PlaceholderAgent, RetryAfter, RiskTier, SimConfig, SimHandle, Simulator, TenantSpec,
};

const USAGE: &str =
    "usage: s1-simulator [--agents N] [--threats T] [--sites S] [--groups-per-site G] \
[--seed X] [--risks-per-agent V] [--risk-tier base|vm] [--port P] [--token TOKEN] [--rate-limit R] \
(live-console misbehaviours: SIM_* environment variables, see the binary's docs)";

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("unknown argument {0:?}; {USAGE}")]
    Unknown(String),
    #[error("{0} needs a value; {USAGE}")]
    MissingValue(String),
    #[error("{flag} expects a non-negative integer, got {value:?}")]
    NotANumber { flag: String, value: String },
    #[error("{flag} expects one of {expected}, got {value:?}")]
    NotOneOf {
        flag: String,
        value: String,
        expected: &'static str,
    },
    #[error("the environment variable {name} expects {expected}, got {value:?}")]
    BadEnv {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
}

/// The live-console misbehaviours asked for in the environment (all off when unset).
#[derive(Debug, Default)]
struct LiveConsole {
    churn: bool,
    placeholder_agents: usize,
    placeholder_threats: usize,
    threats_without_realtime_info: usize,
    agents_total_offset: i64,
    empty_page_after: Option<u32>,
    empty_page_count: u32,
    too_many_from: Option<u32>,
    too_many_after: Option<Duration>,
    retry_after: Option<RetryAfter>,
    fault_path: Option<String>,
}

impl LiveConsole {
    fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, CliError> {
        fn parsed<T: std::str::FromStr>(
            var: &impl Fn(&str) -> Option<String>,
            name: &'static str,
            expected: &'static str,
        ) -> Result<Option<T>, CliError> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| CliError::BadEnv {
                    name,
                    expected,
                    value: v,
                }),
            }
        }
        const COUNT: &str = "a non-negative integer";
        let churn = match var("SIM_CHURN").as_deref().map(str::trim) {
            None | Some("" | "0" | "false") => false,
            Some("1" | "true") => true,
            Some(other) => {
                return Err(CliError::BadEnv {
                    name: "SIM_CHURN",
                    expected: "1 or 0",
                    value: other.to_owned(),
                })
            }
        };
        Ok(Self {
            churn,
            placeholder_agents: parsed(&var, "SIM_PLACEHOLDER_AGENTS", COUNT)?.unwrap_or(0),
            placeholder_threats: parsed(&var, "SIM_PLACEHOLDER_THREATS", COUNT)?.unwrap_or(0),
            threats_without_realtime_info: parsed(
                &var,
                "SIM_THREATS_WITHOUT_REALTIME_INFO",
                COUNT,
            )?
            .unwrap_or(0),
            agents_total_offset: parsed(&var, "SIM_AGENTS_TOTAL_OFFSET", "an integer")?
                .unwrap_or(0),
            empty_page_after: parsed(&var, "SIM_EMPTY_PAGE_AFTER", COUNT)?,
            empty_page_count: parsed(&var, "SIM_EMPTY_PAGE_COUNT", COUNT)?.unwrap_or(1),
            too_many_from: parsed(&var, "SIM_429_FROM", COUNT)?,
            too_many_after: parsed(&var, "SIM_429_AFTER_MS", COUNT)?.map(Duration::from_millis),
            retry_after: parsed(&var, "SIM_429_RETRY_AFTER", COUNT)?.map(RetryAfter::Seconds),
            fault_path: var("SIM_FAULT_PATH").filter(|p| !p.trim().is_empty()),
        })
    }

    fn apply(&self, sim: &SimHandle) {
        sim.set_last_active_churn(self.churn);
        sim.set_agents_total_items_offset(self.agents_total_offset);
        sim.add_placeholder_agents(self.placeholder_agents);
        sim.add_placeholder_threats(self.placeholder_threats, PlaceholderAgent::ApiDocString);
        sim.add_placeholder_threats(
            self.threats_without_realtime_info,
            PlaceholderAgent::NoRealtimeInfo,
        );
        let faults = sim.faults();
        let path = self.fault_path.as_deref();
        if let Some(after) = self.empty_page_after {
            match path {
                Some(p) => faults.empty_page_with_cursor_on(p, after, self.empty_page_count),
                None => faults.empty_page_with_cursor(after, self.empty_page_count),
            };
        }
        if let Some(after) = self.too_many_from {
            match path {
                Some(p) => faults.too_many_requests_from_on(p, after, self.retry_after),
                None => faults.too_many_requests_from(after, self.retry_after),
            };
        }
        if let Some(delay) = self.too_many_after {
            match path {
                Some(p) => faults.too_many_requests_after_delay_on(p, delay, self.retry_after),
                None => faults.too_many_requests_after_delay(delay, self.retry_after),
            };
        }
    }
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
            "--risks-per-agent" => spec.risks_per_agent = number(value()?)? as usize,
            "--risk-tier" => {
                spec.risk_tier = match value()?.as_str() {
                    "base" => RiskTier::Base,
                    "vm" => RiskTier::VulnerabilityManagement,
                    other => {
                        return Err(CliError::NotOneOf {
                            flag: flag.clone(),
                            value: other.to_owned(),
                            expected: "base, vm",
                        })
                    }
                }
            }
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

/// The shutdown signals, installed before the ready line is printed: a SIGTERM sent as soon as that line is read
/// must find its handler in place, or the default action kills the process instead of a clean shutdown.
struct ShutdownSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                interrupt: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Until SIGTERM or SIGINT (Ctrl-C); a signal that could not be installed is waited for through Ctrl-C.
    async fn wait(self) {
        #[cfg(unix)]
        {
            let Self {
                mut term,
                mut interrupt,
            } = self;
            let term = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(i) => {
                        i.recv().await;
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            tokio::select! {
                _ = term => {}
                _ = interrupt => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
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
    let live = match LiveConsole::from_env(|name| std::env::var(name).ok()) {
        Ok(l) => l,
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
    live.apply(&handle);
    tracing::info!(
        agents,
        threats,
        live_console = ?live,
        startup_ms = started.elapsed().as_millis() as u64,
        url = %handle.base_url(),
        "simulator ready"
    );
    let signals = ShutdownSignals::install();
    println!(
        "{}",
        serde_json::json!({"url": handle.base_url(), "token": handle.token()})
    );
    signals.wait().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    ExitCode::SUCCESS
}
