//! The vulnerability walk end to end through the real worker: simulator (application-management/risks) → client →
//! core mapping → store, on the local stack. What is written is read back from the table itself.

use test_support::sync as support;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{save_configuration, RunStatus};
use s1_core::{ApiToken, Severity};
use s1_simulator::{Permissions, TenantSpec};
use serde_json::Value;
use support::Harness;

fn spec() -> TenantSpec {
    TenantSpec::small()
        .with_seed(1717)
        .with_agents(60)
        .with_threats(40)
        .with_risks_per_agent(4)
}

/// A stored vulnerability as the table holds it: the top-level copies the views and the write path rely on.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    state: String,
    severity: String,
    asset_key: Option<String>,
    facet_sk: String,
    vopen: bool,
    content_hash: String,
    updated_at: String,
}

async fn vulnerabilities(h: &Harness) -> BTreeMap<String, Stored> {
    let s = |item: &std::collections::HashMap<String, AttributeValue>, name: &str| {
        item.get(name).and_then(|v| v.as_s().ok()).cloned()
    };
    test_support::scan_table(h.store.dynamodb(), h.store.table_name())
        .await
        .into_iter()
        .filter(|i| s(i, "kind").as_deref() == Some("vulnerability"))
        .map(|i| {
            let id = s(&i, "sk")
                .unwrap_or_default()
                .trim_start_matches("VULN#")
                .to_string();
            let stored = Stored {
                state: s(&i, "state").unwrap_or_default(),
                severity: s(&i, "severity").unwrap_or_default(),
                asset_key: s(&i, "asset_key"),
                facet_sk: s(&i, "facet_sk").unwrap_or_default(),
                vopen: i.contains_key("vopen_pk") && i.contains_key("vopen_sk"),
                content_hash: s(&i, "content_hash").unwrap_or_default(),
                updated_at: s(&i, "updated_at").unwrap_or_default(),
            };
            (id, stored)
        })
        .collect()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// Ids of the console's rows that are detected (not removed).
fn detected_rows(h: &Harness) -> Vec<Value> {
    h.sim
        .risks_snapshot()
        .into_iter()
        .filter(|r| text(r, "status") != "Removed")
        .collect()
}

#[tokio::test]
async fn first_import_attaches_by_agent_id_and_an_unchanged_complete_resync_writes_no_vulnerability(
) {
    let h = Harness::new(spec()).await;
    let first = h.sync().await.run;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.message);
    let rows = detected_rows(&h);
    assert!(
        rows.len() >= 200,
        "the console serves several pages of rows"
    );
    let stored = vulnerabilities(&h).await;
    assert_eq!(stored.len(), rows.len(), "one vulnerability per row");
    assert_eq!(first.vulnerabilities.created, rows.len() as u64);
    assert_eq!(first.vulnerabilities.skipped_reason, None);

    // Each is attached to the asset whose agent ids carry the row's endpoint id.
    let assets = h.assets().await;
    for row in rows.iter().take(60) {
        let v = &stored[text(row, "id")];
        let key = v.asset_key.as_deref().expect("attached");
        assert!(
            assets[key]
                .asset
                .agent_ids
                .contains(text(row, "endpointId")),
            "row {} attached to {key}",
            text(row, "id")
        );
        assert_eq!(v.state, "open");
        assert!(
            v.vopen,
            "an open, attached vulnerability is in the open index"
        );
        assert!(v.facet_sk.starts_with("VULN#open#"), "{}", v.facet_sk);
    }

    // Every run walks everything from now on: the unchanged re-sync below returns every row again.
    h.store
        .set_full_vulnerability_walk_every(&h.tenant, 0)
        .await
        .expect("period set");
    h.sim.scan_risks();
    let second = h.sync().await.run;
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.message);
    let v = &second.vulnerabilities;
    assert_eq!(
        (v.created, v.updated, v.fixed, v.reopened),
        (0, 0, 0, 0),
        "{v:?}"
    );
    assert_eq!(v.unchanged, rows.len() as u64, "every row came back");
    assert_eq!(
        vulnerabilities(&h).await,
        stored,
        "a scan alone rewrites no vulnerability (updated_at untouched)"
    );
}

