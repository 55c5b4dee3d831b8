//! What a vulnerability walk that began on a tenant without any vulnerability asks of the store, counted by an SDK
//! interceptor against the local stack: it records no seen markers, plans no fixing by absence and reads no stored
//! head of a row it has not applied itself, whether the tenant's layout was created by the same invocation or the
//! store was asked; a row the walk returns again after a restart is still read (and not created twice); a walk
//! continued by other invocations keeps to the first one's finding; and once the tenant holds vulnerabilities, a
//! complete walk records, plans and fixes what it did not return as before.

use test_support::sync as support;

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{RunStatus, SyncRun};
use s1_simulator::{Fault, FaultRule, TenantSpec, Trigger};
use support::Harness;

fn spec() -> TenantSpec {
    // 240 risk rows over three pages of 100.
    TenantSpec::small()
        .with_seed(2020)
        .with_agents(60)
        .with_threats(20)
        .with_risks_per_agent(4)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Asked {
    /// Seen-marker items written (`SEENV#` puts) and marker queries.
    markers_written: u64,
    markers_read: u64,
    /// Fixing plans' queries of the open and reopened vulnerabilities (facets index).
    fixing_plans: u64,
    /// Vulnerability heads asked for by BatchGetItem (`VULN#<id>` keys).
    heads_read: u64,
    /// One-key queries asking whether a record partition holds a vulnerability.
    presence_checks: u64,
    /// Reads of the asset directory that places rows (a query of the assets' agent ids).
    directories_read: u64,
}

#[derive(Debug, Clone, Default)]
struct Watch(Arc<Mutex<Asked>>);

impl Watch {
    fn take(&self) -> Asked {
        std::mem::take(&mut *self.0.lock().expect("asked"))
    }
}

fn sk_of(key: &std::collections::HashMap<String, AttributeValue>) -> &str {
    match key.get("sk") {
        Some(AttributeValue::S(sk)) => sk,
        _ => "",
    }
}

impl Intercept for Watch {
    fn name(&self) -> &'static str {
        "vulnerability calls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut asked = self.0.lock().expect("asked");
        let input = context.input();
        if let Some(get) = input.downcast_ref::<BatchGetItemInput>() {
            let keys = get
                .request_items()
                .into_iter()
                .flat_map(|m| m.values())
                .flat_map(|k| k.keys());
            asked.heads_read += keys.filter(|k| sk_of(k).starts_with("VULN#")).count() as u64;
        } else if let Some(write) = input.downcast_ref::<BatchWriteItemInput>() {
            let puts = write
                .request_items()
                .into_iter()
                .flat_map(|m| m.values())
                .flatten()
                .filter_map(|w| w.put_request());
            asked.markers_written += puts
                .filter(|p| sk_of(p.item()).starts_with("SEENV#"))
                .count() as u64;
        } else if let Some(q) = input.downcast_ref::<QueryInput>() {
            let prefix = match q.expression_attribute_values().and_then(|v| v.get(":qsk")) {
                Some(AttributeValue::S(p)) => p.as_str(),
                _ => "",
            };
            let on_facets = q.index_name() == Some("facets");
            let agent_ids = q
                .expression_attribute_names()
                .is_some_and(|n| n.values().any(|v| v == "agent_ids"));
            if prefix == "ASSET#" && agent_ids {
                asked.directories_read += 1;
            } else if prefix.starts_with("SEENV#") {
                asked.markers_read += 1;
            } else if on_facets
                && (prefix.starts_with("VULN#open#") || prefix.starts_with("VULN#reopened#"))
            {
                asked.fixing_plans += 1;
            } else if !on_facets && prefix == "VULN#" && q.limit() == Some(1) {
                asked.presence_checks += 1;
            }
        }
        Ok(())
    }
}

/// The harness's worker, its DynamoDB calls seen by `watch`.
fn watch_worker(h: &mut Harness) -> Watch {
    let watch = Watch::default();
    h.worker.engine = h.engine_with(watch.clone());
    watch
}

fn succeeded(run: SyncRun) -> SyncRun {
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.message);
    run
}

/// Stored vulnerability items.
async fn stored_vulnerabilities(h: &Harness) -> u64 {
    test_support::scan_table(h.store.dynamodb(), h.store.table_name())
        .await
        .iter()
        .filter(|i| {
            i.get("kind")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some("vulnerability")
        })
        .count() as u64
}

#[tokio::test]
async fn a_first_sync_records_no_marker_plans_no_fixing_and_then_a_complete_resync_fixes_as_before()
{
    let mut h = Harness::new(spec()).await;
    let watch = watch_worker(&mut h);
    let first = succeeded(h.sync().await.run);
    let asked = watch.take();
    let stored = stored_vulnerabilities(&h).await;
    assert!(stored > 200, "{stored} vulnerabilities imported");
    assert_eq!(
        first.vulnerabilities.created, stored,
        "{:?}",
        first.vulnerabilities
    );
    assert_eq!(
        asked,
        Asked {
            presence_checks: 1,
            directories_read: 1,
            ..Asked::default()
        },
        "the invocation that created the layout knew the tenant held nothing: no marker, plan or head, and no \
         check beyond the layout's own one of the legacy partition"
    );

    // The tenant holds vulnerabilities now: a complete walk that misses one records what it returned, plans from
    // it and fixes the missing one.
    let rows = h.sim.risks_snapshot();
    let gone = rows
        .iter()
        .filter(|r| r["status"] != "Removed")
        .nth(5)
        .and_then(|r| r["id"].as_str())
        .expect("a detected row")
        .to_string();
    assert!(h.sim.delete_risk(&gone));
    h.store
        .set_full_vulnerability_walk_every(&h.tenant, 0)
        .await
        .expect("period set");
    let complete = succeeded(h.sync().await.run);
    let asked = watch.take();
    assert_eq!(
        complete.vulnerabilities.fixed, 1,
        "{:?}",
        complete.vulnerabilities
    );
    assert!(asked.presence_checks >= 1, "{asked:?}");
    assert!(
        asked.markers_written > 0 && asked.markers_read > 0,
        "{asked:?}"
    );
    assert!(asked.fixing_plans > 0, "{asked:?}");
    assert!(
        asked.heads_read >= stored - 1,
        "every returned row's head read: {asked:?}"
    );
}

