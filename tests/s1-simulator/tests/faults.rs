//! Each fault fires exactly as configured, and is counted.

mod common;

use std::time::Duration;

use common::*;
use s1_simulator::{
    Fault, FaultCounts, FaultRule, RetryAfter, SimConfig, Simulator, TenantSpec, Trigger,
};
use serde_json::Value;

async fn sim() -> s1_simulator::SimHandle {
    Simulator::new(TenantSpec::small().with_agents(30).with_threats(30))
        .start()
        .await
        .unwrap()
}

async fn raw_get(
    sim: &s1_simulator::SimHandle,
    q: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    client()
        .get(format!("{}{API}/{q}", sim.base_url()))
        .header("Authorization", format!("ApiToken {}", sim.token()))
        .send()
        .await
}

#[tokio::test]
async fn too_many_requests_every_nth_with_retry_after_seconds() {
    let sim = sim().await;
    let id = sim
        .faults()
        .too_many_requests_every(3, Some(RetryAfter::Seconds(7)));
    let mut statuses = Vec::new();
    for _ in 0..9 {
        let r = raw_get(&sim, "agents?limit=1").await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_eq!(r.headers()["retry-after"], "7");
            let body: Value = r.json().await.unwrap();
            assert!(
                body["errors"][0]["code"].is_number(),
                "errors envelope: {body}"
            );
        }
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429, 200, 200, 429]);
    assert_eq!(sim.faults().served(id), 3);
    assert_eq!(
        sim.fault_counts(),
        FaultCounts {
            too_many_requests: 3,
            ..FaultCounts::default()
        }
    );
    let log = sim.requests();
    assert_eq!(
        log.iter()
            .filter(|r| r.fault == Some("too_many_requests"))
            .count(),
        3
    );
}

#[tokio::test]
async fn too_many_requests_burst_with_http_date_and_without_header() {
    let sim = sim().await;
    sim.faults().too_many_requests_burst(
        2,
        3,
        Some(RetryAfter::HttpDate {
            seconds_from_now: 2,
        }),
    );
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = raw_get(&sim, "agents?limit=1").await.unwrap();
        if r.status() == 429 {
            let date = r.headers()["retry-after"].to_str().unwrap().to_owned();
            assert!(httpdate::parse_http_date(&date).is_ok(), "{date}");
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429, 429, 200, 200]);
    assert_eq!(sim.fault_counts().too_many_requests, 3);

    sim.faults().clear();
    sim.faults().too_many_requests_every(1, None);
    let r = raw_get(&sim, "agents?limit=1").await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(sim.fault_counts().too_many_requests, 4);
}

#[tokio::test]
async fn server_errors_every_nth_and_in_bursts() {
    let sim = sim().await;
    sim.faults().server_error_every(2, 503);
    sim.faults().server_error_burst(0, 1, 502);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = raw_get(&sim, "threats?limit=1").await.unwrap();
        let status = r.status().as_u16();
        if status >= 500 {
            let body: Value = r.json().await.unwrap();
            assert!(body["errors"].is_array());
        }
        statuses.push(status);
    }
    // Request 1: the burst's 502; the every-2nd rule fires on 2, 4, 6.
    assert_eq!(statuses, [502, 503, 200, 503, 200, 503]);
    assert_eq!(sim.fault_counts().server_errors, 4);
    sim.faults().clear();
    sim.faults().server_error_every(1, 500);
    assert_eq!(raw_get(&sim, "groups").await.unwrap().status(), 500);
    assert_eq!(sim.fault_counts().server_errors, 5);
}

#[tokio::test]
async fn latency_delays_but_answers_normally() {
    let sim = sim().await;
    sim.faults().latency(Duration::from_millis(50));
    for _ in 0..3 {
        assert_eq!(raw_get(&sim, "agents?limit=5").await.unwrap().status(), 200);
    }
    assert_eq!(sim.fault_counts().latency, 3);
    assert_eq!(sim.fault_counts().total(), 3);
}

#[tokio::test]
async fn connection_reset_every_nth() {
    let sim = sim().await;
    sim.faults().connection_reset_every(2);
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        outcomes.push(
            raw_get(&sim, "agents?limit=2")
                .await
                .map(|r| r.status().as_u16())
                .is_ok(),
        );
    }
    assert_eq!(outcomes, [true, false, true, false, true, false]);
    assert_eq!(sim.fault_counts().connection_resets, 3);
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.fault == Some("connection_reset"))
            .count(),
        3
    );
}

