//! `GET application-management/risks` over real HTTP: both tiers' key sets, cursor paging, one scope id per call,
//! removals and the delta filter, scans that move only the scan fields, and the missing permission or feature.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use s1_simulator::{Permissions, RiskTier, Simulator, TenantSpec};
use serde_json::Value;
use time::OffsetDateTime;

const RISKS: &str = "application-management/risks";

fn spec(agents: usize, per_agent: usize) -> TenantSpec {
    TenantSpec::small()
        .with_agents(agents)
        .with_threats(0)
        .with_risks_per_agent(per_agent)
}

fn ids(rows: &[Value]) -> HashSet<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_cursor_walk_serves_every_row_once_in_the_tier_key_set() {
    for tier in [RiskTier::Base, RiskTier::VulnerabilityManagement] {
        let sim = Simulator::new(spec(40, 30).with_risk_tier(tier))
            .start()
            .await
            .unwrap();
        let all = sim.risks_snapshot();
        assert!(all.len() > 1000, "{} rows: more than one page", all.len());
        let walked = walk(&sim, RISKS, "", 1000).await;
        assert_eq!(walked.len(), all.len());
        assert_eq!(ids(&walked), ids(&all));
        for row in &walked {
            assert!(row["id"].is_string() && row["endpointId"].is_string());
            assert!(row["detectionDate"].as_str().unwrap().contains('.'));
            assert_eq!(row["status"], "Detected");
            match tier {
                RiskTier::Base => {
                    assert!(row.get("nvdBaseScore").is_none(), "{row}");
                    assert!(row.get("baseScore").is_some(), "{row}");
                }
                RiskTier::VulnerabilityManagement => {
                    assert!(row.get("baseScore").is_none(), "{row}");
                    assert!(row["riskScore"].is_string(), "{row}");
                }
            }
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn scope_filters_take_one_id_and_keep_to_the_agents_group() {
    let sim = Simulator::new(spec(60, 4)).start().await.unwrap();
    let groups: HashMap<String, String> = sim
        .agents_snapshot()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["groupId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut group_ids: Vec<&String> = groups.values().collect();
    group_ids.sort();
    group_ids.dedup();
    let (status, body) = get(
        &sim,
        &format!("{RISKS}?groupIds={},{}", group_ids[0], group_ids[1]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("groupIds"));
    let mut total = 0;
    for g in &group_ids {
        let rows = walk(&sim, RISKS, &format!("groupIds={g}"), 1000).await;
        assert!(rows
            .iter()
            .all(|r| groups.get(r["endpointId"].as_str().unwrap()) == Some(*g)));
        total += rows.len();
    }
    assert_eq!(
        total,
        sim.risks_snapshot().len(),
        "the groups cover every row"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn removals_show_only_when_asked_and_the_delta_filter_returns_what_changed() {
    let sim = Simulator::new(spec(10, 5)).start().await.unwrap();
    let all = sim.risks_snapshot();
    let since = sim
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let removed = all[0]["id"].as_str().unwrap().to_owned();
    let rescored = all[1]["id"].as_str().unwrap().to_owned();
    assert!(sim.remove_risk(&removed));
    assert!(sim.set_risk_severity(&rescored, "CRITICAL"));
    let plain = walk(&sim, RISKS, "", 1000).await;
    assert_eq!(plain.len(), all.len() - 1);
    assert!(!ids(&plain).contains(&removed));
    let delta = walk(
        &sim,
        RISKS,
        &format!(
            "includeRemovals=true&riskUpdatedDate__gte={}",
            url_encode(&since)
        ),
        1000,
    )
    .await;
    assert_eq!(
        ids(&delta),
        HashSet::from([removed.clone(), rescored.clone()])
    );
    let gone = delta.iter().find(|r| r["id"] == removed.as_str()).unwrap();
    assert_eq!(gone["status"], "Removed");
    assert!(sim.redetect_risk(&removed));
    assert_eq!(walk(&sim, RISKS, "", 1000).await.len(), all.len());
    assert!(sim.delete_risk(&removed));
    let with_removals = walk(&sim, RISKS, "includeRemovals=true", 1000).await;
    assert!(
        !ids(&with_removals).contains(&removed),
        "a deleted row is gone"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_scan_moves_days_detected_and_last_scan_date_and_nothing_else() {
    let sim = Simulator::new(spec(5, 4)).start().await.unwrap();
    let before: HashMap<String, Value> = sim
        .risks_snapshot()
        .into_iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r))
        .collect();
    sim.scan_risks();
    let since = sim
        .now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let after = walk(&sim, RISKS, "", 1000).await;
    for row in &after {
        let old = &before[row["id"].as_str().unwrap()];
        assert_ne!(row["lastScanDate"], old["lastScanDate"]);
        let mut same = row.clone();
        same["lastScanDate"] = old["lastScanDate"].clone();
        same["daysDetected"] = old["daysDetected"].clone();
        assert_eq!(&same, old);
    }
    let delta = walk(
        &sim,
        RISKS,
        &format!("riskUpdatedDate__gte={}", url_encode(&since)),
        1000,
    )
    .await;
    assert!(delta.is_empty(), "a scan is not a significant change");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_token_without_view_risks_gets_403_and_a_console_without_the_feature_404() {
    let sim = Simulator::new(spec(3, 2)).start().await.unwrap();
    let limited = "eyJno-risks-token-0001";
    sim.add_token(
        limited,
        Permissions::all().with_risks_view(false),
        OffsetDateTime::now_utc() + time::Duration::days(30),
    );
    let (status, body) = get_with(&sim, RISKS, &format!("ApiToken {limited}")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("Applications Page.viewRisks"));
    let (status, _) = get_with(&sim, "agents", &format!("ApiToken {limited}")).await;
    assert_eq!(status, 200, "the agents stay readable");
    sim.set_risks_available(false);
    let (status, _) = get(&sim, RISKS).await;
    assert_eq!(status, 404);
    sim.set_risks_available(true);
    assert_eq!(get(&sim, RISKS).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_real_samples_round_trip_unchanged() {
    let text = include_str!("../fixtures/samples/risks/elastic_risks_pipeline_test.json");
    let vm =
        include_str!("../fixtures/samples/risks/fixture_full_tier_risk_record_HANDWRITTEN.json");
    let mut records: Vec<Value> = serde_json::from_str(text).unwrap();
    records.extend(serde_json::from_str::<Vec<Value>>(vm).unwrap());
    let sim = Simulator::empty()
        .with_risk_records(records.clone())
        .start()
        .await
        .unwrap();
    let served = walk(&sim, RISKS, "", 2).await;
    let by_id: HashMap<&str, &Value> = served
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    assert_eq!(served.len(), records.len());
    for r in &records {
        assert_eq!(by_id[r["id"].as_str().unwrap()], r);
    }
    sim.shutdown().await;
}
