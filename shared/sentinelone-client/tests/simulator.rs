//! The client against the SentinelOne simulator: paging exactly-once, every fault with request counts, the
//! never-retried statuses, the token's one place, and the connection test.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use futures::TryStreamExt;
use s1_core::groups::GroupFilter;
use s1_simulator::{
    Fault, FaultRule, Permissions, RetryAfter, SimConfig, SimHandle, Simulator, TenantSpec, Trigger,
};
use sentinelone_client::{
    AgentQuery, CheckKind, CheckStatus, ClientOptions, RecordingClock, S1Client, S1Error,
    ThreatQuery,
};
use support::{client_for, recording_client, test_options, token};
use time::OffsetDateTime;

fn tenant(agents: usize, threats: usize) -> TenantSpec {
    TenantSpec::small()
        .with_agents(agents)
        .with_threats(threats)
}

async fn sim(agents: usize, threats: usize) -> SimHandle {
    Simulator::new(tenant(agents, threats))
        .start()
        .await
        .expect("simulator starts")
}

struct Walked {
    ids: Vec<String>,
    pages: usize,
    restarted_pages: usize,
}

async fn walk_agents(client: &S1Client, query: AgentQuery) -> Result<Walked, S1Error> {
    let pages = client.agents(query);
    futures::pin_mut!(pages);
    let mut walked = Walked {
        ids: Vec::new(),
        pages: 0,
        restarted_pages: 0,
    };
    while let Some(page) = pages.try_next().await? {
        walked.pages += 1;
        if page.restarted {
            walked.restarted_pages += 1;
            walked.ids.clear();
        }
        walked.ids.extend(page.records.iter().map(|a| a.id.clone()));
        walked
            .ids
            .extend(page.skipped.iter().filter_map(|s| s.id.clone()));
    }
    Ok(walked)
}

fn snapshot_ids(values: Vec<serde_json::Value>) -> HashSet<String> {
    values
        .iter()
        .filter_map(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_string))
        .collect()
}

fn assert_exactly_once(ids: &[String], expected: &HashSet<String>) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a record was yielded twice");
    assert_eq!(ids.len(), expected.len(), "record count");
    assert!(
        ids.iter().all(|id| expected.contains(id)),
        "a record not in the tenant was yielded"
    );
}

async fn agents_exactly_once(n: usize) {
    let sim = sim(n, 0).await;
    let (client, _clock) = recording_client(&sim);
    let walked = walk_agents(&client, AgentQuery::default())
        .await
        .expect("walk completes");
    assert_exactly_once(&walked.ids, &snapshot_ids(sim.agents_snapshot()));
    assert_eq!(walked.ids.len(), n);
    assert!(
        walked.pages <= n / 1000 + 1,
        "{} pages for {n} agents",
        walked.pages
    );
    // Decision 4 on the wire: limit=1000 on every request, never skip, the same filters with each cursor.
    let list: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/agents"))
        .collect();
    assert_eq!(list.len(), walked.pages);
    for r in &list {
        let q = r.query.clone().unwrap_or_default();
        assert!(q.contains("limit=1000"), "{q}");
        assert!(
            q.contains("sortBy=id") && q.contains("sortOrder=asc"),
            "{q}"
        );
        assert!(!q.contains("skip="), "{q}");
        assert!(!q.contains("isDecommissioned"), "{q}");
        assert_eq!(r.status, 200);
    }
    assert!(list
        .iter()
        .skip(1)
        .all(|r| r.query.as_deref().unwrap_or("").contains("cursor=")));
}

#[tokio::test]
async fn paging_0_agents() {
    agents_exactly_once(0).await;
}

#[tokio::test]
async fn paging_1_agent() {
    agents_exactly_once(1).await;
}

#[tokio::test]
async fn paging_999_agents() {
    agents_exactly_once(999).await;
}

#[tokio::test]
async fn paging_1000_agents() {
    agents_exactly_once(1000).await;
}

#[tokio::test]
async fn paging_1001_agents() {
    agents_exactly_once(1001).await;
}

#[tokio::test]
async fn paging_25000_agents() {
    agents_exactly_once(25_000).await;
}

