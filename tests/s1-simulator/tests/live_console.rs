//! The live-console misbehaviours: each is off by default, does exactly what it says when switched
//! on, and (for the faults) is counted.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use s1_simulator::{
    Fault, FaultRule, ListEndpoint, PlaceholderAgent, RetryAfter, SimHandle, Simulator, TenantSpec,
    Trigger,
};
use serde_json::Value;

async fn start(agents: usize, threats: usize) -> SimHandle {
    Simulator::new(
        TenantSpec::small()
            .with_agents(agents)
            .with_threats(threats),
    )
    .start()
    .await
    .unwrap()
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn online(agent: &Value) -> bool {
    agent["isActive"] == true
        || agent["isActive"] == "True"
        || agent["networkStatus"] == "connected"
}

fn without(record: &Value, field: &str) -> Value {
    let mut v = record.clone();
    v.as_object_mut().unwrap().remove(field);
    v
}

async fn status_of(sim: &SimHandle, q: &str) -> (u16, Option<String>) {
    let r = client()
        .get(format!("{}{API}/{q}", sim.base_url()))
        .header("Authorization", format!("ApiToken {}", sim.token()))
        .send()
        .await
        .unwrap();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), retry_after)
}

#[tokio::test]
async fn churn_moves_last_active_date_of_online_agents_only_and_only_when_on() {
    let sim = start(60, 0).await;
    let stored = sim.agents_snapshot();
    let (on, off): (Vec<&Value>, Vec<&Value>) = stored.iter().partition(|a| online(a));
    assert!(
        !on.is_empty() && !off.is_empty(),
        "the tenant has online and offline agents"
    );

    // Off (the default): served exactly as stored, however often asked.
    for _ in 0..2 {
        let (_, body) = get(&sim, "agents?limit=1000").await;
        assert_eq!(body["data"].as_array().unwrap(), &stored);
    }

    sim.set_last_active_churn(true);
    let (_, first) = get(&sim, "agents?limit=1000").await;
    let (_, second) = get(&sim, "agents?limit=1000").await;
    let first = first["data"].as_array().unwrap();
    let second = second["data"].as_array().unwrap();
    assert_eq!(ids(first), ids(&stored), "same agents, same order");
    for ((before, a), b) in stored.iter().zip(first).zip(second) {
        let (t0, t1, t2) = (
            before["lastActiveDate"].as_str().unwrap(),
            a["lastActiveDate"].as_str().unwrap(),
            b["lastActiveDate"].as_str().unwrap(),
        );
        if online(before) {
            // Same fixed-width format, so text order is time order.
            assert!(
                t0 < t1 && t1 < t2,
                "{t0} < {t1} < {t2} for {}",
                before["id"]
            );
            assert_eq!(
                without(a, "lastActiveDate"),
                without(before, "lastActiveDate"),
                "only lastActiveDate moves (updatedAt too stays)"
            );
        } else {
            assert_eq!(a, before, "offline agents are untouched");
            assert_eq!(b, before);
        }
    }
    assert_eq!(
        sim.agents_snapshot(),
        stored,
        "the stored records keep their date"
    );

    // Cursors and order keep working while the dates move.
    let walked = walk(&sim, "agents", "", 7).await;
    assert_eq!(ids(&walked), ids(&stored));
    let by_name = walk(&sim, "agents", "sortBy=computerName", 9).await;
    assert_eq!(by_name.len(), stored.len());

    sim.set_last_active_churn(false);
    let (_, body) = get(&sim, "agents?limit=1000").await;
    assert_eq!(body["data"].as_array().unwrap(), &stored);
}

