//! The daily schedule: on the EventBridge event, queue one sync per due tenant. The event's own `time` decides
//! the scheduled day, so an EventBridge retry of the same event is recognised and enqueues nothing twice.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use connector_store::Store;
use lambda_runtime::{Error, LambdaEvent};
use sync_engine::{schedule_due_syncs, ScheduleReport, SyncQueue};
use time::OffsetDateTime;

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
    Ok(schedule_due_syncs(&deps.store, &deps.queue, scheduled_at).await?)
}
