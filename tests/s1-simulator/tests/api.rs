//! Behaviour of the simulated console over real HTTP: auth, errors, paging, filters, mutations and
//! the request log.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use s1_simulator::{Permissions, SimConfig, Simulator, TenantSpec};
use serde_json::{json, Value};
use time::OffsetDateTime;

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn validation_error(body: &Value, param: &str) {
    let e = &body["errors"][0];
    assert_eq!(e["code"], 4000010, "{body}");
    assert_eq!(e["title"], "Validation Error");
    assert!(
        e["detail"].as_str().unwrap().contains(param),
        "{body} should name {param}"
    );
    assert_eq!(body["errors"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn pagination_walks_exactly_n_records_for_every_limit() {
    for n in [0usize, 1, 999, 1000, 1001, 2500] {
        let sim = Simulator::new(TenantSpec::small().with_agents(n).with_threats(0))
            .start()
            .await
            .unwrap();
        let expected: Vec<String> = ids(&sim.agents_snapshot());
        assert_eq!(expected.len(), n);
        let limits: &[u32] = if n <= 999 {
            &[1, 7, 1000]
        } else {
            &[7, 333, 1000]
        };
        for &limit in limits {
            let got = ids(&walk(&sim, "agents", "", limit).await);
            assert_eq!(got.len(), n, "n={n} limit={limit}");
            let unique: HashSet<&String> = got.iter().collect();
            assert_eq!(unique.len(), n, "no duplicates n={n} limit={limit}");
            assert_eq!(got, expected, "id order n={n} limit={limit}");
        }
        let (status, body) = get(&sim, "agents").await;
        assert_eq!(status, 200);
        assert_eq!(
            body["data"].as_array().unwrap().len(),
            n.min(10),
            "default limit is 10"
        );
        assert_eq!(body["pagination"]["totalItems"], n);
        assert_eq!(body["pagination"]["nextCursor"].is_null(), n <= 10);
        let (_, count) = get(&sim, "agents/count").await;
        assert_eq!(count, json!({"data": {"total": n}}));
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn threats_walk_by_updated_at_with_a_watermark() {
    let sim = Simulator::new(TenantSpec::small().with_agents(50).with_threats(1200))
        .start()
        .await
        .unwrap();
    let all = walk(&sim, "threats", "sortBy=updatedAt&sortOrder=asc", 1000).await;
    assert_eq!(all.len(), 1200);
    let stamps: Vec<&str> = all
        .iter()
        .map(|t| t["threatInfo"]["updatedAt"].as_str().unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "ascending updatedAt"
    );
    let watermark = stamps[700];
    let expected = stamps.iter().filter(|s| **s > watermark).count();
    let newer = walk(
        &sim,
        "threats",
        &format!(
            "sortBy=updatedAt&sortOrder=asc&updatedAt__gt={}",
            url_encode(watermark)
        ),
        100,
    )
    .await;
    assert_eq!(newer.len(), expected);
    let desc = walk(&sim, "threats", "sortBy=createdAt&sortOrder=desc", 333).await;
    let created: Vec<&str> = desc
        .iter()
        .map(|t| t["threatInfo"]["createdAt"].as_str().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "descending createdAt"
    );
    assert_eq!(desc.len(), 1200);
}

#[tokio::test]
async fn filters_use_the_console_parameter_names() {
    let sim = Simulator::new(TenantSpec::small()).start().await.unwrap();
    let agents = sim.agents_snapshot();
    let threats = sim.threats_snapshot();
    let groups = sim.groups_snapshot();

    let decommissioned = agents
        .iter()
        .filter(|a| a["isDecommissioned"] == true)
        .count();
    assert!(decommissioned > 0);
    assert_eq!(
        walk(&sim, "agents", "isDecommissioned=true", 1000)
            .await
            .len(),
        decommissioned
    );
    assert_eq!(
        walk(&sim, "agents", "isDecommissioned=false", 1000)
            .await
            .len(),
        300 - decommissioned
    );
    assert_eq!(
        walk(&sim, "agents", "isDecommissioned=True,False", 1000)
            .await
            .len(),
        300
    );

    let site = agents[0]["siteId"].as_str().unwrap();
    let in_site = agents.iter().filter(|a| a["siteId"] == site).count();
    assert_eq!(
        walk(&sim, "agents", &format!("siteIds={site}"), 1000)
            .await
            .len(),
        in_site
    );
    let (g1, g2) = (
        groups[0]["id"].as_str().unwrap(),
        groups[1]["id"].as_str().unwrap(),
    );
    let in_groups = agents
        .iter()
        .filter(|a| a["groupId"] == g1 || a["groupId"] == g2)
        .count();
    let got = walk(&sim, "agents", &format!("groupIds={g1},{g2}"), 1000).await;
    assert_eq!(got.len(), in_groups);
    let (_, count) = get(&sim, &format!("agents/count?groupIds={g1},{g2}")).await;
    assert_eq!(count["data"]["total"], in_groups);

    let name = agents[5]["computerName"].as_str().unwrap();
    let same_name = agents.iter().filter(|a| a["computerName"] == name).count();
    let got = walk(
        &sim,
        "agents",
        &format!("computerName={}", url_encode(&name.to_lowercase())),
        10,
    )
    .await;
    assert_eq!(got.len(), same_name);

    let tp = threats.iter().filter(|t| {
        let v = &t["threatInfo"]["analystVerdict"];
        v == "true_positive" || v == "suspicious"
    });
    assert_eq!(
        walk(
            &sim,
            "threats",
            "analystVerdicts=true_positive,suspicious",
            1000
        )
        .await
        .len(),
        tp.count()
    );
    let unresolved_malicious = threats
        .iter()
        .filter(|t| {
            t["threatInfo"]["incidentStatus"] == "unresolved"
                && t["threatInfo"]["confidenceLevel"] == "malicious"
        })
        .count();
    assert_eq!(
        walk(
            &sim,
            "threats",
            "incidentStatuses=unresolved&confidenceLevels=malicious",
            1000
        )
        .await
        .len(),
        unresolved_malicious
    );
    let agent_id = threats[0]["agentRealtimeInfo"]["agentId"].as_str().unwrap();
    let on_agent = threats
        .iter()
        .filter(|t| t["agentRealtimeInfo"]["agentId"] == agent_id)
        .count();
    assert_eq!(
        walk(&sim, "threats", &format!("agentIds={agent_id}"), 1000)
            .await
            .len(),
        on_agent
    );
    let mitigated = threats
        .iter()
        .filter(|t| t["threatInfo"]["mitigationStatus"] == "mitigated")
        .count();
    assert_eq!(
        walk(&sim, "threats", "mitigationStatuses=mitigated", 1000)
            .await
            .len(),
        mitigated
    );

    // Group names: exact, case-insensitive; "Default Group" exists once per site.
    assert_eq!(
        walk(&sim, "groups", "name=default%20group", 1000)
            .await
            .len(),
        3
    );
    assert_eq!(walk(&sim, "groups", "name=Default", 1000).await.len(), 0);
    assert_eq!(walk(&sim, "groups", "query=default", 1000).await.len(), 3);
    assert_eq!(walk(&sim, "groups", "isDefault=true", 1000).await.len(), 3);
    let site_groups = walk(
        &sim,
        "groups",
        &format!("siteIds={site}&isDefault=false"),
        1000,
    )
    .await;
    assert_eq!(site_groups.len(), 3);
    let statics = groups.iter().filter(|g| g["type"] == "static").count();
    assert_eq!(
        walk(&sim, "groups", "type=static", 1000).await.len(),
        statics
    );
}

#[tokio::test]
async fn invalid_parameters_are_validation_errors_naming_the_parameter() {
    let sim = Simulator::new(TenantSpec::small().with_agents(20).with_threats(20))
        .start()
        .await
        .unwrap();
    for (query, param) in [
        ("agents?limit=0", "limit"),
        ("agents?limit=1001", "limit"),
        ("agents?limit=ten", "limit"),
        ("threats?skip=1001", "skip"),
        ("agents?sortBy=lastActiveDate", "sortBy"),
        ("agents?sortOrder=up", "sortOrder"),
        ("agents?isDecommissioned=maybe", "isDecommissioned"),
        ("agents?updatedAt__gt=yesterday", "updatedAt__gt"),
        ("agents?siteIds=abc", "siteIds"),
        ("agents?osTypes=linux", "osTypes"),
        ("agents?bogus=1", "bogus"),
        ("threats?analystVerdicts=benign", "analystVerdicts"),
        ("threats?computerName=x", "computerName"),
        ("groups?type=smart", "type"),
        ("agents?cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("agents?limit=5&limit=6", "limit"),
    ] {
        let (status, body) = get(&sim, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        validation_error(&body, param);
    }
    let (status, body) = get(&sim, "agents?skip=1000&limit=5").await;
    assert_eq!((status, body["data"].as_array().unwrap().len()), (200, 0));
}

#[tokio::test]
async fn cursors_are_bound_to_filters_and_expire() {
    let sim = Simulator::new(TenantSpec::small().with_agents(50).with_threats(0))
        .config(SimConfig {
            cursor_max_uses: Some(1),
            ..SimConfig::default()
        })
        .start()
        .await
        .unwrap();
    let (_, first) = get(&sim, "agents?limit=10&isDecommissioned=false").await;
    let cursor = url_encode(first["pagination"]["nextCursor"].as_str().unwrap());
    let (status, body) = get(&sim, &format!("agents?limit=10&cursor={cursor}")).await;
    assert_eq!(status, 400, "a cursor used without its filters");
    validation_error(&body, "cursor");
    let (status, body) = get(
        &sim,
        &format!("agents?limit=10&isDecommissioned=false&sortBy=computerName&cursor={cursor}"),
    )
    .await;
    assert_eq!(status, 400, "a cursor used with another sort: {body}");
    // Those refusals consumed the single use.
    let (status, _) = get(
        &sim,
        &format!("agents?limit=10&isDecommissioned=false&cursor={cursor}"),
    )
    .await;
    assert_eq!(status, 400);

    let (_, first) = get(&sim, "agents?limit=10&isDecommissioned=false").await;
    let cursor = url_encode(first["pagination"]["nextCursor"].as_str().unwrap());
    let q = format!("agents?limit=10&isDecommissioned=false&cursor={cursor}");
    assert_eq!(get(&sim, &q).await.0, 200);
    let (status, body) = get(&sim, &q).await;
    assert_eq!(status, 400, "second use of a single-use cursor");
    validation_error(&body, "cursor");
    sim.shutdown().await;

    let sim = Simulator::new(TenantSpec::small().with_agents(50).with_threats(0))
        .config(SimConfig {
            cursor_ttl: Duration::ZERO,
            ..SimConfig::default()
        })
        .start()
        .await
        .unwrap();
    let (_, first) = get(&sim, "agents?limit=10").await;
    let cursor = url_encode(first["pagination"]["nextCursor"].as_str().unwrap());
    let (status, body) = get(&sim, &format!("agents?limit=10&cursor={cursor}")).await;
    assert_eq!(status, 400, "expired by TTL");
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

#[tokio::test]
async fn authentication_and_permissions_answer_with_the_real_envelopes() {
    let sim = Simulator::new(TenantSpec::small().with_agents(5).with_threats(5))
        .start()
        .await
        .unwrap();
    let token = sim.token();
    let auth_failed =
        json!({"errors":[{"code":4010010,"detail":null,"title":"Authentication Failed"}]});
    for auth in [
        format!("Bearer {token}"),
        format!("APIToken {token}"),
        format!("ApiToken:{token}"),
        format!("apitoken {token}"),
        token.clone(),
        "ApiToken eyJunknown.token.value".to_owned(),
    ] {
        let (status, body) = get_with(&sim, "agents", &auth).await;
        assert_eq!((status, &body), (401, &auth_failed), "{auth}");
    }
    let resp = client()
        .get(format!("{}{API}/agents", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let expired = "eyJexpired-token-0001";
    sim.add_token(
        expired,
        Permissions::all(),
        OffsetDateTime::now_utc() - time::Duration::days(1),
    );
    assert_eq!(
        get_with(&sim, "system/info", &format!("ApiToken {expired}"))
            .await
            .0,
        401
    );

    let revoked = "eyJrevoked-token-0001";
    sim.add_token(
        revoked,
        Permissions::all(),
        OffsetDateTime::now_utc() + time::Duration::days(30),
    );
    assert_eq!(
        get_with(&sim, "agents", &format!("ApiToken {revoked}"))
            .await
            .0,
        200
    );
    sim.revoke_token(revoked);
    assert_eq!(
        get_with(&sim, "agents", &format!("ApiToken {revoked}"))
            .await
            .0,
        401
    );

    let no_threats = "eyJno-threats-0001";
    sim.add_token(
        no_threats,
        Permissions::all().with_threats_view(false),
        OffsetDateTime::now_utc() + time::Duration::days(30),
    );
    let auth = format!("ApiToken {no_threats}");
    let (status, body) = get_with(&sim, "threats?limit=1", &auth).await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["code"], 4030010);
    assert_eq!(body["errors"][0]["title"], "Insufficient permissions");
    assert_eq!(get_with(&sim, "agents?limit=1", &auth).await.0, 200);
    assert_eq!(get_with(&sim, "groups?limit=1", &auth).await.0, 200);
    assert_eq!(get_with(&sim, "system/info", &auth).await.0, 200);
    let none = "eyJno-permissions-01";
    sim.add_token(
        none,
        Permissions::none(),
        OffsetDateTime::now_utc() + time::Duration::days(30),
    );
    for path in ["agents", "agents/count", "groups", "threats"] {
        assert_eq!(
            get_with(&sim, path, &format!("ApiToken {none}")).await.0,
            403,
            "{path}"
        );
    }

    let (status, info) = get(&sim, "system/info").await;
    assert_eq!(status, 200);
    assert!(info["data"]["latestAgentVersion"].is_string());

    let old = sim.token();
    let new = sim.rotate_token();
    assert_ne!(old, new);
    assert_eq!(sim.token(), new);
    assert_eq!(
        get_with(&sim, "agents", &format!("ApiToken {old}")).await.0,
        401
    );
    assert_eq!(get(&sim, "agents").await.0, 200);
}

#[tokio::test]
async fn token_details_and_wrong_methods() {
    let sim = Simulator::new(TenantSpec::small().with_agents(5).with_threats(5))
        .start()
        .await
        .unwrap();
    let url = format!("{}{API}/users/api-token-details", sim.base_url());
    let auth = format!("ApiToken {}", sim.token());
    let resp = client()
        .post(&url)
        .header("Authorization", &auth)
        .json(&json!({"data": {"apiToken": sim.token()}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let created = body["data"]["createdAt"].as_str().unwrap();
    let expires = body["data"]["expiresAt"].as_str().unwrap();
    assert!(created < expires && expires.ends_with('Z'), "{body}");

    let resp = client()
        .post(&url)
        .header("Authorization", &auth)
        .json(&json!({"data": {"apiToken": "eyJnot-a-known-token"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], 4000010);

    for path in ["agents", "threats", "groups", "agents/count", "system/info"] {
        let resp = client()
            .post(format!("{}{API}/{path}", sim.base_url()))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "POST {path}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["errors"].is_array());
    }
    let resp = client()
        .get(&url)
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "GET on the POST-only path");
}

#[tokio::test]
async fn request_log_records_every_request_and_token_leaks() {
    let sim = Simulator::new(TenantSpec::small().with_agents(25).with_threats(0))
        .start()
        .await
        .unwrap();
    walk(&sim, "agents", "sortBy=id", 10).await;
    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|r| r.method == "GET"
        && r.path == "/web/api/v2.1/agents"
        && r.status == 200
        && r.authorization_present
        && !r.token_outside_header));
    assert_eq!(log[0].query.as_deref(), Some("limit=10&sortBy=id"));
    assert!(log[1].query.as_deref().unwrap().contains("cursor="));
    sim.clear_requests();

    let token = sim.token();
    get(
        &sim,
        &format!("agents?limit=1&apiToken={}", url_encode(&token)),
    )
    .await;
    client()
        .post(format!("{}{API}/users/api-token-details", sim.base_url()))
        .header("Authorization", format!("ApiToken {token}"))
        .json(&json!({"data": {"apiToken": token}}))
        .send()
        .await
        .unwrap();
    let log = sim.requests();
    assert_eq!(log.len(), 2);
    assert!(log[0].token_in_url && log[0].token_outside_header && log[0].status == 400);
    assert!(log[1].token_in_body && !log[1].token_in_url && log[1].status == 200);
    for r in &log {
        let text = format!("{r:?}");
        assert!(!text.contains(&token), "the log never stores the token");
    }
}

#[tokio::test]
async fn mutations_bump_updated_at_and_show_up_in_walks() {
    let sim = Simulator::new(TenantSpec::small().with_agents(30).with_threats(100))
        .start()
        .await
        .unwrap();
    let before = sim.agents_snapshot();
    let newest = before
        .iter()
        .map(|a| a["updatedAt"].as_str().unwrap().to_owned())
        .max()
        .unwrap();

    let added = sim.add_agents(3);
    assert_eq!(added.len(), 3);
    assert_eq!(walk(&sim, "agents", "", 1000).await.len(), 33);
    let fresh = walk(
        &sim,
        "agents",
        &format!("updatedAt__gt={}", url_encode(&newest)),
        1000,
    )
    .await;
    assert_eq!(ids(&fresh), added);

    let target = before
        .iter()
        .find(|a| a["isDecommissioned"] == false)
        .unwrap();
    let target_id = target["id"].as_str().unwrap();
    assert!(sim.decommission_agent(target_id));
    let after = walk(&sim, "agents", &format!("ids={target_id}"), 10).await;
    assert_eq!(after[0]["isDecommissioned"], true);
    assert!(after[0]["updatedAt"].as_str().unwrap() > newest.as_str());
    let decommissioned = walk(&sim, "agents", "isDecommissioned=false", 1000).await;
    assert!(!ids(&decommissioned).contains(&target_id.to_owned()));

    assert!(sim.add_agent_tag(target_id, "owner", "secops"));
    let tagged = walk(&sim, "agents", &format!("ids={target_id}"), 10).await;
    let tags = tagged[0]["tags"]["sentinelone"].as_array().unwrap();
    assert!(tags
        .iter()
        .any(|t| t["key"] == "owner" && t["value"] == "secops"));

    let threats = sim.threats_snapshot();
    let watermark = threats
        .iter()
        .map(|t| t["threatInfo"]["updatedAt"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    let tid = threats[3]["id"].as_str().unwrap();
    assert!(sim.set_threat_verdict(tid, "false_positive"));
    assert!(sim.set_threat_incident_status(tid, "resolved"));
    let changed = walk(
        &sim,
        "threats",
        &format!("sortBy=updatedAt&updatedAt__gt={}", url_encode(&watermark)),
        100,
    )
    .await;
    assert_eq!(ids(&changed), vec![tid.to_owned()]);
    assert_eq!(changed[0]["threatInfo"]["analystVerdict"], "false_positive");
    assert_eq!(
        changed[0]["threatInfo"]["analystVerdictDescription"],
        "False positive"
    );
    assert_eq!(changed[0]["threatInfo"]["incidentStatus"], "resolved");

    let new_threats = sim.add_threats(4);
    assert_eq!(new_threats.len(), 4);
    assert_eq!(walk(&sim, "threats", "", 1000).await.len(), 104);

    let victim = added[0].clone();
    assert!(sim.remove_agent(&victim));
    assert!(!sim.remove_agent(&victim));
    assert_eq!(walk(&sim, "agents", "", 1000).await.len(), 32);
    assert!(!sim.decommission_agent("1"));
}

#[tokio::test]
async fn an_empty_console_answers_empty_pages() {
    let sim = Simulator::empty().start().await.unwrap();
    for path in ["agents", "threats", "groups"] {
        let (status, body) = get(&sim, path).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"data": [], "pagination": {"nextCursor": null, "totalItems": 0}})
        );
    }
    assert!(sim.add_threats(2).is_empty(), "no agent to put threats on");
    assert_eq!(sim.add_agents(2).len(), 2);
    assert_eq!(walk(&sim, "agents", "", 10).await.len(), 2);
    assert_eq!(sim.add_threats(2).len(), 2);
}