#[tokio::test]
async fn threats_page_exactly_once_with_filters_resent() {
    for n in [0usize, 1, 999, 1000, 1001] {
        let sim = sim(50, n).await;
        let (client, _clock) = recording_client(&sim);
        let pages = client.threats(ThreatQuery::default());
        futures::pin_mut!(pages);
        let mut ids = Vec::new();
        while let Some(page) = pages.try_next().await.expect("page") {
            ids.extend(page.records.iter().map(|t| t.id.clone()));
            ids.extend(page.skipped.iter().filter_map(|s| s.id.clone()));
        }
        assert_exactly_once(&ids, &snapshot_ids(sim.threats_snapshot()));
    }
    // Incremental: updatedAt__gt is sent, with microseconds, on every page, and the console filters by it.
    let sim = sim(50, 2500).await;
    let (client, _clock) = recording_client(&sim);
    let since = time::macros::datetime!(2026-06-01 00:00:00 UTC);
    let since_text = "2026-06-01T00:00:00.000000Z";
    let query = ThreatQuery {
        updated_after: Some(since),
        ..ThreatQuery::default()
    };
    let pages: Vec<_> = client.threats(query).try_collect().await.expect("walk");
    let total: usize = pages
        .iter()
        .map(|p| p.records.len() + p.skipped.len())
        .sum();
    let expected = sim
        .threats_snapshot()
        .iter()
        .filter(|t| {
            t.pointer("/threatInfo/updatedAt")
                .and_then(|v| v.as_str())
                .is_some_and(|at| at > since_text)
        })
        .count();
    assert!(
        expected > 0 && expected < 2500,
        "the cut-off should split the tenant, kept {expected}"
    );
    assert_eq!(total, expected);
    for r in sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/threats"))
    {
        let raw = r.query.clone().unwrap_or_default();
        let params: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("updatedAt__gt"), Some(since_text), "{raw}");
        assert_eq!(get("sortBy"), Some("updatedAt"), "{raw}");
        assert_eq!(get("limit"), Some("1000"), "{raw}");
    }
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let sim = sim(10, 0).await;
    sim.faults()
        .too_many_requests_burst(0, 1, Some(RetryAfter::Seconds(2)));
    let (client, clock) = recording_client(&sim);
    client.system_info().await.expect("succeeds after one 429");
    assert_eq!(sim.requests().len(), 2);
    assert_eq!(sim.fault_counts().too_many_requests, 1);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
    assert!(clock.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    let sim = sim(10, 0).await;
    sim.faults().too_many_requests_burst(
        0,
        1,
        Some(RetryAfter::HttpDate {
            seconds_from_now: 3,
        }),
    );
    let (client, clock) = recording_client(&sim);
    client.system_info().await.expect("succeeds after one 429");
    assert_eq!(sim.requests().len(), 2);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 1);
    // HTTP dates have one-second resolution, so "3 s from now" reads as 2–3 s.
    assert!(
        sleeps[0] >= Duration::from_secs(2) && sleeps[0] <= Duration::from_secs(3),
        "{sleeps:?}"
    );
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_with_jitter() {
    let sim = sim(10, 0).await;
    sim.faults().too_many_requests_burst(0, 3, None);
    let (client, clock) = recording_client(&sim);
    client
        .system_info()
        .await
        .expect("succeeds after three 429s");
    assert_eq!(sim.requests().len(), 4);
    let policy = ClientOptions::default().retry;
    let sleeps = clock.sleeps();
    // Zero-length draws are possible under full jitter and are not recorded as sleeps.
    assert!(sleeps.len() <= 3);
    for (i, s) in sleeps.iter().enumerate() {
        assert!(*s <= policy.ceiling(3), "retry {i} waited {s:?}");
    }
}

