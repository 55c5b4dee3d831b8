//! The main job, locally: save a configuration, ask for a sync and drain the queue through the sync worker, all
//! through the Lambda handlers' own code, against the SentinelOne simulator (or `S1_URL`/`S1_API_TOKEN`) and the
//! local AWS stack (`AWS_ENDPOINT_URL`, set by `scripts/run-local-sync`). The last line of standard output is the
//! run's summary as one JSON object.

mod call_stats;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::SqsEvent;
use connector_store::{
    FindingFilter, PageTokenKey, RunStatus, Store, SyncRun, TenantId, Vault, VulnerabilityRun,
};
use lambda_http::Body;
use local_stack::LocalStack;
use s1_simulator::{PlaceholderAgent, SimConfig, SimHandle, Simulator, TenantSpec};
use sentinelone_client::{ClientOptions, UrlPolicy};
use serde_json::{json, Value};
use sync_engine::{SyncEngine, SyncQueue, Worker};

const TABLE: &str = "s1-connector-local";
const QUEUE: &str = "s1-connector-local-sync";
const TENANT: &str = "local-tenant";
/// The simulator's port when `SIM_PORT` is not set: fixed, so that a second run against the same local stack
/// syncs the same console URL (a re-sync), not a new console.
const SIM_DEFAULT_PORT: u16 = 47_291;
/// Unattached findings named in the output (the count covers all of them).
const UNATTACHED_SHOWN: u32 = 10;

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn env_usize(name: &str, default: usize) -> Result<usize, Failure> {
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name} must be a whole number, got {v:?}").into()),
    }
}

/// An API Gateway HTTP API (v2) request as the JWT authorizer hands it to the function.
fn api_request(
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<lambda_http::Request, Failure> {
    let event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "localhost", "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local-sync"},
            "requestId": "local", "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "25/Nov/2026:01:15:00 +0000", "timeEpoch": 0,
            "authorizer": {"jwt": {"claims": {"tenant_id": TENANT, "scope": http_api::DEFAULT_ADMIN_SCOPE}, "scopes": null}}
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    });
    Ok(lambda_http::request::from_str(&event.to_string())?)
}

fn body_json(body: &Body) -> Value {
    serde_json::from_slice(body.as_ref()).unwrap_or(Value::Null)
}

struct Console {
    url: String,
    token: String,
    groups: String,
    simulator: Option<SimHandle>,
}

async fn console() -> Result<Console, Failure> {
    let groups = env("S1_GROUPS").unwrap_or_default();
    if let (Some(url), Some(token)) = (env("S1_URL"), env("S1_API_TOKEN")) {
        return Ok(Console {
            url,
            token,
            groups,
            simulator: None,
        });
    }
    let spec = TenantSpec::small()
        .with_agents(env_usize("SIM_AGENTS", 300)?)
        .with_threats(env_usize("SIM_THREATS", 3000)?)
        .with_risks_per_agent(env_usize("SIM_RISKS_PER_AGENT", 3)?);
    println!(
        "Simulated SentinelOne console: {} agents, {} threats, {} vulnerabilities per agent (seed {})",
        spec.agents, spec.threats, spec.risks_per_agent, spec.seed
    );
    let port = match env("SIM_PORT") {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("SIM_PORT must be a port number, not {p:?}"))?,
        None => SIM_DEFAULT_PORT,
    };
    let sim = Simulator::new(spec)
        .config(SimConfig {
            port,
            // A fixed token too: the stored one stays valid for the second run's connection test.
            token: Some("local-simulator-token".into()),
            ..SimConfig::default()
        })
        .start()
        .await?;
    // Live-console behaviours, off by default (see tests/s1-simulator): lastActiveDate churn and threats whose
    // agent is only the API documentation's placeholder.
    if env("SIM_CHURN").is_some_and(|v| v == "1") {
        sim.set_last_active_churn(true);
    }
    let placeholders = env_usize("SIM_PLACEHOLDER_THREATS", 0)?;
    if placeholders > 0 {
        sim.add_placeholder_threats(placeholders, PlaceholderAgent::ApiDocString);
    }
    Ok(Console {
        url: sim.base_url(),
        token: sim.token(),
        groups,
        simulator: Some(sim),
    })
}

