//! The daily schedule through the handler, with the repo's sample EventBridge event (`events/daily.json`) against
//! a fresh table and queue on the local AWS stack. The fan-out that does not finish fails the invocation
//! (`FanOutIncomplete`) so Lambda retries the same event, and the retry queues exactly the tenants not yet queued.
//! Needs the local stack (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use connector_store::{
    save_configuration, PageTokenKey, RunStatus, Store, TenantConfig, TenantId, Trigger, Vault,
};
use lambda_runtime::{Context, LambdaEvent};
use local_stack::LocalStack;
use s1_core::ApiToken;
use scheduled_sync::{handle, Deps, FanOutIncomplete};
use serde_json::Value;
use sync_engine::{SyncMessage, SyncQueue};
use time::format_description::well_known::Rfc3339;
use time::macros::time;
use time::OffsetDateTime;

/// Tenants with auto-sync on (due: never scheduled yet) and off.
const DUE: [&str; 4] = ["tenant-a", "tenant-b", "tenant-c", "tenant-d"];
const OFF: [&str; 2] = ["tenant-off-1", "tenant-off-2"];

struct Bench {
    stack: LocalStack,
    store: Store,
    queue: SyncQueue,
}

impl Bench {
    async fn new() -> Bench {
        let stack = LocalStack::connect().await.expect("local AWS stack");
        let store = Store::new(
            stack.dynamodb.clone(),
            stack.fresh_table().await.expect("table"),
            PageTokenKey::random(),
        );
        let vault = Vault::new(stack.secrets.clone(), stack.fresh_secret_prefix());
        let queue = SyncQueue::new(stack.sqs.clone(), stack.fresh_queue().await.expect("queue"));
        let token = ApiToken::new("eyJ0ZXN0LXNjaGVkdWxlZC10b2tlbi0wMDAx".into()).expect("token");
        for (name, days) in DUE
            .iter()
            .map(|t| (t, Some(1)))
            .chain(OFF.iter().map(|t| (t, None)))
        {
            let mut config = TenantConfig::new("https://acme.sentinelone.net");
            config.auto_sync_days = days;
            save_configuration(
                &store,
                &vault,
                &TenantId::new(*name).expect("tenant"),
                config,
                Some(&token),
            )
            .await
            .expect("configuration saved");
        }
        Bench {
            stack,
            store,
            queue,
        }
    }

    fn deps(&self) -> Deps {
        Deps {
            store: self.store.clone(),
            queue: self.queue.clone(),
        }
    }

    /// Every message on the queue (received and deleted), parsed.
    async fn queued(&self) -> Vec<SyncMessage> {
        test_support::drain_queue(&self.stack.sqs, self.queue.url())
            .await
            .iter()
            .map(|body| SyncMessage::from_body(body).expect("valid message"))
            .collect()
    }
}

/// The sample event, fired at tomorrow's 01:15 UTC (tenants saved just now are due then), invoked with
/// `time_left` before the invocation's deadline.
fn daily_event(time_left: Duration) -> LambdaEvent<EventBridgeEvent<Value>> {
    let mut event: Value =
        serde_json::from_str(include_str!("../events/daily.json")).expect("sample event");
    let fired = (OffsetDateTime::now_utc().date() + time::Duration::days(1))
        .with_time(time!(01:15))
        .assume_utc();
    event["time"] = fired.format(&Rfc3339).expect("format").into();
    let payload = serde_json::from_value(event).expect("EventBridge event");
    let mut context = Context::default();
    context.request_id = "scheduled-sync-test".into();
    context.deadline = (SystemTime::now() + time_left)
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    LambdaEvent::new(payload, context)
}

fn tenants(messages: &[SyncMessage]) -> BTreeSet<String> {
    messages.iter().map(|m| m.tenant.clone()).collect()
}

fn due() -> BTreeSet<String> {
    DUE.iter().map(|t| t.to_string()).collect()
}

#[tokio::test]
async fn a_fan_out_out_of_time_fails_for_a_retry_and_the_retry_queues_every_due_tenant_once() {
    let b = Bench::new().await;

    // Less time left than the handler keeps back: the budget runs out before the first due tenant is queued.
    let err = handle(&b.deps(), daily_event(Duration::from_secs(5)))
        .await
        .expect_err("an incomplete fan-out fails the invocation so Lambda retries it");
    let incomplete = err
        .downcast_ref::<FanOutIncomplete>()
        .unwrap_or_else(|| panic!("not FanOutIncomplete: {err}"));
    assert_eq!(
        (
            incomplete.due,
            incomplete.enqueued,
            incomplete.deferred,
            incomplete.failed
        ),
        (DUE.len() as u64, 0, DUE.len() as u64, 0),
        "{incomplete}"
    );
    assert!(
        b.queued().await.is_empty(),
        "an out-of-time fan-out queued runs"
    );

    // Lambda's retry of the same event, with time: the rest (here: all) is queued, one run per due tenant.
    let report = handle(&b.deps(), daily_event(Duration::from_secs(900)))
        .await
        .expect("the retry completes the fan-out");
    assert_eq!(
        (report.enqueued, report.deferred, report.failed),
        (DUE.len() as u64, 0, 0),
        "{report:?}"
    );
    let queued = b.queued().await;
    assert_eq!(queued.len(), DUE.len(), "{queued:?}");
    assert_eq!(
        tenants(&queued),
        due(),
        "auto-sync-off tenants must not be queued"
    );
    for m in &queued {
        let run = b
            .store
            .get_run(&TenantId::new(m.tenant.clone()).expect("tenant"), &m.run_id)
            .await
            .expect("read run")
            .expect("the queued run is recorded");
        assert_eq!(
            (run.trigger, run.status),
            (Trigger::Scheduled, RunStatus::Pending)
        );
    }

    // A further delivery of the same event (EventBridge is at-least-once) queues nothing twice.
    let again = handle(&b.deps(), daily_event(Duration::from_secs(900)))
        .await
        .expect("a repeated event succeeds");
    assert_eq!(again.enqueued, 0, "{again:?}");
    assert!(b.queued().await.is_empty());
}

#[tokio::test]
async fn tenants_whose_runs_cannot_be_queued_fail_the_invocation_and_the_retry_queues_them() {
    let b = Bench::new().await;
    // A queue that does not exist: every send fails, so each due tenant's day mark is undone.
    let broken = Deps {
        store: b.store.clone(),
        queue: SyncQueue::new(b.stack.sqs.clone(), format!("{}-missing", b.queue.url())),
    };
    let err = handle(&broken, daily_event(Duration::from_secs(900)))
        .await
        .expect_err("runs that could not be queued fail the invocation");
    let incomplete = err
        .downcast_ref::<FanOutIncomplete>()
        .unwrap_or_else(|| panic!("not FanOutIncomplete: {err}"));
    assert_eq!(
        (incomplete.due, incomplete.enqueued, incomplete.failed),
        (DUE.len() as u64, 0, DUE.len() as u64),
        "{incomplete}"
    );

    let report = handle(&b.deps(), daily_event(Duration::from_secs(900)))
        .await
        .expect("the retry, with the queue reachable, completes the fan-out");
    assert_eq!(report.enqueued, DUE.len() as u64, "{report:?}");
    assert_eq!(tenants(&b.queued().await), due());
}
