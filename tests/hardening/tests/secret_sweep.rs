//! Secret hygiene through the sync (issue 11): a canary token is the simulator's own token and the tenant's stored
//! token; it then goes through the save, the connection test, on-demand and scheduled syncs drained by the real
//! worker from the real queue, failing syncs (console 500s, a revoked token, a wrong URL, a redirect to another
//! host, a hostile console that echoes the token in its error body), the views and the disconnect. Every log line
//! (the handlers' JSON format, at TRACE, every crate), every SQS body seen, a full scan of the table, every error's
//! Display and Debug, every panic message and every request the consoles received are then searched: the canary
//! may appear only in the `Authorization` header of requests to the configured console, and in the vault.
//!
//! Also here: a forged queue message for a tenant without configuration is logged with the tenant and the reason.

use test_support::sync as support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use connector_store::{
    AssetFilter, FindingFilter, RunStatus, SourceStatus, StoreError, SyncRun, Trigger,
};
use s1_core::groups::GroupFilter;
use s1_core::ApiToken;
use s1_simulator::{SimConfig, Simulator, TenantSpec};
use sentinelone_client::{ConsoleUrl, RetryPolicy, S1Client};
use support::Harness;
use sync_engine::{
    schedule_due_syncs, start_sync, Disposition, Outcome, QueuedMessage, SyncMessage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The canary: long, unique, a valid token, and with a distinctive middle so truncated copies are found too.
const CANARY: &str = "S1CANARY-7d41c9e0b25f4a86-hygiene-sweep-e3b0c44298fc1c14";
/// Pieces a truncated or re-encoded copy would still contain.
const FRAGMENTS: [&str; 3] = ["7d41c9e0b25f4a86", "e3b0c44298fc1c14", "S1CANARY"];

fn leaks(text: &str) -> bool {
    text.contains(CANARY) || FRAGMENTS.iter().any(|f| text.contains(f))
}

// ---------------------------------------------------------------------------------------------------------------
// Capture: every log line of the test process, in the handlers' format, and every panic message.

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

struct Capture {
    logs: Buffer,
    panics: Arc<Mutex<Vec<String>>>,
}

/// Installs (once per test process) the subscriber every handler's `main` installs —
/// `lambda_runtime::tracing::init_default_subscriber` — with Lambda's JSON log format at TRACE, writing to a
/// buffer; and a panic hook that records every panic message before the default hook prints it.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
        std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "TRACE");
        let logs = Buffer::default();
        let writer = logs.clone();
        lambda_http::tracing::init_default_subscriber_with_writer(move || writer.clone());
        let panics = Arc::new(Mutex::new(Vec::new()));
        let seen = panics.clone();
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut p) = seen.lock() {
                p.push(info.to_string());
            }
            default_hook(info);
        }));
        Capture { logs, panics }
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Scripted consoles on loopback: they record every request verbatim (headers included), which the simulator does
// not (it never records the token), so the test can say exactly where the canary went.

