//! What a run writes to the tenant's sync state and its run record: the API token's expiry is written when it
//! differs from the recorded one, not again by every run; the `SYNC` item every heartbeat rewrites stays under
//! 1 KB (one write unit a heartbeat) through an ordinary re-sync; and the run's record is written when the
//! invocation takes the run and when the run ends, not after every page and phase.

use test_support::sync as support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use s1_simulator::TenantSpec;
use support::Harness;

/// Counts the updates that set or remove the token's expiry.
#[derive(Debug, Clone, Default)]
struct ExpiryWrites(Arc<AtomicU64>);

impl Intercept for ExpiryWrites {
    fn name(&self) -> &'static str {
        "token expiry writes"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(update) = context.input().downcast_ref::<UpdateItemInput>() {
            if update
                .update_expression()
                .is_some_and(|e| e.contains("token_expires_at"))
            {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_unchanged_token_expiry_is_not_written_again() {
    let h = Harness::new(TenantSpec::small().with_agents(5).with_threats(5)).await;
    let writes = ExpiryWrites::default();
    let engine = h.engine_with(writes.clone());
    let written = || writes.0.swap(0, Ordering::SeqCst);

    h.sync_through(&engine).await;
    assert_eq!(written(), 1, "the first run records the expiry");
    let recorded = h
        .store
        .load_sync_state(&h.tenant)
        .await
        .expect("state")
        .token_expires_at;
    assert!(recorded.is_some());

    h.sync_through(&engine).await;
    assert_eq!(written(), 0, "the same expiry is not written again");
    let state = h.store.load_sync_state(&h.tenant).await.expect("state");
    assert_eq!(state.token_expires_at, recorded);

    // Forgotten (a new token was saved): the next run records it again.
    h.store
        .forget_token_expiry(&h.tenant)
        .await
        .expect("forget");
    h.sync_through(&engine).await;
    assert_eq!(written(), 1);
    let state = h.store.load_sync_state(&h.tenant).await.expect("state");
    assert_eq!(state.token_expires_at, recorded);
}

/// The checkpoints the heartbeats wrote, and how many times the run's record was written.
#[derive(Debug, Clone, Default)]
struct ProgressWrites {
    checkpoints: Arc<Mutex<Vec<AttributeValue>>>,
    run_records: Arc<AtomicU64>,
}

impl Intercept for ProgressWrites {
    fn name(&self) -> &'static str {
        "progress writes"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            if let Some(cp) = update
                .expression_attribute_values()
                .and_then(|v| v.get(":c"))
            {
                self.checkpoints
                    .lock()
                    .expect("checkpoints")
                    .push(cp.clone());
            }
        } else if let Some(put) = input.downcast_ref::<PutItemInput>() {
            if matches!(put.item().and_then(|i| i.get("sk")), Some(AttributeValue::S(sk)) if sk.starts_with("RUN#"))
            {
                self.run_records.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

/// Bytes of an attribute value by DynamoDB's rules (what a write unit is charged on).
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        // At most 21 bytes; a small number takes about one byte per two digits, plus one.
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
        other => panic!("not expected in the sync state: {other:?}"),
    }
}

#[tokio::test]
async fn an_unchanged_resync_keeps_its_sync_state_under_a_write_unit_and_writes_its_record_twice() {
    // Two pages of agents and two of threats (100 a page), with the sync state a synced tenant holds: watermark,
    // scope, the complete walk's time, the token's expiry, a verdict list.
    let h = Harness::new(TenantSpec::small().with_agents(150).with_threats(150)).await;
    let writes = ProgressWrites::default();
    let engine = h.engine_with(writes.clone());
    h.sync_through(&engine).await;
    writes.checkpoints.lock().expect("checkpoints").clear();
    writes.run_records.swap(0, Ordering::SeqCst);

    h.sync_through(&engine).await;
    let checkpoints = std::mem::take(&mut *writes.checkpoints.lock().expect("checkpoints"));
    assert!(
        checkpoints.len() >= 6,
        "a heartbeat per page and phase: {}",
        checkpoints.len()
    );
    // The item a heartbeat rewrote: the state as the run left it (without its checkpoint), the lease and the
    // largest checkpoint of the run.
    let state = h
        .stack
        .dynamodb
        .get_item()
        .table_name(h.store.table_name())
        .key("pk", AttributeValue::S(format!("T#{}", h.tenant.as_str())))
        .key("sk", AttributeValue::S("SYNC".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("read the sync state")
        .item
        .expect("the sync state");
    assert!(
        state.contains_key("token_expires_at") && state.contains_key("watermark"),
        "{state:?}"
    );
    let state_bytes: usize = state
        .iter()
        .filter(|(name, _)| name.as_str() != "checkpoint")
        .map(|(name, v)| name.len() + value_size(v))
        .sum();
    let lease = "lease_owner".len() + "worker-1".len() + "lease_expires_ms".len() + 8;
    let largest = checkpoints
        .iter()
        .map(value_size)
        .max()
        .expect("a checkpoint");
    let item = state_bytes + lease + "checkpoint".len() + largest;
    assert!(
        item <= 1024,
        "the sync state item reaches {item} bytes (state {state_bytes}, checkpoint {largest}): {:?}",
        checkpoints.iter().max_by_key(|c| value_size(c))
    );
    assert_eq!(
        writes.run_records.load(Ordering::SeqCst),
        2,
        "the run's record: when the invocation takes the run, and when it ends"
    );
}

#[tokio::test]
async fn a_walks_last_page_and_an_empty_phase_are_saved_by_the_next_phases_entry() {
    // Vulnerabilities off: that phase has nothing to do.
    let h = Harness::with_config(
        TenantSpec::small().with_agents(250).with_threats(250),
        |c| c.import_vulnerabilities = false,
    )
    .await;
    let writes = ProgressWrites::default();
    let engine = h.engine_with(writes.clone());
    for run in 0..2 {
        writes.checkpoints.lock().expect("checkpoints").clear();
        let walked = h.sync_through(&engine).await.pages as usize;
        let saved = std::mem::take(&mut *writes.checkpoints.lock().expect("checkpoints"));
        let phases: Vec<String> = saved
            .iter()
            .map(|c| match c {
                AttributeValue::M(m) => match m.get("phase") {
                    Some(AttributeValue::S(p)) => p.clone(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect();
        let pages = |phase: &str| phases.iter().filter(|p| *p == phase).count();
        // Every page but each walk's last is saved by its own heartbeat; the groups step, each walk's last page
        // and the empty vulnerability phase ride on the next phase's entry: the threat walk's, the attach
        // phase's. Then finalize's entry.
        assert_eq!(
            phases.len(),
            walked - 2 + 3,
            "run {run}: {walked} pages, saved phases {phases:?}"
        );
        assert_eq!(pages("groups"), 0, "{phases:?}");
        assert_eq!(pages("vulnerabilities"), 0, "{phases:?}");
        assert_eq!(pages("attach"), 1, "{phases:?}");
        assert_eq!(pages("finalize"), 1, "{phases:?}");
        assert!(pages("agents") >= 2 && pages("threats") >= 1, "{phases:?}");
    }
}