#[tokio::test]
async fn persistent_429s_end_as_rate_limited_within_the_budget() {
    let sim = sim(10, 0).await;
    sim.faults()
        .too_many_requests_every(1, Some(RetryAfter::Seconds(2)));
    let (client, clock) = recording_client(&sim);
    let e = client.system_info().await.expect_err("never succeeds");
    assert_eq!(e.kind(), "rate_limited");
    assert!(e.to_string().contains("429"), "{e}");
    let attempts = ClientOptions::default().retry.max_attempts as usize;
    assert_eq!(sim.requests().len(), attempts);
    assert_eq!(clock.sleeps().len(), attempts - 1);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_fails_at_once() {
    let sim = sim(10, 0).await;
    sim.faults()
        .too_many_requests_every(1, Some(RetryAfter::Seconds(3600)));
    let (client, clock) = recording_client(&sim);
    let e = client
        .system_info()
        .await
        .expect_err("the wait exceeds the budget");
    assert_eq!(e.kind(), "rate_limited");
    assert_eq!(sim.requests().len(), 1);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn server_errors_are_retried() {
    for status in [500u16, 502, 503, 504] {
        let sim = sim(10, 0).await;
        sim.faults().server_error_burst(0, 2, status);
        let (client, clock) = recording_client(&sim);
        client
            .system_info()
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(sim.requests().len(), 3, "{status}");
        assert_eq!(sim.fault_counts().server_errors, 2);
        assert!(clock.sleeps().len() <= 2);
    }
}

#[tokio::test]
async fn persistent_server_errors_give_a_server_error() {
    let sim = sim(10, 0).await;
    sim.faults().server_error_every(1, 503);
    let (client, _clock) = recording_client(&sim);
    let e = client.system_info().await.expect_err("never succeeds");
    assert_eq!(e.kind(), "server");
    assert!(e.to_string().contains("503"), "{e}");
    assert!(e.is_retryable());
    assert_eq!(
        sim.requests().len(),
        ClientOptions::default().retry.max_attempts as usize
    );
}

#[tokio::test]
async fn connection_resets_are_retried() {
    let sim = sim(10, 0).await;
    sim.faults().add(FaultRule::new(
        Fault::ConnectionReset,
        Trigger::Burst { after: 0, count: 2 },
    ));
    let (client, _clock) = recording_client(&sim);
    client
        .system_info()
        .await
        .expect("succeeds after two resets");
    assert_eq!(sim.fault_counts().connection_resets, 2);
    assert_eq!(sim.requests().iter().filter(|r| r.status == 200).count(), 1);
}

#[tokio::test]
async fn truncated_and_invalid_bodies_are_retried_inside_a_walk() {
    let sim = sim(2500, 0).await;
    let plan = sim.faults();
    plan.add(
        FaultRule::new(Fault::TruncatedBody, Trigger::Burst { after: 1, count: 1 })
            .on_path("agents"),
    );
    plan.add(
        FaultRule::new(Fault::InvalidJson, Trigger::Burst { after: 3, count: 1 }).on_path("agents"),
    );
    let (client, _clock) = recording_client(&sim);
    let walked = walk_agents(&client, AgentQuery::default())
        .await
        .expect("walk completes");
    assert_exactly_once(&walked.ids, &snapshot_ids(sim.agents_snapshot()));
    assert_eq!(sim.fault_counts().truncated_bodies, 1);
    assert_eq!(sim.fault_counts().invalid_json, 1);
    assert_eq!(walked.pages, 3);
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path.ends_with("/agents"))
            .count(),
        5
    );
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let sim = sim(10, 0).await;
    sim.faults().add(FaultRule::new(
        Fault::Latency(Duration::from_secs(5)),
        Trigger::Burst { after: 0, count: 1 },
    ));
    let clock = RecordingClock::new();
    let options = ClientOptions {
        request_timeout: Duration::from_millis(300),
        ..test_options(clock)
    };
    let client = client_for(&sim, options);
    client
        .system_info()
        .await
        .expect("the second attempt is not delayed");
    assert_eq!(sim.fault_counts().latency, 1);
}

#[tokio::test]
async fn an_empty_page_with_a_cursor_mid_walk_loses_no_agent() {
    let sim = sim(2500, 0).await;
    sim.faults().add(
        FaultRule::new(
            Fault::EmptyPageWithCursor,
            Trigger::Burst { after: 1, count: 2 },
        )
        .on_path("agents"),
    );
    let (client, _clock) = recording_client(&sim);
    let walked = walk_agents(&client, AgentQuery::default())
        .await
        .expect("walk completes");
    assert_exactly_once(&walked.ids, &snapshot_ids(sim.agents_snapshot()));
    assert_eq!(sim.fault_counts().empty_pages_with_cursor, 2);
    assert_eq!(walked.pages, 3);
    // Three pages, the second asked three times.
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path.ends_with("/agents"))
            .count(),
        5
    );
}