#[tokio::test]
async fn a_removal_fixes_one_and_its_reappearance_reopens_it() {
    let h = Harness::new(spec()).await;
    assert_eq!(h.sync().await.run.status, RunStatus::Succeeded);
    let id = text(&detected_rows(&h)[7], "id").to_string();
    let before = vulnerabilities(&h).await;

    assert!(h.sim.remove_risk(&id));
    let run = h.sync().await.run;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.message);
    assert_eq!(
        (run.vulnerabilities.fixed, run.vulnerabilities.updated),
        (1, 1)
    );
    let after = vulnerabilities(&h).await;
    let fixed = &after[&id];
    assert_eq!(fixed.state, "fixed");
    assert!(
        fixed.facet_sk.starts_with("VULN#fixed#"),
        "{}",
        fixed.facet_sk
    );
    assert!(!fixed.vopen, "a fixed vulnerability leaves the open index");
    let others_unchanged = before
        .iter()
        .filter(|(k, _)| **k != id)
        .all(|(k, v)| after.get(k) == Some(v));
    assert!(
        others_unchanged,
        "the delta walk wrote only the removed row"
    );

    assert!(h.sim.redetect_risk(&id));
    let run = h.sync().await.run;
    assert_eq!(run.vulnerabilities.reopened, 1, "{:?}", run.vulnerabilities);
    let back = &vulnerabilities(&h).await[&id];
    assert_eq!(back.state, "reopened");
    assert!(back.vopen);
    assert!(back.facet_sk.starts_with("VULN#reopened#"));
}

#[tokio::test]
async fn a_delta_walk_never_fixes_by_absence_and_a_complete_walk_does() {
    let mut h = Harness::new(spec()).await;
    // No share limit: only the kind of walk stands between a delta walk and fixing what it did not return.
    h.worker.engine.max_retire_percent = 100;
    assert_eq!(h.sync().await.run.status, RunStatus::Succeeded);
    let rows = detected_rows(&h);
    let id = text(&rows[3], "id").to_string();
    assert!(h.sim.delete_risk(&id), "gone even with includeRemovals");
    // One row changes, so the delta walk returns something and could be mistaken for a whole console.
    let rescored = rows
        .iter()
        .find(|r| text(r, "severity") != "CRITICAL")
        .map(|r| text(r, "id").to_string())
        .expect("a row that is not critical");
    assert!(h.sim.set_risk_severity(&rescored, "CRITICAL"));

    let delta = h.sync().await.run;
    assert_eq!(delta.status, RunStatus::Succeeded);
    assert_eq!(
        (delta.vulnerabilities.updated, delta.vulnerabilities.fixed),
        (1, 0),
        "a delta walk writes the changed row and fixes nothing by absence"
    );
    assert!(vulnerabilities(&h)
        .await
        .values()
        .all(|v| v.state == "open"));
    assert_eq!(vulnerabilities(&h).await[&id].state, "open");
    let walked: Vec<String> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("application-management/risks"))
        .filter_map(|r| r.query)
        .collect();
    assert!(
        walked.last().is_some_and(
            |q| q.contains("riskUpdatedDate__gte") && q.contains("includeRemovals=true")
        ),
        "the second run walked the delta: {walked:?}"
    );

    h.store
        .set_full_vulnerability_walk_every(&h.tenant, 0)
        .await
        .expect("period set");
    let complete = h.sync().await.run;
    assert_eq!(
        complete.vulnerabilities.fixed, 1,
        "{:?}",
        complete.vulnerabilities
    );
    let stored = vulnerabilities(&h).await;
    assert_eq!(stored[&id].state, "fixed");
    assert!(!stored[&id].vopen);
    assert_eq!(
        stored.values().filter(|v| v.state == "fixed").count(),
        1,
        "only the deleted row was fixed"
    );
}

async fn assert_threats_and_assets_still_sync(h: &Harness, reason_contains: &str) {
    let run = h.sync().await.run;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.message);
    let reason = run
        .vulnerabilities
        .skipped_reason
        .clone()
        .unwrap_or_default();
    assert!(reason.contains(reason_contains), "{reason}");
    assert!(vulnerabilities(h).await.is_empty());
    assert!(!h.assets().await.is_empty(), "assets synced");
    assert_eq!(
        h.findings().await.len(),
        h.sim.threats_snapshot().len(),
        "every threat synced"
    );
}

#[tokio::test]
async fn a_token_without_the_risks_permission_skips_vulnerabilities_and_the_rest_syncs() {
    let h = Harness::new(spec()).await;
    let token = "token-without-view-risks-0123456789abcdef";
    h.sim.add_token(
        token,
        Permissions::all().with_risks_view(false),
        time::OffsetDateTime::now_utc() + time::Duration::days(90),
    );
    let config = h.store.get_config(&h.tenant).await.unwrap().unwrap();
    save_configuration(
        &h.store,
        &h.vault,
        &h.tenant,
        config,
        Some(&ApiToken::new(token.to_string()).unwrap()),
    )
    .await
    .unwrap();
    assert_threats_and_assets_still_sync(&h, "viewRisks").await;
}

#[tokio::test]
async fn a_console_without_the_feature_skips_vulnerabilities_and_the_rest_syncs() {
    let h = Harness::new(spec()).await;
    h.sim.set_risks_available(false);
    assert_threats_and_assets_still_sync(&h, "404").await;
}

