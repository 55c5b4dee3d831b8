//! Answers the simulator does not give, from a scripted console on loopback: redirects (never followed), 404 and
//! 400 (never retried), a looping cursor, and the resolver deciding where the client may connect; then what makes a
//! sync trustworthy on a real console: an empty page with a cursor, a walk that never ends, and the deadline.

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use s1_core::groups::GroupFilter;
use sentinelone_client::{
    AgentQuery, CheckKind, CheckStatus, ClientOptions, Clock, ConsoleUrl, RecordingClock, S1Client,
    S1Error, StaticResolver, TokioClock, UrlPolicy, UrlPolicyError,
};
use support::{http_response, test_options, token, ScriptedServer};

#[tokio::test]
async fn a_302_to_an_internal_address_is_reported_not_followed() {
    // The redirect target is a second loopback listener: if the client followed, it would see a connection.
    let target = ScriptedServer::start(vec![http_response("200 OK", &[], "{}")]).await;
    let to_metadata = http_response(
        "302 Found",
        &[(
            "Location",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        )],
        "",
    );
    let to_loopback_location = format!("{}/web/api/v2.1/system/info", target.url());
    let to_loopback = http_response(
        "302 Found",
        &[("Location", to_loopback_location.as_str())],
        "",
    );
    let console = ScriptedServer::start(vec![to_metadata, to_loopback]).await;
    let client = console.client(RecordingClock::new());

    let e = client
        .system_info()
        .await
        .expect_err("a redirect is an error");
    match &e {
        S1Error::Redirect {
            status, location, ..
        } => {
            assert_eq!(*status, 302);
            assert_eq!(location, "http://169.254.169.254");
        }
        other => panic!("expected Redirect, got {other:?}"),
    }
    assert!(e.to_string().contains("does not follow"), "{e}");
    assert!(
        !e.to_string().contains("security-credentials"),
        "the path is not echoed: {e}"
    );

    let e = client
        .system_info()
        .await
        .expect_err("a redirect is an error");
    assert_eq!(e.kind(), "redirect");
    assert_eq!(
        console.requests().len(),
        2,
        "one request per call, no retry"
    );
    assert!(
        target.requests().is_empty(),
        "the redirect target was contacted"
    );
}

