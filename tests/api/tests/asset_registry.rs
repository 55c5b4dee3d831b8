//! Assets the platform registers itself: the import (good rows, bad rows named per row, an idempotent repeat,
//! 10,001 rows refused, tenant isolation), the single registration, and a sync with auto-onboard off that attaches
//! SentinelOne's agents and threats to registered assets only and never retires what a registration holds.

use api_tests::{parts, Bench, Event, PREFIX};
use connector_store::{AssetFilter, RunStatus, SyncRun, TenantId, Trigger};
use lambda_http::http::StatusCode;
use s1_core::AssetSource;
use s1_simulator::{Simulator, TenantSpec};
use serde_json::{json, Value};

fn import(
    tenant: &str,
    content_type: &'static str,
    body: impl Into<String>,
) -> lambda_http::Request {
    Event::new(
        "POST",
        format!("{PREFIX}/asset-imports"),
        format!("{PREFIX}/asset-imports"),
    )
    .tenant(tenant)
    .content_type(content_type)
    .body(body)
    .request()
}

fn register(tenant: &str, name: &str, body: &Value) -> lambda_http::Request {
    Event::new(
        "PUT",
        format!("{PREFIX}/assets/{name}"),
        format!("{PREFIX}/assets/{{computerName}}"),
    )
    .tenant(tenant)
    .path_param("computerName", name)
    .json(body)
    .request()
}

async fn call(bench: &Bench, request: lambda_http::Request) -> (StatusCode, Value) {
    let (status, body, _) = parts(
        asset_registry::handle(&bench.asset_registry(), request)
            .await
            .expect("handler"),
    );
    (status, body)
}

async fn assets(bench: &Bench, tenant: &str) -> Vec<connector_store::StoredAsset> {
    let t = TenantId::new(tenant).unwrap();
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = bench
            .store
            .list_assets(&t, &AssetFilter::default(), token.as_deref(), 200)
            .await
            .expect("assets");
        out.extend(page.items);
        match page.next_page_token {
            Some(n) => token = Some(n),
            None => return out,
        }
    }
}

