//! The daily fan-out: every tenant whose auto-sync interval is due gets one queued run, once per day.

use connector_store::{ClaimError, Store, StoreError, SyncRun, TenantId, Trigger};
use futures::{stream, StreamExt};
use serde::Serialize;
use time::{Date, OffsetDateTime, Time};
use tracing::{info, warn};

use crate::engine::Budget;
use crate::message::SyncMessage;
use crate::on_demand::{abandon, RUN_SLOT_STALE_AFTER};
use crate::queue::SyncQueue;

/// Tenants prepared concurrently (each costs a few small DynamoDB calls).
const CONCURRENCY: usize = 32;

/// Due tenants prepared, then queued, together. Preparing marks a tenant scheduled for the day before its message
/// is sent, so an invocation killed in between loses that tenant's sync for the day: chunking bounds that window
/// to one chunk instead of the whole fan-out, and the budget check between chunks keeps the kill from happening.
const CHUNK: usize = CONCURRENCY * 10;

/// What one scheduled invocation did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleReport {
    pub due: u64,
    pub enqueued: u64,
    /// Already scheduled today (a second invocation on the same day, e.g. an EventBridge retry).
    pub already_scheduled: u64,
    /// A sync was already running; the tenant is still moved to its next due time.
    pub busy: u64,
    pub failed: u64,
    /// Due tenants not reached because the invocation's budget ran out; a retry of the same event picks them up
    /// (the day mark makes it skip the ones already queued).
    pub deferred: u64,
}

/// The next due time after a run scheduled on `day`: `days` later, at the start of that day (UTC), so that
/// day's 01:15 run picks it up.
pub fn next_due_at(day: Date, days: u16) -> OffsetDateTime {
    let next = day.saturating_add(time::Duration::days(i64::from(days)));
    next.with_time(Time::MIDNIGHT).assume_utc()
}

enum Prepared {
    Message(SyncMessage, Box<SyncRun>),
    AlreadyScheduled,
    Busy,
    Failed,
    NotDue,
}

/// Queues a run for every tenant due at `now`, chunk by chunk until `budget` runs out (see
/// [`ScheduleReport::deferred`]). Idempotent per tenant and UTC day.
pub async fn schedule_due_syncs(
    store: &Store,
    queue: &SyncQueue,
    now: OffsetDateTime,
    budget: Budget,
) -> Result<ScheduleReport, StoreError> {
    let due = store.list_due_tenants(now).await?;
    let mut report = ScheduleReport {
        due: due.len() as u64,
        ..Default::default()
    };
    let day = now.date();
    let day_str = format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    );

    for (i, chunk) in due.chunks(CHUNK).enumerate() {
        if budget.exhausted() {
            report.deferred = (due.len() - i * CHUNK) as u64;
            break;
        }
        let prepared: Vec<Prepared> = stream::iter(chunk)
            .map(|tenant| prepare(store, tenant, day, &day_str))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        queue_prepared(store, queue, prepared, &mut report).await;
    }
    info!(
        due = report.due,
        enqueued = report.enqueued,
        already = report.already_scheduled,
        busy = report.busy,
        failed = report.failed,
        deferred = report.deferred,
        "scheduled syncs queued"
    );
    Ok(report)
}

/// Sends the messages of one prepared chunk; a run whose message could not be sent is abandoned (its slot freed).
async fn queue_prepared(
    store: &Store,
    queue: &SyncQueue,
    prepared: Vec<Prepared>,
    report: &mut ScheduleReport,
) {
    let mut messages = Vec::new();
    let mut runs = Vec::new();
    for p in prepared {
        match p {
            Prepared::Message(m, r) => {
                messages.push(m);
                runs.push(r);
            }
            Prepared::AlreadyScheduled => report.already_scheduled += 1,
            Prepared::Busy => report.busy += 1,
            Prepared::Failed => report.failed += 1,
            Prepared::NotDue => report.due = report.due.saturating_sub(1),
        }
    }
    let failed = queue.send_all(&messages).await;
    report.enqueued += (messages.len() - failed.len()) as u64;
    report.failed += failed.len() as u64;
    for (message, error) in failed {
        if let (Ok(tenant), Some(run)) = (
            TenantId::new(message.tenant.clone()),
            runs.iter().find(|r| r.id == message.run_id),
        ) {
            abandon(store, &tenant, (**run).clone(), &error.to_string()).await;
        }
    }
}

async fn prepare(store: &Store, tenant: &TenantId, day: Date, day_str: &str) -> Prepared {
    let result: Result<Prepared, StoreError> = async {
        let Some(days) = store
            .get_config(tenant)
            .await?
            .and_then(|c| c.auto_sync_days)
        else {
            return Ok(Prepared::NotDue);
        };
        let next = next_due_at(day, days);
        let next = next
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        // The day mark is the idempotency key: a second invocation the same day stops here.
        if !store.mark_scheduled(tenant, day_str, &next).await? {
            return Ok(Prepared::AlreadyScheduled);
        }
        let run = SyncRun::new(tenant.clone(), Trigger::Scheduled);
        match store
            .claim_run_slot(tenant, &run.id, RUN_SLOT_STALE_AFTER)
            .await
        {
            Ok(()) => {}
            Err(ClaimError::AlreadyRunning { .. }) => return Ok(Prepared::Busy),
            Err(ClaimError::Store(e)) => return Err(e),
        }
        store.create_run(&run).await?;
        Ok(Prepared::Message(
            SyncMessage::first(tenant.as_str(), &run.id),
            Box::new(run),
        ))
    }
    .await;
    result.unwrap_or_else(|e| {
        warn!(tenant = %tenant.as_str(), error = %e, "could not schedule the tenant's sync");
        Prepared::Failed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_due_is_midnight_utc_n_days_later() {
        let day = time::macros::date!(2026 - 11 - 25);
        assert_eq!(
            next_due_at(day, 1),
            time::macros::datetime!(2026-11-26 0:00 UTC)
        );
        assert_eq!(
            next_due_at(day, 7),
            time::macros::datetime!(2026-12-02 0:00 UTC)
        );
    }
}