struct Scripted {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl Scripted {
    /// Answers every request with `respond(raw request)` = (status line, extra headers, body).
    async fn start(
        respond: impl Fn(&str) -> (u16, Vec<(String, String)>, String) + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (log, count, respond) = (requests.clone(), connections.clone(), Arc::new(respond));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (log, respond) = (log.clone(), respond.clone());
                tokio::spawn(async move {
                    let mut raw = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Headers, then as much body as Content-Length says (requests here are small).
                    loop {
                        let Ok(n) = socket.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        raw.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&raw).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .and_then(|v| v.trim().parse::<usize>().ok())
                                })
                                .unwrap_or(0);
                            if raw.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let text = String::from_utf8_lossy(&raw).to_string();
                    let (status, headers, body) = respond(&text);
                    if let Ok(mut l) = log.lock() {
                        l.push(text);
                    }
                    let mut answer = format!(
                        "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                         connection: close\r\n",
                        body.len()
                    );
                    for (k, v) in headers {
                        answer.push_str(&format!("{k}: {v}\r\n"));
                    }
                    answer.push_str("\r\n");
                    answer.push_str(&body);
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            port,
            requests,
            connections,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn authorization(raw: &str) -> String {
    raw.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// Every line of a raw request holding the canary must be exactly `authorization: ApiToken <canary>`.
fn assert_only_in_authorization(raw: &str, console: &str) {
    for line in raw.lines() {
        if leaks(line) {
            let (k, v) = line.split_once(':').unwrap_or(("", ""));
            assert!(
                k.eq_ignore_ascii_case("authorization") && v.trim() == format!("ApiToken {CANARY}"),
                "{console} received the token outside the Authorization header: {line}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Driving the sync, and collecting what it produced.

#[derive(Default)]
struct Seen {
    sqs_bodies: Vec<String>,
    /// Display and Debug of every error value the flows returned.
    errors: Vec<String>,
    /// Debug of every value the views returned (what the read API serialises).
    views: Vec<String>,
    runs: Vec<SyncRun>,
}

/// Receives and handles every queued message with the real worker, recording the bodies. A message the worker
/// wants redelivered is deleted anyway (its redelivery would behave the same), and counted.
async fn drain(h: &Harness, seen: &mut Seen) -> (u32, u32) {
    let (mut handled, mut retried) = (0, 0);
    for _ in 0..1000 {
        let out = h
            .stack
            .sqs
            .receive_message()
            .queue_url(h.queue.url())
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return (handled, retried);
        }
        for m in messages {
            let body = m.body.clone().unwrap_or_default();
            seen.sqs_bodies.push(body.clone());
            let queued = QueuedMessage {
                message_id: m.message_id.clone().unwrap_or_default(),
                body,
                receive_count: 1,
            };
            let deadline = SystemTime::now() + Duration::from_secs(600);
            // Boxed: the worker's future lives on the heap, not in every caller's frame (this test's async block
            // awaits many syncs, and a debug build gives each its own stack slot on the test thread's 2 MiB stack).
            let handled_now = Box::pin(h.worker.handle(
                &queued,
                deadline,
                &format!("sweep-{handled}"),
            ))
            .await;
            if handled_now == Disposition::Retry {
                retried += 1;
            }
            h.stack
                .sqs
                .delete_message()
                .queue_url(h.queue.url())
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await
                .expect("delete");
            handled += 1;
        }
    }
    panic!("the queue never drained");
}

/// Sync now through the queue and the worker; the run as stored afterwards.
async fn sync(h: &Harness, seen: &mut Seen) -> SyncRun {
    let run = start_sync(&h.store, &h.queue, &h.tenant, Trigger::OnDemand)
        .await
        .expect("sync starts");
    drain(h, seen).await;
    let run = h
        .store
        .get_run(&h.tenant, &run.id)
        .await
        .expect("read run")
        .expect("run exists");
    seen.runs.push(run.clone());
    run
}

fn record_error(seen: &mut Seen, e: &(impl std::fmt::Display + std::fmt::Debug)) {
    seen.errors.push(format!("{e}"));
    seen.errors.push(format!("{e:?}"));
}

async fn point_console_at(h: &Harness, url: &str) {
    let url = url.to_string();
    h.update_config(|c| c.console_url = url).await;
}

/// A client exactly as the engine builds it, for the connection test and for the raw errors of each console.
fn client(h: &Harness, url: &str) -> S1Client {
    let console = ConsoleUrl::parse(url, &test_support::dev_loopback_policy())
        .expect("loopback console allowed");
    S1Client::new(
        console,
        ApiToken::new(CANARY.to_string()).expect("token"),
        h.worker.engine.client_options.clone(),
    )
    .expect("client")
}

async fn table_items(h: &Harness) -> Vec<String> {
    test_support::scan_table(h.store.dynamodb(), h.store.table_name())
        .await
        .iter()
        .map(|i| format!("{i:?}"))
        .collect()
}

async fn views(h: &Harness, seen: &mut Seen) {
    seen.views
        .push(format!("{:?}", h.store.get_config(&h.tenant).await));
    seen.views
        .push(format!("{:?}", h.store.source_status(&h.tenant).await));
    let mut token = None;
    loop {
        let page = h
            .store
            .list_assets(&h.tenant, &AssetFilter::default(), token.as_deref(), 50)
            .await
            .expect("assets");
        seen.views.push(format!("{:?}", page.items));
        match page.next_page_token {
            Some(t) => {
                seen.views.push(t.clone());
                token = Some(t)
            }
            None => break,
        }
    }
    let findings = h
        .store
        .list_findings(&h.tenant, &FindingFilter::default(), None, 1000)
        .await
        .expect("findings");
    seen.views.push(format!("{:?}", findings.items));
    let runs = h.store.list_runs(&h.tenant, None, 100).await.expect("runs");
    seen.views.push(format!("{:?}", runs.items));
    // A refused page token's error is part of what a caller sees.
    if let Err(e) = h
        .store
        .list_assets(&h.tenant, &AssetFilter::default(), Some(CANARY), 10)
        .await
    {
        assert!(matches!(e, StoreError::InvalidPageToken), "{e:?}");
        record_error(seen, &e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_token_appears_only_in_the_authorization_header_to_the_configured_console() {
    let capture = capture();
    let sim = Simulator::new(
        TenantSpec::small()
            .with_seed(31)
            .with_agents(150)
            .with_threats(80),
    )
    .config(SimConfig {
        token: Some(CANARY.to_string()),
        ..SimConfig::default()
    })
    .start()
    .await
    .expect("simulator");
    assert_eq!(sim.token(), CANARY, "the simulator runs with the canary");
    let mut h = Harness::on_simulator(sim, "tenant-canary", |c| c.auto_sync_days = Some(1)).await;
    // Failing consoles fail fast: the retry budget is shortened, the retries themselves still happen.
    h.worker.engine.client_options.retry = RetryPolicy {
        budget: Duration::from_secs(3),
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_attempts: 4,
    };
    let sim_url = h.sim.base_url();
    let mut seen = Seen::default();
    let mut faults = 0u32;

    // The stored token is the canary (so a clean sweep means something).
    assert_eq!(
        h.vault
            .get_token(&h.tenant)
            .await
            .expect("vault")
            .map(|t| t.expose().to_string())
            .as_deref(),
        Some(CANARY)
    );

    // Connection test (what the test-connection endpoint serialises), passing.
    let report = client(&h, &sim_url)
        .test_connection(&GroupFilter::parse(""))
        .await;
    assert!(report.passed(), "{report:?}");
    seen.views.push(format!("{report:?}"));
    seen.views
        .push(serde_json::to_string(&report).expect("report serialises"));

    // A full on-demand sync, then a scheduled one (fan-out message → worker). The long calls are boxed: a debug
    // build gives every awaited future of this block its own slot in one stack frame of the test thread.
    let ok = Box::pin(sync(&h, &mut seen)).await;
    assert_eq!(ok.status, RunStatus::Succeeded, "{ok:?}");
    assert!(
        !h.assets().await.is_empty(),
        "the sync imported the console's agents"
    );
    let scheduled = schedule_due_syncs(
        &h.store,
        &h.queue,
        time::OffsetDateTime::now_utc() + time::Duration::minutes(1),
        sync_engine::Budget::unlimited(),
    )
    .await
    .expect("fan-out");
    assert_eq!(scheduled.enqueued, 1, "{scheduled:?}");
    Box::pin(drain(&h, &mut seen)).await;
    let runs = h.store.list_runs(&h.tenant, None, 10).await.expect("runs");
    assert!(
        runs.items
            .iter()
            .any(|r| r.trigger == Trigger::Scheduled && r.status == RunStatus::Succeeded),
        "{:?}",
        runs.items
    );
    Box::pin(views(&h, &mut seen)).await;

    // Failing syncs. 1: the console answers 500 to everything (retried, then the run fails).
    h.sim.faults().server_error_every(1, 500);
    faults += 1;
    let failed = Box::pin(sync(&h, &mut seen)).await;
    assert_eq!(failed.status, RunStatus::Failed, "{failed:?}");
    if let Err(e) = Box::pin(client(&h, &sim_url).system_info()).await {
        record_error(&mut seen, &e);
    }
    h.sim.faults().clear();

    // 2: a wrong URL (nothing listens there).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let wrong = format!("http://127.0.0.1:{closed}");
    point_console_at(&h, &wrong).await;
    faults += 1;
    let failed = Box::pin(sync(&h, &mut seen)).await;
    assert_eq!(failed.status, RunStatus::Failed, "{failed:?}");
    if let Err(e) = Box::pin(client(&h, &wrong).system_info()).await {
        record_error(&mut seen, &e);
    }

    // 3: the configured console redirects every request to another host; the token must not follow.
    let elsewhere = Scripted::start(|_| (200, Vec::new(), "{\"data\":[]}".to_string())).await;
    let target = format!(
        "http://localhost:{}/web/api/v2.1/agents?limit=100",
        elsewhere.port
    );
    let redirector = Scripted::start(move |_| {
        (
            307,
            vec![("location".to_string(), target.clone())],
            String::new(),
        )
    })
    .await;
    point_console_at(&h, &redirector.url()).await;
    faults += 1;
    let failed = Box::pin(sync(&h, &mut seen)).await;
    assert_eq!(failed.status, RunStatus::Failed, "{failed:?}");
    let report = client(&h, &redirector.url())
        .test_connection(&GroupFilter::parse(""))
        .await;
    assert!(!report.passed());
    seen.views
        .push(serde_json::to_string(&report).expect("json"));
    if let Err(e) = Box::pin(client(&h, &redirector.url()).system_info()).await {
        assert_eq!(e.kind(), "redirect");
        record_error(&mut seen, &e);
    }
    assert!(
        !redirector.requests().is_empty(),
        "the redirecting console was asked"
    );
    assert_eq!(
        elsewhere.connections.load(Ordering::SeqCst),
        0,
        "a redirect to another host was followed"
    );

    // 4: a hostile (or broken) console that echoes the Authorization header back in its error envelope, as 401,
    // 400 and 503: the connector shows console error titles to the user, so the echo must not reach them.
    for status in [401u16, 400, 503] {
        let echo = Scripted::start(move |raw| {
            let auth = authorization(raw);
            let body = serde_json::json!({"errors": [{
                "code": 4010010,
                "title": format!("Authentication Failed for {auth}"),
                "detail": format!("the header was {auth}"),
            }]});
            (status, Vec::new(), body.to_string())
        })
        .await;
        point_console_at(&h, &echo.url()).await;
        faults += 1;
        let failed = Box::pin(sync(&h, &mut seen)).await;
        assert_eq!(failed.status, RunStatus::Failed, "{status}: {failed:?}");
        let report = client(&h, &echo.url())
            .test_connection(&GroupFilter::parse(""))
            .await;
        seen.views
            .push(serde_json::to_string(&report).expect("json"));
        seen.views.push(format!("{report:?}"));
        if let Err(e) = Box::pin(client(&h, &echo.url()).system_info()).await {
            record_error(&mut seen, &e);
        }
        for raw in echo.requests() {
            assert_only_in_authorization(&raw, "the echoing console");
        }
    }
    for raw in redirector.requests() {
        assert_only_in_authorization(&raw, "the redirecting console");
        assert!(
            raw.contains(&format!("127.0.0.1:{}", redirector.port)),
            "Host is the configured console"
        );
    }

    // 5: the token is revoked on the console.
    point_console_at(&h, &sim_url).await;
    h.sim.revoke_token(CANARY);
    faults += 1;
    let failed = Box::pin(sync(&h, &mut seen)).await;
    assert_eq!(failed.status, RunStatus::Failed, "{failed:?}");
    if let Err(e) = Box::pin(client(&h, &sim_url).system_info()).await {
        assert_eq!(e.kind(), "unauthorized");
        record_error(&mut seen, &e);
    }
    Box::pin(views(&h, &mut seen)).await;

    // Typed errors of the token itself, and the Debug of the values that hold it.
    for bad in [
        format!("{CANARY} x"),
        format!("{CANARY}\u{7}"),
        CANARY[..12].to_string(),
    ] {
        if let Err(e) = ApiToken::new(bad) {
            record_error(&mut seen, &e);
        }
    }
    let token = ApiToken::new(CANARY.to_string()).expect("token");
    seen.errors.push(format!("{token:?}"));
    seen.errors.push(format!("{:?}", client(&h, &sim_url)));
    seen.errors
        .push(format!("{:?}", h.worker.engine.client_options));

    // Disconnect: config and secret gone; a late message for the tenant does nothing.
    assert!(connector_store::disconnect(&h.store, &h.vault, &h.tenant)
        .await
        .expect("disconnect"));
    assert!(h.vault.get_token(&h.tenant).await.expect("vault").is_none());
    assert!(matches!(
        h.store.source_status(&h.tenant).await.expect("status"),
        SourceStatus::Disconnected { .. }
    ));
    let late = SyncMessage::first(h.tenant.as_str(), &ok.id);
    h.queue.send(&late).await.expect("send");
    Box::pin(drain(&h, &mut seen)).await;
    Box::pin(views(&h, &mut seen)).await;

    // --- The search. ---
    let items = table_items(&h).await;
    assert!(items.len() > 100, "the table holds the sync's items");
    let leaking_items: Vec<&String> = items.iter().filter(|i| leaks(i)).collect();
    assert!(
        leaking_items.is_empty(),
        "{} table items hold the token; first: {}",
        leaking_items.len(),
        leaking_items[0]
    );
    assert!(seen.sqs_bodies.len() >= 9, "{:?}", seen.sqs_bodies);
    for body in &seen.sqs_bodies {
        assert!(!leaks(body), "an SQS message holds the token: {body}");
    }
    let mut reasons = Vec::new();
    for run in &seen.runs {
        if run.status == RunStatus::Failed {
            assert!(run.message.is_some(), "a failed run says why: {run:?}");
        }
        reasons.extend(run.message.clone());
        reasons.extend(run.errors.clone());
    }
    assert_eq!(
        seen.runs
            .iter()
            .filter(|r| r.status == RunStatus::Failed)
            .count() as u32,
        faults,
        "one failed run per failing console"
    );
    for text in reasons.iter().chain(&seen.errors).chain(&seen.views) {
        assert!(!leaks(text), "the token is in an error or a view: {text}");
    }
    // The consoles: the simulator saw the token only in the header (it flags any other place), and used it.
    let requests = h.sim.requests();
    assert!(requests.len() > 10);
    assert!(requests.iter().all(|r| r.authorization_present));
    for r in &requests {
        assert!(!r.token_in_url, "token in a URL: {r:?}");
        assert!(
            !r.token_in_body || r.path.ends_with("users/api-token-details"),
            "token in a request body: {r:?}"
        );
    }

    let logs = capture.logs.text();
    let lines = logs.lines().count();
    assert!(lines > 200, "logs were captured ({lines} lines)");
    for expected in [
        "\"message\":\"run finished\"",
        "scheduled syncs queued",
        "configuration saved",
        "source disconnected",
        "sync message for a tenant without configuration; ignored",
    ] {
        assert!(logs.contains(expected), "{expected:?} not in the capture");
    }
    let leaking: Vec<&str> = logs.lines().filter(|l| leaks(l)).collect();
    assert!(
        leaking.is_empty(),
        "{} of {lines} log lines hold the token; first: {}",
        leaking.len(),
        leaking[0].chars().take(400).collect::<String>()
    );
    let panics = capture.panics.lock().map(|p| p.clone()).unwrap_or_default();
    assert!(
        panics.iter().all(|p| !leaks(p)),
        "a panic message holds the token"
    );
    assert!(panics.is_empty(), "panics during the sweep: {panics:?}");
    eprintln!(
        "secret sweep: {lines} log lines, {} SQS bodies, {} table items, {} errors, {} view values, \
         {} simulator requests, {} requests to scripted consoles, {faults} failing consoles, {} runs; leaks 0",
        seen.sqs_bodies.len(),
        items.len(),
        seen.errors.len() / 2,
        seen.views.len(),
        requests.len(),
        redirector.requests().len(),
        seen.runs.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_message_for_a_tenant_without_configuration_is_logged_with_tenant_and_reason() {
    let capture = capture();
    let h = Harness::new(TenantSpec::small().with_seed(5)).await;
    let forged = SyncMessage::first("tenant-forged-7731", "run-forged-7731");
    let queued = QueuedMessage {
        message_id: "msg-forged-7731".into(),
        body: forged.to_body(),
        receive_count: 1,
    };
    let before = table_items(&h).await.len();
    let disposition = h
        .worker
        .handle(
            &queued,
            SystemTime::now() + Duration::from_secs(60),
            "forger",
        )
        .await;
    assert_eq!(
        disposition,
        Disposition::Done,
        "dropped, not redriven to the DLQ"
    );
    assert_eq!(table_items(&h).await.len(), before, "nothing written");
    assert!(matches!(
        h.worker
            .engine
            .run(&forged, sync_engine::Budget::unlimited(), "forger")
            .await,
        Ok(Outcome::Ignored("tenant not configured"))
    ));

    // One warning from the engine (tenant, run, why) and the worker's own line (reason field, inside the span
    // naming the tenant and the message).
    let logs = capture.logs.text();
    let ours: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.contains("tenant-forged-7731"))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let engine_line = ours.iter().find(|v| {
        v["fields"]["message"] == "sync message for a tenant without configuration; ignored"
    });
    let engine_line = engine_line.unwrap_or_else(|| panic!("no engine warning in {ours:?}"));
    assert_eq!(engine_line["level"], "WARN");
    assert_eq!(engine_line["fields"]["tenant"], "tenant-forged-7731");
    assert_eq!(engine_line["fields"]["run"], "run-forged-7731");
    let worker_line = ours
        .iter()
        .find(|v| v["fields"]["message"] == "sync message ignored")
        .unwrap_or_else(|| panic!("no worker line in {ours:?}"));
    assert_eq!(worker_line["level"], "WARN");
    assert_eq!(worker_line["fields"]["reason"], "tenant not configured");
    assert_eq!(worker_line["span"]["tenant"], "tenant-forged-7731");
    assert_eq!(worker_line["span"]["message_id"], "msg-forged-7731");

    // A message that is not even valid: logged with its id (never its body), and left for the DLQ.
    let garbage = QueuedMessage {
        message_id: "msg-garbage-7731".into(),
        body: "{\"tenant\": 7".into(),
        receive_count: 1,
    };
    assert_eq!(
        h.worker.handle(&garbage, SystemTime::now(), "forger").await,
        Disposition::Retry
    );
    let logs = capture.logs.text();
    let line = logs
        .lines()
        .find(|l| l.contains("msg-garbage-7731"))
        .expect("the invalid message is logged");
    assert!(
        !line.contains("\\\"tenant\\\": 7"),
        "the body is not logged: {line}"
    );
    let _: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(line).expect("a JSON log line");
}
