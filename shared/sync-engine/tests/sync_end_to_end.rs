//! The main job end to end: simulator → client → core → store, driven by the real worker over the real queue.

use test_support::sync as support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use connector_store::{RunStatus, TenantId};
use s1_core::{normalize_computer_name, FindingStatus};
use s1_simulator::TenantSpec;
use serde_json::Value;
use support::Harness;
use sync_engine::{Budget, Outcome, SyncMessage};

/// Small enough for a quick suite, large enough for several pages of each kind at the harness's page size.
fn spec() -> TenantSpec {
    TenantSpec::small().with_agents(150).with_threats(700)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

/// Asset keys the console's agents should produce.
fn agent_keys(agents: &[Value]) -> BTreeSet<String> {
    agents
        .iter()
        .filter_map(|a| str_at(a, &["computerName"]))
        .filter_map(normalize_computer_name)
        .map(|k| k.as_str().to_string())
        .collect()
}

#[tokio::test]
async fn first_sync_imports_exactly_the_console_and_a_resync_writes_nothing() {
    let h = Harness::new(spec()).await;
    let first = h.sync().await;
    assert_eq!(
        first.run.status,
        RunStatus::Succeeded,
        "{:?}",
        first.run.message
    );

    let agents = h.sim.agents_snapshot();
    let threats = h.sim.threats_snapshot();
    let mut expected_keys = agent_keys(&agents);
    // Threats of agents removed from the console bring their machine along (auto-onboard is on).
    for t in &threats {
        if let Some(k) =
            str_at(t, &["agentRealtimeInfo", "agentComputerName"]).and_then(normalize_computer_name)
        {
            expected_keys.insert(k.as_str().to_string());
        }
    }
    let assets = h.assets().await;
    assert_eq!(
        assets.keys().cloned().collect::<BTreeSet<_>>(),
        expected_keys
    );
    let findings = h.findings().await;
    assert_eq!(findings.len(), threats.len(), "one finding per threat");
    assert_eq!(first.run.counters.findings.created as usize, threats.len());
    assert_eq!(
        first.run.counters.findings_failed + first.run.counters.findings_passed,
        threats.len() as u64
    );

    // Spot checks: a threat's verdict decides failed/passed with the default inclusion list.
    for t in threats.iter().take(50) {
        let id = str_at(t, &["id"]).expect("id");
        let f = &findings[&format!("s1-threat-{id}")];
        let verdict = str_at(t, &["threatInfo", "analystVerdict"]).unwrap_or("undefined");
        let expected = if verdict == "false_positive" {
            FindingStatus::Passed
        } else {
            FindingStatus::Failed
        };
        assert_eq!(f.status, expected, "threat {id} with verdict {verdict}");
        assert_eq!(
            f.sha1.as_deref(),
            str_at(t, &["threatInfo", "sha1"])
                .map(str::to_ascii_lowercase)
                .as_deref()
        );
    }
    // An agent's machine carries its agent id, name and OS.
    let live = agents
        .iter()
        .find(|a| a["isDecommissioned"] == Value::Bool(false))
        .expect("a live agent");
    let key = normalize_computer_name(str_at(live, &["computerName"]).expect("name")).expect("key");
    let asset = &assets[key.as_str()];
    assert!(asset
        .asset
        .agent_ids
        .contains(str_at(live, &["id"]).expect("id")));
    assert!(asset.asset.os_name.is_some());
    // Decommissioned-only machines are kept but inactive.
    let decommissioned_only: Vec<&String> = assets
        .iter()
        .filter(|(_, a)| a.asset.decommissioned == Some(true))
        .map(|(k, _)| k)
        .collect();
    assert!(
        !decommissioned_only.is_empty(),
        "the generated tenant has decommissioned agents"
    );
    for k in decommissioned_only {
        assert!(
            !assets[k].active,
            "decommissioned machine {k} must be inactive"
        );
    }

    let second = h.sync().await;
    assert_eq!(second.run.status, RunStatus::Succeeded);
    let c = second.run.counters;
    assert_eq!(
        (c.assets.created, c.assets.updated),
        (0, 0),
        "unchanged console: no asset written"
    );
    assert_eq!(
        (c.findings.created, c.findings.updated),
        (0, 0),
        "unchanged console: no finding written"
    );
    assert_eq!(c.assets_retired, 0);
}

#[tokio::test]
async fn after_console_changes_the_next_sync_writes_exactly_those() {
    let h = Harness::new(spec()).await;
    assert_eq!(h.sync().await.run.status, RunStatus::Succeeded);

    let threats = h.sim.threats_snapshot();
    let mut changed = Vec::new();
    for t in &threats {
        let id = str_at(t, &["id"]).expect("id").to_string();
        if str_at(t, &["threatInfo", "analystVerdict"]) != Some("false_positive")
            && changed.len() < 5
        {
            assert!(h.sim.set_threat_verdict(&id, "false_positive"));
            changed.push(id);
        }
    }
    let added = h.sim.add_agents(3);
    assert_eq!(added.len(), 3);

    let run = h.sync().await.run;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.counters.findings.created, 0);
    assert_eq!(
        run.counters.findings.updated, 5,
        "exactly the 5 changed threats are rewritten"
    );
    assert_eq!(
        run.counters.assets.created, 3,
        "exactly the 3 new agents become assets"
    );
    assert_eq!(run.counters.assets.updated, 0);
    let findings = h.findings().await;
    for id in changed {
        assert_eq!(
            findings[&format!("s1-threat-{id}")].status,
            FindingStatus::Passed
        );
    }
}