#[tokio::test]
async fn missing_pagination_ends_the_walk() {
    let sim = sim(2500, 0).await;
    sim.faults().add(
        FaultRule::new(
            Fault::MissingPagination,
            Trigger::Burst { after: 0, count: 1 },
        )
        .on_path("agents"),
    );
    let (client, _clock) = recording_client(&sim);
    let walked = walk_agents(&client, AgentQuery::default())
        .await
        .expect("walk ends cleanly");
    assert_eq!(walked.pages, 1);
    assert_eq!(walked.ids.len(), 1000);
}

#[tokio::test]
async fn an_expired_cursor_restarts_the_walk_once() {
    let sim = sim(3500, 0).await;
    sim.faults().expire_next_cursor();
    let (client, _clock) = recording_client(&sim);
    let walked = walk_agents(&client, AgentQuery::default())
        .await
        .expect("walk completes after one restart");
    assert_eq!(walked.restarted_pages, 1);
    assert_exactly_once(&walked.ids, &snapshot_ids(sim.agents_snapshot()));
    assert_eq!(sim.fault_counts().cursor_expiries, 1);
    // page 1, rejected cursor, then pages 1..=4 again.
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.path.ends_with("/agents"))
            .count(),
        6
    );
}

#[tokio::test]
async fn a_second_rejected_cursor_fails_the_walk() {
    let sim = sim(3500, 0).await;
    sim.faults()
        .add(FaultRule::new(Fault::CursorExpiry, Trigger::EveryNth(1)));
    let (client, _clock) = recording_client(&sim);
    let e = walk_agents(&client, AgentQuery::default())
        .await
        .err()
        .expect("walk fails");
    assert_eq!(e.kind(), "cursor_rejected");
    assert!(e.to_string().contains("agents"), "{e}");
}

#[tokio::test]
async fn a_checkpointed_cursor_resumes_the_walk() {
    let sim = sim(2500, 0).await;
    let (client, _clock) = recording_client(&sim);
    let first = {
        let pages = client.agents(AgentQuery::default());
        futures::pin_mut!(pages);
        pages.try_next().await.expect("page").expect("one page")
    };
    let checkpoint = first.next_cursor.clone().expect("more pages");
    let resumed = walk_agents(
        &client,
        AgentQuery {
            resume_cursor: Some(checkpoint),
            ..AgentQuery::default()
        },
    )
    .await
    .expect("resume");
    let mut all: Vec<String> = first.records.iter().map(|a| a.id.clone()).collect();
    all.extend(first.skipped.iter().filter_map(|s| s.id.clone()));
    all.extend(resumed.ids);
    assert_exactly_once(&all, &snapshot_ids(sim.agents_snapshot()));
}

