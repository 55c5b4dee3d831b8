//! The read views through the handler, with the repo's sample events, against a fresh table on the local AWS stack:
//! what each route answers, what a bad query is told, and that a tenant only ever sees its own data. Needs the
//! local stack (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).

use read_api::{handle, Deps};
use serde_json::{json, Value};
use test_support::api::{parts, problem_type, request, ConfigBench};

const CONFIG: &str = include_str!("../events/get-config.json");
const ASSETS: &str = include_str!("../events/list-assets.json");
const FINDINGS: &str = include_str!("../events/list-findings.json");
const RUNS: &str = include_str!("../events/list-sync-runs.json");
const RUN: &str = include_str!("../events/get-sync-run.json");
const UNKNOWN: &str = include_str!("../events/unknown-route.json");

fn deps(b: &ConfigBench) -> Deps {
    Deps {
        config: b.service.clone(),
        edge: http_api::Edge::new("tenant_id"),
    }
}

/// Replaces the sample event's query (both forms API Gateway sends; the values here need no escaping).
fn query(params: Value) -> impl FnOnce(&mut Value) {
    move |event| {
        let raw: Vec<String> = params
            .as_object()
            .expect("params")
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().expect("text value")))
            .collect();
        event["rawQueryString"] = raw.join("&").into();
        event["queryStringParameters"] = params;
    }
}