#[tokio::test]
async fn group_filter_limits_the_import_to_those_groups() {
    let sim_spec = spec();
    let h = Harness::new(sim_spec).await;
    let groups = h.sim.groups_snapshot();
    let group = groups
        .iter()
        .find(|g| g["isDefault"] == Value::Bool(false))
        .expect("a named group");
    let name = str_at(group, &["name"]).expect("name").to_string();
    // Every group with that name (names repeat across sites) is selected.
    let ids: BTreeSet<String> = groups
        .iter()
        .filter(|g| str_at(g, &["name"]).is_some_and(|n| n.eq_ignore_ascii_case(&name)))
        .filter_map(|g| str_at(g, &["id"]).map(str::to_string))
        .collect();
    h.update_config(|c| c.group_names = vec![format!("  {}  ", name.to_uppercase())])
        .await;

    let run = h.sync().await.run;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.message);
    let in_groups: Vec<Value> = h
        .sim
        .agents_snapshot()
        .into_iter()
        .filter(|a| str_at(a, &["groupId"]).is_some_and(|g| ids.contains(g)))
        .collect();
    let assets = h.assets().await;
    let from_agents: BTreeSet<String> = assets
        .iter()
        .filter(|(_, a)| a.asset.origin == s1_core::asset::AssetOrigin::Agent)
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(from_agents, agent_keys(&in_groups));
    for f in h.findings().await.values() {
        let threat = h
            .sim
            .threats_snapshot()
            .into_iter()
            .find(|t| str_at(t, &["id"]) == Some(f.threat_id.as_str()));
        let group_id = threat
            .as_ref()
            .and_then(|t| str_at(t, &["agentRealtimeInfo", "groupId"]).map(str::to_string));
        assert!(
            group_id.is_some_and(|g| ids.contains(&g)),
            "finding {} is outside the selected groups",
            f.id
        );
    }
}

#[tokio::test]
async fn unknown_group_names_fail_the_run_naming_them() {
    let h = Harness::with_config(spec(), |c| {
        c.group_names = vec!["Default Group".into(), "No Such Group".into()]
    })
    .await;
    let run = h.sync().await.run;
    assert_eq!(run.status, RunStatus::Failed);
    let message = run.message.unwrap_or_default();
    assert!(message.contains("No Such Group"), "{message}");
    assert!(
        h.assets().await.is_empty(),
        "a failed group resolution imports nothing"
    );
}

