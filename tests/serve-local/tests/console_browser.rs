//! The web console in a real browser: headless Chromium (the system's `chromium` package, installed by
//! `scripts/install-chromium`) driven over the DevTools protocol against `serve-local` (the handlers in-process,
//! the simulator, the local AWS stack). One walk through the product: configure → test connection → save → sync now
//! with live progress → history → asset and finding views with a filter and a second page → custom fields → a
//! validation error beside its field → disconnect. A screenshot of each screen is written under
//! `target/tmp/console-screenshots/` (and to `CONSOLE_SCREENSHOTS_DIR` when set: that is how `docs/console-*.png`
//! are refreshed). The SentinelOne token typed into the form is looked for in every response the server sent,
//! every log line, the page (markup, text, field values, storage) at every screenshot, and must be in none.
//!
//! Needs the local AWS stack (`scripts/test` starts it). Without Chromium the tests fail, naming the install
//! script; `CONSOLE_BROWSER_TESTS=skip` is the only way to skip them, and says so.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::Page;
use futures::StreamExt;
use serde_json::Value;
use serve_local::{ConsoleSource, Options, ServeLocal};

/// Every log line of this test process (the server's handlers, the sync worker, the drainer).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .json()
            .with_writer(move || LogWriter(writer.clone()))
            // Debug for our crates, so the scan covers more than the info lines. The browser driver's own logs
            // are off: they echo the keystrokes this test sends, which are not the server's logs.
            .with_env_filter(
                "info,serve_local=debug,sync_engine=debug,tenant_config=debug,connector_store=debug,\
                 sentinelone_client=debug,http_api=debug,s1_simulator=info,chromiumoxide=off,\
                 tungstenite=off,async_tungstenite=off",
            )
            .init();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);
impl Write for LogWriter {
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

/// The system's Chromium, or `None` when the caller explicitly opted out.
fn chromium() -> Option<PathBuf> {
    if std::env::var("CONSOLE_BROWSER_TESTS").as_deref() == Ok("skip") {
        eprintln!("CONSOLE_BROWSER_TESTS=skip: the console's browser tests are NOT run");
        return None;
    }
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromium"))
            .find(|p| p.is_file())
    });
    Some(found.unwrap_or_else(|| {
        panic!(
            "chromium is not installed: run scripts/install-chromium (scripts/test and .ci/run do), \
             or set CONSOLE_BROWSER_TESTS=skip to skip these tests knowingly"
        )
    }))
}

