//! How the sync holds up against what live consoles do: a watermark bound to its scope, threats without a usable
//! agent kept, counts of findings (not of writes), retirement only after a walk that can be trusted, deadlines that
//! reach every wait, checkpoints this version cannot read, over-long identities, and `lastActiveDate` churn. Each
//! test drives the real worker (or engine) against the simulator and asserts what the previous engine got wrong.

use test_support::sync as support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use connector_store::{AgentWalkTally, Checkpoint, FindingFilter, RunStatus, StoredAsset, SyncRun};
use s1_core::asset::AssetOrigin;
use s1_core::normalize_computer_name;
use s1_simulator::{
    Fault, FaultRule, PlaceholderAgent, RetryAfter, Simulator, TenantSpec, Trigger,
};
use serde_json::{json, Value};
use support::Harness;
use sync_engine::{Budget, Outcome, SyncMessage};

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

/// A tenant without the generator's noise (decommissioned agents, repeated names, orphan threats), so that counts
/// of agents, assets and retirements can be stated exactly.
fn exact_spec(agents: usize, threats: usize) -> TenantSpec {
    let mut spec = TenantSpec::small()
        .with_agents(agents)
        .with_threats(threats);
    spec.decommissioned_permille = 0;
    spec.duplicate_name_permille = 0;
    spec.orphan_threat_permille = 0;
    spec
}

fn key_of(name: &str) -> String {
    normalize_computer_name(name)
        .expect("usable name")
        .as_str()
        .to_string()
}

fn threat_ids(threats: &[Value]) -> BTreeSet<String> {
    threats
        .iter()
        .map(|t| str_at(t, &["id"]).expect("threat id").to_string())
        .collect()
}

fn finding_id(threat_id: &str) -> String {
    s1_core::mapping::finding_id(threat_id)
}

fn assert_succeeded(run: &SyncRun) {
    assert_eq!(
        run.status,
        RunStatus::Succeeded,
        "message: {:?}; errors: {:?}; warnings: {:?}; skips: {:?}",
        run.message,
        run.errors,
        run.warnings,
        run.skip_reasons
    );
}

/// A live agent whose machine no other agent shares: removing it from the console leaves its asset unseen.
fn removable_agent(h: &Harness, skip: usize) -> (String, String) {
    let agents = h.sim.agents_snapshot();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for a in &agents {
        *names
            .entry(key_of(str_at(a, &["computerName"]).expect("name")))
            .or_default() += 1;
    }
    agents
        .iter()
        .filter(|a| a["isDecommissioned"] != Value::Bool(true))
        .map(|a| {
            (
                str_at(a, &["id"]).expect("id").to_string(),
                key_of(str_at(a, &["computerName"]).expect("name")),
            )
        })
        .filter(|(_, k)| names[k] == 1)
        .nth(skip)
        .expect("a removable agent")
}

