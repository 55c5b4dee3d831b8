//! How often a run reads the asset digests and the previous run's seen assets, counted by an SDK interceptor
//! against the local stack: the agent walk reads them once per invocation, not once per page, and the copy its
//! pages keep still lets no changed agent pass as unchanged, whichever page it is on.

use test_support::sync as support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::types::AttributeValue;
use s1_simulator::TenantSpec;
use support::Harness;

/// The sort-key prefixes of the queries sent, in order.
#[derive(Debug, Clone, Default)]
struct Queries(Arc<Mutex<Vec<String>>>);

impl Queries {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("queries"))
    }
}

impl Intercept for Queries {
    fn name(&self) -> &'static str {
        "query prefixes"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(q) = context.input().downcast_ref::<QueryInput>() {
            if let Some(AttributeValue::S(prefix)) = q
                .expression_attribute_values()
                .and_then(|values| values.get(":qsk"))
            {
                self.0.lock().expect("queries").push(prefix.clone());
            }
        }
        Ok(())
    }
}

fn count(queries: &[String], prefix: &str) -> usize {
    queries.iter().filter(|q| q.as_str() == prefix).count()
}

#[tokio::test]
async fn the_agent_walk_reads_the_digests_and_the_previous_runs_seen_assets_once_per_invocation() {
    // Agents only, 100 a page: three pages.
    let h = Harness::new(
        TenantSpec::small()
            .with_agents(250)
            .with_threats(0)
            .with_risks_per_agent(0),
    )
    .await;
    let queries = Queries::default();
    let engine = h.engine_with(queries.clone());
    let first = h.sync_through(&engine).await;
    queries.take();

    let second = h.sync_through(&engine).await;
    let sent = queries.take();
    assert!(second.pages >= 3, "{second:?}");
    let c = second.counters;
    assert_eq!((c.assets.created, c.assets.updated), (0, 0), "{c:?}");
    // The walk's read and finalize's (which proves the retirement plan empty from them).
    assert_eq!(count(&sent, "DIGEST#ASSET"), 2, "{sent:#?}");
    assert_eq!(
        count(&sent, &format!("SEEN#{}#", first.id)),
        1,
        "the previous run's seen assets: {sent:#?}"
    );

    // An agent changed on each page is written, the kept copy notwithstanding: the first, a middle and the last
    // live agent with a machine of its own.
    let assets = h.assets().await;
    let own_machine: BTreeMap<String, String> = assets
        .values()
        .filter(|a| a.active && a.asset.agent_ids.len() == 1)
        .filter_map(|a| {
            Some((
                a.asset.agent_ids.iter().next()?.clone(),
                a.asset.key.as_str().to_string(),
            ))
        })
        .collect();
    let live: Vec<String> = h
        .sim
        .agents_snapshot()
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .filter(|id| own_machine.contains_key(id))
        .collect();
    let changed = [&live[0], &live[live.len() / 2], &live[live.len() - 1]];
    for id in changed {
        assert!(h.sim.add_agent_tag(id, "Owner", "alice"));
    }
    let third = h.sync_through(&engine).await;
    assert_eq!(third.counters.assets.updated, 3, "{:?}", third.counters);
    assert_eq!(count(&queries.take(), "DIGEST#ASSET"), 2);
    let after = h.assets().await;
    for id in changed {
        let asset = &after[&own_machine[id]].asset;
        assert!(
            asset.tags.iter().any(|t| t.value == "alice"),
            "{id}: {:?}",
            asset.tags
        );
    }
    // And the next run, unchanged again, vouches for them with the entries the changed pages set.
    let fourth = h.sync_through(&engine).await;
    let c = fourth.counters;
    assert_eq!((c.assets.created, c.assets.updated), (0, 0), "{c:?}");
}

#[tokio::test]
async fn the_threat_walk_knows_the_walked_assets_from_the_digests_the_agent_walk_kept() {
    let h = Harness::new(
        TenantSpec::small()
            .with_agents(120)
            .with_threats(60)
            .with_risks_per_agent(0),
    )
    .await;
    let queries = Queries::default();
    let engine = h.engine_with(queries.clone());
    h.sync_through(&engine).await;
    // Threats the next run's walk returns again: each on a machine the agent walk has just walked.
    let threats = h.sim.threats_snapshot();
    let flipped: Vec<String> = threats
        .iter()
        .filter(|t| t["agentRealtimeInfo"]["agentId"].is_string())
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .take(5)
        .collect();
    assert_eq!(flipped.len(), 5);
    for id in &flipped {
        let verdict = match threats.iter().find(|t| t["id"] == id.as_str()) {
            Some(t) if t["threatInfo"]["analystVerdict"] == "true_positive" => "false_positive",
            _ => "true_positive",
        };
        assert!(h.sim.set_threat_verdict(id, verdict));
    }
    let assets_before = h.assets().await.len();
    queries.take();

    let second = h.sync_through(&engine).await;
    let sent = queries.take();
    let c = second.counters;
    assert!(c.findings.updated >= 5, "{c:?}");
    assert_eq!((c.assets.created, c.assets.updated), (0, 0), "{c:?}");
    assert_eq!(h.assets().await.len(), assets_before);
    // The agent walk's read and finalize's: the threat walk asks the copy the agent walk kept.
    assert_eq!(count(&sent, "DIGEST#ASSET"), 2, "{sent:#?}");
}
