//! Contract tests: the real sample payloads round-trip through the simulator unchanged, and every
//! generated record has the samples' keys and JSON types (recursively).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use common::*;
use s1_simulator::{Simulator, TenantSpec};
use serde_json::Value;

const AGENT_ELASTIC: &str =
    include_str!("../fixtures/samples/agent_elastic_test_pipeline_agent.ndjson");
const AGENTS_DEMISTO: &str =
    include_str!("../fixtures/samples/agents_list_demisto_agents_raw_response.json");
const THREATS_ELASTIC: &str =
    include_str!("../fixtures/samples/threats_elastic_test_pipeline_threat_lines1-2.ndjson");
const GROUP_ELASTIC: &str =
    include_str!("../fixtures/samples/group_elastic_test_pipeline_group.ndjson");

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("sample line is JSON"))
        .collect()
}

fn agent_samples() -> Vec<Value> {
    let mut v = ndjson(AGENT_ELASTIC);
    v.extend(serde_json::from_str::<Vec<Value>>(AGENTS_DEMISTO).expect("demisto sample"));
    v
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What the samples show at one JSON path: the kinds seen, and for objects the keys seen in any
/// and in every sample object there.
#[derive(Default, Debug)]
struct PathShape {
    kinds: BTreeSet<&'static str>,
    any_keys: BTreeSet<String>,
    all_keys: Option<BTreeSet<String>>,
}

type Shape = BTreeMap<String, PathShape>;

fn learn(v: &Value, path: &str, shape: &mut Shape) {
    let entry = shape.entry(path.to_owned()).or_default();
    entry.kinds.insert(kind(v));
    match v {
        Value::Object(map) => {
            let keys: BTreeSet<String> = map.keys().cloned().collect();
            entry.any_keys.extend(keys.iter().cloned());
            entry.all_keys = Some(match entry.all_keys.take() {
                None => keys,
                Some(prev) => prev.intersection(&keys).cloned().collect(),
            });
            for (k, child) in map {
                learn(child, &format!("{path}.{k}"), shape);
            }
        }
        Value::Array(items) => {
            for item in items {
                learn(item, &format!("{path}[]"), shape);
            }
        }
        _ => {}
    }
}

fn shape_of(samples: &[Value]) -> Shape {
    let mut shape = Shape::new();
    for s in samples {
        learn(s, "$", &mut shape);
    }
    shape
}

/// Types the samples do not show but API.md documents for the same field. Each entry names its
/// source; nothing else may differ from the samples.
fn documented_extra(path: &str) -> &'static [&'static str] {
    match path {
        // API.md decision 10 and §4.2: `true` in the XSOAR threats sample, a timestamp or null.
        "$.agentRealtimeInfo.agentDecommissionedAt" => &["bool", "string"],
        // API.md §4.2: "sha256 (often null), md5 (often null)": strings when present.
        "$.threatInfo.sha256" | "$.threatInfo.md5" => &["string"],
        // The same list as the agent's userActionsNeeded, whose sample holds strings.
        "$.agentRealtimeInfo.userActionsNeeded[]" => &["string"],
        // API.md §5 (groups): "rank (int|null), filterId/filterName (null unless dynamic)".
        "$.rank" => &["number"],
        "$.filterId" | "$.filterName" => &["string"],
        _ => &[],
    }
}

/// Every problem with `v` against `shape`, as readable lines.
fn check(v: &Value, path: &str, shape: &Shape, problems: &mut Vec<String>) {
    let k = kind(v);
    let extra = documented_extra(path);
    let Some(seen) = shape.get(path) else {
        if !extra.contains(&k) {
            problems.push(format!("{path}: not in any sample (got {k})"));
        }
        return;
    };
    if !seen.kinds.contains(k) && !extra.contains(&k) {
        problems.push(format!("{path}: {k}, samples have {:?}", seen.kinds));
        return;
    }
    match v {
        Value::Object(map) => {
            for key in map.keys() {
                if !seen.any_keys.contains(key) {
                    problems.push(format!("{path}: key {key:?} is in no sample"));
                }
            }
            if let Some(required) = &seen.all_keys {
                for key in required {
                    if !map.contains_key(key) {
                        problems.push(format!("{path}: key {key:?} (in every sample) is missing"));
                    }
                }
            }
            for (key, child) in map {
                check(child, &format!("{path}.{key}"), shape, problems);
            }
        }
        Value::Array(items) => {
            for item in items {
                check(item, &format!("{path}[]"), shape, problems);
            }
        }
        _ => {}
    }
}

