//! With auto-onboard off, every run records the agents it did not onboard, with the reason and a possible match
//! (an asset with the same MAC address or serial number under another name), paged per run.

use api_tests::{parts, Bench, Event, PREFIX};
use connector_store::{RunStatus, SyncRun, TenantId, Trigger};
use lambda_http::http::StatusCode;
use s1_simulator::{Simulator, TenantSpec};
use serde_json::{json, Value};

#[tokio::test]
async fn unmatched_agents_are_recorded_with_a_possible_match_and_paged() {
    let sim = Simulator::new(TenantSpec::small().with_agents(12).with_threats(10))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;
    let tenant = "unmatched";
    let agents = sim.agents_snapshot();
    let mac_of = |a: &Value| {
        a["networkInterfaces"]
            .as_array()
            .and_then(|n| n.iter().find_map(|i| i["physical"].as_str()))
            .map(str::to_string)
    };
    let (with_mac, mac) = agents
        .iter()
        .find_map(|a| {
            mac_of(a)
                .and_then(|m| s1_core::asset::normalize_mac(&m))
                .map(|m| (a.clone(), m))
        })
        .expect("an agent with a MAC address");
    // The platform knows that machine under another name, with its MAC address; and one machine by its own name.
    let known = agents.iter().find(|a| a["id"] != with_mac["id"]).unwrap()["computerName"]
        .as_str()
        .unwrap()
        .to_string();
    let lines = format!(
        "{}\n{}\n",
        json!({ "computerName": "renamed-laptop", "macAddresses": [mac] }),
        json!({ "computerName": known })
    );
    let (status, report, _) = parts(
        asset_registry::handle(
            &bench.asset_registry(),
            Event::new(
                "POST",
                format!("{PREFIX}/asset-imports"),
                format!("{PREFIX}/asset-imports"),
            )
            .tenant(tenant)
            .content_type("application/x-ndjson")
            .body(lines)
            .request(),
        )
        .await
        .expect("handler"),
    );
    assert_eq!(status, StatusCode::OK, "{report}");
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
    let run = SyncRun::new(TenantId::new(tenant).unwrap(), Trigger::OnDemand);
    bench.store.create_run(&run).await.unwrap();
    let run = bench.run_to_end(tenant, &run.id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let skipped = run.counters.assets.skipped;
    assert!(skipped >= 10, "{:?}", run.counters);
    assert_eq!(run.counters.agents_unmatched, skipped);

    // Paged, five at a time: every unmatched agent once, each with its reason; the renamed one with its match.
    let t = TenantId::new(tenant).unwrap();
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = bench
            .store
            .list_unmatched_agents(&t, &run.id, token.as_deref(), 5)
            .await
            .unwrap();
        assert!(page.items.len() <= 5);
        all.extend(page.items);
        match page.next_page_token {
            Some(n) => token = Some(n),
            None => break,
        }
    }
    assert_eq!(all.len() as u64, skipped);
    assert!(all
        .iter()
        .all(|u| u.reason == "auto_onboard_disabled" && u.agent_id.is_some()));
    assert!(all.iter().all(|u| !u.name.eq_ignore_ascii_case(&known)));
    let renamed = all
        .iter()
        .find(|u| u.agent_id.as_deref() == with_mac["id"].as_str())
        .expect("the agent with the MAC address is unmatched");
    let m = renamed.possible_match.as_ref().expect("a possible match");
    assert_eq!(
        (m.asset_key.as_str(), m.matched_by.as_str()),
        ("renamed-laptop", "mac_address")
    );
    assert!(renamed.last_active.is_some());
    // Another run's page token is refused for this run's list.
    let other = bench
        .store
        .list_unmatched_agents(&t, "20261125T120000000Z-00000000", None, 5)
        .await
        .unwrap();
    assert!(other.items.is_empty());
}
