//! No message is dropped and no run stays stuck: a busy tenant's message comes back later, a run whose messages
//! ended in the DLQ is failed and its slot freed, a scheduled start that fails halfway is undone (slot and day),
//! a tenant busy at the fan-out gets its scheduled run when the running one ends, and a finished run stays finished.

use test_support::sync as support;

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use connector_store::{RunStatus, StoreError, SyncRun, Trigger};
use s1_simulator::TenantSpec;
use support::Harness;
use sync_engine::worker::BUSY_RETRY_DELAY;
use sync_engine::{schedule_due_syncs, start_sync, Budget, DeadLetters, Disposition, SyncMessage};
use time::OffsetDateTime;

fn spec() -> TenantSpec {
    TenantSpec::small().with_agents(20).with_threats(40)
}

async fn runs_oldest_first(h: &Harness) -> Vec<SyncRun> {
    let mut runs = h
        .store
        .list_runs(&h.tenant, None, 50)
        .await
        .expect("list runs")
        .items;
    runs.reverse();
    runs
}

#[tokio::test]
async fn a_message_that_finds_the_tenant_busy_comes_back_later_and_its_run_completes() {
    let h = Harness::new(spec()).await;
    let run = start_sync(&h.store, &h.queue, &h.tenant, Trigger::OnDemand)
        .await
        .expect("sync starts");
    // An invocation that crashed while holding the tenant's lease: it stays valid for a few more seconds.
    assert!(h
        .store
        .try_acquire_lease(&h.tenant, "crashed-invocation", Duration::from_secs(3))
        .await
        .expect("lease")
        .is_some());

    let (record, receipt) = h.receive_one(1).await.expect("the run's message");
    let deadline = SystemTime::now() + Duration::from_secs(600);
    let disposition = h.worker.handle(&record, deadline, "worker-1").await;
    assert_eq!(
        disposition,
        Disposition::RetryAfter(BUSY_RETRY_DELAY),
        "a busy tenant's message must be retried, not dropped"
    );
    // What the Lambda handler does with RetryAfter: a delayed copy, then the record reported processed (deleted).
    // The delay is shortened from BUSY_RETRY_DELAY to keep the test short; the crashed lease expires before it.
    h.worker
        .retry_later(&record, Duration::from_secs(4))
        .await
        .expect("delayed copy queued");
    h.delete_message(&receipt).await;

    assert!(
        h.receive_one(0).await.is_none(),
        "the copy is delayed, not visible at once"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (copy, copy_receipt) = h.receive_one(2).await.expect("the delayed copy comes back");
    let message = SyncMessage::from_body(&copy.body).expect("sync message");
    assert_eq!(message.run_id, run.id);
    assert_eq!(message.busy_retries, 1);
    assert_eq!(
        copy.receive_count, 1,
        "the copy starts again at one receive"
    );
    let disposition = h.worker.handle(&copy, deadline, "worker-2").await;
    assert_eq!(disposition, Disposition::Done);
    h.delete_message(&copy_receipt).await;
    h.drain(Duration::from_secs(600)).await;

    let done = h
        .store
        .get_run(&h.tenant, &run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");
    assert!(h.assets().await.len() >= 20);

    // A late duplicate of the finished run's message is simply done (Harness::drain asserts Done).
    h.queue
        .send(&SyncMessage::first(h.tenant.as_str(), &run.id))
        .await
        .expect("duplicate");
    assert_eq!(h.drain(Duration::from_secs(600)).await, 1);
    assert_eq!(
        h.store.run_slot_holder(&h.tenant).await.expect("slot"),
        None
    );
}

#[tokio::test]
async fn a_run_whose_message_reached_the_dlq_is_failed_with_the_reason_and_its_slot_freed() {
    let h = Harness::new(spec()).await;
    // The real redrive: the test queue gets a DLQ after 2 receives.
    let dlq_url = h.stack.fresh_queue().await.expect("dlq");
    let dlq_arn = h
        .stack
        .sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dlq attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("dlq arn");
    h.stack
        .sqs
        .set_queue_attributes()
        .queue_url(h.queue.url())
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#),
        )
        .send()
        .await
        .expect("redrive policy");

    let run = start_sync(&h.store, &h.queue, &h.tenant, Trigger::OnDemand)
        .await
        .expect("sync starts");
    // Every receive ends without a result (a worker killed by its timeout): the message comes back at once, until
    // SQS moves it to the DLQ. The worker never saw an error, so it never marked the run failed.
    for _ in 0..10 {
        let out = h
            .stack
            .sqs
            .receive_message()
            .queue_url(h.queue.url())
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        if out.messages.unwrap_or_default().is_empty() {
            break;
        }
    }
    let out = h
        .stack
        .sqs
        .receive_message()
        .queue_url(&dlq_url)
        .wait_time_seconds(2)
        .send()
        .await
        .expect("receive dlq");
    let dead = out
        .messages
        .unwrap_or_default()
        .into_iter()
        .next()
        .expect("the message is in the DLQ");
    let stuck = h
        .store
        .get_run(&h.tenant, &run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(stuck.status, RunStatus::Pending, "nothing failed it yet");

    let dead_letters = DeadLetters {
        store: h.store.clone(),
        queue: h.queue.clone(),
        max_receives: 2,
    };
    let record = sync_engine::QueuedMessage {
        message_id: dead.message_id.clone().unwrap_or_default(),
        body: dead.body.clone().unwrap_or_default(),
        receive_count: 3,
    };
    assert_eq!(dead_letters.handle(&record).await, Disposition::Done);

    let failed = h
        .store
        .get_run(&h.tenant, &run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(failed.status, RunStatus::Failed);
    let reason = failed.message.clone().unwrap_or_default();
    assert!(
        reason.contains("given up after 2 deliveries"),
        "reason: {reason}"
    );
    assert_eq!(failed.errors, vec![reason]);
    assert_eq!(
        h.store.run_slot_holder(&h.tenant).await.expect("slot"),
        None,
        "the slot is freed"
    );
    // Handling the same dead letter again changes nothing.
    assert_eq!(dead_letters.handle(&record).await, Disposition::Done);

    let next = h.sync().await;
    assert_eq!(next.run.status, RunStatus::Succeeded, "{:?}", next.run);
    assert_ne!(next.run.id, run.id);
}

/// Fails the PutItem that records a new run (a DynamoDB fault on exactly that step of a start).
#[derive(Debug)]
struct FailRunCreation;

impl Intercept for FailRunCreation {
    fn name(&self) -> &'static str {
        "FailRunCreation"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let put_item = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".PutItem"));
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        if put_item && body.contains("\"RUN#") && body.contains("attribute_not_exists(pk)") {
            return Err("injected: DynamoDB unavailable while recording the run".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_scheduled_start_whose_run_cannot_be_recorded_frees_the_slot_and_keeps_the_day() {
    let h = Harness::with_config(spec(), |c| c.auto_sync_days = Some(1)).await;
    let faulty = h.store_with(FailRunCreation);
    let now = OffsetDateTime::now_utc();

    let report = schedule_due_syncs(&faulty, &h.queue, now, Budget::unlimited())
        .await
        .expect("fan-out");
    assert_eq!(
        (report.due, report.enqueued, report.failed),
        (1, 0, 1),
        "{report:?}"
    );
    assert_eq!(
        h.store.run_slot_holder(&h.tenant).await.expect("slot"),
        None,
        "the claimed slot is released"
    );
    assert!(runs_oldest_first(&h).await.is_empty());

    // The retry of the same day's fan-out schedules the tenant: the day was not lost.
    let retry = schedule_due_syncs(&h.store, &h.queue, now, Budget::unlimited())
        .await
        .expect("retry");
    assert_eq!(
        (retry.enqueued, retry.already_scheduled),
        (1, 0),
        "{retry:?}"
    );
    assert_eq!(h.drain(Duration::from_secs(600)).await, 1);
    let runs = runs_oldest_first(&h).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger, Trigger::Scheduled);
    assert_eq!(runs[0].status, RunStatus::Succeeded, "{:?}", runs[0]);
    // And only once that day.
    let again = schedule_due_syncs(&h.store, &h.queue, now, Budget::unlimited())
        .await
        .expect("again");
    assert_eq!((again.enqueued, again.failed), (0, 0), "{again:?}");
}

#[tokio::test]
async fn a_tenant_busy_at_the_fan_out_gets_its_scheduled_run_after_the_running_one_ends() {
    let h = Harness::with_config(spec(), |c| c.auto_sync_days = Some(1)).await;
    let first = start_sync(&h.store, &h.queue, &h.tenant, Trigger::OnDemand)
        .await
        .expect("sync starts");
    let now = OffsetDateTime::now_utc();
    let report = schedule_due_syncs(&h.store, &h.queue, now, Budget::unlimited())
        .await
        .expect("fan-out");
    assert_eq!((report.busy, report.enqueued), (1, 0), "{report:?}");
    // A retry of the fan-out records nothing twice (the tenant's next due time has moved on).
    let again = schedule_due_syncs(&h.store, &h.queue, now, Budget::unlimited())
        .await
        .expect("fan-out retry");
    assert_eq!((again.busy, again.enqueued), (0, 0), "{again:?}");

    // The first run's message, then the deferred scheduled run's, both through the worker.
    assert_eq!(h.drain(Duration::from_secs(600)).await, 2);
    let runs = runs_oldest_first(&h).await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(runs[0].id, first.id);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert_eq!(runs[1].trigger, Trigger::Scheduled);
    assert_eq!(runs[1].status, RunStatus::Succeeded, "{:?}", runs[1]);
    assert!(
        runs[1].created_at >= runs[0].finished_at.clone().unwrap_or_default(),
        "the scheduled run started after the first ended"
    );

    // A redelivery of the first run's message does not start the scheduled run twice.
    h.queue
        .send(&SyncMessage::first(h.tenant.as_str(), &first.id))
        .await
        .expect("duplicate");
    assert_eq!(h.drain(Duration::from_secs(600)).await, 1);
    assert_eq!(runs_oldest_first(&h).await.len(), 2);
    assert_eq!(
        h.store.run_slot_holder(&h.tenant).await.expect("slot"),
        None
    );
}

#[tokio::test]
async fn a_finished_run_is_never_turned_back_by_a_late_update() {
    let h = Harness::new(TenantSpec::small().with_agents(1).with_threats(1)).await;
    let run = SyncRun::new(h.tenant.clone(), Trigger::OnDemand);
    h.store.create_run(&run).await.expect("create");
    let mut progress = run.clone();
    progress.mark_running();
    h.store.update_run(&progress).await.expect("progress");

    // Failed from outside (the dead-letter handler, a disconnect): the finishing write of a running run.
    let mut failed = progress.clone();
    failed.finish(RunStatus::Failed, Some("given up".into()));
    h.store.update_run(&failed).await.expect("finishing write");

    // A late worker's progress, and a late finishing write, are both refused with a typed error.
    progress.pages = 7;
    assert!(matches!(
        h.store.update_run(&progress).await,
        Err(StoreError::RunAlreadyFinished { run_id }) if run_id == run.id
    ));
    let mut succeeded = progress.clone();
    succeeded.finish(RunStatus::Succeeded, None);
    assert!(matches!(
        h.store.update_run(&succeeded).await,
        Err(StoreError::RunAlreadyFinished { .. })
    ));
    assert_eq!(
        h.store.get_run(&h.tenant, &run.id).await.expect("read"),
        Some(failed)
    );
    // An unknown run is still refused as before (not as finished).
    let unknown = SyncRun::new(h.tenant.clone(), Trigger::OnDemand);
    assert!(matches!(
        h.store.update_run(&unknown).await,
        Err(e) if e.is_conditional_check_failed()
    ));
}