#[tokio::test]
async fn not_found_and_bad_request_are_not_retried() {
    let not_found = http_response(
        "404 Not Found",
        &[("Content-Type", "text/html")],
        "<html>nginx</html>",
    );
    let server = ScriptedServer::start(vec![not_found]).await;
    let e = server
        .client(RecordingClock::new())
        .system_info()
        .await
        .expect_err("404");
    assert_eq!(e.kind(), "not_found");
    assert!(e.to_string().contains("not a SentinelOne console"), "{e}");
    assert_eq!(server.requests().len(), 1);

    let bad = http_response(
        "400 Bad Request",
        &[("Content-Type", "application/json")],
        r#"{"errors":[{"code":4000010,"detail":"limit: must be <= 1000","title":"Validation Error"}]}"#,
    );
    let server = ScriptedServer::start(vec![bad]).await;
    let pages = server
        .client(RecordingClock::new())
        .agents(AgentQuery::default());
    futures::pin_mut!(pages);
    let e = pages.try_next().await.expect_err("400");
    assert_eq!(e.kind(), "bad_request");
    assert!(
        e.to_string()
            .contains("(400, code 4000010 Validation Error)"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_repeated_cursor_stops_the_walk() {
    let page = |cursor: &str| {
        let body = format!(
            r#"{{"data":[{{"id":"{cursor}-1","computerName":"host-{cursor}"}}],"pagination":{{"nextCursor":"{cursor}","totalItems":9}}}}"#
        );
        http_response("200 OK", &[("Content-Type", "application/json")], &body)
    };
    // A, then B, then A again: the console is looping.
    let server = ScriptedServer::start(vec![page("A"), page("B"), page("A")]).await;
    let pages = server
        .client(RecordingClock::new())
        .agents(AgentQuery::default());
    futures::pin_mut!(pages);
    let mut yielded = 0;
    let error = loop {
        match pages.try_next().await {
            Ok(Some(_)) => yielded += 1,
            Ok(None) => panic!("the walk ended without noticing the loop"),
            Err(e) => break e,
        }
    };
    assert_eq!(error.kind(), "repeated_cursor");
    assert_eq!(
        yielded, 3,
        "the records of every page served are still yielded"
    );
    assert_eq!(server.requests().len(), 3);
    assert!(pages.try_next().await.expect("ended").is_none());
}

#[tokio::test]
async fn requests_carry_the_auth_scheme_user_agent_and_accept_headers() {
    let server = ScriptedServer::start(vec![http_response("200 OK", &[], r#"{"data":{}}"#)]).await;
    server
        .client(RecordingClock::new())
        .system_info()
        .await
        .expect("ok");
    let head = server
        .requests()
        .pop()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        head.starts_with("get /web/api/v2.1/system/info http/1.1"),
        "{head}"
    );
    assert!(
        head.contains("authorization: apitoken eyjscripted-test-token-0123456789\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "user-agent: s1-connector/{}\r\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{head}"
    );
    assert!(head.contains("accept: application/json\r\n"), "{head}");
}

#[test]
fn debug_output_never_shows_the_token() {
    let console =
        ConsoleUrl::parse("https://acme.sentinelone.net", &UrlPolicy::default()).expect("url");
    let client = S1Client::new(
        console,
        token("eyJsecret-value-never-printed-42"),
        ClientOptions::default(),
    )
    .expect("client");
    let debug = format!("{client:?}");
    assert!(!debug.contains("secret-value"), "{debug}");
    assert!(debug.contains("acme.sentinelone.net"), "{debug}");
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[tokio::test]
async fn a_console_name_resolving_to_loopback_is_refused_before_any_connection() {
    // A listener on 127.0.0.1:443 cannot be had in a test, so the proof is that the refusal comes from the
    // resolver check (a policy error naming the address) rather than from a failed connection.
    let console =
        ConsoleUrl::parse("https://rebind.sentinelone.net", &UrlPolicy::default()).expect("url");
    for (address, class) in [
        ("127.0.0.1", "loopback"),
        ("10.0.0.5", "private"),
        ("169.254.169.254", "cloud metadata"),
    ] {
        let resolver = StaticResolver::new().with("rebind.sentinelone.net", &[ip(address)]);
        let options = ClientOptions {
            resolver: Arc::new(resolver),
            ..ClientOptions::default()
        };
        let client = S1Client::new(
            console.clone(),
            token("eyJresolver-test-token-000000"),
            options,
        )
        .expect("client");
        let e = client.system_info().await.expect_err("refused");
        match &e {
            S1Error::UrlRefused(UrlPolicyError::AddressRefused {
                ip: got,
                class: got_class,
                ..
            }) => {
                assert_eq!(got.to_string(), address);
                assert_eq!(*got_class, class);
            }
            other => panic!("{address}: expected an address refusal, got {other:?}"),
        }
        assert!(!e.is_retryable());
    }
}

#[tokio::test]
async fn connections_go_only_to_the_addresses_the_checking_resolver_returned() {
    let server = ScriptedServer::start(vec![http_response("200 OK", &[], r#"{"data":{}}"#)]).await;
    let port = server.addr.port();
    let console = ConsoleUrl::parse(&format!("http://localhost:{port}"), &support::dev_policy())
        .expect("url");
    // Through the pluggable resolver "localhost" means the scripted server: the request arrives.
    let resolver = StaticResolver::new().with("localhost", &[ip("127.0.0.1")]);
    let options = ClientOptions {
        resolver: Arc::new(resolver),
        ..ClientOptions::default()
    };
    let client = S1Client::new(
        console.clone(),
        token("eyJresolver-test-token-000000"),
        options,
    )
    .expect("client");
    client
        .system_info()
        .await
        .expect("reaches the loopback console");
    assert_eq!(server.requests().len(), 1);
    // Even in dev mode a name that resolves off loopback is refused, and nothing is sent anywhere.
    let resolver = StaticResolver::new().with("localhost", &[ip("10.0.0.5")]);
    let options = ClientOptions {
        resolver: Arc::new(resolver),
        ..ClientOptions::default()
    };
    let client =
        S1Client::new(console, token("eyJresolver-test-token-000000"), options).expect("client");
    let e = client.system_info().await.expect_err("refused");
    assert_eq!(e.kind(), "url_refused");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unresolvable_name_is_a_dns_error() {
    let console =
        ConsoleUrl::parse("https://nowhere.sentinelone.net", &UrlPolicy::default()).expect("url");
    let options = ClientOptions {
        resolver: Arc::new(StaticResolver::new()),
        ..ClientOptions::default()
    };
    let client =
        S1Client::new(console, token("eyJresolver-test-token-000000"), options).expect("client");
    let e = client.system_info().await.expect_err("no such host");
    assert_eq!(e.kind(), "dns");
    assert!(e.to_string().contains("nowhere.sentinelone.net"), "{e}");
}

// ---- An empty page with a cursor, the page cap, the deadline -------------------------------------------------------

fn agents_page(ids: &[&str], next: Option<&str>, total: Option<u64>) -> String {
    let data: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"id":"{id}","computerName":"host-{id}"}}"#))
        .collect();
    let next = next.map_or_else(|| "null".to_string(), |c| format!("\"{c}\""));
    let total = total
        .map(|t| format!(r#","totalItems":{t}"#))
        .unwrap_or_default();
    let body = format!(
        r#"{{"data":[{}],"pagination":{{"nextCursor":{next}{total}}}}}"#,
        data.join(",")
    );
    http_response("200 OK", &[("Content-Type", "application/json")], &body)
}

/// The `cursor` query parameter of a recorded request head.
fn cursor_of(head: &str) -> Option<String> {
    let line = head.lines().next()?;
    let target = line.split(' ').nth(1)?;
    let query = target.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("cursor="))
        .map(str::to_string)
}

struct Walked {
    ids: Vec<String>,
    pages: usize,
    /// `Ok` when the stream ended by itself (a complete walk).
    end: Result<(), S1Error>,
}

async fn walk(client: &S1Client) -> Walked {
    let pages = client.agents(AgentQuery::default());
    futures::pin_mut!(pages);
    let mut walked = Walked {
        ids: Vec::new(),
        pages: 0,
        end: Ok(()),
    };
    loop {
        match pages.try_next().await {
            Ok(Some(page)) => {
                walked.pages += 1;
                walked.ids.extend(page.records.iter().map(|a| a.id.clone()));
            }
            Ok(None) => break,
            Err(e) => {
                walked.end = Err(e);
                assert!(
                    pages.try_next().await.expect("ended").is_none(),
                    "the stream ends after its error"
                );
                break;
            }
        }
    }
    walked
}

#[tokio::test]
async fn an_empty_page_with_a_cursor_is_asked_again_not_taken_as_the_end() {
    let server = ScriptedServer::start(vec![
        agents_page(&["a1", "a2"], Some("c1"), Some(4)),
        // Mid-walk the console answers the c1 request with nothing but a (different) cursor.
        agents_page(&[], Some("bogus"), Some(4)),
        agents_page(&["a3"], Some("c2"), Some(4)),
        agents_page(&["a4"], None, Some(4)),
    ])
    .await;
    let clock = RecordingClock::new();
    let walked = walk(&server.client(clock.clone())).await;
    walked.end.expect("the walk completes");
    assert_eq!(walked.ids, vec!["a1", "a2", "a3", "a4"], "every agent once");
    let cursors: Vec<Option<String>> = server.requests().iter().map(|h| cursor_of(h)).collect();
    assert_eq!(
        cursors,
        vec![
            None,
            Some("c1".to_string()),
            Some("c1".to_string()),
            Some("c2".to_string())
        ],
        "the empty page's request was sent again with the same cursor, and its cursor not followed"
    );
    assert_eq!(clock.sleeps().len(), 1, "one backoff before the retry");
}

#[tokio::test]
async fn an_empty_page_without_a_cursor_still_ends_the_walk() {
    let server = ScriptedServer::start(vec![
        agents_page(&["a1"], Some("c1"), Some(1)),
        agents_page(&[], None, Some(1)),
    ])
    .await;
    let walked = walk(&server.client(RecordingClock::new())).await;
    walked.end.expect("the walk completes");
    assert_eq!(walked.ids, vec!["a1"]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn persistent_empty_pages_with_a_cursor_fail_the_walk() {
    let server = ScriptedServer::start(vec![
        agents_page(&["a1"], Some("c1"), Some(3)),
        agents_page(&[], Some("bogus"), Some(3)),
    ])
    .await;
    let clock = RecordingClock::new();
    let walked = walk(&server.client(clock.clone())).await;
    let error = walked.end.expect_err("the walk must not end as complete");
    match &error {
        S1Error::EmptyPageWithCursor { endpoint } => assert_eq!(endpoint, "agents"),
        other => panic!("expected EmptyPageWithCursor, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("agents") && text.contains("empty page") && text.contains("cursor"),
        "{text}"
    );
    assert!(!error.is_deadline());
    assert_eq!(walked.ids, vec!["a1"]);
    let max_attempts = ClientOptions::default().retry.max_attempts as usize;
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        1 + max_attempts,
        "retried up to the policy's attempts"
    );
    assert!(
        requests[1..]
            .iter()
            .all(|h| cursor_of(h).as_deref() == Some("c1")),
        "every retry asks for the same page"
    );
}

#[tokio::test]
async fn a_walk_longer_than_the_console_count_allows_stops_with_too_many_pages() {
    // Five items in pages of two: ceil(5 / 2) * 2 + 10 = 16 pages at most. The console never stops.
    let responses = (1..=40)
        .map(|i| agents_page(&[&format!("p{i}")], Some(&format!("c{i}")), Some(5)))
        .collect();
    let server = ScriptedServer::start(responses).await;
    let options = ClientOptions {
        page_limit: 2,
        ..test_options(RecordingClock::new())
    };
    let walked = walk(&server.client_with(options)).await;
    match walked.end {
        Err(S1Error::TooManyPages {
            ref endpoint,
            pages,
            limit,
        }) => {
            assert_eq!(endpoint, "agents");
            assert_eq!((pages, limit), (16, 16));
        }
        ref other => panic!("expected TooManyPages, got {other:?}"),
    }
    assert_eq!(walked.pages, 16, "the pages served are still yielded");
    assert_eq!(server.requests().len(), 16, "no request past the cap");
}

#[tokio::test]
async fn without_a_count_the_configured_page_cap_applies() {
    let responses = (1..=10)
        .map(|i| agents_page(&[&format!("p{i}")], Some(&format!("c{i}")), None))
        .collect();
    let server = ScriptedServer::start(responses).await;
    let options = ClientOptions {
        max_pages_without_total: 4,
        ..test_options(RecordingClock::new())
    };
    let walked = walk(&server.client_with(options)).await;
    let error = walked.end.expect_err("capped");
    assert_eq!(error.kind(), "too_many_pages");
    assert!(error.to_string().contains("after 4 pages"), "{error}");
    assert_eq!(server.requests().len(), 4);
}

fn too_many_requests(retry_after_secs: u64) -> String {
    let secs = retry_after_secs.to_string();
    http_response(
        "429 Too Many Requests",
        &[
            ("Content-Type", "application/json"),
            ("Retry-After", secs.as_str()),
        ],
        r#"{"errors":[{"code":4290010,"detail":null,"title":"Too Many Requests"}]}"#,
    )
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_ends_the_call_at_once_with_deadline_reached() {
    let server = ScriptedServer::start(vec![too_many_requests(20)]).await;
    let clock = RecordingClock::new();
    let deadline = clock.now() + Duration::from_secs(5);
    let client = server.client_with(test_options(clock.clone()).with_deadline(Some(deadline)));
    let started = Instant::now();
    let error = client.system_info().await.expect_err("deadline");
    assert!(
        matches!(error, S1Error::DeadlineReached { ref endpoint } if endpoint == "system/info"),
        "{error:?}"
    );
    assert!(error.is_deadline());
    assert!(error.to_string().contains("time ran out"), "{error}");
    assert!(
        clock.sleeps().is_empty(),
        "no wait was started: {:?}",
        clock.sleeps()
    );
    assert_eq!(clock.elapsed(), Duration::ZERO);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 1);

    // Through a walk the deadline arrives as itself, not wrapped in another error.
    let error = walk(&client).await.end.expect_err("deadline");
    assert!(error.is_deadline(), "{error:?}");
}

#[tokio::test]
async fn waits_that_end_before_the_deadline_are_still_taken() {
    let server = ScriptedServer::start(vec![too_many_requests(2)]).await;
    let clock = RecordingClock::new();
    let deadline = clock.now() + Duration::from_secs(5);
    let client = server.client_with(test_options(clock.clone()).with_deadline(Some(deadline)));
    let error = client.system_info().await.expect_err("deadline");
    assert!(error.is_deadline(), "{error:?}");
    // 2 s, 2 s (ends at 4 s); a third would end at 6 s.
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(2); 2]);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn without_a_deadline_a_429_storm_waits_out_the_budget_as_before() {
    let server = ScriptedServer::start(vec![too_many_requests(20)]).await;
    let clock = RecordingClock::new();
    let client = server.client(clock.clone());
    assert_eq!(client.deadline(), None);
    let error = client.system_info().await.expect_err("rate limited");
    assert_eq!(error.kind(), "rate_limited");
    // 20 s waits while they fit the 120 s budget.
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(20); 6]);
    assert_eq!(server.requests().len(), 7);
}

#[tokio::test]
async fn a_request_is_cut_at_the_deadline() {
    let server = ScriptedServer::start_with_latency(
        vec![http_response("200 OK", &[], r#"{"data":{}}"#)],
        Duration::from_secs(3),
    )
    .await;
    let started = tokio::time::Instant::now();
    let options = ClientOptions {
        requests_per_second: 100_000.0,
        clock: Arc::new(TokioClock),
        ..ClientOptions::default()
    }
    .with_deadline(Some(started + Duration::from_millis(300)));
    let error = server
        .client_with(options)
        .system_info()
        .await
        .expect_err("cut");
    // Not a Timeout to retry: the request's time was the deadline's.
    assert!(error.is_deadline(), "{error:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(1500),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_pacing_wait_past_the_deadline_is_not_started() {
    let server = ScriptedServer::start(vec![http_response("200 OK", &[], r#"{"data":{}}"#)]).await;
    let clock = RecordingClock::new();
    let options = ClientOptions {
        requests_per_second: 1.0,
        ..test_options(clock.clone())
    }
    .with_deadline(Some(clock.now() + Duration::from_millis(500)));
    let client = server.client_with(options);
    client
        .system_info()
        .await
        .expect("the bucket's first token");
    // The next token is 1 s away, past the deadline.
    let error = client.system_info().await.expect_err("deadline");
    assert!(error.is_deadline(), "{error:?}");
    assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_slow_console_gets_a_full_connection_report_in_time() {
    // Each answer takes 400 ms and the test has 1 s: the console check and one or two permission checks fit.
    let server = ScriptedServer::start_with_latency(
        vec![http_response("200 OK", &[], r#"{"data":{}}"#)],
        Duration::from_millis(400),
    )
    .await;
    let options = ClientOptions {
        requests_per_second: 100_000.0,
        clock: Arc::new(TokioClock),
        connection_test_timeout: Duration::from_secs(1),
        ..ClientOptions::default()
    };
    let client = server.client_with(options);
    let started = Instant::now();
    let report = client.test_connection(&GroupFilter::default()).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1600), "{elapsed:?}");
    assert_eq!(report.checks.len(), 9, "one result per check: {report:#?}");
    assert_eq!(
        report.check(CheckKind::ConsoleReachable).map(|c| c.status),
        Some(CheckStatus::Passed)
    );
    assert!(!report.passed(), "an unrun check proves nothing");
    // The check that was running when time ran out says so; every later one is skipped.
    let cut = report
        .checks
        .iter()
        .position(|c| c.error_kind == Some("deadline_reached"))
        .expect("a check ran out of time");
    assert_eq!(
        report.checks[cut].status,
        CheckStatus::Failed,
        "{report:#?}"
    );
    assert!(
        report.checks[cut].detail.contains("ran out of time"),
        "{}",
        report.checks[cut].detail
    );
    for later in &report.checks[cut + 1..] {
        assert_eq!(later.status, CheckStatus::Skipped, "{report:#?}");
        assert_eq!(
            later.detail,
            "not run: the connection test ran out of time before this check"
        );
    }
    for kind in [CheckKind::TokenExpiry, CheckKind::GroupsResolved] {
        assert_eq!(
            report.check(kind).map(|c| c.status),
            Some(CheckStatus::Skipped),
            "{report:#?}"
        );
    }
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["checks"][7]["status"], "skipped");
    assert!(server.requests().len() < 5, "{}", server.requests().len());
}
