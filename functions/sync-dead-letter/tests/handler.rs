//! The dead-letter handler through its SQS entry point, with the repo's sample event (`events/dead-letter.json`)
//! carrying a real run's message, against a fresh table and queue on the local AWS stack. Needs the local stack
//! (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).

use aws_lambda_events::sqs::SqsEvent;
use connector_store::{
    save_configuration, PageTokenKey, RunStatus, Store, TenantConfig, TenantId, Trigger, Vault,
};
use lambda_runtime::{Context, LambdaEvent};
use local_stack::LocalStack;
use s1_core::ApiToken;
use serde_json::{json, Value};
use sync_dead_letter::handle;
use sync_engine::{start_sync, DeadLetters, SyncQueue};

fn dead_letter_event(records: &[(&str, &str)]) -> LambdaEvent<SqsEvent> {
    let mut event: Value =
        serde_json::from_str(include_str!("../events/dead-letter.json")).expect("sample event");
    let template = event["Records"][0].clone();
    event["Records"] = records
        .iter()
        .map(|(id, body)| {
            let mut r = template.clone();
            r["messageId"] = json!(id);
            r["body"] = json!(body);
            r
        })
        .collect();
    LambdaEvent::new(
        serde_json::from_value(event).expect("SQS event"),
        Context::default(),
    )
}

#[tokio::test]
async fn a_given_up_run_is_marked_failed_with_the_reason_and_its_slot_freed() {
    let stack = LocalStack::connect().await.expect("local AWS stack");
    let store = Store::new(
        stack.dynamodb.clone(),
        stack.fresh_table().await.expect("table"),
        PageTokenKey::random(),
    );
    let vault = Vault::new(stack.secrets.clone(), stack.fresh_secret_prefix());
    let queue = SyncQueue::new(stack.sqs.clone(), stack.fresh_queue().await.expect("queue"));
    let tenant = TenantId::new("tenant-a").expect("tenant");
    let token = ApiToken::new("eyJ0ZXN0LWRlYWQtbGV0dGVyLXRva2VuLTAwMQ".into()).expect("token");
    save_configuration(
        &store,
        &vault,
        &tenant,
        TenantConfig::new("https://acme.sentinelone.net"),
        Some(&token),
    )
    .await
    .expect("configuration saved");
    let run = start_sync(&store, &queue, &tenant, Trigger::OnDemand)
        .await
        .expect("sync starts");
    let body = format!(
        r#"{{"tenant":"tenant-a","runId":"{}","continuation":2}}"#,
        run.id
    );
    let dead_letters = DeadLetters {
        store: store.clone(),
        queue: queue.clone(),
        max_receives: 5,
    };

    // The run's message and a body that is no sync message: neither is redriven (the second is dropped).
    let response = handle(
        &dead_letters,
        dead_letter_event(&[("dlq-1", &body), ("dlq-2", "garbage")]),
    )
    .await
    .expect("batch response");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    let failed = store
        .get_run(&tenant, &run.id)
        .await
        .expect("read run")
        .expect("run recorded");
    assert_eq!(failed.status, RunStatus::Failed, "{failed:?}");
    let reason = failed.message.clone().unwrap_or_default();
    assert!(reason.contains("given up after 5 deliveries"), "{reason}");
    assert!(failed.errors.iter().any(|e| e == &reason), "{failed:?}");

    // The slot is free at once: a new sync starts without waiting for the old one to go stale.
    start_sync(&store, &queue, &tenant, Trigger::OnDemand)
        .await
        .expect("a new sync starts after the given-up one");
}