#[tokio::test]
async fn auto_onboard_off_creates_nothing_new_and_keeps_orphan_findings_unattached() {
    let h = Harness::with_config(spec(), |c| c.auto_onboard = false).await;
    let run = h.sync().await.run;
    assert_eq!(
        run.status,
        RunStatus::Succeeded,
        "skips chosen by settings do not make a run partial"
    );
    assert_eq!(run.counters.assets.created, 0);
    assert!(h.assets().await.is_empty());
    let findings = h.findings().await;
    assert_eq!(
        findings.len(),
        h.sim.threats_snapshot().len(),
        "every threat is kept, unattached, until its asset exists"
    );
    assert!(findings.values().all(|f| !f.attached));
    assert_eq!(run.counters.findings_unattached, findings.len() as u64);
    assert!(
        run.skip_reasons.keys().any(|r| r.contains("onboard")),
        "{:?}",
        run.skip_reasons
    );

    // With assets onboarded once, turning it off keeps them updated but creates no new ones.
    h.update_config(|c| c.auto_onboard = true).await;
    h.sync().await;
    let before = h.assets().await.len();
    h.update_config(|c| c.auto_onboard = false).await;
    h.sim.add_agents(2);
    let run = h.sync().await.run;
    assert_eq!(run.counters.assets.created, 0);
    assert_eq!(h.assets().await.len(), before);
}

#[tokio::test]
async fn update_metadata_off_attaches_agents_but_keeps_metadata() {
    let h = Harness::new(spec()).await;
    h.sync().await;
    let agents = h.sim.agents_snapshot();
    let live = agents
        .iter()
        .find(|a| a["isDecommissioned"] == Value::Bool(false))
        .expect("live agent");
    let id = str_at(live, &["id"]).expect("id").to_string();
    let key = normalize_computer_name(str_at(live, &["computerName"]).expect("name")).expect("key");
    let before = h.assets().await[key.as_str()].asset.clone();

    h.update_config(|c| c.update_metadata = false).await;
    assert!(h.sim.add_agent_tag(&id, "Owner", "alice"));
    h.sim.decommission_agent(&id);
    let run = h.sync().await.run;
    assert_eq!(run.status, RunStatus::Succeeded);
    let after = &h.assets().await[key.as_str()];
    assert_eq!(after.asset.tags, before.tags, "metadata untouched");
    assert_eq!(
        after.asset.decommissioned, before.decommissioned,
        "metadata untouched"
    );
    assert!(after.asset.agent_ids.contains(&id));
}

#[tokio::test]
async fn tags_land_in_the_custom_field_named_like_the_tag_key() {
    let h = Harness::new(spec()).await;
    let tenant = h.tenant.clone();
    let field = s1_core::custom_fields::CustomFieldDefinition {
        name: "Business Unit".into(),
    };
    h.store
        .put_custom_field(&tenant, &field)
        .await
        .expect("field defined");
    let agents = h.sim.agents_snapshot();
    let live = agents
        .iter()
        .find(|a| a["isDecommissioned"] == Value::Bool(false))
        .expect("live agent");
    let id = str_at(live, &["id"]).expect("id");
    assert!(h.sim.add_agent_tag(id, "Business Unit", "Finance"));
    assert!(h
        .sim
        .add_agent_tag(id, "business unit", "not this one: keys match exactly"));
    h.sync().await;
    let key = normalize_computer_name(str_at(live, &["computerName"]).expect("name")).expect("key");
    let asset = &h.assets().await[key.as_str()];
    assert_eq!(
        asset
            .asset
            .custom_fields
            .get("Business Unit")
            .map(String::as_str),
        Some("Finance")
    );
    assert_eq!(
        asset.asset.custom_fields.len(),
        1,
        "{:?}",
        asset.asset.custom_fields
    );
}

#[tokio::test]
async fn faults_change_nothing_in_the_final_data() {
    let clean = Harness::new(spec()).await;
    assert_eq!(clean.sync().await.run.status, RunStatus::Succeeded);

    let faulty = Harness::new(spec()).await;
    let faults = faulty.sim.faults();
    faults.too_many_requests_every(3, None);
    faults.server_error_burst(4, 2, 503);
    faults.truncated_body_every(7);
    faults.expire_next_cursor();
    let run = faulty.sync().await.run;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.message);
    let served = faulty.sim.fault_counts();
    assert!(
        served.total() >= 4,
        "faults were actually served: {served:?}"
    );
    support::assert_same_data(&faulty, &clean).await;
}