#[tokio::test]
async fn the_configuration_view_is_the_callers_own_and_never_holds_the_token() {
    let b = ConfigBench::new().await;
    b.configure("tenant-a").await;

    let response = handle(&deps(&b), request(CONFIG, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    let (status, text, view) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(view["consoleUrl"], b.sim.base_url());
    assert_eq!(view["tokenSet"], true);
    assert!(!text.contains(&b.sim.token()), "the token is in the view");

    let response = handle(&deps(&b), request(CONFIG, Some("tenant-b"), |_| {}))
        .await
        .expect("response");
    assert_eq!(
        response.status(),
        404,
        "tenant-b sees tenant-a's configuration"
    );
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:not-found"
    );
}

#[tokio::test]
async fn listings_are_camel_case_pages_labelled_with_the_source() {
    let b = ConfigBench::new().await;
    b.configure("tenant-a").await;
    for (event, tenant, source) in [
        (ASSETS, "tenant-a", "connected"),
        (FINDINGS, "tenant-a", "connected"),
        (ASSETS, "tenant-b", "never_connected"),
    ] {
        let response = handle(&deps(&b), request(event, Some(tenant), |_| {}))
            .await
            .expect("response");
        let (status, text, page) = parts(response);
        assert_eq!(status, 200, "{text}");
        assert_eq!(page["items"], json!([]));
        assert!(page.get("nextPageToken").is_some(), "{page}");
        assert_eq!(page["source"]["state"], source, "{page}");
    }
    let response = handle(&deps(&b), request(RUNS, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    let (status, text, page) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(page, json!({ "items": [], "nextPageToken": null }));
}

#[tokio::test]
async fn every_bad_parameter_is_one_400_naming_each() {
    let b = ConfigBench::new().await;
    let response = handle(
        &deps(&b),
        request(
            FINDINGS,
            Some("tenant-a"),
            query(json!({ "status": "open", "limit": "0", "sort": "name" })),
        ),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 400);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:validation"
    );
    let (_, _, problem) = parts(response);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["status", "sort", "limit"], "{problem}");

    // A page token of another listing (or forged) is a 400 on pageToken, never a 500.
    let response = handle(
        &deps(&b),
        request(
            ASSETS,
            Some("tenant-a"),
            query(json!({ "pageToken": "forged" })),
        ),
    )
    .await
    .expect("response");
    let (status, text, problem) = parts(response);
    assert_eq!(status, 400, "{text}");
    assert_eq!(problem["errors"][0]["field"], "pageToken");
}

#[tokio::test]
async fn runs_are_found_by_id_within_the_tenant_only() {
    let b = ConfigBench::new().await;
    b.configure("tenant-a").await;
    let run = connector_store::SyncRun::new(
        connector_store::TenantId::new("tenant-a").expect("tenant"),
        connector_store::Trigger::OnDemand,
    );
    b.store.create_run(&run).await.expect("run recorded");
    let by_id = |id: String| {
        move |event: &mut Value| {
            event["pathParameters"]["id"] = id.clone().into();
            event["rawPath"] = format!("/v1/integrations/sentinelone/sync-runs/{id}").into();
        }
    };

    let response = handle(
        &deps(&b),
        request(RUN, Some("tenant-a"), by_id(run.id.clone())),
    )
    .await
    .expect("response");
    let (status, text, view) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(view["id"], run.id.as_str());
    assert_eq!(view["trigger"], "on_demand");
    assert!(view.get("tenant").is_none(), "{view}");

    let response = handle(
        &deps(&b),
        request(RUN, Some("tenant-b"), by_id(run.id.clone())),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 404, "tenant-b reached tenant-a's run");

    let response = handle(
        &deps(&b),
        request(RUN, Some("tenant-a"), by_id("r".repeat(65))),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn unknown_routes_and_missing_tenants_are_problems() {
    let b = ConfigBench::new().await;
    let response = handle(&deps(&b), request(UNKNOWN, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 404);
    assert_eq!(
        problem_type(&response),
        "urn:s1-connector:problem:not-found"
    );
    let response = handle(&deps(&b), request(ASSETS, None, |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_token_expiry_a_run_read_is_shown_until_a_new_token_is_saved() {
    let b = ConfigBench::new().await;
    b.configure("tenant-a").await;
    let tenant = connector_store::TenantId::new("tenant-a").expect("tenant");
    let view = |b: &ConfigBench| {
        let deps = deps(b);
        async move {
            let (status, text, view) = parts(
                handle(&deps, request(CONFIG, Some("tenant-a"), |_| {}))
                    .await
                    .expect("response"),
            );
            assert_eq!(status, 200, "{text}");
            view
        }
    };
    assert_eq!(view(&b).await["tokenExpiresAt"], Value::Null);

    b.store
        .record_token_expiry(&tenant, Some("2027-01-01T00:00:00Z"))
        .await
        .expect("expiry recorded");
    assert_eq!(view(&b).await["tokenExpiresAt"], "2027-01-01T00:00:00Z");

    // A save without a token keeps the date; a new token makes it unknown until a run reads the new one's.
    let body = |v: Value| serde_json::from_value(v).expect("body");
    b.service
        .save(
            &tenant,
            body(json!({ "autoSyncDays": 3, "skipConnectionTest": true })),
        )
        .await
        .expect("saved without a token");
    assert_eq!(view(&b).await["tokenExpiresAt"], "2027-01-01T00:00:00Z");
    let saved = b
        .service
        .save(
            &tenant,
            body(json!({ "apiToken": b.sim.token(), "skipConnectionTest": true })),
        )
        .await
        .expect("saved with a new token");
    assert_eq!(saved.config.token_expires_at, None);
    assert_eq!(view(&b).await["tokenExpiresAt"], Value::Null);
}

#[tokio::test]
async fn findings_filter_by_lifecycle_state() {
    let b = ConfigBench::new().await;
    b.configure("tenant-a").await;
    let response = handle(
        &deps(&b),
        request(
            FINDINGS,
            Some("tenant-a"),
            query(json!({ "state": "closed" })),
        ),
    )
    .await
    .expect("response");
    let (status, text, page) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(page["items"], json!([]));

    let response = handle(
        &deps(&b),
        request(
            FINDINGS,
            Some("tenant-a"),
            query(json!({ "state": "gone" })),
        ),
    )
    .await
    .expect("response");
    let (status, text, problem) = parts(response);
    assert_eq!(status, 400, "{text}");
    assert_eq!(problem["errors"][0]["field"], "state", "{problem}");

    // `fixed` is a vulnerability state: it lists vulnerabilities, and a threat filter beside it is refused.
    let fixed = query(json!({ "state": "fixed" }));
    let response = handle(&deps(&b), request(FINDINGS, Some("tenant-a"), fixed))
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let fixed_threats = query(json!({ "state": "fixed", "kind": "threat" }));
    let response = handle(
        &deps(&b),
        request(FINDINGS, Some("tenant-a"), fixed_threats),
    )
    .await
    .expect("response");
    let (status, text, problem) = parts(response);
    assert_eq!(status, 400, "{text}");
    assert_eq!(problem["errors"][0]["field"], "state", "{problem}");
}

const UNMATCHED: &str = include_str!("../events/list-unmatched-agents.json");

#[tokio::test]
async fn a_runs_unmatched_agents_page_as_json_and_download_as_csv_within_the_tenant() {
    let b = ConfigBench::new().await;
    b.configure("tenant-a").await;
    let tenant = connector_store::TenantId::new("tenant-a").expect("tenant");
    let run = connector_store::SyncRun::new(tenant.clone(), connector_store::Trigger::OnDemand);
    b.store.create_run(&run).await.expect("run recorded");
    let agents: Vec<connector_store::UnmatchedAgent> = (0..3)
        .map(|i| {
            serde_json::from_value(json!({
                "name": if i == 0 { "=cmd|calc".to_string() } else { format!("LAPTOP-{i}") },
                "agentId": format!("{i}"),
                "lastActive": "2026-11-20T10:00:00Z",
                "reason": "auto_onboard_disabled",
                "possibleMatch": if i == 1 {
                    json!({ "assetKey": "web-01", "name": "WEB-01", "matchedBy": "serial_number" })
                } else {
                    Value::Null
                }
            }))
            .expect("agent")
        })
        .collect();
    b.store
        .record_unmatched_agents(&tenant, &run.id, 0, agents)
        .await
        .expect("recorded");
    let at = |id: String, params: Value| {
        move |event: &mut Value| {
            event["pathParameters"]["id"] = id.clone().into();
            event["rawPath"] =
                format!("/v1/integrations/sentinelone/sync-runs/{id}/unmatched").into();
            query(params)(event);
        }
    };

    let (status, text, page) = parts(
        handle(
            &deps(&b),
            request(
                UNMATCHED,
                Some("tenant-a"),
                at(run.id.clone(), json!({ "limit": "2" })),
            ),
        )
        .await
        .expect("response"),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");
    assert_eq!(
        page["items"][1]["possibleMatch"]["matchedBy"],
        "serial_number"
    );
    let next = page["nextPageToken"]
        .as_str()
        .expect("a second page")
        .to_string();
    let (_, _, second) = parts(
        handle(
            &deps(&b),
            request(
                UNMATCHED,
                Some("tenant-a"),
                at(run.id.clone(), json!({ "limit": "2", "pageToken": next })),
            ),
        )
        .await
        .expect("response"),
    );
    assert_eq!(second["items"][0]["name"], "LAPTOP-2", "{second}");

    let response = handle(
        &deps(&b),
        request(
            UNMATCHED,
            Some("tenant-a"),
            at(run.id.clone(), json!({ "format": "csv" })),
        ),
    )
    .await
    .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("text/csv; charset=utf-8")
    );
    let text = String::from_utf8(response.body().to_vec()).expect("utf-8");
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "a header and three agents: {text}");
    assert!(lines[0].starts_with("name,agentId"), "{text}");
    assert!(
        lines[1].starts_with("'=cmd|calc,"),
        "a formula reached the CSV: {text}"
    );

    // Another tenant cannot name the run; an unknown run is a 404, not an empty list.
    for (tenant, id) in [
        ("tenant-b", run.id.clone()),
        ("tenant-a", "20990101T000000000Z-00000000".into()),
    ] {
        let response = handle(
            &deps(&b),
            request(UNMATCHED, Some(tenant), at(id, json!({}))),
        )
        .await
        .expect("response");
        assert_eq!(response.status(), 404);
    }
}

const FINDING: &str = include_str!("../events/get-finding.json");
const ASSET: &str = include_str!("../events/get-asset.json");

/// A vulnerability (id `2162143406517023959`, high, CVE-2025-0411) attached to `web-01`, and `web-01` itself.
async fn store_vulnerable_asset(b: &ConfigBench, tenant: &str) {
    let t = connector_store::TenantId::new(tenant).expect("tenant");
    let risk: s1_core::records::Risk = serde_json::from_value(json!({
        "id": "2162143406517023959", "cveId": "CVE-2025-0411", "severity": "HIGH",
        "endpointName": "WEB-01", "applicationName": "7-Zip", "baseScore": "7.0", "status": "Detected"
    }))
    .expect("risk");
    let v = s1_core::vulnerability::map_risk(&risk, "https://c.example");
    let key = s1_core::normalize_computer_name("WEB-01").expect("key");
    let asset: s1_core::Asset = serde_json::from_value(json!({
        "key": "web-01", "name": "WEB-01", "ipv4": [], "ipv6": [], "mac_addresses": [], "os_name": null,
        "os_type": null, "os_version": null, "machine_type": null, "model": null, "serial": null,
        "domain": null, "agent_version": null, "site_id": null, "site_name": null, "group_id": null,
        "group_name": null, "account_id": null, "account_name": null, "active": true, "decommissioned": null,
        "infected": null, "last_seen": null, "console_url": null, "primary_agent_id": null, "agent_ids": [],
        "custom_fields": {}, "tags": [], "origin": "agent"
    }))
    .expect("asset");
    for item in [
        connector_store::new_vulnerability_item(&t, &v, Some(&key), None).expect("item"),
        connector_store::new_asset_item(&t, &asset, true, "run-1").expect("asset item"),
    ] {
        b.store
            .dynamodb()
            .put_item()
            .table_name(b.store.table_name())
            .set_item(Some(item))
            .send()
            .await
            .expect("put");
    }
}

#[tokio::test]
async fn a_finding_of_either_kind_and_an_asset_with_its_open_vulnerabilities_are_found_by_id() {
    let b = ConfigBench::new().await;
    store_vulnerable_asset(&b, "tenant-a").await;
    let response = handle(&deps(&b), request(FINDING, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    let (status, text, view) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(view["kind"], "vulnerability", "{view}");
    assert_eq!(view["cveId"], "CVE-2025-0411");
    assert_eq!(view["assetKey"], "web-01");
    assert_eq!(view["lifecycle"]["state"], "open");
    assert_eq!(view["cvss"]["baseScore"], 7.0);

    let as_threat = query(json!({ "kind": "threat" }));
    let response = handle(&deps(&b), request(FINDING, Some("tenant-a"), as_threat))
        .await
        .expect("response");
    assert_eq!(response.status(), 404, "no threat holds that id");
    let response = handle(&deps(&b), request(FINDING, Some("tenant-b"), |_| {}))
        .await
        .expect("response");
    assert_eq!(
        response.status(),
        404,
        "tenant-b reached tenant-a's finding"
    );

    let response = handle(&deps(&b), request(ASSET, Some("tenant-a"), |_| {}))
        .await
        .expect("response");
    let (status, text, view) = parts(response);
    assert_eq!(status, 200, "{text}");
    assert_eq!(view["key"], "web-01");
    assert_eq!(
        view["openVulnerabilities"],
        json!({"critical": 0, "high": 1, "medium": 0, "low": 0, "info": 0})
    );
    let response = handle(&deps(&b), request(ASSET, Some("tenant-b"), |_| {}))
        .await
        .expect("response");
    assert_eq!(response.status(), 404, "tenant-b reached tenant-a's asset");
}