#[tokio::test]
async fn pages_are_fetched_only_when_polled() {
    let sim = sim(5000, 0).await;
    let (client, _clock) = recording_client(&sim);
    let pages = client.agents(AgentQuery::default());
    futures::pin_mut!(pages);
    assert!(
        sim.requests().is_empty(),
        "creating the stream sends nothing"
    );
    pages.try_next().await.expect("page").expect("some");
    assert_eq!(sim.requests().len(), 1);
    pages.try_next().await.expect("page").expect("some");
    assert_eq!(sim.requests().len(), 2);
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_names_the_console_code() {
    let sim = sim(10, 0).await;
    let console = sentinelone_client::ConsoleUrl::parse(&sim.base_url(), &support::dev_policy())
        .expect("url");
    let client = S1Client::new(
        console,
        token("eyJwrong-token-that-the-console-never-issued"),
        ClientOptions::default(),
    )
    .expect("client");
    let e = client.system_info().await.expect_err("rejected");
    assert_eq!(e.kind(), "unauthorized");
    assert!(
        e.to_string()
            .contains("(401, code 4010010 Authentication Failed)"),
        "{e}"
    );
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn a_revoked_token_is_reported_as_rejected() {
    let sim = sim(10, 0).await;
    let (client, _clock) = recording_client(&sim);
    sim.revoke_token(&sim.token());
    let e = client.system_info().await.expect_err("revoked");
    assert_eq!(e.kind(), "unauthorized");
    assert_eq!(sim.requests().len(), 1);
}

#[tokio::test]
async fn forbidden_is_not_retried_and_names_the_permission() {
    let sim = sim(10, 10).await;
    let limited = "eyJlimited-token-without-threats-view-0001";
    sim.add_token(
        limited,
        Permissions::all().with_threats_view(false),
        OffsetDateTime::now_utc() + time::Duration::days(90),
    );
    let console = sentinelone_client::ConsoleUrl::parse(&sim.base_url(), &support::dev_policy())
        .expect("url");
    let client = S1Client::new(console, token(limited), test_options(RecordingClock::new()))
        .expect("client");
    let pages = client.threats(ThreatQuery::default());
    futures::pin_mut!(pages);
    let e = pages.try_next().await.expect_err("forbidden");
    match &e {
        S1Error::Forbidden { permission, .. } => assert_eq!(permission, "Threats.view"),
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert!(e.to_string().contains("code 4030010"), "{e}");
    assert_eq!(sim.requests().len(), 1);
    assert!(
        pages.try_next().await.expect("ended").is_none(),
        "the stream ends after an error"
    );
}

#[tokio::test]
async fn the_token_travels_only_in_the_authorization_header() {
    let sim = sim(1500, 1500).await;
    let (client, _clock) = recording_client(&sim);
    let report = client
        .test_connection(&GroupFilter::parse("Default Group"))
        .await;
    assert!(report.passed(), "{report:#?}");
    walk_agents(&client, AgentQuery::default())
        .await
        .expect("agents");
    let _: Vec<_> = client
        .threats(ThreatQuery::default())
        .try_collect()
        .await
        .expect("threats");
    let requests = sim.requests();
    assert!(requests.len() >= 10);
    for r in &requests {
        assert!(r.authorization_present, "{r:?}");
        assert!(!r.token_in_url, "token in the URL of {r:?}");
        // The one documented exception: api-token-details looks the token up by value from its body.
        if r.path.ends_with("/users/api-token-details") {
            assert_eq!(r.method, "POST");
        } else {
            assert!(!r.token_in_body, "token in the body of {r:?}");
        }
    }
}

#[tokio::test]
async fn connection_test_passes_and_lists_groups_with_sites() {
    let sim = sim(30, 30).await;
    let (client, _clock) = recording_client(&sim);
    let report = client
        .test_connection(&GroupFilter::parse(" default group "))
        .await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.checks.len(), 9);
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.status == CheckStatus::Passed),
        "{report:#?}"
    );
    // Every site has its own Default Group; the name selects all of them.
    assert_eq!(report.groups.len(), TenantSpec::small().sites);
    let detail = &report
        .check(CheckKind::GroupsResolved)
        .expect("check")
        .detail;
    assert!(detail.contains("(site "), "{detail}");
    let paths: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths[..7],
        [
            "GET /web/api/v2.1/system/info",
            "GET /web/api/v2.1/agents",
            "GET /web/api/v2.1/threats",
            "GET /web/api/v2.1/groups",
            "GET /web/api/v2.1/application-management/risks",
            "POST /web/api/v2.1/users/api-token-details",
            "GET /web/api/v2.1/groups",
        ]
    );
}