#[tokio::test]
async fn a_tiny_budget_checkpoints_every_page_and_the_chain_ends_with_the_same_data() {
    let whole = Harness::new(spec()).await;
    let one_go = whole.sync().await;
    assert_eq!(one_go.invocations, 1);

    let chained = Harness::new(spec()).await;
    // Deadline = now: every invocation applies one page, checkpoints and queues its continuation.
    let drained = chained.sync_with_budget(Duration::ZERO).await;
    assert_eq!(
        drained.run.status,
        RunStatus::Succeeded,
        "{:?}",
        drained.run.message
    );
    // One page per invocation (the groups step rides along with the first agents page).
    assert!(
        drained.invocations as u64 >= drained.run.pages,
        "{} invocations for {} pages",
        drained.invocations,
        drained.run.pages
    );
    assert!(
        drained.run.pages >= 4,
        "agents and threats span several pages"
    );
    support::assert_same_data(&chained, &whole).await;
    assert_eq!(
        drained.run.counters.findings.created,
        one_go.run.counters.findings.created
    );
    assert_eq!(
        drained.run.counters.assets.created,
        one_go.run.counters.assets.created
    );
}

#[tokio::test]
async fn two_workers_for_one_tenant_one_runs_the_other_leaves() {
    let h = Harness::new(spec()).await;
    let run = sync_engine::start_sync(
        &h.store,
        &h.queue,
        &h.tenant,
        connector_store::Trigger::OnDemand,
    )
    .await
    .expect("started");
    let message = SyncMessage::first(h.tenant.as_str(), &run.id);
    let engine = &h.worker.engine;
    let (a, b) = tokio::join!(
        engine.run(&message, Budget::unlimited(), "worker-a"),
        engine.run(&message, Budget::unlimited(), "worker-b"),
    );
    let outcomes = [a.expect("a"), b.expect("b")];
    let finished = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Finished(_)))
        .count();
    let busy = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Busy))
        .count();
    assert_eq!((finished, busy), (1, 1), "{outcomes:?}");
    let run = h
        .store
        .get_run(&h.tenant, &run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(
        run.counters.findings.created as usize,
        h.sim.threats_snapshot().len(),
        "counted once"
    );
}

#[tokio::test]
async fn a_message_for_a_tenant_without_configuration_does_nothing() {
    let h = Harness::new(TenantSpec::small().with_agents(5).with_threats(5)).await;
    let forged = SyncMessage::first("tenant-without-config", "run-x");
    let outcome = h
        .worker
        .engine
        .run(&forged, Budget::unlimited(), "w")
        .await
        .expect("no infra error");
    assert!(matches!(outcome, Outcome::Ignored(_)), "{outcome:?}");
    let other = TenantId::new("tenant-without-config").expect("id");
    assert!(h
        .store
        .get_run(&other, "run-x")
        .await
        .expect("read")
        .is_none());
    assert!(h.assets().await.is_empty());
}

#[tokio::test]
async fn a_revoked_token_fails_the_run_with_an_actionable_message_and_keeps_data() {
    let h = Harness::new(spec()).await;
    h.sync().await;
    let before = h.fingerprint().await;
    h.sim.revoke_token(&h.sim.token());
    let run = h.sync().await.run;
    assert_eq!(run.status, RunStatus::Failed);
    let message = run.message.unwrap_or_default();
    assert!(
        message.contains("401") && message.to_lowercase().contains("token"),
        "{message}"
    );
    assert_eq!(
        h.fingerprint().await,
        before,
        "a failing console retires nothing and changes nothing"
    );
}

#[tokio::test]
async fn counts_per_run_match_between_run_record_and_table() {
    let h = Harness::new(TenantSpec::small().with_agents(50).with_threats(400)).await;
    let run = h.sync().await.run;
    let assets = h.assets().await;
    let findings = h.findings().await;
    let failed = findings
        .values()
        .filter(|f| f.status == FindingStatus::Failed)
        .count() as u64;
    assert_eq!(run.counters.findings_failed, failed);
    assert_eq!(run.counters.assets.created as usize, assets.len());
    let by_status: BTreeMap<bool, usize> = assets.values().fold(BTreeMap::new(), |mut m, a| {
        *m.entry(a.active).or_default() += 1;
        m
    });
    assert!(by_status.get(&true).copied().unwrap_or_default() > 0);
}
