//! The daily schedule: on the EventBridge event, queue one sync per due tenant. The event's own `time` decides
//! the scheduled day, so an EventBridge retry of the same event is recognised and enqueues nothing twice. That is
//! also how a fan-out too large for one invocation finishes: the handler stops before its deadline and fails, and
//! Lambda's retry of the asynchronous invocation queues the tenants it did not reach. A tenant whose run could not
//! be recorded or queued has its day mark undone and also makes the invocation fail, so the retry schedules it.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use connector_store::Store;
use lambda_runtime::{Error, LambdaEvent};
use std::time::{Duration, UNIX_EPOCH};

use sync_engine::{schedule_due_syncs, Budget, ScheduleReport, SyncQueue};
use time::OffsetDateTime;

/// Time kept back before the deadline: one chunk of due tenants (a few hundred small writes and their SQS batches)
/// must finish inside it even when DynamoDB throttles.
const SAFETY_MARGIN: Duration = Duration::from_secs(60);

/// The fan-out stopped before its deadline with due tenants left, or could not start some tenants' runs (their
/// day marks were undone); failing makes Lambda retry the event.
#[derive(Debug, thiserror::Error)]
#[error("{deferred} of {due} due tenants were not reached before the invocation's deadline and {failed} could not be queued; the retry of this event queues them ({enqueued} queued by this invocation are skipped then)")]
pub struct FanOutIncomplete {
    pub due: u64,
    pub enqueued: u64,
    pub deferred: u64,
    pub failed: u64,
}

pub struct Deps {
    pub store: Store,
    pub queue: SyncQueue,
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<ScheduleReport, Error> {
    // An event without `time` (a hand-made test invoke) is scheduled "now".
    let scheduled_at = event
        .payload
        .time
        .and_then(|t| t.timestamp_nanos_opt())
        .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).ok())
        .unwrap_or_else(OffsetDateTime::now_utc);
    // A deadline of 0 (no invocation context, e.g. a local invoker) means no limit rather than no time at all.
    let budget = match event.context.deadline {
        0 => Budget::unlimited(),
        ms => Budget::until(UNIX_EPOCH + Duration::from_millis(ms), SAFETY_MARGIN),
    };
    let report = schedule_due_syncs(&deps.store, &deps.queue, scheduled_at, budget).await?;
    if report.deferred > 0 || report.failed > 0 {
        return Err(FanOutIncomplete {
            due: report.due,
            enqueued: report.enqueued,
            deferred: report.deferred,
            failed: report.failed,
        }
        .into());
    }
    Ok(report)
}