#[tokio::test]
async fn an_empty_page_carries_a_cursor_that_loses_nothing_when_followed() {
    let sim = start(30, 0).await;
    let expected = ids(&sim.agents_snapshot());
    let id = sim.faults().empty_page_with_cursor_on("agents", 1, 1);

    // Not a list request: neither affected nor counted by the rule.
    let (_, count) = get(&sim, "agents/count").await;
    assert_eq!(count["data"]["total"], 30);

    let (_, page1) = get(&sim, "agents?limit=10").await;
    let c1 = page1["pagination"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, empty) = get(&sim, &format!("agents?limit=10&cursor={}", url_encode(&c1))).await;
    assert_eq!(status, 200);
    assert_eq!(empty["data"], Value::Array(vec![]));
    assert_eq!(empty["pagination"]["totalItems"], 30);
    let c2 = empty["pagination"]["nextCursor"].as_str().unwrap();
    assert_ne!(
        c2, c1,
        "a fresh cursor, so a repeated-cursor check does not trip"
    );

    // Following the cursor resumes exactly after page 1.
    let mut seen = ids(page1["data"].as_array().unwrap());
    let rest = {
        let mut out = Vec::new();
        let mut cursor = Some(c2.to_owned());
        while let Some(c) = cursor {
            let (_, body) = get(&sim, &format!("agents?limit=10&cursor={}", url_encode(&c))).await;
            out.extend(ids(body["data"].as_array().unwrap()));
            cursor = body["pagination"]["nextCursor"].as_str().map(str::to_owned);
        }
        out
    };
    seen.extend(rest);
    assert_eq!(seen, expected, "every agent exactly once, in order");
    assert_eq!(sim.faults().served(id), 1);
    assert_eq!(sim.fault_counts().empty_pages_with_cursor, 1);
    assert_eq!(sim.fault_counts().total(), 1);
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.fault == Some("empty_page_with_cursor"))
            .count(),
        1
    );
}

