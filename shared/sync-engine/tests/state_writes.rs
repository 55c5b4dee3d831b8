//! What a run writes to the tenant's sync state besides its checkpoint: the API token's expiry is written when it
//! differs from the recorded one, not again by every run.

use test_support::sync as support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use connector_store::{RunStatus, Trigger};
use s1_simulator::TenantSpec;
use support::Harness;
use sync_engine::{start_sync, Budget, Outcome, SyncEngine, SyncMessage};

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

async fn sync(h: &Harness, engine: &SyncEngine) {
    let run = start_sync(&h.store, &h.queue, &h.tenant, Trigger::OnDemand)
        .await
        .expect("sync starts");
    let message = SyncMessage::first(h.tenant.as_str(), &run.id);
    match engine
        .run(&message, Budget::unlimited(), "worker-1")
        .await
        .expect("run")
    {
        Outcome::Finished(run) => assert_eq!(run.status, RunStatus::Succeeded, "{run:?}"),
        other => panic!("the run did not finish: {other:?}"),
    }
}

#[tokio::test]
async fn an_unchanged_token_expiry_is_not_written_again() {
    let h = Harness::new(TenantSpec::small().with_agents(5).with_threats(5)).await;
    let writes = ExpiryWrites::default();
    let engine = h.engine_with(writes.clone());
    let written = || writes.0.swap(0, Ordering::SeqCst);

    sync(&h, &engine).await;
    assert_eq!(written(), 1, "the first run records the expiry");
    let recorded = h
        .store
        .load_sync_state(&h.tenant)
        .await
        .expect("state")
        .token_expires_at;
    assert!(recorded.is_some());

    sync(&h, &engine).await;
    assert_eq!(written(), 0, "the same expiry is not written again");
    let state = h.store.load_sync_state(&h.tenant).await.expect("state");
    assert_eq!(state.token_expires_at, recorded);

    // Forgotten (a new token was saved): the next run records it again.
    h.store
        .forget_token_expiry(&h.tenant)
        .await
        .expect("forget");
    sync(&h, &engine).await;
    assert_eq!(written(), 1);
    let state = h.store.load_sync_state(&h.tenant).await.expect("state");
    assert_eq!(state.token_expires_at, recorded);
}