#[tokio::test]
async fn connection_test_reports_each_failure_with_its_fix() {
    let sim = sim(30, 30).await;
    let soon = "eyJexpiring-token-without-groups-view-0002";
    sim.add_token(
        soon,
        Permissions::all().with_groups_view(false),
        OffsetDateTime::now_utc() + time::Duration::days(10),
    );
    let console = sentinelone_client::ConsoleUrl::parse(&sim.base_url(), &support::dev_policy())
        .expect("url");
    let client =
        S1Client::new(console, token(soon), test_options(RecordingClock::new())).expect("client");
    let report = client
        .test_connection(&GroupFilter::parse("Default Group"))
        .await;
    assert!(!report.passed());
    let status = |k| report.check(k).map(|c| c.status);
    assert_eq!(
        status(CheckKind::PermissionAgents),
        Some(CheckStatus::Passed)
    );
    assert_eq!(
        status(CheckKind::PermissionGroups),
        Some(CheckStatus::Failed)
    );
    assert_eq!(status(CheckKind::TokenExpiry), Some(CheckStatus::Warning));
    assert_eq!(
        status(CheckKind::GroupsResolved),
        Some(CheckStatus::Skipped)
    );
    let groups = report.check(CheckKind::PermissionGroups).expect("check");
    assert!(groups.detail.contains("Groups.view"), "{}", groups.detail);
    assert_eq!(groups.error_kind, Some("forbidden"));

    let (good, _clock) = recording_client(&sim);
    let report = good
        .test_connection(&GroupFilter::parse("Default Group, No Such Group, Serverz"))
        .await;
    let resolved = report.check(CheckKind::GroupsResolved).expect("check");
    assert_eq!(resolved.status, CheckStatus::Failed);
    assert!(
        resolved.detail.contains("No Such Group, Serverz"),
        "{}",
        resolved.detail
    );

    sim.revoke_token(&sim.token());
    let report = good.test_connection(&GroupFilter::default()).await;
    assert_eq!(
        report.check(CheckKind::ConsoleReachable).map(|c| c.status),
        Some(CheckStatus::Passed)
    );
    assert_eq!(
        report.check(CheckKind::TokenAccepted).map(|c| c.status),
        Some(CheckStatus::Failed)
    );
    assert_eq!(
        report.check(CheckKind::PermissionAgents).map(|c| c.status),
        Some(CheckStatus::Skipped)
    );
}

#[tokio::test]
async fn a_failing_token_details_call_is_only_a_warning() {
    let sim = sim(30, 30).await;
    sim.faults().add(
        FaultRule::new(Fault::ServerError { status: 500 }, Trigger::EveryNth(1))
            .on_path("users/api-token-details"),
    );
    let (client, _clock) = recording_client(&sim);
    let report = client.test_connection(&GroupFilter::default()).await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(
        report.check(CheckKind::TokenExpiry).map(|c| c.status),
        Some(CheckStatus::Warning)
    );
}

#[tokio::test]
async fn client_pacing_keeps_under_the_console_rate_limit() {
    // A console enforcing 12 requests/s with a one-second burst; 30 requests at the default 10/s must never trip it.
    // (Unpaced, the same walk would send all 30 within the first second.)
    let sim = Simulator::new(tenant(3000, 0))
        .config(SimConfig {
            rate_limit_per_sec: Some(12),
            ..SimConfig::default()
        })
        .start()
        .await
        .expect("simulator");
    let client = client_for(
        &sim,
        ClientOptions {
            page_limit: 100,
            ..ClientOptions::default()
        },
    );
    let walked = walk_agents(&client, AgentQuery::default())
        .await
        .expect("walk completes");
    assert_eq!(walked.ids.len(), 3000);
    assert_eq!(walked.pages, 30);
    assert_eq!(sim.fault_counts().rate_limited, 0);
    assert!(sim
        .requests()
        .iter()
        .all(|r| r.query.as_deref().unwrap_or("").contains("limit=100")));
}

#[tokio::test]
async fn group_ids_narrow_the_walk() {
    let sim = sim(2000, 0).await;
    let (client, _clock) = recording_client(&sim);
    let groups = client
        .resolve_groups(&GroupFilter::parse("Default Group"))
        .await
        .expect("resolved");
    assert_eq!(groups.len(), TenantSpec::small().sites);
    let ids: HashSet<String> = groups.iter().map(|g| g.id.clone()).collect();
    let query = AgentQuery {
        group_ids: groups.iter().map(|g| g.id.clone()).collect(),
        ..AgentQuery::default()
    };
    let pages: Vec<_> = client.agents(query).try_collect().await.expect("walk");
    let walked: Vec<_> = pages.iter().flat_map(|p| p.records.iter()).collect();
    let expected = sim
        .agents_snapshot()
        .iter()
        .filter(|a| {
            a.get("groupId")
                .and_then(|g| g.as_str())
                .is_some_and(|g| ids.contains(g))
        })
        .count();
    assert!(expected > 0 && expected < 2000, "{expected}");
    assert_eq!(walked.len(), expected);
    assert!(walked
        .iter()
        .all(|a| a.group_id.as_ref().is_some_and(|g| ids.contains(g))));
    let unknown = client
        .resolve_groups(&GroupFilter::parse("Default Group, Nope"))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.kind(), "unknown_groups");
    assert!(unknown.to_string().contains("Nope"), "{unknown}");
}