fn active_count(assets: &BTreeMap<String, StoredAsset>) -> usize {
    assets.values().filter(|a| a.active).count()
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The threats watermark belongs to the scope it was earned in.

#[tokio::test]
async fn scope_bound_watermark_switching_auto_onboard_on_imports_every_threat_attached() {
    let mut spec = TenantSpec::small().with_agents(120).with_threats(500);
    // Enough orphan threats (threats of agents no longer on the console) for several machines known only from
    // threats.
    spec.orphan_threat_permille = 30;
    let h = Harness::with_config(spec, |c| c.auto_onboard = false).await;
    let first = h.sync().await.run;
    assert_succeeded(&first);
    assert!(
        h.assets().await.is_empty(),
        "auto-onboard off creates no asset"
    );

    let agents = h.sim.agents_snapshot();
    let threats = h.sim.threats_snapshot();
    let agent_ids: BTreeSet<&str> = agents.iter().filter_map(|a| str_at(a, &["id"])).collect();
    let orphan_keys: BTreeSet<String> = threats
        .iter()
        .filter(|t| {
            str_at(t, &["agentRealtimeInfo", "agentId"]).is_some_and(|id| !agent_ids.contains(id))
        })
        .filter_map(|t| str_at(t, &["agentRealtimeInfo", "agentComputerName"]))
        .map(key_of)
        .collect();
    let agent_keys: BTreeSet<String> = agents
        .iter()
        .filter_map(|a| str_at(a, &["computerName"]))
        .map(key_of)
        .collect();
    let orphan_only: BTreeSet<String> = orphan_keys.difference(&agent_keys).cloned().collect();
    assert!(
        !orphan_only.is_empty(),
        "the generated console has machines known only from threats"
    );

    h.update_config(|c| c.auto_onboard = true).await;
    let second = h.sync().await.run;
    assert_succeeded(&second);

    let findings = h.findings().await;
    let expected: BTreeSet<String> = threat_ids(&threats)
        .iter()
        .map(|id| finding_id(id))
        .collect();
    assert_eq!(
        findings.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "a finding for every threat of the console"
    );
    let unattached: Vec<&String> = findings
        .iter()
        .filter(|(_, f)| !f.attached)
        .map(|(id, _)| id)
        .collect();
    assert!(
        unattached.is_empty(),
        "{} findings still unattached after onboarding was switched on: {:?}",
        unattached.len(),
        unattached.iter().take(10).collect::<Vec<_>>()
    );
    let assets = h.assets().await;
    for key in &orphan_only {
        let asset = assets
            .get(key)
            .unwrap_or_else(|| panic!("machine {key} known only from threats has no asset"));
        // Built from the threat; its agent is gone from the console, so the same run's finalize may retire it
        // (inactive, never deleted) like any machine the agent walk did not return.
        assert_eq!(asset.asset.origin, AssetOrigin::ThreatAgentInfo);
    }
    // The second run walked every threat again (the scope changed), not only those updated since the first run.
    assert_eq!(
        second.counters.findings_failed + second.counters.findings_passed,
        threats.len() as u64,
        "the second run counted every threat of the console"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 2. No threat is dropped.

#[tokio::test]
async fn no_threat_dropped_placeholder_agents_become_unattached_findings() {
    let h = Harness::new(TenantSpec::small().with_agents(40).with_threats(120)).await;
    let doc = h
        .sim
        .add_placeholder_threats(2, PlaceholderAgent::ApiDocString);
    let none = h
        .sim
        .add_placeholder_threats(1, PlaceholderAgent::NoRealtimeInfo);
    assert_eq!((doc.len(), none.len()), (2, 1));
    let placeholders: BTreeSet<String> = doc.iter().chain(&none).map(|id| finding_id(id)).collect();

    let run = h.sync().await.run;
    assert_succeeded(&run);

    let threats = h.sim.threats_snapshot();
    let ids = threat_ids(&threats);
    let findings = h.findings().await;
    let expected: BTreeSet<String> = ids.iter().map(|id| finding_id(id)).collect();
    assert_eq!(
        findings.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every threat id is a finding"
    );
    for id in &placeholders {
        let f = &findings[id];
        assert!(!f.attached, "{id} is attached to {:?}", f.asset_key);
        assert_eq!(f.asset_key, None, "{id}");
    }
    let listed = h
        .findings_where(&FindingFilter {
            attached: Some(false),
            ..FindingFilter::default()
        })
        .await;
    assert_eq!(
        listed.keys().cloned().collect::<BTreeSet<_>>(),
        placeholders,
        "attached=false lists exactly the placeholder findings"
    );
    let c = run.counters;
    assert_eq!(
        c.findings_failed + c.findings_passed,
        ids.len() as u64,
        "failed + passed counts every distinct threat"
    );
    assert_eq!(c.findings_unattached, 3);
    assert_eq!(c.findings.created, ids.len() as u64);
}

#[tokio::test]
async fn no_threat_dropped_a_threat_without_its_asset_is_unattached_until_onboarding() {
    let h = Harness::with_config(exact_spec(30, 60), |c| c.auto_onboard = false).await;
    let run = h.sync().await.run;
    assert_succeeded(&run);
    let threats = h.sim.threats_snapshot();
    let t = &threats[0];
    let id = finding_id(str_at(t, &["id"]).expect("id"));
    let key = key_of(str_at(t, &["agentRealtimeInfo", "agentComputerName"]).expect("name"));
    assert!(
        !h.assets().await.contains_key(&key),
        "the machine is not an asset"
    );

    let f = h
        .findings()
        .await
        .remove(&id)
        .expect("the threat is a finding");
    assert!(!f.attached);
    assert_eq!(f.asset_key.as_ref().map(|k| k.as_str()), Some(key.as_str()));
    let unattached = h
        .findings_where(&FindingFilter {
            attached: Some(false),
            ..FindingFilter::default()
        })
        .await;
    assert!(unattached.contains_key(&id));
    assert_eq!(unattached.len(), threats.len(), "all unattached");
    assert_eq!(run.counters.findings_unattached, threats.len() as u64);

    h.update_config(|c| c.auto_onboard = true).await;
    let run = h.sync().await.run;
    assert_succeeded(&run);
    let f = h.findings().await.remove(&id).expect("still a finding");
    assert!(f.attached, "attached once its asset exists");
    assert!(h.assets().await.contains_key(&key));
    assert!(h
        .findings_where(&FindingFilter {
            attached: Some(false),
            ..FindingFilter::default()
        })
        .await
        .is_empty());
    let of_asset = h
        .findings_where(&FindingFilter {
            asset: Some(key.clone()),
            ..FindingFilter::default()
        })
        .await;
    assert!(of_asset.contains_key(&id), "listed under its asset");
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Counts mean findings.

#[tokio::test]
async fn counts_mean_findings_a_restarted_threat_walk_counts_each_threat_once() {
    // 350 threats at 100 a page: 4 pages; the second page's cursor is refused, so the walk restarts and serves the
    // first page again.
    let agents = 50;
    let h = Harness::with_config(exact_spec(agents, 350), |c| c.auto_onboard = false).await;
    let names: BTreeSet<String> = h
        .sim
        .agents_snapshot()
        .iter()
        .filter_map(|a| str_at(a, &["computerName"]))
        .map(key_of)
        .collect();
    assert_eq!(names.len(), agents, "every agent is its own machine");
    let expire = h.sim.faults().add(
        FaultRule::new(Fault::CursorExpiry, Trigger::Burst { after: 0, count: 1 })
            .on_path("threats"),
    );

    let run = h.sync().await.run;
    assert_succeeded(&run);
    assert_eq!(h.sim.faults().served(expire), 1, "the cursor was refused");

    let threats = h.sim.threats_snapshot();
    let c = run.counters;
    assert_eq!(
        c.findings_failed + c.findings_passed,
        threats.len() as u64,
        "failed + passed = distinct threats (repeated: {})",
        c.findings_repeated
    );
    assert!(c.findings_repeated > 0, "the restart repeated threats");
    assert_eq!(c.findings_unattached, threats.len() as u64);
    assert_eq!(c.findings.created, threats.len() as u64);
    assert_eq!(h.findings().await.len(), threats.len());
    assert_eq!(
        run.skip_reasons.get("auto_onboard_disabled").copied(),
        Some(agents as u64),
        "each agent skipped once: {:?}",
        run.skip_reasons
    );
    assert_eq!(c.assets.skipped, agents as u64);
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Retire only after a trusted walk.

#[tokio::test]
async fn retire_only_after_trusted_walk_empty_agent_pages_with_a_cursor_retire_nothing() {
    // 250 agents: 3 pages. Each re-sync gets one empty page with a cursor, at the first, second and last page.
    let h = Harness::new(exact_spec(250, 20)).await;
    assert_succeeded(&h.sync().await.run);
    let before = h.assets().await;
    assert_eq!(active_count(&before), 250);
    for after in [0, 1, 2] {
        let fault = h.sim.faults().empty_page_with_cursor_on("agents", after, 1);
        let run = h.sync().await.run;
        assert_eq!(
            h.sim.faults().served(fault),
            1,
            "the empty page was served (after {after})"
        );
        h.sim.faults().remove(fault);
        assert_ne!(run.status, RunStatus::Failed, "{:?}", run.message);
        assert_eq!(
            run.counters.assets_retired, 0,
            "empty page after {after}: {:?}",
            run.warnings
        );
        let assets = h.assets().await;
        assert_eq!(
            active_count(&assets),
            250,
            "every asset still active after an empty page after {after}"
        );
    }
}

#[tokio::test]
async fn retire_only_after_trusted_walk_a_walk_short_of_total_items_retires_nothing() {
    let h = Harness::new(exact_spec(40, 20)).await;
    assert_succeeded(&h.sync().await.run);
    let (agent, key) = removable_agent(&h, 0);
    assert!(h.sim.remove_agent(&agent));
    h.sim.set_agents_total_items_offset(50);

    let run = h.sync().await.run;
    assert_eq!(run.counters.assets_retired, 0, "{:?}", run.warnings);
    assert_eq!(run.counters.assets_retirement_withheld, 1);
    let warning = run
        .warnings
        .iter()
        .find(|w| w.contains("89") && w.contains("39"))
        .unwrap_or_else(|| {
            panic!(
                "a warning naming the console's count (89) and the walk's (39): {:?}",
                run.warnings
            )
        });
    assert!(warning.contains("retired"), "{warning}");
    assert!(
        h.assets().await[&key].active,
        "the removed agent's machine is kept active"
    );

    // The same console with an honest count: the removed machine is retired.
    h.sim.set_agents_total_items_offset(0);
    let run = h.sync().await.run;
    assert_eq!(run.counters.assets_retired, 1, "{:?}", run.warnings);
    assert!(!h.assets().await[&key].active);
}

#[tokio::test]
async fn retire_only_after_trusted_walk_placeholder_agents_hold_retirement_back() {
    let h = Harness::new(exact_spec(40, 20)).await;
    assert_succeeded(&h.sync().await.run);
    let (agent, key) = removable_agent(&h, 0);
    assert!(h.sim.remove_agent(&agent));
    assert_eq!(h.sim.add_placeholder_agents(1).len(), 1);

    let run = h.sync().await.run;
    assert_ne!(run.status, RunStatus::Failed, "{:?}", run.message);
    assert_eq!(run.counters.assets_retired, 0, "{:?}", run.warnings);
    assert_eq!(run.counters.assets_retirement_withheld, 1);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("no usable identity")),
        "{:?}",
        run.warnings
    );
    let assets = h.assets().await;
    assert!(assets[&key].active, "the removed agent's machine is kept");
    assert_eq!(active_count(&assets), 40);
}

#[tokio::test]
async fn retire_only_after_trusted_walk_more_than_the_limit_retires_nothing() {
    let h = Harness::new(exact_spec(20, 10)).await;
    assert_succeeded(&h.sync().await.run);
    let mut removed = Vec::new();
    for i in 0..6 {
        let (agent, key) = removable_agent(&h, 0);
        assert!(h.sim.remove_agent(&agent), "remove #{i}");
        removed.push(key);
    }

    let run = h.sync().await.run;
    assert_succeeded(&run);
    assert_eq!(run.counters.assets_retired, 0, "{:?}", run.warnings);
    assert_eq!(run.counters.assets_retirement_withheld, 6);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("20%") && w.contains("6 of 20")),
        "a warning naming the 20% limit: {:?}",
        run.warnings
    );
    let assets = h.assets().await;
    assert_eq!(active_count(&assets), 20);
    for key in &removed {
        assert!(assets[key].active, "{key} kept active");
    }
}

#[tokio::test]
async fn retire_only_after_trusted_walk_one_agent_of_twenty_is_retired() {
    let h = Harness::new(exact_spec(20, 10)).await;
    assert_succeeded(&h.sync().await.run);
    let (agent, key) = removable_agent(&h, 3);
    assert!(h.sim.remove_agent(&agent));

    let run = h.sync().await.run;
    assert_succeeded(&run);
    assert_eq!(run.counters.assets_retired, 1, "{:?}", run.warnings);
    assert_eq!(run.counters.assets_retirement_withheld, 0);
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    let assets = h.assets().await;
    assert!(
        !assets[&key].active,
        "the removed agent's machine is retired"
    );
    let inactive: Vec<&String> = assets
        .iter()
        .filter(|(_, a)| !a.active)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(inactive, vec![&key], "exactly that one");
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Deadlines reach every wait.

/// Runs `message` with a budget whose hard stop is `hard` away while a 429 storm asks for 60 s waits; returns the
/// outcome and how long the invocation took.
async fn run_into_storm(h: &Harness, message: &SyncMessage, hard: Duration) -> (Outcome, Duration) {
    let started = Instant::now();
    let outcome = h
        .worker
        .engine
        .run(
            message,
            Budget::with_hard_stop(hard / 2, hard),
            "storm-worker",
        )
        .await
        .expect("no infrastructure error");
    (outcome, started.elapsed())
}

async fn deadline_reaches_the_wait(path: &str) {
    let spec = TenantSpec::small().with_agents(150).with_threats(300);
    let h = Harness::new(spec.clone()).await;
    let run = h.start().await;
    let storm = h
        .sim
        .faults()
        .too_many_requests_from_on(path, 1, Some(RetryAfter::Seconds(60)));
    // Room for the agents phase before the storm on a loaded machine: the soft stop (half of this) must come after
    // the first threats page is asked for.
    let hard = Duration::from_secs(10);
    let (outcome, elapsed) =
        run_into_storm(&h, &SyncMessage::first(h.tenant.as_str(), &run.id), hard).await;
    assert!(
        h.sim.faults().served(storm) >= 1,
        "the storm reached the client"
    );
    // The storm asks for 60 s waits: an invocation that honoured even one would take that long. The bound is what
    // tells a deadline that reaches the wait from one that does not, not a measure of speed.
    assert!(
        elapsed < Duration::from_secs(30),
        "the invocation took {elapsed:?}: it waited out the storm's 60 s instead of its hard stop of {hard:?}"
    );
    let next = match outcome {
        Outcome::Continue(next) => next,
        other => panic!("expected a continuation, got {other:?}"),
    };
    let mid = h.run_record(&run.id).await;
    assert!(
        !mid.status.is_finished(),
        "the run is not finished: {:?} {:?}",
        mid.status,
        mid.message
    );

    h.sim.faults().clear();
    let outcome = h
        .worker
        .engine
        .run(&next, Budget::unlimited(), "after-storm")
        .await
        .expect("no infrastructure error");
    let run = match outcome {
        Outcome::Finished(run) => run,
        other => panic!("expected the run to finish, got {other:?}"),
    };
    assert_succeeded(&run);
    assert_eq!(
        run.counters.findings_failed + run.counters.findings_passed,
        h.sim.threats_snapshot().len() as u64
    );
    let clean = Harness::new(spec).await;
    assert_succeeded(&clean.sync().await.run);
    support::assert_same_data(&h, &clean).await;
}

#[tokio::test]
async fn deadlines_reach_every_wait_a_429_storm_on_agents_ends_in_a_continuation() {
    deadline_reaches_the_wait("agents").await;
}

#[tokio::test]
async fn deadlines_reach_every_wait_a_429_storm_on_threats_ends_in_a_continuation() {
    deadline_reaches_the_wait("threats").await;
}

// ---------------------------------------------------------------------------------------------------------------
// 6. A checkpoint this version cannot read fails the run.

#[tokio::test]
async fn unknown_checkpoint_phase_fails_the_run() {
    let h = Harness::new(exact_spec(20, 10)).await;
    let run = h.start().await;
    let lease = h
        .store
        .try_acquire_lease(&h.tenant, "older-version", Duration::from_secs(60))
        .await
        .expect("lease")
        .expect("free lease");
    let checkpoint = Checkpoint {
        run_id: run.id.clone(),
        phase: "bogus".into(),
        cursor: None,
        page_no: 3,
        counters: Default::default(),
        group_ids: Vec::new(),
        threats_since: None,
        threats_high_water: None,
        scope: None,
        agent_walk: AgentWalkTally::default(),
        verdicts: None,
        reevaluating_version: None,
        threat_walk: Default::default(),
        vulnerabilities: Default::default(),
    };
    let lease = h
        .store
        .heartbeat(
            &h.tenant,
            &lease,
            Duration::from_secs(60),
            Some(&checkpoint),
        )
        .await
        .expect("checkpoint saved");
    assert!(h
        .store
        .release_lease(&h.tenant, &lease)
        .await
        .expect("release"));

    h.drain(Duration::from_secs(600)).await;
    let run = h.run_record(&run.id).await;
    assert_eq!(run.status, RunStatus::Failed, "{:?}", run.message);
    let message = run.message.clone().unwrap_or_default();
    assert!(message.contains("bogus"), "{message}");
    assert!(h.assets().await.is_empty(), "nothing was imported");

    // The next sync starts over and imports the console.
    let next = h.sync().await.run;
    assert_succeeded(&next);
    assert_eq!(h.assets().await.len(), 20);
}

// ---------------------------------------------------------------------------------------------------------------
// 7. Over-long identities.

#[tokio::test]
async fn over_long_identities_are_stored_and_readable() {
    let spec = exact_spec(10, 10);
    // Templates from the same generated console, given new ids.
    let template = Simulator::new(spec.clone()).start().await.expect("sim");
    let mut agent = template.agents_snapshot()[0].clone();
    let mut threat_on_long = template.threats_snapshot()[0].clone();
    let mut long_id_threat = template.threats_snapshot()[1].clone();
    template.shutdown().await;

    let long_name = format!("LONG-{}", "x".repeat(2_995));
    assert_eq!(long_name.len(), 3_000);
    let agent_id = "990000000000000001";
    agent["id"] = json!(agent_id);
    agent["uuid"] = json!("a1b2c3d4e5f60718293a4b5c6d7e8f90");
    agent["computerName"] = json!(long_name);
    let threat_id = "990000000000000002";
    threat_on_long["id"] = json!(threat_id);
    if threat_on_long["threatInfo"].get("threatId").is_some() {
        threat_on_long["threatInfo"]["threatId"] = json!(threat_id);
    }
    threat_on_long["agentRealtimeInfo"]["agentComputerName"] = json!(long_name);
    threat_on_long["agentRealtimeInfo"]["agentId"] = json!(agent_id);
    let long_threat_id = "9".repeat(2_000);
    long_id_threat["id"] = json!(long_threat_id);
    if long_id_threat["threatInfo"].get("threatId").is_some() {
        long_id_threat["threatInfo"]["threatId"] = json!(long_threat_id);
    }

    let sim = Simulator::new(spec)
        .with_agent_records([agent])
        .with_threat_records([threat_on_long, long_id_threat])
        .start()
        .await
        .expect("simulator with long records");
    let h = Harness::on_simulator(sim, "tenant-a", |_| {}).await;
    let run = h.sync().await.run;
    assert_succeeded(&run);

    let key = normalize_computer_name(&long_name).expect("key");
    let assets = h.assets().await;
    let asset = assets
        .get(key.as_str())
        .unwrap_or_else(|| panic!("no asset for the 3,000-character name"));
    assert_eq!(asset.asset.name, long_name, "the full name is kept");
    assert!(asset.asset.agent_ids.contains(agent_id));
    assert!(asset.active);
    let by_prefix = h
        .store
        .list_assets(
            &h.tenant,
            &connector_store::AssetFilter {
                name_prefix: Some("long-xxxx".into()),
                active: None,
            },
            None,
            10,
        )
        .await
        .expect("list by prefix");
    assert_eq!(by_prefix.items.len(), 1, "found by name prefix");

    let findings = h.findings().await;
    let on_long = findings
        .get(&finding_id(threat_id))
        .expect("finding of the threat on the long-named machine");
    assert!(on_long.attached);
    assert_eq!(on_long.asset_key.as_ref(), Some(&key));
    let long = findings
        .values()
        .find(|f| f.threat_id == long_threat_id)
        .expect("finding of the 2,000-character threat id");
    assert!(
        long.id.len() <= 256,
        "finding id of {} bytes",
        long.id.len()
    );
    assert_eq!(long.id, finding_id(&long_threat_id));
    assert_eq!(findings.len(), h.sim.threats_snapshot().len());
    let of_asset = h
        .findings_where(&FindingFilter {
            asset: Some(long_name.clone()),
            ..FindingFilter::default()
        })
        .await;
    assert_eq!(
        of_asset.keys().collect::<Vec<_>>(),
        vec![&finding_id(threat_id)],
        "the long-named machine's finding is listed under it"
    );

    // Shortened keys are stable: nothing is rewritten on the next sync.
    let again = h.sync().await.run;
    assert_succeeded(&again);
    let c = again.counters;
    assert_eq!(
        (
            c.assets.created,
            c.assets.updated,
            c.findings.created,
            c.findings.updated
        ),
        (0, 0, 0, 0)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 8. lastActiveDate churn.

#[tokio::test]
async fn last_active_date_churn_does_not_rewrite_assets() {
    let h = Harness::new(exact_spec(200, 50)).await;
    h.sim.set_last_active_churn(true);
    let first = h.sync().await.run;
    assert_succeeded(&first);
    let stored = h.assets().await;
    let items = stored.len() as u64 + h.findings().await.len() as u64;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let second = h.sync().await.run;
    assert_succeeded(&second);
    let c = second.counters;
    let written = c.assets.created + c.assets.updated + c.findings.created + c.findings.updated;
    assert!(
        written * 100 <= items,
        "the second run wrote {written} of {items} items (assets {}+{}, findings {}+{})",
        c.assets.created,
        c.assets.updated,
        c.findings.created,
        c.findings.updated
    );

    // The console did churn: every agent it serves as active reports a lastActiveDate other than the one stored.
    let original: BTreeMap<String, Value> = h
        .sim
        .agents_snapshot()
        .into_iter()
        .map(|a| (str_at(&a, &["id"]).expect("id").to_string(), a))
        .collect();
    let now = h.console_agents().await;
    let mut churned = 0;
    for (id, agent) in &now {
        let served = agent.last_active_date;
        let kept = str_at(&original[id], &["lastActiveDate"]).and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        });
        if served == kept {
            continue;
        }
        churned += 1;
        let asset = &stored[&key_of(&agent.computer_name)];
        assert_ne!(
            asset.asset.last_seen, served,
            "agent {id}: lastActiveDate did not move since the first sync"
        );
    }
    assert!(
        churned >= 100,
        "most agents are online and churn: {churned} of {}",
        now.len()
    );
}
