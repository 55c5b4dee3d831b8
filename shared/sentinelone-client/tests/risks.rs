//! The application-vulnerability walk against the simulator: every row exactly once across pages, one group per
//! walk, the delta with removals, and the errors a tenant without the permission or the feature gets.

mod support;

use std::collections::HashSet;

use futures::TryStreamExt;
use s1_simulator::{Permissions, SimHandle, Simulator, TenantSpec};
use sentinelone_client::{ConsoleUrl, RecordingClock, RiskQuery, S1Client, S1Error};
use support::{dev_policy, recording_client, test_options};
use time::OffsetDateTime;

async fn sim(agents: usize, per_agent: usize) -> SimHandle {
    Simulator::new(
        TenantSpec::small()
            .with_agents(agents)
            .with_threats(0)
            .with_risks_per_agent(per_agent),
    )
    .start()
    .await
    .expect("simulator starts")
}

async fn walk(client: &S1Client, query: RiskQuery) -> Result<(Vec<String>, usize), S1Error> {
    let pages = client.risks(query);
    futures::pin_mut!(pages);
    let (mut ids, mut count) = (Vec::new(), 0);
    while let Some(page) = pages.try_next().await? {
        count += 1;
        assert!(page.skipped.is_empty() && page.field_warnings == 0);
        ids.extend(page.records.into_iter().map(|r| r.id));
    }
    Ok((ids, count))
}

fn ids_of(rows: &[serde_json::Value]) -> HashSet<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_row_comes_once_over_pages_and_groups_partition_them() {
    let sim = sim(50, 45).await;
    let (client, _clock) = recording_client(&sim);
    let all = ids_of(&sim.risks_snapshot());
    let (ids, pages) = walk(&client, RiskQuery::default()).await.unwrap();
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(ids.len(), all.len());
    assert_eq!(ids.iter().cloned().collect::<HashSet<_>>(), all);

    let groups: HashSet<String> = sim
        .agents_snapshot()
        .iter()
        .map(|a| a["groupId"].as_str().unwrap().to_owned())
        .collect();
    let mut union = HashSet::new();
    for g in groups {
        let query = RiskQuery {
            group_id: Some(g),
            ..RiskQuery::default()
        };
        let (ids, _) = walk(&client, query).await.unwrap();
        for id in ids {
            assert!(union.insert(id), "a row came under two groups");
        }
    }
    assert_eq!(union, all);
    assert!(sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/risks"))
        .all(|r| r
            .query
            .as_deref()
            .unwrap_or_default()
            .contains("limit=1000")));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_delta_brings_what_changed_including_removals() {
    let sim = sim(8, 5).await;
    let (client, _clock) = recording_client(&sim);
    let rows = sim.risks_snapshot();
    let since = sim.now();
    let removed = rows[0]["id"].as_str().unwrap().to_owned();
    assert!(sim.remove_risk(&removed));
    sim.scan_risks();
    let delta = RiskQuery {
        changed_since: Some(since),
        include_removals: true,
        ..RiskQuery::default()
    };
    let (ids, _) = walk(&client, delta).await.unwrap();
    assert_eq!(ids, vec![removed.clone()], "a scan alone is not a change");
    let (plain, _) = walk(&client, RiskQuery::default()).await.unwrap();
    assert!(!plain.contains(&removed));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_missing_permission_or_feature_is_named() {
    let sim = sim(3, 2).await;
    let limited = "eyJno-risks-client-0001";
    sim.add_token(
        limited,
        Permissions::all().with_risks_view(false),
        OffsetDateTime::now_utc() + time::Duration::days(30),
    );
    let console = ConsoleUrl::parse(&sim.base_url(), &dev_policy()).unwrap();
    let client = S1Client::new(
        console,
        support::token(limited),
        test_options(RecordingClock::new()),
    )
    .unwrap();
    match walk(&client, RiskQuery::default()).await {
        Err(e @ S1Error::Forbidden { .. }) => {
            assert!(e.to_string().contains("Applications Page.viewRisks"), "{e}")
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    sim.set_risks_available(false);
    let (client, _clock) = recording_client(&sim);
    match walk(&client, RiskQuery::default()).await {
        Err(S1Error::NotFound { endpoint }) => assert!(endpoint.contains("risks")),
        other => panic!("expected NotFound, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_connection_test_warns_without_view_risks_or_the_feature_and_still_passes() {
    use s1_core::groups::GroupFilter;
    use sentinelone_client::{CheckKind, CheckStatus};
    let sim = sim(3, 2).await;
    let (client, _clock) = recording_client(&sim);
    let report = client.test_connection(&GroupFilter::default()).await;
    let check = report.check(CheckKind::PermissionVulnerabilities).unwrap();
    assert_eq!(check.status, CheckStatus::Passed, "{}", check.detail);

    let limited = "eyJno-risks-connection-0001";
    sim.add_token(
        limited,
        Permissions::all().with_risks_view(false),
        OffsetDateTime::now_utc() + time::Duration::days(90),
    );
    let console = ConsoleUrl::parse(&sim.base_url(), &dev_policy()).unwrap();
    let limited = S1Client::new(
        console,
        support::token(limited),
        test_options(RecordingClock::new()),
    )
    .unwrap();
    let report = limited.test_connection(&GroupFilter::default()).await;
    let check = report.check(CheckKind::PermissionVulnerabilities).unwrap();
    assert_eq!(check.status, CheckStatus::Warning);
    assert!(
        check.detail.contains("Applications Page.viewRisks"),
        "{}",
        check.detail
    );
    assert!(
        report.passed(),
        "threats and assets still import: {report:#?}"
    );

    sim.set_risks_available(false);
    let report = client.test_connection(&GroupFilter::default()).await;
    let check = report.check(CheckKind::PermissionVulnerabilities).unwrap();
    assert_eq!(
        (check.status, check.error_kind),
        (CheckStatus::Warning, Some("not_found"))
    );
    assert!(report.passed());
    sim.shutdown().await;
}