fn summary(run: &SyncRun, duration: Duration) -> Value {
    let c = &run.counters;
    let status = match run.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Partial => "partial",
        _ => "failed",
    };
    let mut s = json!({
        "status": status,
        "runId": run.id,
        "assets": {"created": c.assets.created, "updated": c.assets.updated, "unchanged": c.assets.unchanged,
                   "skipped": c.assets.skipped, "retired": c.assets_retired},
        "findings": {"created": c.findings.created, "updated": c.findings.updated, "unchanged": c.findings.unchanged,
                     "skipped": c.findings.skipped, "failed": c.findings_failed, "passed": c.findings_passed,
                     "unattached": c.findings_unattached, "repeated": c.findings_repeated},
        "retirementWithheld": c.assets_retirement_withheld,
        "warnings": run.warnings,
        "pages": run.pages,
        "itemsFetched": c.items_fetched,
        "skipReasons": run.skip_reasons,
        "durationMs": duration.as_millis() as u64,
        // Agents this run did not onboard (auto-onboard off and no asset of that name, or no usable identity).
        "unmatched": c.agents_unmatched,
        "findingStates": {"resolved": c.findings_resolved, "reopened": c.findings_reopened,
                          "closed": c.findings_closed, "closeWithheld": c.findings_close_withheld},
        "vulnerabilities": vulnerabilities(&run.vulnerabilities),
    });
    if run.dry_run {
        s["dryRun"] = json!(true);
        s["wouldWrite"] = json!(run.dry_run_report);
    }
    if status == "failed" {
        s["error"] = json!(run
            .message
            .clone()
            .unwrap_or_else(|| "the sync failed".into()));
    }
    s
}

/// The vulnerability walk's part of the summary; `skippedReason` only when the walk did not run.
fn vulnerabilities(v: &VulnerabilityRun) -> Value {
    let mut out = json!({
        "created": v.created, "updated": v.updated, "unchanged": v.unchanged, "fixed": v.fixed,
        "skipped": v.skipped, "reopened": v.reopened, "fetched": v.fetched, "fixWithheld": v.fix_withheld,
    });
    if let Some(reason) = &v.skipped_reason {
        out["skippedReason"] = json!(reason);
    }
    out
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match run().await {
        Ok(summary) => {
            let failed = summary["status"] == "failed";
            println!("{summary}");
            std::process::exit(i32::from(failed));
        }
        Err(e) => {
            println!("{}", json!({"status": "failed", "error": e.to_string()}));
            std::process::exit(1);
        }
    }
}

async fn run() -> Result<Value, Failure> {
    let started = Instant::now();
    let stack = LocalStack::connect().await?;
    stack.create_table(TABLE).await?;
    let queue_url = stack.create_queue(QUEUE).await?;
    let console = console().await?;

    // LOCAL_SYNC_CALL_STATS=1: each DynamoDB operation's calls and summed round trips, on standard error.
    let stats = env("LOCAL_SYNC_CALL_STATS")
        .is_some_and(|v| v == "1")
        .then(|| std::sync::Arc::new(test_support::counting::Calls::default()));
    let dynamodb = match &stats {
        Some(calls) => test_support::counting::CallCounter::new(calls.clone(), "")
            .dynamodb_client(&stack.dynamodb),
        None => stack.dynamodb.clone(),
    };
    let store = Store::new(dynamodb, TABLE, PageTokenKey::random());
    let vault = Vault::new(stack.secrets.clone(), "s1-connector/local/");
    let url_policy = UrlPolicy::from_env()?;
    let queue = SyncQueue::new(stack.sqs.clone(), queue_url.clone());

    // 1. Save the configuration through the save-config handler (it tests the connection first).
    let save = save_config::Deps {
        config: tenant_config::TenantConfigService::new(
            store.clone(),
            vault.clone(),
            url_policy.clone(),
        ),
        queue: queue.clone(),
        edge: http_api::Edge::new("tenant_id"),
    };
    let mut config =
        json!({"consoleUrl": console.url, "apiToken": console.token, "groupNames": console.groups});
    for (var, field) in [("S1_VERDICTS", "analystVerdicts")] {
        if let Some(v) = env(var) {
            config[field] = json!(v);
        }
    }
    for (var, field) in [
        ("S1_AUTO_ONBOARD", "autoOnboard"),
        ("S1_UPDATE_METADATA", "updateMetadata"),
    ] {
        if let Some(v) = env(var) {
            config[field] = json!(matches!(
                v.to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            ));
        }
    }
    let resp = save_config::handle(
        &save,
        api_request("PUT", "/v1/integrations/sentinelone/config", Some(&config))?,
    )
    .await?;
    if !resp.status().is_success() {
        let problem = body_json(resp.body());
        return Err(format!(
            "saving the configuration failed ({}): {}",
            resp.status(),
            problem
        )
        .into());
    }
    println!(
        "Configuration saved for tenant {TENANT} (console {}).",
        console.url
    );

    // 2. Sync now through the on-demand handler.
    let on_demand = on_demand_sync::Deps {
        store: store.clone(),
        queue: queue.clone(),
        edge: http_api::Edge::new("tenant_id"),
    };
    // S1_DRY_RUN=1: the run decides everything and writes no asset or finding.
    let dry_run = env("S1_DRY_RUN").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let body = dry_run.then(|| json!({ "dryRun": true }));
    let resp = on_demand_sync::handle(
        &on_demand,
        api_request("POST", "/v1/integrations/sentinelone/sync", body.as_ref())?,
    )
    .await?;
    let accepted = body_json(resp.body());
    let run_id = accepted["runId"]
        .as_str()
        .ok_or_else(|| format!("sync was not accepted ({}): {accepted}", resp.status()))?
        .to_string();
    println!("Sync queued: run {run_id}.");

    // 3. The worker drains the queue, one SQS event per message, as Lambda would deliver them.
    let worker = Worker {
        engine: SyncEngine {
            store: store.clone(),
            vault,
            url_policy,
            client_options: ClientOptions::default(),
            max_retire_percent: sync_engine::DEFAULT_MAX_RETIRE_PERCENT,
        },
        queue,
        max_receives: 5,
        safety_margin: Duration::from_secs(60),
    };
    let tenant = TenantId::new(TENANT)?;
    let invocations = drain(&stack, &queue_url, &worker, &tenant, &run_id).await?;

    let run = store
        .get_run(&tenant, &run_id)
        .await?
        .ok_or("the run record is missing")?;
    let c = &run.counters;
    println!(
        "Sync {:?} after {} worker invocation(s), {} pages, {} records fetched.",
        run.status, invocations, run.pages, c.items_fetched
    );
    println!(
        "Assets:   {} created, {} updated, {} unchanged, {} skipped, {} marked inactive",
        c.assets.created, c.assets.updated, c.assets.unchanged, c.assets.skipped, c.assets_retired
    );
    println!(
        "Findings: {} distinct in this run ({} failed, {} passed, {} unattached); writes: {} created, {} updated, {} unchanged",
        c.findings_failed + c.findings_passed,
        c.findings_failed,
        c.findings_passed,
        c.findings_unattached,
        c.findings.created,
        c.findings.updated,
        c.findings.unchanged,
    );
    let v = &run.vulnerabilities;
    match &v.skipped_reason {
        Some(reason) => println!("Vulnerabilities: {reason}"),
        None => println!(
            "Vulnerabilities: {} rows fetched; writes: {} created, {} updated, {} unchanged; {} fixed, {} reopened, {} skipped",
            v.fetched, v.created, v.updated, v.unchanged, v.fixed, v.reopened, v.skipped
        ),
    }
    for warning in &run.warnings {
        println!("Warning:  {warning}");
    }
    if let Some(report) = &run.dry_run_report {
        println!("Dry run: nothing was written. The counts above are what a real run would do; first names:");
        for (what, names) in [
            ("assets to create", &report.assets_created),
            ("assets to update", &report.assets_updated),
            ("assets to retire", &report.assets_retired),
            ("findings to create", &report.findings_created),
            ("findings to update", &report.findings_updated),
            ("findings to close", &report.findings_closed),
        ] {
            if !names.is_empty() {
                println!("  {what}: {}", names.join(", "));
            }
        }
    }
    let unattached = store
        .list_findings(
            &tenant,
            &FindingFilter {
                attached: Some(false),
                ..FindingFilter::default()
            },
            None,
            UNATTACHED_SHOWN,
        )
        .await?;
    for f in &unattached.items {
        println!(
            "Unattached: threat {} on agent {:?} (id {}): no asset {}",
            f.threat_id,
            f.asset_name,
            f.agent_id.as_deref().unwrap_or("-"),
            if f.asset_key.is_some() {
                "with this computer name exists yet"
            } else {
                "can be named from what SentinelOne sent"
            }
        );
    }
    if let Some(sim) = console.simulator {
        sim.shutdown().await;
    }
    if let Some(stats) = stats {
        eprintln!(
            "{}",
            json!({ "callStats": call_stats::summary(&stats.snapshot()) })
        );
    }
    Ok(summary(&run, started.elapsed()))
}