fn assert_shaped_like(records: &[Value], samples: &[Value], what: &str) {
    let shape = shape_of(samples);
    let mut problems = Vec::new();
    for r in records {
        check(r, "$", &shape, &mut problems);
    }
    let unique: BTreeSet<_> = problems.iter().collect();
    assert!(
        unique.is_empty(),
        "{what}: {} problems, e.g. {:#?}",
        problems.len(),
        unique.iter().take(15).collect::<Vec<_>>()
    );
}

/// Same keys and same JSON kinds at every path, both ways.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_shape(v, w))
        }
        _ => kind(a) == kind(b),
    }
}

#[tokio::test]
async fn every_sample_round_trips_through_the_simulator_unchanged() {
    let agents = agent_samples();
    let sim = Simulator::empty()
        .with_agent_records(agents.clone())
        .with_group_records(ndjson(GROUP_ELASTIC))
        .start()
        .await
        .unwrap();
    let served = walk(&sim, "agents", "", 1000).await;
    assert_eq!(served.len(), agents.len());
    for sample in &agents {
        let got = served
            .iter()
            .find(|a| a["id"] == sample["id"])
            .expect("sample served");
        assert!(
            same_shape(got, sample),
            "agent {} changed shape",
            sample["id"]
        );
        assert_eq!(got, sample, "agent {} changed", sample["id"]);
    }
    let groups = walk(&sim, "groups", "", 10).await;
    assert_eq!(groups, ndjson(GROUP_ELASTIC));
    sim.shutdown().await;

    // The two threat lines share an id (synthetic upstream data), so each is served by its own console.
    for threat in ndjson(THREATS_ELASTIC) {
        let sim = Simulator::empty()
            .with_threat_records([threat.clone()])
            .start()
            .await
            .unwrap();
        let served = walk(&sim, "threats", "", 1000).await;
        assert_eq!(served.len(), 1);
        assert!(same_shape(&served[0], &threat));
        assert_eq!(served[0], threat);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn generated_records_have_the_samples_keys_and_types() {
    let sim = Simulator::new(TenantSpec::small()).start().await.unwrap();
    let agents = walk(&sim, "agents", "", 1000).await;
    let threats = walk(&sim, "threats", "", 1000).await;
    let groups = walk(&sim, "groups", "", 1000).await;
    assert_eq!(agents.len(), 300);
    assert_eq!(threats.len(), 3000);
    assert_eq!(groups.len(), 12);
    assert_shaped_like(&agents, &agent_samples(), "agents");
    assert_shaped_like(&threats, &ndjson(THREATS_ELASTIC), "threats");
    assert_shaped_like(&groups, &ndjson(GROUP_ELASTIC), "groups");
    sim.shutdown().await;
}

#[tokio::test]
async fn generated_tenant_has_the_realistic_mix() {
    let sim = Simulator::new(TenantSpec::small()).start().await.unwrap();
    let agents = sim.agents_snapshot();
    let threats = sim.threats_snapshot();
    let groups = sim.groups_snapshot();

    let agent_ids: HashSet<&str> = agents.iter().filter_map(|a| a["id"].as_str()).collect();
    let names: Vec<&str> = agents
        .iter()
        .filter_map(|a| a["computerName"].as_str())
        .collect();
    let distinct: HashSet<&str> = names.iter().copied().collect();
    assert!(
        names.len() > distinct.len(),
        "some computer names repeat (re-imaged machines)"
    );
    assert!(agents.iter().any(|a| a["isDecommissioned"] == true));
    assert!(
        agents.iter().any(|a| a.get("tags").is_none()),
        "legacy records without tags"
    );
    assert!(agents
        .iter()
        .any(|a| a["firewallEnabled"] == "True" || a["firewallEnabled"] == "False"));
    assert!(agents.iter().any(|a| a["lastIpToMgmt"].is_null()));
    assert!(agents.iter().any(|a| a["tags"]["sentinelone"]
        .as_array()
        .is_some_and(|t| !t.is_empty())));
    let macs: Vec<&str> = agents
        .iter()
        .flat_map(|a| {
            a["networkInterfaces"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|n| n["physical"].as_str().map(str::to_owned))
        .map(|s| if s.contains('-') { "dash" } else { "colon" })
        .collect();
    assert!(macs.contains(&"dash") && macs.contains(&"colon"));
    for os in ["windows", "macos", "linux"] {
        assert!(agents.iter().any(|a| a["osType"] == os), "{os}");
    }
    assert!(names.iter().any(|n| n.contains("-LAPTOP-")));
    for a in &agents {
        let id = a["id"].as_str().unwrap();
        assert!(
            id.len() >= 18 && id.bytes().all(|b| b.is_ascii_digit()),
            "{id}"
        );
        assert!(a["updatedAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            a["updatedAt"].as_str().unwrap().len(),
            27,
            "microseconds and Z"
        );
    }

    for v in ["undefined", "true_positive", "false_positive", "suspicious"] {
        assert!(
            threats
                .iter()
                .any(|t| t["threatInfo"]["analystVerdict"] == v),
            "{v}"
        );
    }
    for s in ["unresolved", "in_progress", "resolved"] {
        assert!(
            threats
                .iter()
                .any(|t| t["threatInfo"]["incidentStatus"] == s),
            "{s}"
        );
    }
    for s in ["mitigated", "not_mitigated", "marked_as_benign"] {
        assert!(
            threats
                .iter()
                .any(|t| t["threatInfo"]["mitigationStatus"] == s),
            "{s}"
        );
    }
    assert!(threats
        .iter()
        .any(|t| t["agentRealtimeInfo"]["agentDecommissionedAt"] == true));
    let techniques: HashSet<String> = threats
        .iter()
        .flat_map(|t| t["indicators"].as_array().cloned().unwrap_or_default())
        .flat_map(|i| i["tactics"].as_array().cloned().unwrap_or_default())
        .flat_map(|t| t["techniques"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    assert!(
        techniques.iter().any(|t| t.starts_with("T1059")),
        "{techniques:?}"
    );

    let mut orphans = 0;
    for t in &threats {
        assert_eq!(t["id"], t["threatInfo"]["threatId"]);
        let rt = &t["agentRealtimeInfo"];
        let agent_id = rt["agentId"].as_str().unwrap();
        match agents.iter().find(|a| a["id"] == agent_id) {
            Some(a) => {
                assert_eq!(rt["agentComputerName"], a["computerName"]);
                assert_eq!(rt["siteId"], a["siteId"]);
                assert_eq!(rt["groupId"], a["groupId"]);
                assert_eq!(rt["agentOsType"], a["osType"]);
                assert_eq!(rt["activeThreats"], a["activeThreats"]);
            }
            None => orphans += 1,
        }
        assert!(agent_ids.contains(agent_id) || orphans > 0);
    }
    assert!(orphans > 0, "a few threats belong to agents removed since");
    assert!(orphans < threats.len() / 20);

    let defaults = groups
        .iter()
        .filter(|g| g["name"] == "Default Group")
        .count();
    assert_eq!(defaults, 3, "every site has its own Default Group");
    let total: u64 = groups
        .iter()
        .map(|g| g["totalAgents"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 300);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_tenant() {
    let spec = TenantSpec::small().with_agents(40).with_threats(200);
    let a = Simulator::new(spec.clone()).start().await.unwrap();
    let b = Simulator::new(spec.clone()).start().await.unwrap();
    let c = Simulator::new(spec.with_seed(7)).start().await.unwrap();
    assert_eq!(a.agents_snapshot(), b.agents_snapshot());
    assert_eq!(a.threats_snapshot(), b.threats_snapshot());
    assert_eq!(a.groups_snapshot(), b.groups_snapshot());
    assert_ne!(a.agents_snapshot(), c.agents_snapshot());
    assert_ne!(
        a.token(),
        b.token(),
        "tokens are never shared between simulators"
    );
}