#[tokio::test]
async fn truncated_body_and_invalid_json() {
    let sim = sim().await;
    sim.faults().truncated_body_every(2);
    let first = raw_get(&sim, "agents?limit=20").await.unwrap();
    assert!(first.json::<Value>().await.is_ok());
    let second = raw_get(&sim, "agents?limit=20").await.unwrap();
    assert_eq!(second.status(), 200, "headers arrive intact");
    assert!(second.bytes().await.is_err(), "the body ends early");
    assert_eq!(sim.fault_counts().truncated_bodies, 1);

    sim.faults().clear();
    sim.faults().invalid_json_every(1);
    let r = raw_get(&sim, "threats?limit=1").await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
    assert_eq!(sim.fault_counts().invalid_json, 1);
}

#[tokio::test]
async fn missing_pagination_on_list_endpoints_only() {
    let sim = sim().await;
    sim.faults().missing_pagination_every(1);
    let (_, info) = get(&sim, "system/info").await;
    assert!(info["data"].is_object());
    let (_, count) = get(&sim, "agents/count").await;
    assert_eq!(count["data"]["total"], 30);
    let (status, body) = get(&sim, "agents?limit=5").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 5);
    assert!(body.get("pagination").is_none());
    assert_eq!(sim.fault_counts().missing_pagination, 1);
}

#[tokio::test]
async fn cursor_expiry_answers_400_once_and_kills_the_cursor() {
    let sim = sim().await;
    let (_, first) = get(&sim, "agents?limit=10").await;
    let cursor = url_encode(first["pagination"]["nextCursor"].as_str().unwrap());
    sim.faults().expire_next_cursor();
    let (_, no_cursor) = get(&sim, "agents?limit=10").await;
    assert!(
        no_cursor["data"].is_array(),
        "requests without a cursor are not affected"
    );
    let q = format!("agents?limit=10&cursor={cursor}");
    let (status, body) = get(&sim, &q).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["code"], 4000010);
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("cursor"));
    let (status, _) = get(&sim, &q).await;
    assert_eq!(status, 400, "the expired cursor stays dead");
    assert_eq!(sim.fault_counts().cursor_expiries, 1);
    assert_eq!(
        walk(&sim, "agents", "", 10).await.len(),
        30,
        "a restarted walk succeeds"
    );
}

#[tokio::test]
async fn rules_can_be_scoped_to_one_path() {
    let sim = sim().await;
    let id = sim.faults().add(
        FaultRule::new(Fault::ServerError { status: 500 }, Trigger::EveryNth(1))
            .on_path("/web/api/v2.1/threats"),
    );
    assert_eq!(raw_get(&sim, "agents").await.unwrap().status(), 200);
    assert_eq!(raw_get(&sim, "groups").await.unwrap().status(), 200);
    assert_eq!(raw_get(&sim, "threats").await.unwrap().status(), 500);
    assert_eq!(sim.faults().served(id), 1);
    sim.faults().remove(id);
    assert_eq!(raw_get(&sim, "threats").await.unwrap().status(), 200);
    assert_eq!(sim.fault_counts().server_errors, 1);
}

#[tokio::test]
async fn no_fault_fires_by_default() {
    let sim = sim().await;
    walk(&sim, "threats", "", 7).await;
    walk(&sim, "agents", "", 7).await;
    assert_eq!(sim.fault_counts(), FaultCounts::default());
    assert!(sim
        .requests()
        .iter()
        .all(|r| r.fault.is_none() && r.status == 200));
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_the_envelope() {
    let sim = Simulator::new(TenantSpec::small().with_agents(5).with_threats(5))
        .config(SimConfig {
            rate_limit_per_sec: Some(2),
            ..SimConfig::default()
        })
        .start()
        .await
        .unwrap();
    let mut limited = 0;
    for _ in 0..8 {
        let r = raw_get(&sim, "agents?limit=1").await.unwrap();
        if r.status() == 429 {
            limited += 1;
            assert!(r.headers().get("retry-after").is_some());
            let body: Value = r.json().await.unwrap();
            assert!(body["errors"].is_array());
        }
    }
    assert!(limited >= 1, "a burst of 8 against 2/s is limited");
    assert_eq!(sim.fault_counts().rate_limited, limited);
}