#[tokio::test]
async fn a_tenant_that_held_no_vulnerability_is_told_by_the_store() {
    // The first sync imports threats and assets only; the second walks the vulnerabilities for the first time on a
    // tenant whose layout already exists (and holds findings).
    let mut h = Harness::with_config(spec(), |c| c.import_vulnerabilities = false).await;
    succeeded(h.sync().await.run);
    h.update_config(|c| c.import_vulnerabilities = true).await;
    let watch = watch_worker(&mut h);
    let run = succeeded(h.sync().await.run);
    let asked = watch.take();
    let stored = stored_vulnerabilities(&h).await;
    assert!(
        stored > 200 && run.vulnerabilities.created == stored,
        "{:?}",
        run.vulnerabilities
    );
    assert_eq!(
        asked,
        Asked {
            presence_checks: 16,
            directories_read: 1,
            ..Asked::default()
        },
        "one check per record shard, then no marker, plan or head"
    );
}

#[tokio::test]
async fn a_walk_continued_by_other_invocations_keeps_to_the_first_ones_finding() {
    let mut h = Harness::new(spec()).await;
    let watch = watch_worker(&mut h);
    // Every invocation applies one page: the walk starts in one and is continued by others, which do not know
    // what the first one applied and read heads as usual, but record and plan nothing.
    let drained = h.sync_with_budget(std::time::Duration::ZERO).await;
    let run = succeeded(drained.run);
    assert!(
        drained.invocations >= 5,
        "{} invocations",
        drained.invocations
    );
    let asked = watch.take();
    let stored = stored_vulnerabilities(&h).await;
    assert_eq!(
        run.vulnerabilities.created, stored,
        "{:?}",
        run.vulnerabilities
    );
    assert_eq!(
        (
            asked.markers_written,
            asked.markers_read,
            asked.fixing_plans
        ),
        (0, 0, 0),
        "{asked:?}"
    );
    assert!(asked.heads_read > 0, "continuations read heads: {asked:?}");
}

#[tokio::test]
async fn a_row_returned_again_after_a_restart_is_read_and_not_created_twice() {
    let mut h = Harness::new(spec()).await;
    let watch = watch_worker(&mut h);
    // The risks walk's second request (the first with a cursor) is refused as an expired cursor: the walk starts
    // over and returns the first page's rows again.
    h.sim.faults().add(
        FaultRule::new(Fault::CursorExpiry, Trigger::Burst { after: 1, count: 1 })
            .on_path("application-management/risks"),
    );
    let run = succeeded(h.sync().await.run);
    assert_eq!(h.sim.fault_counts().total(), 1, "the cursor expired once");
    let asked = watch.take();
    let stored = stored_vulnerabilities(&h).await;
    assert_eq!(
        run.vulnerabilities.created, stored,
        "{:?}",
        run.vulnerabilities
    );
    assert!(
        run.vulnerabilities.unchanged >= 100,
        "the first page's rows, returned again, are unchanged: {:?}",
        run.vulnerabilities
    );
    assert!(
        asked.heads_read >= 100 && asked.heads_read < stored,
        "only rows the walk may have applied are read: {asked:?}"
    );
    assert_eq!(
        (asked.markers_written, asked.fixing_plans),
        (0, 0),
        "{asked:?}"
    );
}

#[tokio::test]
async fn a_delta_walk_that_returns_no_row_reads_no_asset_directory() {
    let mut h = Harness::new(spec()).await;
    succeeded(h.sync().await.run);
    let watch = watch_worker(&mut h);
    // Nothing changed on the console: the delta walk returns no row, so no asset is needed to place one.
    let resync = succeeded(h.sync().await.run);
    let asked = watch.take();
    assert_eq!(
        resync.vulnerabilities.fetched, 0,
        "{:?}",
        resync.vulnerabilities
    );
    assert_eq!(asked.directories_read, 0, "{asked:?}");

    // A row SentinelOne marks removed comes back in the next delta walk, which reads the directory once to place it.
    let changed = h
        .sim
        .risks_snapshot()
        .iter()
        .find(|r| r["status"] != "Removed")
        .and_then(|r| r["id"].as_str())
        .expect("a detected row")
        .to_string();
    assert!(h.sim.remove_risk(&changed));
    let next = succeeded(h.sync().await.run);
    let asked = watch.take();
    assert!(
        next.vulnerabilities.fetched >= 1,
        "{:?}",
        next.vulnerabilities
    );
    assert_eq!(asked.directories_read, 1, "{asked:?}");
}