#[tokio::test]
async fn turned_off_the_walk_is_not_even_asked_for() {
    let h = Harness::with_config(spec(), |c| c.import_vulnerabilities = false).await;
    assert_threats_and_assets_still_sync(&h, "turned off").await;
    assert!(!h
        .sim
        .requests()
        .iter()
        .any(|r| r.path.contains("application-management/risks")));
}

#[tokio::test]
async fn only_rows_at_or_above_the_minimum_severity_are_imported() {
    let h = Harness::with_config(spec(), |c| {
        c.minimum_vulnerability_severity = Severity::High
    })
    .await;
    let run = h.sync().await.run;
    assert_eq!(run.status, RunStatus::Succeeded);
    let rows = detected_rows(&h);
    let kept: BTreeSet<&str> = rows
        .iter()
        .filter(|r| matches!(text(r, "severity"), "CRITICAL" | "HIGH"))
        .map(|r| text(r, "id"))
        .collect();
    assert!(!kept.is_empty() && kept.len() < rows.len());
    let stored = vulnerabilities(&h).await;
    assert_eq!(
        stored.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        kept
    );
    assert!(stored
        .values()
        .all(|v| v.severity == "critical" || v.severity == "high"));
    assert_eq!(
        run.vulnerabilities.skipped,
        (rows.len() - kept.len()) as u64
    );
}

#[tokio::test]
async fn a_group_filter_walks_the_risks_once_per_group() {
    let h = Harness::new(spec()).await;
    let groups = h.sim.groups_snapshot();
    let named: Vec<&Value> = groups
        .iter()
        .filter(|g| g["isDefault"] == Value::Bool(false))
        .collect();
    let names: BTreeSet<String> = named
        .iter()
        .take(2)
        .map(|g| text(g, "name").to_string())
        .collect();
    let ids: BTreeSet<String> = groups
        .iter()
        .filter(|g| {
            names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(text(g, "name")))
        })
        .map(|g| text(g, "id").to_string())
        .collect();
    assert!(ids.len() >= 2, "two groups selected");
    h.update_config(|c| c.group_names = names.iter().cloned().collect())
        .await;
    let run = h.sync().await.run;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.message);

    // First pages (no cursor) of the risks walk: one per group, each naming exactly that group.
    let first_pages: Vec<String> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("application-management/risks"))
        .filter_map(|r| r.query)
        .filter(|q| !q.contains("cursor="))
        .collect();
    assert_eq!(first_pages.len(), ids.len(), "{first_pages:?}");
    for id in &ids {
        assert_eq!(
            first_pages
                .iter()
                .filter(|q| q.contains(&format!("groupIds={id}")))
                .count(),
            1,
            "group {id}: {first_pages:?}"
        );
    }
    // Only the rows of the selected groups' agents are imported.
    let stored = vulnerabilities(&h).await;
    let agents_in_groups: BTreeSet<String> = h
        .sim
        .agents_snapshot()
        .into_iter()
        .filter(|a| ids.contains(text(a, "groupId")))
        .map(|a| text(&a, "id").to_string())
        .collect();
    let expected: BTreeSet<String> = detected_rows(&h)
        .iter()
        .filter(|r| agents_in_groups.contains(text(r, "endpointId")))
        .map(|r| text(r, "id").to_string())
        .collect();
    assert_eq!(stored.keys().cloned().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test]
async fn continued_mid_walk_the_run_loses_and_doubles_nothing() {
    let whole = Harness::new(spec()).await;
    assert_eq!(whole.sync().await.run.status, RunStatus::Succeeded);
    // The same console (same seed; its 240 rows span three risk pages), synced by invocations that each stop after
    // a page and continue from the checkpoint. Content hashes hold each simulator's own port (deep links), so
    // state, severity and attachment compare.
    let sliced = Harness::new(spec()).await;
    // Deadline = now: every invocation applies one page, checkpoints and queues its continuation.
    let drained = sliced.sync_with_budget(std::time::Duration::ZERO).await;
    assert_eq!(
        drained.run.status,
        RunStatus::Succeeded,
        "{:?}",
        drained.run.message
    );
    assert!(
        drained.invocations as u64 >= drained.run.pages && drained.run.pages >= 5,
        "{} invocations for {} pages",
        drained.invocations,
        drained.run.pages
    );
    let a = vulnerabilities(&whole).await;
    let b = vulnerabilities(&sliced).await;
    let strip = |m: BTreeMap<String, Stored>| {
        m.into_iter()
            .map(|(k, v)| (k, (v.state, v.severity, v.asset_key)))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(strip(b), strip(a));
    assert_eq!(
        drained.run.vulnerabilities.created + drained.run.vulnerabilities.unchanged,
        detected_rows(&sliced).len() as u64
    );
}
