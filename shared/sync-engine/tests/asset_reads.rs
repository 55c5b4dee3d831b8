//! What the agent walk reads, counted by an SDK interceptor against the local stack: a first sync reads no asset it
//! did not write itself (a tenant without assets holds nothing to compare against) and creates a decommissioned
//! machine retired without a retirement transaction; a re-sync reads no asset the asset digests vouch for (a live
//! asset the previous run saw, unchanged) and no registration; a changed agent is always written. A first sync's threat walk reads no asset its agent walk wrote, and its
//! finalize plans no closing (the tenant held no finding) and, when every asset it wrote was seen live, no
//! retirement. A re-sync's threat walk reads no asset the asset digests show stored, and its finalize reads no
//! active asset when the asset digests prove that the run saw every one.

use test_support::sync as support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::AttributeValue;
use s1_simulator::TenantSpec;
use support::Harness;

#[derive(Debug, Default)]
struct Reads {
    /// Asset keys asked for by BatchGetItem (`ASSET#<key>` sort keys).
    assets: Vec<String>,
    /// Registration items asked for (`ASSETREG#<key>`).
    registrations: u64,
    transactions: u64,
    /// Finalize's plans queried: the retirement plan's walk of the active assets, the closing plan's walk of
    /// the findings (told apart by the attributes they project).
    retirement_plans: u64,
    closing_plans: u64,
}

#[derive(Debug, Clone, Default)]
struct Watch(Arc<Mutex<Reads>>);

impl Watch {
    fn take(&self) -> Reads {
        std::mem::take(&mut *self.0.lock().expect("reads"))
    }
}

