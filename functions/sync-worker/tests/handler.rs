//! The sync worker through its handler: SQS events built from the repo's sample (`events/sync-message.json`)
//! around the messages really on a fresh queue of the local AWS stack, a fresh table, and the simulator as the
//! tenant's console. Needs the local stack (`scripts/local-aws start && eval "$(scripts/local-aws env)"`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use connector_store::{
    save_configuration, AssetFilter, PageTokenKey, RunStatus, Store, SyncRun, TenantConfig,
    TenantId, Trigger, Vault,
};
use lambda_runtime::{Context, LambdaEvent};
use local_stack::LocalStack;
use s1_core::ApiToken;
use s1_simulator::{SimHandle, Simulator, TenantSpec};
use sentinelone_client::ClientOptions;
use serde_json::{json, Value};
use sync_engine::{start_sync, SyncEngine, SyncMessage, SyncQueue, Worker};
use sync_worker::handle;

struct Bench {
    stack: LocalStack,
    worker: Worker,
    tenant: TenantId,
    // Kept alive for the test: dropping the handle stops the simulator.
    _sim: SimHandle,
}

/// A message as SQS handed it over: the Lambda record is built from it.
struct Received {
    message_id: String,
    receipt_handle: String,
    body: String,
}

impl Bench {
    /// tenant-a, configured with the simulator (a small console) as its SentinelOne.
    async fn new() -> Bench {
        let sim = Simulator::new(TenantSpec::small().with_agents(60).with_threats(150))
            .start()
            .await
            .expect("simulator starts");
        let stack = LocalStack::connect().await.expect("local AWS stack");
        let store = Store::new(
            stack.dynamodb.clone(),
            stack.fresh_table().await.expect("table"),
            PageTokenKey::random(),
        );
        let vault = Vault::new(stack.secrets.clone(), stack.fresh_secret_prefix());
        let queue = SyncQueue::new(stack.sqs.clone(), stack.fresh_queue().await.expect("queue"));
        let tenant = TenantId::new("tenant-a").expect("tenant");
        let token = ApiToken::new(sim.token()).expect("token");
        save_configuration(
            &store,
            &vault,
            &tenant,
            TenantConfig::new(sim.base_url()),
            Some(&token),
        )
        .await
        .expect("configuration saved");
        // As `sync_engine::environment::worker_from_env` builds it, with the simulator's loopback allowed and
        // small pages (multi-page walks on a small console).
        let worker = Worker {
            engine: SyncEngine {
                store,
                vault,
                url_policy: test_support::dev_loopback_policy(),
                client_options: ClientOptions {
                    requests_per_second: 1000.0,
                    page_limit: 25,
                    ..ClientOptions::default()
                },
                max_retire_percent: sync_engine::DEFAULT_MAX_RETIRE_PERCENT,
            },
            queue,
            max_receives: 5,
            safety_margin: Duration::from_secs(30),
        };
        Bench {
            stack,
            worker,
            tenant,
            _sim: sim,
        }
    }

    async fn sync_now(&self) -> SyncRun {
        start_sync(
            &self.worker.engine.store,
            &self.worker.queue,
            &self.tenant,
            Trigger::OnDemand,
        )
        .await
        .expect("sync starts")
    }

    async fn receive(&self) -> Vec<Received> {
        let out = self
            .stack
            .sqs
            .receive_message()
            .queue_url(self.worker.queue.url())
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect()
    }

    /// What Lambda does with a record the handler did not report failed.
    async fn delete(&self, receipt_handle: &str) {
        self.stack
            .sqs
            .delete_message()
            .queue_url(self.worker.queue.url())
            .receipt_handle(receipt_handle)
            .send()
            .await
            .expect("delete");
    }

    async fn run(&self, id: &str) -> SyncRun {
        self.worker
            .engine
            .store
            .get_run(&self.tenant, id)
            .await
            .expect("read run")
            .expect("run recorded")
    }
}

