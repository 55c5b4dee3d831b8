//! A dry run against a populated simulator writes no asset or finding (a table scan before and after proves it),
//! and what it reports is what the real run that follows then does.

use api_tests::{parts, Bench, Event, PREFIX};
use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{RunStatus, SyncRun, TenantId, Trigger};
use lambda_http::http::StatusCode;
use s1_simulator::{Simulator, TenantSpec};
use serde_json::json;

/// Every asset, asset-registration and finding item of the tenant, in key order.
async fn records(
    bench: &Bench,
    tenant: &str,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = bench
            .store
            .dynamodb()
            .query()
            .table_name(bench.store.table_name())
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(format!("T#{tenant}")))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .expect("query");
        out.extend(page.items.unwrap_or_default().into_iter().filter(|i| {
            i.get("kind")
                .and_then(|k| k.as_s().ok())
                .is_some_and(|k| ["asset", "asset_registration", "finding"].contains(&k.as_str()))
        }));
        match page.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return out,
        }
    }
}

async fn sync(bench: &Bench, tenant: &str, dry_run: bool) -> SyncRun {
    let mut run = SyncRun::new(TenantId::new(tenant).unwrap(), Trigger::OnDemand);
    run.dry_run = dry_run;
    bench.store.create_run(&run).await.expect("run");
    let run = bench.run_to_end(tenant, &run.id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    run
}

#[tokio::test]
async fn a_dry_run_writes_no_asset_or_finding_and_predicts_the_real_run() {
    let sim = Simulator::new(TenantSpec::small().with_agents(30).with_threats(80))
        .start()
        .await
        .expect("simulator");
    let bench = Bench::new().await;
    let tenant = "dry";
    let save = json!({ "consoleUrl": sim.base_url(), "apiToken": sim.token() });
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

    // The very first run, dry: nothing exists yet and nothing may be written.
    let first_dry = sync(&bench, tenant, true).await;
    assert!(
        records(&bench, tenant).await.is_empty(),
        "a dry run writes no record"
    );
    let machines: std::collections::BTreeSet<_> = sim
        .agents_snapshot()
        .iter()
        .filter_map(|a| s1_core::normalize_computer_name(a["computerName"].as_str()?))
        .collect();
    assert_eq!(
        first_dry.counters.assets.created,
        machines.len() as u64,
        "{:?}",
        first_dry.counters
    );
    let report = first_dry.dry_run_report.clone().expect("a report");
    assert_eq!(report.assets_created.len(), 10, "first names, bounded");
    let first = sync(&bench, tenant, false).await;
    assert_eq!(first.counters.assets, first_dry.counters.assets);
    assert_eq!(first.counters.findings, first_dry.counters.findings);

    // The console moves on: new agents and threats, a resolved threat, a changed verdict, a machine gone.
    sim.add_agents(3);
    sim.add_threats(5);
    let threats = sim.threats_snapshot();
    sim.set_threat_incident_status(threats[0]["id"].as_str().unwrap(), "resolved");
    sim.set_threat_verdict(threats[1]["id"].as_str().unwrap(), "false_positive");
    let gone = sim.agents_snapshot()[2]["id"].as_str().unwrap().to_string();
    assert!(sim.remove_agent(&gone));

    let before = records(&bench, tenant).await;
    let dry = sync(&bench, tenant, true).await;
    assert_eq!(
        records(&bench, tenant).await,
        before,
        "the dry run wrote no asset or finding"
    );
    assert!(dry.dry_run);
    let real = sync(&bench, tenant, false).await;
    assert!(!real.dry_run && real.dry_run_report.is_none());
    assert_eq!(dry.counters.assets, real.counters.assets, "assets");
    assert_eq!(dry.counters.findings, real.counters.findings, "findings");
    assert_eq!(dry.counters.assets_retired, real.counters.assets_retired);
    assert!(real.counters.assets_retired >= 1, "{:?}", real.counters);
    assert_eq!(
        dry.counters.findings_resolved,
        real.counters.findings_resolved
    );
    assert_eq!(dry.counters.findings_closed, real.counters.findings_closed);
    assert!(dry.counters.assets.created >= 3, "{:?}", dry.counters);
    let report = dry.dry_run_report.expect("a report");
    assert_eq!(
        report.assets_retired.len() as u64,
        dry.counters.assets_retired.min(10)
    );
    assert_eq!(
        report.assets_created.len() as u64,
        dry.counters.assets.created.min(10)
    );
}