impl Intercept for Watch {
    fn name(&self) -> &'static str {
        "asset reads"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut reads = self.0.lock().expect("reads");
        let input = context.input();
        if let Some(get) = input.downcast_ref::<BatchGetItemInput>() {
            let keys = get
                .request_items()
                .into_iter()
                .flat_map(|m| m.values())
                .flat_map(|k| k.keys());
            for key in keys {
                let Some(AttributeValue::S(sk)) = key.get("sk") else {
                    continue;
                };
                if let Some(asset) = sk.strip_prefix("ASSET#") {
                    reads.assets.push(asset.to_string());
                } else if sk.starts_with("ASSETREG#") {
                    reads.registrations += 1;
                }
            }
        } else if input.downcast_ref::<TransactWriteItemsInput>().is_some() {
            reads.transactions += 1;
        } else if let Some(q) = input.downcast_ref::<QueryInput>() {
            let projects = |name: &str| {
                q.expression_attribute_names()
                    .is_some_and(|names| names.values().any(|v| v == name))
            };
            if projects("sentinelone_retired_at") {
                reads.retirement_plans += 1;
            } else if projects("threat_id") && q.limit().is_none() {
                reads.closing_plans += 1;
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_first_sync_reads_no_asset_and_a_resync_reads_none_the_digests_vouch_for() {
    // Agents only: the threat and vulnerability walks would read assets for their own decisions.
    let h = Harness::new(
        TenantSpec::small()
            .with_agents(250)
            .with_threats(0)
            .with_risks_per_agent(0),
    )
    .await;
    let watch = Watch::default();
    let engine = h.engine_with(watch.clone());

    let first = h.sync_through(&engine).await;
    let reads = watch.take();
    let assets = h.assets().await;
    assert!(first.counters.assets.created > 200, "{:?}", first.counters);
    // Only a machine that came back under a second agent on a later page (written by this walk) is read.
    let merged: BTreeSet<&String> = assets
        .iter()
        .filter(|(_, a)| a.asset.agent_ids.len() > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(
        reads.assets.iter().all(|k| merged.contains(k)),
        "the first sync read assets it had not written: {:?}",
        reads.assets
    );
    assert_eq!(reads.registrations, 0);
    // Decommissioned machines are stored retired, none by a retirement transaction.
    let retired = assets.values().filter(|a| !a.active).count();
    assert!(
        retired > 0,
        "the generated tenant has decommissioned agents"
    );
    assert!(assets
        .values()
        .filter(|a| a.asset.decommissioned == Some(true) && a.asset.agent_ids.len() == 1)
        .all(|a| !a.active));
    assert_eq!(reads.transactions, 0, "a first sync retires no live asset");

    // Unchanged: the asset digests vouch for every live asset the first sync wrote as SentinelOne describes it;
    // only retired machines and machines seen under several agents are read. No registration, nothing written.
    let second = h.sync_through(&engine).await;
    let reads = watch.take();
    let c = second.counters;
    assert_eq!((c.assets.created, c.assets.updated), (0, 0), "{c:?}");
    let unvouched: BTreeSet<&String> = assets
        .iter()
        .filter(|(k, a)| !a.active || merged.contains(k))
        .map(|(k, _)| k)
        .collect();
    assert!(
        reads.assets.iter().all(|k| unvouched.contains(k)),
        "a live asset the previous run saw unchanged was read: {:?}",
        reads.assets
    );
    assert!(assets.len() - unvouched.len() > 150, "{}", unvouched.len());
    let third = h.sync_through(&engine).await;
    assert_eq!(third.counters.assets.unchanged, c.assets.unchanged);
    assert!(watch.take().assets.iter().all(|k| unvouched.contains(k)));
    assert_eq!(
        reads.registrations, 0,
        "the walk decides on SentinelOne's side only"
    );
    assert_eq!(reads.transactions, 0);

    // A changed agent is written.
    let agents = h.sim.agents_snapshot();
    let id = agents
        .iter()
        .find(|a| a["isDecommissioned"] == false)
        .and_then(|a| a["id"].as_str())
        .expect("a live agent")
        .to_string();
    assert!(h.sim.add_agent_tag(&id, "Owner", "alice"));
    let fourth = h.sync_through(&engine).await;
    assert_eq!(fourth.counters.assets.updated, 1, "{:?}", fourth.counters);
    let tagged = h
        .assets()
        .await
        .into_values()
        .find(|a| a.asset.agent_ids.contains(&id))
        .expect("the changed agent's asset");
    assert!(
        tagged.asset.tags.iter().any(|t| t.value == "alice"),
        "{:?}",
        tagged.asset.tags
    );
}

#[tokio::test]
async fn a_first_syncs_threat_walk_reads_no_asset_it_wrote_and_finalize_plans_no_closing() {
    // The everyday mix: decommissioned agents and threats whose agent left the console (onboarded from the
    // threat, then retired by finalize), so retirement still plans.
    let h = Harness::new(
        TenantSpec::small()
            .with_agents(200)
            .with_threats(600)
            .with_risks_per_agent(0),
    )
    .await;
    let watch = Watch::default();
    let engine = h.engine_with(watch.clone());

    let first = h.sync_through(&engine).await;
    let reads = watch.take();
    let assets = h.assets().await;
    let from_threats: BTreeSet<&String> = assets
        .iter()
        .filter(|(_, a)| a.asset.origin == s1_core::asset::AssetOrigin::ThreatAgentInfo)
        .map(|(k, _)| k)
        .collect();
    assert!(
        !from_threats.is_empty(),
        "the generated tenant has orphan threats"
    );
    let merged: BTreeSet<&String> = assets
        .iter()
        .filter(|(_, a)| a.asset.agent_ids.len() > 1)
        .map(|(k, _)| k)
        .collect();
    // Only keys no walk of this run had written are read: machines the threats name beyond the agent walk.
    let unexpected: Vec<&String> = reads
        .assets
        .iter()
        .filter(|k| !merged.contains(k) && !from_threats.contains(k))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the first sync read assets it had written: {unexpected:?}"
    );
    assert_eq!(reads.registrations, 0, "existence needs no registration");
    assert_eq!(reads.closing_plans, 0, "the tenant held no finding");
    assert_eq!(
        reads.retirement_plans, 1,
        "assets onboarded from threats are unseen"
    );
    // What finalize decides is unchanged: the machines only threats name are retired, their findings attached.
    assert!(from_threats.iter().all(|k| !assets[*k].active));
    assert!(first.counters.assets_retired >= from_threats.len() as u64);
    let on_onboarded: Vec<_> = h
        .findings()
        .await
        .into_values()
        .filter(|f| {
            f.asset_key
                .as_ref()
                .is_some_and(|k| from_threats.contains(&k.as_str().to_string()))
        })
        .collect();
    assert!(!on_onboarded.is_empty());
    assert!(on_onboarded.iter().all(|f| f.attached));

    // A re-sync is not fresh, but its plan needs no read: the asset digests prove that it saw every active asset
    // (see `a_resync_that_saw_every_active_asset_plans_retirement_without_reading_them`).
    let second = h.sync_through(&engine).await;
    assert_eq!(watch.take().retirement_plans, 0);
    assert_eq!(second.counters.assets_retired, 0);
}

#[tokio::test]
async fn a_resync_that_saw_every_active_asset_plans_retirement_without_reading_them() {
    let h = Harness::new(
        TenantSpec::small()
            .with_agents(200)
            .with_threats(600)
            .with_risks_per_agent(0),
    )
    .await;
    let watch = Watch::default();
    let engine = h.engine_with(watch.clone());
    // Threats whose agent the console does not list: held back until the digests cover the active assets.
    let agent_ids: BTreeSet<String> = h
        .sim
        .agents_snapshot()
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect();
    let orphans: Vec<serde_json::Value> = h
        .sim
        .threats_snapshot()
        .into_iter()
        .filter(|t| {
            t["agentRealtimeInfo"]["agentId"]
                .as_str()
                .is_some_and(|id| !agent_ids.contains(id))
        })
        .collect();
    assert!(
        !orphans.is_empty(),
        "the generated tenant has orphan threats"
    );
    for t in &orphans {
        assert!(h.sim.delete_threat(t["id"].as_str().expect("threat id")));
    }

    // The first sync's plan reads the active assets and records that the digests cover them; the re-syncs
    // that follow need no read.
    h.sync_through(&engine).await;
    assert_eq!(watch.take().retirement_plans, 1);
    let second = h.sync_through(&engine).await;
    assert_eq!(watch.take().retirement_plans, 0);
    assert_eq!(second.counters.assets_retired, 0);
    let third = h.sync_through(&engine).await;
    assert_eq!(watch.take().retirement_plans, 0);
    assert_eq!(third.counters.assets_retired, 0);
    let active_before = h.assets().await.values().filter(|a| a.active).count();

    // A machine SentinelOne stops listing is still retired: its entry is not among the seen assets.
    let agents = h.sim.agents_snapshot();
    let name = |a: &serde_json::Value| {
        a["computerName"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
    };
    let gone = agents
        .iter()
        .find(|a| {
            a["isDecommissioned"] == false
                && agents.iter().filter(|b| name(b) == name(a)).count() == 1
        })
        .expect("a live agent with a name of its own");
    let gone_name = name(gone);
    assert!(h.sim.remove_agent(gone["id"].as_str().expect("agent id")));
    let fourth = h.sync_through(&engine).await;
    assert_eq!(watch.take().retirement_plans, 1);
    assert_eq!(fourth.counters.assets_retired, 1, "{:?}", fourth.counters);
    let assets = h.assets().await;
    assert!(
        assets
            .values()
            .filter(|a| a.asset.name.to_lowercase() == gone_name)
            .all(|a| !a.active),
        "the machine SentinelOne stopped listing is retired"
    );
    assert_eq!(
        assets.values().filter(|a| a.active).count(),
        active_before - 1
    );
    // Its entry went with the retirement: the next unchanged re-sync needs no read again.
    h.sync_through(&engine).await;
    assert_eq!(watch.take().retirement_plans, 0);

    // Assets written while the digests cover the active ones (onboarded from threats whose agent is not listed)
    // are retired by the next finalize, which reads the active assets again.
    for t in orphans {
        assert!(h.sim.restore_threat(t));
    }
    let sixth = h.sync_through(&engine).await;
    let reads = watch.take();
    assert!(sixth.counters.assets.created > 0, "{:?}", sixth.counters);
    assert_eq!(reads.retirement_plans, 1);
    assert_eq!(
        sixth.counters.assets_retired, sixth.counters.assets.created,
        "{:?}",
        sixth.counters
    );
    assert_eq!(
        h.assets().await.values().filter(|a| a.active).count(),
        active_before - 1
    );
    h.sync_through(&engine).await;
    assert_eq!(watch.take().retirement_plans, 0);
}

#[tokio::test]
async fn a_resyncs_threat_walk_reads_no_asset_the_asset_digests_show_stored() {
    let h = Harness::new(
        TenantSpec::small()
            .with_agents(200)
            .with_threats(600)
            .with_risks_per_agent(0),
    )
    .await;
    let watch = Watch::default();
    let engine = h.engine_with(watch.clone());
    let first = h.sync_through(&engine).await;
    watch.take();
    let assets = h.assets().await;
    // What the agent walk reads on a re-sync (the digests do not vouch for it): retired machines and machines
    // seen under several agents. Everything else was stored live by the first sync and has an entry.
    let unvouched: BTreeSet<&String> = assets
        .iter()
        .filter(|(_, a)| !a.active || a.asset.agent_ids.len() > 1)
        .map(|(k, _)| k)
        .collect();
    let named: BTreeSet<String> = h
        .findings()
        .await
        .into_values()
        .filter_map(|f| f.asset_key.map(|k| k.as_str().to_string()))
        .filter(|k| !unvouched.contains(k))
        .collect();
    assert!(named.len() > 50, "{}", named.len());

    // A complete threat walk: every finding's asset is asked about, and none of them is read.
    h.store
        .set_full_threat_walk_every(&h.tenant, 0)
        .await
        .expect("complete threat walks");
    let second = h.sync_through(&engine).await;
    let reads = watch.take();
    assert!(second.counters.items_fetched >= first.counters.items_fetched);
    let read_named: Vec<&String> = reads.assets.iter().filter(|k| named.contains(*k)).collect();
    assert!(
        read_named.is_empty(),
        "the threat walk read assets the asset digests show stored: {read_named:?}"
    );
    assert!(reads.assets.iter().all(|k| unvouched.contains(k)));
    // The findings are decided as before: attached to their stored assets.
    let findings = h.findings().await;
    assert!(findings
        .values()
        .filter(|f| f
            .asset_key
            .as_ref()
            .is_some_and(|k| named.contains(k.as_str())))
        .all(|f| f.attached));
    assert_eq!(
        (
            second.counters.findings.created,
            second.counters.assets.created
        ),
        (0, 0),
        "{:?}",
        second.counters
    );
}

#[tokio::test]
async fn a_first_sync_that_saw_every_asset_it_wrote_live_plans_no_retirement() {
    let spec = TenantSpec {
        decommissioned_permille: 0,
        orphan_threat_permille: 0,
        ..TenantSpec::small()
            .with_agents(150)
            .with_threats(300)
            .with_risks_per_agent(0)
    };
    let h = Harness::new(spec).await;
    let watch = Watch::default();
    let engine = h.engine_with(watch.clone());

    let first = h.sync_through(&engine).await;
    let reads = watch.take();
    assert_eq!((reads.retirement_plans, reads.closing_plans), (0, 0));
    assert_eq!(reads.transactions, 0);
    assert_eq!(first.counters.assets_retired, 0);
    assert!(h.assets().await.values().all(|a| a.active));

    // A machine SentinelOne stops returning is retired by the next sync, which plans as usual.
    let agents = h.sim.agents_snapshot();
    let name = |a: &serde_json::Value| {
        a["computerName"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
    };
    let gone = agents
        .iter()
        .find(|a| agents.iter().filter(|b| name(b) == name(a)).count() == 1)
        .and_then(|a| a["id"].as_str())
        .expect("an agent with a name of its own")
        .to_string();
    assert!(h.sim.remove_agent(&gone));
    let second = h.sync_through(&engine).await;
    let reads = watch.take();
    assert_eq!(reads.retirement_plans, 1);
    assert_eq!(second.counters.assets_retired, 1, "{:?}", second.counters);
}