/// An SQS event of the sample's shape carrying `records` (message id, receipt handle, body), invoked with
/// `deadline_in` left (`None`: a context without a deadline, as some local invokers send).
fn sqs_event(
    records: &[(&str, &str, &str)],
    deadline_in: Option<Duration>,
) -> LambdaEvent<SqsEvent> {
    let mut event: Value =
        serde_json::from_str(include_str!("../events/sync-message.json")).expect("sample event");
    let template = event["Records"][0].clone();
    event["Records"] = records
        .iter()
        .map(|(id, receipt, body)| {
            let mut r = template.clone();
            r["messageId"] = json!(id);
            r["receiptHandle"] = json!(receipt);
            r["body"] = json!(body);
            r
        })
        .collect();
    let payload = serde_json::from_value(event).expect("SQS event");
    let mut context = Context::default();
    context.request_id = "sync-worker-test".into();
    context.deadline = deadline_in.map_or(0, |left| {
        (SystemTime::now() + left)
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64
    });
    LambdaEvent::new(payload, context)
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn a_batch_runs_the_sync_to_its_end_and_reports_only_the_malformed_record_as_failed() {
    let b = Bench::new().await;
    let run = b.sync_now().await;

    // The first batch: the run's message and a record that can never be a sync message.
    let first = b.receive().await;
    assert_eq!(first.len(), 1, "sync-now queued one message");
    let response = handle(
        &b.worker,
        sqs_event(
            &[
                (
                    &first[0].message_id,
                    &first[0].receipt_handle,
                    &first[0].body,
                ),
                (
                    "malformed-1",
                    "receipt-malformed",
                    "this is not a sync message",
                ),
            ],
            Some(Duration::from_secs(600)),
        ),
    )
    .await
    .expect("the handler answers with a batch response");
    // Only the malformed record is retried (and so, in AWS, reaches the DLQ); the run's message is done.
    assert_eq!(failed_ids(&response), vec!["malformed-1".to_string()]);
    b.delete(&first[0].receipt_handle).await;

    // Continuations (and nothing else) until the queue is empty, as Lambda would deliver them.
    for _ in 0..100 {
        let batch = b.receive().await;
        if batch.is_empty() {
            break;
        }
        let records: Vec<(&str, &str, &str)> = batch
            .iter()
            .map(|m| {
                (
                    m.message_id.as_str(),
                    m.receipt_handle.as_str(),
                    m.body.as_str(),
                )
            })
            .collect();
        let response = handle(
            &b.worker,
            sqs_event(&records, Some(Duration::from_secs(600))),
        )
        .await
        .expect("batch response");
        assert!(failed_ids(&response).is_empty(), "{response:?}");
        for m in &batch {
            let message = SyncMessage::from_body(&m.body).expect("a sync message");
            assert_eq!(
                message.run_id, run.id,
                "only this run's messages are queued"
            );
            b.delete(&m.receipt_handle).await;
        }
    }

    let run = b.run(&run.id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let assets = b
        .worker
        .engine
        .store
        .list_assets(&b.tenant, &AssetFilter::default(), None, 100)
        .await
        .expect("list assets");
    assert!(
        !assets.items.is_empty(),
        "the console's agents were imported"
    );
}

#[tokio::test]
async fn without_a_deadline_in_the_context_the_worker_checkpoints_and_queues_a_continuation() {
    let b = Bench::new().await;
    let run = b.sync_now().await;
    let first = b.receive().await;
    assert_eq!(first.len(), 1);

    // A deadline of 0 means "no time to spare": the run is checkpointed and continued by a new message, never
    // left to a Lambda timeout, and the record itself is done.
    let response = handle(
        &b.worker,
        sqs_event(
            &[(
                &first[0].message_id,
                &first[0].receipt_handle,
                &first[0].body,
            )],
            None,
        ),
    )
    .await
    .expect("batch response");
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    b.delete(&first[0].receipt_handle).await;

    let next = b.receive().await;
    assert_eq!(next.len(), 1, "one continuation is queued");
    let message = SyncMessage::from_body(&next[0].body).expect("a sync message");
    assert_eq!(message.run_id, run.id);
    assert!(message.continuation >= 1, "{message:?}");
    assert!(!b.run(&run.id).await.status.is_finished());
}