#[tokio::test]
async fn retrying_the_request_after_an_empty_page_loses_nothing() {
    let sim = start(25, 0).await;
    let expected = ids(&sim.agents_snapshot());
    // The first page and the third request are empty.
    sim.faults().empty_page_with_cursor(0, 1);
    sim.faults().empty_page_with_cursor(2, 1);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut empties = 0;
    loop {
        let q = match &cursor {
            None => "agents?limit=10".to_owned(),
            Some(c) => format!("agents?limit=10&cursor={}", url_encode(c)),
        };
        let (status, body) = get(&sim, &q).await;
        assert_eq!(status, 200);
        let data = body["data"].as_array().unwrap();
        if data.is_empty() && !body["pagination"]["nextCursor"].is_null() {
            empties += 1;
            assert!(empties <= 2, "runaway");
            continue; // retry the very same request
        }
        seen.extend(ids(data));
        match body["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(empties, 2);
    assert_eq!(seen, expected);
    assert_eq!(sim.fault_counts().empty_pages_with_cursor, 2);
}

#[tokio::test]
async fn empty_pages_resume_sorted_filtered_and_skipped_listings() {
    let sim = start(20, 90).await;
    // A fresh request's empty page resumes at the very start.
    sim.faults().empty_page_with_cursor_on("threats", 0, 1);
    let sort = "sortBy=updatedAt&sortOrder=asc";
    let (_, first) = get(&sim, &format!("threats?limit=25&{sort}")).await;
    assert_eq!(first["data"], Value::Array(vec![]));
    assert_eq!(first["pagination"]["totalItems"], 90);
    // Empty pages in the middle of a walk that follows every cursor.
    sim.faults().empty_page_with_cursor_on("threats", 1, 2);
    let walked = walk(&sim, "threats", sort, 25).await;
    let mut expected = sim.threats_snapshot();
    expected.sort_by(|a, b| {
        let key = |t: &Value| {
            (
                t["threatInfo"]["updatedAt"].as_str().unwrap().to_owned(),
                t["id"].as_str().unwrap().len(),
                t["id"].as_str().unwrap().to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });
    assert_eq!(ids(&walked), ids(&expected));
    let empty_cursor = url_encode(first["pagination"]["nextCursor"].as_str().unwrap());
    let (_, resumed) = get(
        &sim,
        &format!("threats?limit=25&{sort}&cursor={empty_cursor}"),
    )
    .await;
    assert_eq!(
        ids(resumed["data"].as_array().unwrap()),
        ids(&expected[..25]),
        "the first empty page's cursor starts at the beginning"
    );
    assert_eq!(sim.fault_counts().empty_pages_with_cursor, 3);

    // With skip, the cursor resumes after the skipped records.
    sim.faults().empty_page_with_cursor_on("agents", 0, 1);
    let agents = ids(&sim.agents_snapshot());
    let (_, skipped) = get(&sim, "agents?limit=5&skip=5").await;
    assert_eq!(skipped["data"], Value::Array(vec![]));
    let c = url_encode(skipped["pagination"]["nextCursor"].as_str().unwrap());
    let (_, next) = get(&sim, &format!("agents?limit=5&cursor={c}")).await;
    assert_eq!(ids(next["data"].as_array().unwrap()), agents[5..10]);
}

#[tokio::test]
async fn total_items_offset_shows_in_lists_and_count_and_is_clamped() {
    let sim = start(30, 40).await;
    sim.set_agents_total_items_offset(7);
    let (_, agents) = get(&sim, "agents?limit=1000").await;
    assert_eq!(
        agents["data"].as_array().unwrap().len(),
        30,
        "data unchanged"
    );
    assert_eq!(agents["pagination"]["totalItems"], 37);
    let (_, count) = get(&sim, "agents/count").await;
    assert_eq!(count["data"]["total"], 37);
    let one = sim.agents_snapshot()[0]["id"].as_str().unwrap().to_owned();
    let (_, filtered) = get(&sim, &format!("agents/count?ids={one}")).await;
    assert_eq!(filtered["data"]["total"], 8);
    let (_, threats) = get(&sim, "threats?limit=1").await;
    assert_eq!(threats["pagination"]["totalItems"], 40, "threats untouched");

    sim.set_agents_total_items_offset(-100);
    let (_, agents) = get(&sim, "agents?limit=5").await;
    assert_eq!(agents["pagination"]["totalItems"], 0, "clamped at 0");
    assert_eq!(agents["data"].as_array().unwrap().len(), 5);
    let (_, count) = get(&sim, "agents/count").await;
    assert_eq!(count["data"]["total"], 0);

    sim.set_agents_total_items_offset(0);
    sim.set_total_items_offset(ListEndpoint::Threats, -3);
    let (_, agents) = get(&sim, "agents?limit=5").await;
    assert_eq!(agents["pagination"]["totalItems"], 30);
    let (_, threats) = get(&sim, "threats?limit=5").await;
    assert_eq!(threats["pagination"]["totalItems"], 37);
    assert_eq!(
        walk(&sim, "threats", "", 9).await.len(),
        40,
        "paging unaffected"
    );
}

#[tokio::test]
async fn deleted_threats_and_removed_agents_are_gone() {
    let sim = start(20, 30).await;
    let threats = ids(&sim.threats_snapshot());
    let victim = threats[11].clone();
    assert!(sim.delete_threat(&victim));
    assert!(!sim.delete_threat(&victim), "already gone");
    assert!(!sim.delete_threat("999999999999999999"));
    let after = ids(&walk(&sim, "threats", "", 7).await);
    assert_eq!(after.len(), 29);
    assert!(!after.contains(&victim));
    let (_, by_id) = get(&sim, &format!("threats?ids={victim}")).await;
    assert_eq!(by_id["data"], Value::Array(vec![]));
    assert_eq!(by_id["pagination"]["totalItems"], 0);
    let (_, all) = get(&sim, "threats?limit=1").await;
    assert_eq!(all["pagination"]["totalItems"], 29);

    let agent = ids(&sim.agents_snapshot())[3].clone();
    assert!(sim.remove_agent(&agent));
    assert!(!ids(&walk(&sim, "agents", "", 1000).await).contains(&agent));
    let (_, count) = get(&sim, "agents/count").await;
    assert_eq!(count["data"]["total"], 19);
}

const REALTIME_DOC_STRINGS: &[&str] = &[
    "accountId",
    "accountName",
    "agentComputerName",
    "agentDomain",
    "agentId",
    "agentOsName",
    "agentOsRevision",
    "agentUuid",
    "groupId",
    "groupName",
    "siteId",
    "siteName",
    "operationalState",
];

fn assert_served_like_a_generated_threat(t: &Value, before: &str) {
    let id = t["id"].as_str().unwrap();
    assert!(
        id.len() >= 18 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(t["threatInfo"]["threatId"], id);
    assert!(
        ["undefined", "true_positive", "false_positive", "suspicious"]
            .contains(&t["threatInfo"]["analystVerdict"].as_str().unwrap())
    );
    assert!(t["threatInfo"]["updatedAt"].as_str().unwrap() > before);
    assert!(t["agentDetectionInfo"].is_object());
}

#[tokio::test]
async fn placeholder_threats_have_the_exact_placeholder_shapes_and_are_served_normally() {
    let sim = start(10, 20).await;
    let watermark = sim
        .threats_snapshot()
        .iter()
        .map(|t| t["threatInfo"]["updatedAt"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    let doc = sim.add_placeholder_threats(3, PlaceholderAgent::ApiDocString);
    let bare = sim.add_placeholder_threats(2, PlaceholderAgent::NoRealtimeInfo);
    assert_eq!((doc.len(), bare.len()), (3, 2));
    let existing: HashSet<String> = ids(&sim.threats_snapshot()).into_iter().collect();
    let new: HashSet<&String> = doc.iter().chain(&bare).collect();
    assert_eq!(new.len(), 5, "unique ids");
    assert_eq!(existing.len(), 25);

    // An incremental walk past the old watermark sees exactly the five, with their shapes.
    let newer = walk(
        &sim,
        "threats",
        &format!(
            "sortBy=updatedAt&sortOrder=asc&updatedAt__gt={}",
            url_encode(&watermark)
        ),
        2,
    )
    .await;
    let newer_ids: HashSet<String> = ids(&newer).into_iter().collect();
    assert_eq!(newer_ids, new.iter().map(|s| (*s).clone()).collect());
    for t in &newer {
        assert_served_like_a_generated_threat(t, &watermark);
        let id = t["id"].as_str().unwrap().to_owned();
        if doc.contains(&id) {
            let rt = &t["agentRealtimeInfo"];
            for field in REALTIME_DOC_STRINGS {
                assert_eq!(rt[field], "string", "{field} of {id}");
            }
            for nic in rt["networkInterfaces"].as_array().unwrap() {
                assert_eq!(nic["name"], "string");
                assert_eq!(nic["inet"], serde_json::json!(["string"]));
            }
            assert_ne!(rt["agentOsType"], "string", "enums keep real values");
            assert!(rt["agentIsActive"].is_boolean());
        } else {
            assert!(bare.contains(&id));
            assert!(t.get("agentRealtimeInfo").is_none(), "{t}");
        }
    }

    // Filters treat them like any other threat: by verdict yes, by a real scope never.
    let v = newer[0]["threatInfo"]["analystVerdict"].as_str().unwrap();
    let id0 = newer[0]["id"].as_str().unwrap();
    let (_, by_verdict) = get(&sim, &format!("threats?ids={id0}&analystVerdicts={v}")).await;
    assert_eq!(by_verdict["data"].as_array().unwrap().len(), 1);
    let site = sim.agents_snapshot()[0]["siteId"]
        .as_str()
        .unwrap()
        .to_owned();
    let in_site = ids(&walk(&sim, "threats", &format!("siteIds={site}"), 1000).await);
    assert!(in_site.iter().all(|i| !new.contains(i)));

    // An empty console can hold them too.
    let empty = Simulator::empty().start().await.unwrap();
    assert_eq!(
        empty
            .add_placeholder_threats(2, PlaceholderAgent::NoRealtimeInfo)
            .len(),
        2
    );
    assert_eq!(walk(&empty, "threats", "", 10).await.len(), 2);
}

#[tokio::test]
async fn placeholder_agents_carry_doc_strings_with_real_ids() {
    let sim = start(15, 0).await;
    let added = sim.add_placeholder_agents(3);
    assert_eq!(added.len(), 3);
    let listed = walk(&sim, "agents", "", 4).await;
    assert_eq!(listed.len(), 18);
    let unique: HashSet<String> = ids(&listed).into_iter().collect();
    assert_eq!(unique.len(), 18);
    let sites: HashSet<String> = sim
        .groups_snapshot()
        .iter()
        .map(|g| g["siteId"].as_str().unwrap().to_owned())
        .collect();
    for a in listed
        .iter()
        .filter(|a| added.contains(&a["id"].as_str().unwrap().to_owned()))
    {
        let id = a["id"].as_str().unwrap();
        assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
        for field in [
            "computerName",
            "domain",
            "uuid",
            "osName",
            "osRevision",
            "modelName",
        ] {
            assert_eq!(a[field], "string", "{field}");
        }
        assert!(sites.contains(a["siteId"].as_str().unwrap()), "a real site");
        assert_ne!(a["osType"], "string");
    }
    let (_, named) = get(&sim, "agents?computerName=string&limit=100").await;
    let mut named = ids(named["data"].as_array().unwrap());
    named.sort();
    let mut expected = added.clone();
    expected.sort();
    assert_eq!(named, expected);
    let (_, count) = get(&sim, "agents/count").await;
    assert_eq!(count["data"]["total"], 18);
}

#[tokio::test]
async fn too_many_requests_from_the_nth_request_on_forever() {
    let sim = start(5, 5).await;
    let id = sim
        .faults()
        .too_many_requests_from(3, Some(RetryAfter::Seconds(2)));
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let (status, retry_after) = status_of(&sim, "agents?limit=1").await;
        if status == 429 {
            assert_eq!(retry_after.as_deref(), Some("2"));
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429, 429]);
    assert_eq!(sim.faults().served(id), 5);
    assert_eq!(sim.fault_counts().too_many_requests, 5);

    // On one path only: other paths neither suffer nor advance the count.
    let sim = start(5, 5).await;
    sim.faults().too_many_requests_from_on("threats", 2, None);
    for _ in 0..4 {
        assert_eq!(status_of(&sim, "agents?limit=1").await.0, 200);
    }
    let threats: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(status_of(&sim, "threats?limit=1").await.0);
        }
        v
    };
    assert_eq!(threats, [200, 200, 429, 429]);
    assert_eq!(sim.fault_counts().too_many_requests, 2);
    assert_eq!(status_of(&sim, "groups").await.0, 200);
}

#[tokio::test]
async fn too_many_requests_after_a_delay_on_every_request() {
    let sim = start(5, 5).await;
    let delay = Duration::from_millis(400);
    let armed = Instant::now();
    let id = sim.faults().too_many_requests_after_delay(delay, None);
    let agents_only = sim.faults().add(
        FaultRule::new(
            Fault::ServerError { status: 503 },
            Trigger::AfterDelay(delay * 100),
        )
        .on_path("agents"),
    );
    let early = status_of(&sim, "threats?limit=1").await.0;
    assert!(
        armed.elapsed() < delay,
        "the machine is too slow for this test"
    );
    assert_eq!(early, 200);
    assert_eq!(sim.faults().served(id), 0);

    tokio::time::sleep((delay + Duration::from_millis(50)).saturating_sub(armed.elapsed())).await;
    for q in ["threats?limit=1", "agents?limit=1", "groups", "system/info"] {
        let (status, retry_after) = status_of(&sim, q).await;
        assert_eq!(status, 429, "{q}");
        assert_eq!(retry_after, None);
    }
    assert_eq!(sim.faults().served(id), 4);
    assert_eq!(sim.faults().served(agents_only), 0, "its delay is far off");
    assert_eq!(sim.fault_counts().too_many_requests, 4);

    // Scoped to a path.
    let sim = start(5, 5).await;
    sim.faults().too_many_requests_after_delay_on(
        "agents",
        Duration::ZERO,
        Some(RetryAfter::Seconds(9)),
    );
    assert_eq!(status_of(&sim, "threats?limit=1").await.0, 200);
    assert_eq!(
        status_of(&sim, "agents?limit=1").await,
        (429, Some("9".to_owned()))
    );
    assert_eq!(sim.fault_counts().too_many_requests, 1);
}

#[tokio::test]
async fn nothing_misbehaves_by_default() {
    let sim = start(40, 40).await;
    let agents = sim.agents_snapshot();
    let (_, body) = get(&sim, "agents?limit=1000").await;
    assert_eq!(body["data"].as_array().unwrap(), &agents);
    assert_eq!(body["pagination"]["totalItems"], 40);
    assert!(sim
        .threats_snapshot()
        .iter()
        .all(|t| t["agentRealtimeInfo"]["agentComputerName"] != "string"));
    assert!(agents.iter().all(|a| a["computerName"] != "string"));
    assert_eq!(walk(&sim, "threats", "", 9).await.len(), 40);
    assert_eq!(sim.fault_counts().total(), 0);
}