/// Delivers the queue's messages to the worker until the run has finished and the queue is empty. While the run is
/// going, an empty receive waits a second for a continuation; once it has finished, none can follow, so the last
/// receive only takes what is left without waiting (the run's time does not end in an idle second).
async fn drain(
    stack: &LocalStack,
    queue_url: &str,
    worker: &Worker,
    tenant: &TenantId,
    run_id: &str,
) -> Result<u32, Failure> {
    let mut invocations = 0;
    let mut run_finished = false;
    loop {
        let out = stack
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(1)
            .wait_time_seconds(if run_finished { 0 } else { 1 })
            .send()
            .await?;
        let Some(message) = out.messages.unwrap_or_default().into_iter().next() else {
            return Ok(invocations);
        };
        let event: SqsEvent = serde_json::from_value(json!({"Records": [{
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body(),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "awsRegion": "us-east-1"
        }]}))?;
        let mut context = lambda_runtime::Context::default();
        context.request_id = format!("local-{invocations}");
        // The deployed worker's timeout: the engine stops SYNC_SAFETY_MARGIN_SECS before it.
        let deadline = SystemTime::now() + Duration::from_secs(900);
        context.deadline = deadline.duration_since(UNIX_EPOCH)?.as_millis() as u64;
        let response =
            sync_worker::handle(worker, lambda_runtime::LambdaEvent::new(event, context)).await?;
        invocations += 1;
        if response.batch_item_failures.is_empty() {
            stack
                .sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await?;
        } else if invocations > 20 {
            return Err("the worker keeps failing the message; see the logs above".into());
        }
        run_finished = worker
            .engine
            .store
            .get_run(tenant, run_id)
            .await?
            .is_some_and(|run| run.status.is_finished());
    }
}