#[tokio::test]
async fn an_import_reports_each_bad_row_is_idempotent_and_stays_in_its_tenant() {
    let bench = Bench::new().await;
    let csv = "computerName,serialNumber,macAddresses,ipAddresses\n\
               LAPTOP-1,SN-1,00:00:5e:00:53:01,10.0.0.1\n\
               ,SN-2,,\n\
               laptop-3,SN-3,not-a-mac,\n\
               srv-4,,,10.0.0.4;10.0.0.5\n\
               Laptop-1,SN-dup,,\n";
    let (status, report) = call(&bench, import("acme", "text/csv", csv)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows"], 5);
    assert_eq!(report["accepted"], 2);
    assert_eq!(report["created"], 2);
    let rejected = report["rejected"].as_array().expect("rejected");
    let rows: Vec<u64> = rejected
        .iter()
        .map(|r| r["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [2, 3, 5], "{report}");
    assert!(rejected[0]["reason"]
        .as_str()
        .unwrap()
        .contains("computerName"));
    assert!(rejected[1]["reason"]
        .as_str()
        .unwrap()
        .contains("not-a-mac"));
    assert!(rejected[2]["reason"].as_str().unwrap().contains("row 1"));

    let stored = assets(&bench, "acme").await;
    let keys: Vec<&str> = stored.iter().map(|a| a.key()).collect();
    assert_eq!(keys, ["laptop-1", "srv-4"]);
    assert!(stored.iter().all(|a| a.active
        && a.sources == [AssetSource::Import].into_iter().collect()
        && a.platform.is_some()));
    assert_eq!(stored[1].asset.ipv4, ["10.0.0.4", "10.0.0.5"]);

    // The same file again writes nothing: every accepted row is unchanged and the table is byte-for-byte equal.
    let before = bench.footprint("acme").await;
    let (status, again) = call(&bench, import("acme", "text/csv", csv)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (again["created"].clone(), again["unchanged"].clone()),
        (json!(0), json!(2)),
        "{again}"
    );
    assert_eq!(
        bench.footprint("acme").await,
        before,
        "a repeated import writes nothing"
    );

    // JSON lines, in another tenant: the same names are that tenant's own assets.
    let lines = "{\"computerName\":\"LAPTOP-1\",\"serialNumber\":\"other\"}\n{\"computerName\":\"x\",\"tenantId\":\"acme\"}\n";
    let (status, other) = call(&bench, import("globex", "application/x-ndjson", lines)).await;
    assert_eq!(status, StatusCode::OK, "{other}");
    assert_eq!(other["created"], 1, "{other}");
    assert_eq!(
        other["rejected"][0]["row"], 2,
        "a row cannot name a tenant: {other}"
    );
    assert_eq!(
        assets(&bench, "acme").await[0]
            .platform
            .as_ref()
            .unwrap()
            .serial
            .as_deref(),
        Some("SN-1"),
        "another tenant's import does not touch this tenant's asset"
    );
    assert_eq!(assets(&bench, "globex").await.len(), 1);
}

#[tokio::test]
async fn more_than_ten_thousand_rows_are_refused_whole_and_bad_requests_are_problems() {
    let bench = Bench::new().await;
    let mut csv = String::from("computerName\n");
    for i in 0..10_001 {
        csv.push_str(&format!("host-{i}\n"));
    }
    let (status, problem) = call(&bench, import("acme", "text/csv", csv)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:s1-connector:problem:payload-too-large"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("10000 rows"),
        "{problem}"
    );
    assert_eq!(
        bench.footprint("acme").await.0,
        Vec::<String>::new(),
        "nothing written"
    );

    let (status, problem) = call(&bench, import("acme", "application/json", "{}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "Content-Type", "{problem}");
    let (status, problem) = call(&bench, import("acme", "text/csv", "name,owner\na,b\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("name"),
        "{problem}"
    );
    let anonymous = Event::new(
        "POST",
        format!("{PREFIX}/asset-imports"),
        format!("{PREFIX}/asset-imports"),
    )
    .content_type("text/csv")
    .body("computerName\na\n")
    .request();
    let (status, _) = call(&bench, anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(bench.footprint("acme").await.0, Vec::<String>::new());
}

#[tokio::test]
async fn a_single_registration_creates_then_updates_then_changes_nothing() {
    let bench = Bench::new().await;
    let body = json!({ "serialNumber": "SN-9", "macAddresses": ["00-00-5E-00-53-09"] });
    let (status, out) = call(&bench, register("acme", "Desk-9", &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    assert_eq!(out["assetKey"], "desk-9");
    let (status, out) = call(&bench, register("acme", "Desk-9", &body)).await;
    assert_eq!(
        (status, out["outcome"].clone()),
        (StatusCode::OK, json!("unchanged"))
    );
    let (_, out) = call(
        &bench,
        register("acme", "desk-9", &json!({ "serialNumber": "SN-10" })),
    )
    .await;
    assert_eq!(out["outcome"], "updated");
    let (status, problem) = call(
        &bench,
        register("acme", "desk-9", &json!({ "computerName": "other" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "computerName");
    let stored = assets(&bench, "acme").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].sources,
        [AssetSource::Manual].into_iter().collect()
    );
    assert_eq!(
        stored[0].platform.as_ref().unwrap().serial.as_deref(),
        Some("SN-10")
    );
}

async fn sync(bench: &Bench, tenant: &str) -> SyncRun {
    let run = SyncRun::new(TenantId::new(tenant).unwrap(), Trigger::OnDemand);
    bench.store.create_run(&run).await.expect("run");
    bench.run_to_end(tenant, &run.id).await
}

#[tokio::test]
async fn with_auto_onboard_off_the_sync_attaches_to_registered_assets_only_and_never_retires_them()
{
    let sim = Simulator::new(TenantSpec::small().with_agents(12).with_threats(60))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;
    let tenant = "acme";
    let agents = sim.agents_snapshot();
    let name_of = |a: &Value| a["computerName"].as_str().unwrap().to_string();
    // Ten of the twelve machines are known to the platform (one named in another case), plus one SentinelOne
    // does not have; each row's serial is its position.
    let mut known: Vec<String> = agents[..10].iter().map(name_of).collect();
    known[0] = known[0].to_uppercase();
    known.push("not-in-s1".to_string());
    let mut csv = String::from("computerName,serialNumber\n");
    for (i, k) in known.iter().enumerate() {
        csv.push_str(&format!("{k},S{i}\n"));
    }
    let (status, report) = call(&bench, import(tenant, "text/csv", csv)).await;
    assert_eq!(
        (status, report["created"].clone()),
        (StatusCode::OK, json!(11)),
        "{report}"
    );

    let save =
        json!({ "consoleUrl": sim.base_url(), "apiToken": sim.token(), "autoOnboard": false });
    let (status, saved, _) = parts(
        save_config::handle(
            &bench.save_config(),
            Event::new(
                "PUT",
                format!("{PREFIX}/config"),
                format!("{PREFIX}/config"),
            )
            .tenant(tenant)
            .json(&save)
            .request(),
        )
        .await
        .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK, "{saved}");
    let run = sync(&bench, tenant).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");

    let stored = assets(&bench, tenant).await;
    let keys: Vec<String> = stored.iter().map(|a| a.key().to_string()).collect();
    let mut expected: Vec<String> = known.iter().map(|k| k.to_lowercase()).collect();
    expected.sort();
    assert_eq!(keys, expected, "no asset beyond the registered ones");
    for a in &stored[..] {
        if a.key() == "not-in-s1" {
            assert_eq!(a.sources, [AssetSource::Import].into_iter().collect());
            assert!(a.asset.agent_ids.is_empty());
        } else {
            assert_eq!(
                a.sources,
                [AssetSource::Sentinelone, AssetSource::Import]
                    .into_iter()
                    .collect(),
                "{}",
                a.key()
            );
            assert!(
                !a.asset.agent_ids.is_empty(),
                "the agent attached to {}",
                a.key()
            );
            let row = known
                .iter()
                .position(|k| k.to_lowercase() == a.key())
                .unwrap();
            assert_eq!(
                a.platform.as_ref().unwrap().serial.clone(),
                Some(format!("S{row}")),
                "the sync kept the registration's fields"
            );
            assert_ne!(
                a.asset.origin,
                s1_core::asset::AssetOrigin::Platform,
                "SentinelOne described it"
            );
        }
    }
    // Findings: attached exactly for threats on the two registered machines.
    let t = TenantId::new(tenant).unwrap();
    let page = bench
        .store
        .list_findings(&t, &connector_store::FindingFilter::default(), None, 200)
        .await
        .unwrap();
    assert!(!page.items.is_empty());
    for f in &page.items {
        let on_registered = f
            .asset_key
            .as_ref()
            .is_some_and(|k| expected.contains(&k.as_str().to_string()));
        assert_eq!(f.attached, on_registered, "{}: {:?}", f.id, f.asset_key);
    }

    // SentinelOne drops the agent of a registered machine: its SentinelOne side retires, the asset stays active.
    assert!(sim.remove_agent(agents[1]["id"].as_str().unwrap()));
    let run = sync(&bench, tenant).await;
    assert_eq!(run.counters.assets_retired, 0, "{run:?}");
    assert_eq!(run.counters.assets_kept_by_platform, 1, "{run:?}");
    let dropped = assets(&bench, tenant)
        .await
        .into_iter()
        .find(|a| a.key() == known[1].to_lowercase())
        .unwrap();
    assert!(
        dropped.active,
        "an imported asset is never marked inactive by the sync"
    );
    assert!(dropped.sentinelone_retired_at.is_some());
    assert!(!dropped.sentinelone_active());
    // A third run neither retires it again nor counts it.
    let run = sync(&bench, tenant).await;
    assert_eq!(run.counters.assets_kept_by_platform, 0, "{run:?}");
}