async fn launch(executable: PathBuf) -> Browser {
    let profile = std::env::temp_dir().join(format!(
        "s1-console-chromium-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let config = BrowserConfig::builder()
        .chrome_executable(executable)
        // Our flags only: these are the ones known to work on this closed network (without the
        // background-networking ones Chromium's own connections are refused and it stalls).
        .disable_default_args()
        .no_sandbox()
        .user_data_dir(&profile)
        .window_size(1280, 900)
        .args([
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .build()
        .expect("browser config");
    let (browser, mut handler) = Browser::launch(config).await.expect("chromium starts");
    tokio::spawn(async move { while handler.next().await.is_some() {} });
    browser
}

async fn start_local(token: &str, agents: usize, threats: usize) -> ServeLocal {
    let id = uuid::Uuid::new_v4().simple().to_string();
    serve_local::start(Options {
        console: ConsoleSource::Simulator {
            agents,
            threats,
            port: 0,
            token: token.to_string(),
        },
        port: 0,
        table: format!("s1c-console-{id}"),
        queue: format!("s1c-console-{id}"),
        secret_prefix: format!("s1-connector/console-{id}/"),
        record_responses: true,
    })
    .await
    .expect("serve-local starts (is the local AWS stack up? scripts/test starts it)")
}

/// The page plus what each step needs: waiting for a condition, typing, screenshots with the token scan.
struct Console {
    page: Page,
    secret: String,
    shots: Vec<String>,
}

impl Console {
    async fn eval(&self, js: &str) -> Value {
        self.page
            .evaluate(js)
            .await
            .unwrap_or_else(|e| panic!("evaluating {js}: {e}"))
            .into_value::<Value>()
            .unwrap_or(Value::Null)
    }

    /// Polls `js` (an expression) until it is true. Waits are generous (60 s): under `scripts/test` the local AWS
    /// emulator serves every test of the workspace one request at a time, so a page of a view can take seconds.
    async fn wait(&self, js: &str, what: &str, timeout: Duration) {
        let started = Instant::now();
        loop {
            if self.eval(js).await == Value::Bool(true) {
                return;
            }
            if started.elapsed() > timeout {
                let text = self.eval("document.body.innerText").await;
                panic!("timed out after {timeout:?} waiting for {what}; the page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn visible(&self, selector: &str, what: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({selector:?}); return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0; }})()"
        );
        self.wait(&js, what, Duration::from_secs(60)).await;
    }

    async fn go(&self, route: &str, ready: &str) {
        self.eval(&format!("location.hash = '#/{route}'")).await;
        self.visible(ready, &format!("the {route} screen")).await;
    }

    async fn click(&self, selector: &str) {
        self.page
            .find_element(selector)
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    }

    /// Types like a user: focus by click, then key events.
    async fn type_into(&self, selector: &str, text: &str) {
        self.eval(&format!("document.querySelector({selector:?}).value = ''"))
            .await;
        self.page
            .find_element(selector)
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .click()
            .await
            .expect("focus")
            .type_str(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {selector}: {e}"));
    }

    async fn choose(&self, selector: &str, value: &str) {
        self.eval(&format!(
            "(() => {{ const s = document.querySelector({selector:?}); s.value = {value:?}; s.dispatchEvent(new Event('change')); }})()"
        ))
        .await;
    }

    async fn texts(&self, selector: &str) -> Vec<String> {
        let v = self
            .eval(&format!(
                "[...document.querySelectorAll({selector:?})].map(e => e.textContent.trim())"
            ))
            .await;
        serde_json::from_value(v).unwrap_or_default()
    }

    /// The token is nowhere on the page: not in the markup, the visible text, storage, nor any field's value
    /// (password fields excepted only while `typed_in_password` is true: they show it masked, before the save).
    async fn assert_token_absent(&self, where_: &str, typed_in_password: bool) {
        let page = self
            .eval(
                "JSON.stringify({html: document.documentElement.outerHTML, text: document.body.innerText,
                  session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage), url: location.href,
                  values: [...document.querySelectorAll('input, textarea, select')]
                    .filter(i => i.type !== 'password').map(i => i.value),
                  passwords: [...document.querySelectorAll('input[type=password]')].map(i => i.value)})",
            )
            .await;
        let page: Value = serde_json::from_str(page.as_str().unwrap_or("{}")).expect("page state");
        for key in ["html", "text", "session", "local", "url", "values"] {
            assert!(
                !page[key].to_string().contains(&self.secret),
                "{where_}: the token is in the page's {key}"
            );
        }
        if !typed_in_password {
            assert!(
                !page["passwords"].to_string().contains(&self.secret),
                "{where_}: the token is still in a password field"
            );
        }
    }

    async fn shot(&mut self, name: &str, typed_in_password: bool) {
        self.assert_token_absent(&format!("screenshot {name}"), typed_in_password)
            .await;
        // A missing value must read as a dash or a sentence: no text node may be JavaScript's spelling of nothing
        // (what Element.append makes of a null child).
        let stray = self
            .eval(
                "(() => { const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); const bad = [];
                   while (w.nextNode()) { const t = w.currentNode.nodeValue.trim();
                     if (['null', 'undefined', 'NaN'].includes(t) || t.includes('[object ')) bad.push(t); }
                   return bad; })()",
            )
            .await;
        assert_eq!(
            stray,
            serde_json::json!([]),
            "screenshot {name}: stray values on the page"
        );
        let png = self
            .page
            .screenshot(ScreenshotParams::builder().full_page(true).build())
            .await
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
        let mut dirs = vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")];
        if let Some(extra) = std::env::var_os("CONSOLE_SCREENSHOTS_DIR") {
            dirs.push(PathBuf::from(extra));
        }
        for dir in dirs {
            std::fs::create_dir_all(&dir).expect("screenshot dir");
            std::fs::write(dir.join(format!("console-{name}.png")), &png)
                .expect("write screenshot");
        }
        self.shots.push(name.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_test_save_sync_browse_and_fix_a_field_in_a_real_browser() {
    let Some(chromium) = chromium() else { return };
    let logs = logs();
    let started = Instant::now();
    // A token shaped like a real one, unique to this run, so finding it anywhere means it leaked from the form.
    let secret = format!("s1tok-{}", uuid::Uuid::new_v4().simple());
    let local = start_local(&secret, 60, 150).await;
    let mut browser = launch(chromium).await;
    let page = browser
        .new_page(local.console_url.as_str())
        .await
        .expect("page");
    let mut c = Console {
        page,
        secret: secret.clone(),
        shots: Vec::new(),
    };

    // Signed in from the URL fragment, which is then removed from the address bar; not configured yet.
    c.visible("#card-title", "the integration card").await;
    // Anything the page's Content-Security-Policy blocks from here on (an inline style, a foreign request) is
    // recorded; the screens are hash routes of this one document, so the listener sees every one of them.
    c.eval(
        "window.cspViolations = []; document.addEventListener('securitypolicyviolation',
           e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI))",
    )
    .await;
    assert_eq!(c.eval("location.hash").await, "#/");
    assert_eq!(
        c.eval("sessionStorage.getItem('s1-console.token')").await,
        Value::String(local.session_token.clone())
    );
    assert!(c
        .eval("document.body.innerText")
        .await
        .to_string()
        .contains("not connected"));

    // Settings: every field, with the API's defaults.
    c.go("settings", "#consoleUrl").await;
    assert_eq!(
        c.eval("document.querySelector('#token-state').textContent")
            .await,
        "not set"
    );
    let verdicts = c
        .eval("[...document.querySelectorAll('input[name=analystVerdicts]')].map(i => [i.value, i.checked])")
        .await;
    assert_eq!(
        verdicts,
        serde_json::json!([
            ["true_positive", true],
            ["suspicious", true],
            ["undefined", true],
            ["false_positive", false]
        ])
    );
    assert_eq!(
        c.eval("document.querySelector('#autoOnboard').checked")
            .await,
        true
    );
    assert_eq!(
        c.eval("document.querySelector('#updateMetadata').checked")
            .await,
        true
    );
    assert_eq!(
        c.eval("document.querySelector('#autoSyncDays').value")
            .await,
        ""
    );
    assert_eq!(
        c.eval("document.querySelector('#groupNames').value").await,
        ""
    );
    assert_eq!(
        c.eval("document.querySelector('#importVulnerabilities').checked")
            .await,
        true
    );
    assert_eq!(
        c.eval("document.querySelector('#minimumVulnerabilitySeverity').value")
            .await,
        "low"
    );
    // Every input has a label.
    assert_eq!(
        c.eval("[...document.querySelectorAll('main input, main select')].filter(i => !i.labels || i.labels.length === 0).length").await,
        0
    );

    c.type_into("#consoleUrl", &local.s1_url).await;
    c.type_into("#apiToken", &secret).await;

    // Test connection: one line per check, each with its status and message.
    c.click("#test-connection").await;
    c.visible("#connection-report li[data-check]", "the connection report")
        .await;
    let checks = c
        .eval("[...document.querySelectorAll('#connection-report li')].map(l => [l.dataset.check, l.dataset.status, l.textContent])")
        .await;
    let checks = checks.as_array().expect("checks").clone();
    assert!(checks.len() >= 6, "{checks:?}");
    for check in &checks {
        assert!(
            matches!(check[1].as_str(), Some("passed" | "warning" | "skipped")),
            "a check failed against the simulator: {check:?}"
        );
    }
    for name in [
        "url_allowed",
        "console_reachable",
        "token_accepted",
        "permission_threats",
    ] {
        assert!(
            checks.iter().any(|c| c[0] == name && c[1] == "passed"),
            "{name} passed: {checks:?}"
        );
    }
    c.shot("test-connection", true).await;

    // Save: the token leaves the page; only "set" stays.
    c.click("#save").await;
    c.visible("#saved", "the saved message").await;
    assert_eq!(
        c.eval("document.querySelector('#token-state').textContent")
            .await,
        "set"
    );
    assert_eq!(
        c.eval("document.querySelector('#apiToken').value").await,
        ""
    );
    c.shot("settings", false).await;

    // Sync now, with progress polled from the run until it ends.
    c.go("", "#sync-now").await;
    assert_eq!(
        c.eval("document.querySelector('#card-console-url').textContent")
            .await,
        Value::String(local.s1_url.clone())
    );
    c.click("#sync-now").await;
    c.visible("#run-status", "the run's progress").await;
    let first = c
        .eval("document.querySelector('#run-status').dataset.status")
        .await;
    assert!(
        matches!(first.as_str(), Some("pending" | "running")),
        "the progress shows the run before it ends, got {first}"
    );
    c.shot("sync-progress", false).await;
    let mut phases = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let status = c
            .eval("document.querySelector('#run-status')?.dataset.status")
            .await;
        if let Some(p) = c
            .eval("document.querySelector('#run-phase')?.textContent")
            .await
            .as_str()
        {
            phases.insert(p.to_string());
        }
        if matches!(status.as_str(), Some("succeeded" | "partial" | "failed")) {
            assert_eq!(status, "succeeded", "the sync ended {status}");
            break;
        }
        assert!(Instant::now() < deadline, "the sync did not end in 180 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        phases.len() >= 2,
        "progress showed more than one phase: {phases:?}"
    );
    let findings = c
        .eval("document.querySelector('#run-findings').textContent")
        .await;
    assert!(
        findings.as_str().unwrap_or("").starts_with("150 created"),
        "run findings: {findings}"
    );
    c.visible("#last-sync .badge.succeeded", "the card's last sync")
        .await;
    c.shot("overview", false).await;

    // History: the run in the table and three bars (created, updated, failed) in the chart.
    c.go("history", "#runs tbody tr").await;
    assert_eq!(c.texts("#runs tbody tr").await.len(), 1);
    assert_eq!(
        c.eval("document.querySelectorAll('#runs-chart rect').length")
            .await,
        3
    );
    assert_eq!(
        c.eval("document.querySelector('#runs-chart rect.created').dataset.value")
            .await,
        "150"
    );
    c.shot("history", false).await;

    // Assets: 25 a page, a second page through the page token, a name filter, a link per record.
    c.go("assets", "table tbody tr").await;
    let page1 = c.texts("table tbody tr td:first-child").await;
    assert_eq!(page1.len(), 25);
    let links = c
        .eval("[...document.querySelectorAll('table tbody tr td:last-child a')].map(a => a.href)")
        .await;
    let links: Vec<String> = serde_json::from_value(links).unwrap_or_default();
    assert_eq!(links.len(), 25, "a SentinelOne link per asset");
    assert!(
        links.iter().all(|l| l.starts_with(&local.s1_url)),
        "{links:?}"
    );
    c.click("#next-page").await;
    c.wait(
        "document.querySelector('#page-number').textContent === 'Page 2' && !document.querySelector('#list-status').textContent.startsWith('Loading')",
        "assets page 2",
        Duration::from_secs(60),
    )
    .await;
    let page2 = c.texts("table tbody tr td:first-child").await;
    assert!(!page2.is_empty());
    assert!(
        page2.iter().all(|n| !page1.contains(n)),
        "page 2 repeats page 1"
    );
    let prefix: String = page1[0].chars().take(3).collect();
    c.type_into("#filter-name", &prefix).await;
    c.click("form.filters button[type=submit]").await;
    c.wait(
        "document.querySelector('#page-number').textContent === 'Page 1' && !document.querySelector('#list-status').textContent.startsWith('Loading')",
        "filtered assets",
        Duration::from_secs(60),
    )
    .await;
    let filtered = c.texts("table tbody tr td:first-child").await;
    assert!(!filtered.is_empty());
    assert!(
        filtered
            .iter()
            .all(|n| n.to_lowercase().starts_with(&prefix.to_lowercase())),
        "{prefix}: {filtered:?}"
    );
    c.shot("assets", false).await;

    // Findings: the status filter, then its second page.
    c.go("findings", "table tbody tr").await;
    c.choose("#filter-status", "failed").await;
    c.click("form.filters button[type=submit]").await;
    c.wait(
        "!document.querySelector('#list-status').textContent.startsWith('Loading') && !document.querySelector('#next-page').disabled",
        "failed findings",
        Duration::from_secs(60),
    )
    .await;
    let statuses = c.texts("table tbody tr td:nth-child(2)").await;
    assert_eq!(statuses.len(), 25);
    assert!(statuses.iter().all(|s| s == "failed"), "{statuses:?}");
    let first_titles = c.texts("table tbody tr td:first-child").await;
    c.shot("findings", false).await;
    c.click("#next-page").await;
    c.wait(
        "document.querySelector('#page-number').textContent === 'Page 2' && !document.querySelector('#list-status').textContent.startsWith('Loading')",
        "failed findings page 2",
        Duration::from_secs(60),
    )
    .await;
    let statuses = c.texts("table tbody tr td:nth-child(2)").await;
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|s| s == "failed"), "{statuses:?}");
    let links = c
        .eval("[...document.querySelectorAll('table tbody tr td:last-child a')].map(a => a.href)")
        .await;
    let links: Vec<String> = serde_json::from_value(links).unwrap_or_default();
    assert_eq!(
        links.len(),
        statuses.len(),
        "a SentinelOne link per finding"
    );
    assert_ne!(c.texts("table tbody tr td:first-child").await, first_titles);

    // Custom fields: add one, see it listed, delete it.
    c.go("custom-fields", "#name").await;
    c.type_into("#name", "Cost center").await;
    c.click("#add-field").await;
    c.visible("button[aria-label='Delete Cost center']", "the new field")
        .await;
    c.shot("custom-fields", false).await;
    c.click("button[aria-label='Delete Cost center']").await;
    c.wait(
        "!document.querySelector(\"button[aria-label='Delete Cost center']\")",
        "the deleted field to go",
        Duration::from_secs(60),
    )
    .await;

    // A validation error from the API's problem+json, beside its field.
    c.go("settings", "#autoSyncDays").await;
    c.type_into("#autoSyncDays", "45").await;
    c.click("#save").await;
    c.visible("#autoSyncDays-error", "the auto-sync field's error")
        .await;
    let beside = c
        .eval(
            "(() => { const e = document.querySelector('#autoSyncDays-error');
               return [e.closest('.field').contains(document.querySelector('#autoSyncDays')),
                       document.querySelector('#autoSyncDays').getAttribute('aria-invalid'),
                       document.activeElement.id, e.textContent,
                       [...document.querySelectorAll('.field .error')].filter(x => !x.hidden).length]; })()",
        )
        .await;
    assert_eq!(
        beside[0], true,
        "the error sits in the field's own block: {beside}"
    );
    assert_eq!(beside[1], "true");
    assert_eq!(
        beside[2], "autoSyncDays",
        "focus moves to the invalid field"
    );
    assert!(
        beside[3].as_str().unwrap_or("").contains("1 to 30"),
        "{beside}"
    );
    assert_eq!(beside[4], 1, "only that field has an error");
    c.shot("validation-error", false).await;

    // Disconnect asks first: Cancel keeps the connection, Disconnect removes it.
    c.go("", "#disconnect").await;
    c.click("#disconnect").await;
    c.visible("#disconnect-dialog", "the confirmation").await;
    c.click("#disconnect-dialog button:not(.danger)").await;
    c.wait(
        "!document.querySelector('#disconnect-dialog')",
        "the dialog to close",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        c.eval("document.querySelector('#connection-state').textContent")
            .await,
        "connected"
    );
    c.click("#disconnect").await;
    c.visible("#confirm-disconnect", "the confirmation").await;
    c.click("#confirm-disconnect").await;
    c.wait(
        "document.body.innerText.includes('not connected') && document.body.innerText.includes('Imported data was kept')",
        "the disconnected card",
        Duration::from_secs(60),
    )
    .await;
    c.assert_token_absent("after disconnect", false).await;
    assert_eq!(
        c.eval("window.cspViolations").await,
        serde_json::json!([]),
        "the Content-Security-Policy blocked something the console needs"
    );
    // The recorder works: an image from another origin is blocked (before any request) and recorded.
    c.eval("document.body.append(Object.assign(document.createElement('img'), {src: 'https://example.invalid/x.png'}))")
        .await;
    c.wait(
        "window.cspViolations.some(v => v.startsWith('img-src'))",
        "the recorded violation",
        Duration::from_secs(10),
    )
    .await;

    // Nothing the server answered and nothing it logged holds the token.
    let exchanges = local.exchanges();
    assert!(
        exchanges.len() > 30,
        "{} responses recorded",
        exchanges.len()
    );
    for e in &exchanges {
        assert!(
            !e.body.contains(&secret),
            "{} {} ({}) answered the token",
            e.method,
            e.path,
            e.status
        );
    }
    assert!(exchanges
        .iter()
        .any(|e| e.path.ends_with("/config") && e.method == "PUT" && e.status == 200));
    assert!(exchanges
        .iter()
        .any(|e| e.path.ends_with("/config") && e.method == "PUT" && e.status == 400));
    let log_text = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(
        log_text.contains("\"request\""),
        "the server's logs were captured"
    );
    assert!(!log_text.contains(&secret), "the token is in the logs");
    assert_eq!(c.shots.len(), 9);

    browser.close().await.ok();
    browser.wait().await.ok();
    local.stop().await;
    eprintln!("console browser walk: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_handed_over_token_the_console_asks_for_one_and_refuses_a_wrong_one() {
    let Some(chromium) = chromium() else { return };
    let _ = logs();
    let local = start_local(&format!("s1tok-{}", uuid::Uuid::new_v4().simple()), 5, 5).await;
    let mut browser = launch(chromium).await;
    let page = browser
        .new_page(format!("{}/console", local.base_url).as_str())
        .await
        .expect("page");
    let c = Console {
        page,
        secret: String::from("\u{0}never"),
        shots: Vec::new(),
    };
    c.visible("#platform-token", "the sign-in form").await;
    assert_eq!(c.eval("document.activeElement.id").await, "platform-token");
    c.type_into("#platform-token", "not-the-session-token")
        .await;
    c.click("form button[type=submit]").await;
    // The API (the local authorizer) refuses it: back to sign-in, with the reason.
    c.wait(
        "!!document.querySelector('#platform-token') && !!document.querySelector('[role=alert]')",
        "the refusal",
        Duration::from_secs(60),
    )
    .await;
    assert!(c
        .eval("document.querySelector('[role=alert]').textContent")
        .await
        .as_str()
        .unwrap_or("")
        .contains("Unauthorized"));
    assert!(local
        .exchanges()
        .iter()
        .any(|e| e.status == 401 && e.path.starts_with("/v1/")));
    c.type_into("#platform-token", &local.session_token).await;
    c.click("form button[type=submit]").await;
    c.visible("#card-title", "the integration card").await;
    // The pasted token stays in this tab's sessionStorage only.
    assert_eq!(c.eval("localStorage.length").await, 0);
    assert_eq!(c.eval("document.cookie").await, "");
    browser.close().await.ok();
    browser.wait().await.ok();
    local.stop().await;
}
