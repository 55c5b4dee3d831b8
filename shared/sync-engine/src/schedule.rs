//! The daily fan-out: every tenant whose auto-sync interval is due gets one queued run, once per day. A tenant busy
//! with another run gets its scheduled run right after that run ends (a deferred request on its run slot), not on
//! its next interval. Runs start through the shared path of [`crate::on_demand`], and a tenant whose run could not
//! be recorded or queued has its day mark undone, so a retry of the fan-out (the handler fails) schedules it again.

use std::collections::HashMap;

use connector_store::{Store, StoreError, TenantId, Trigger};
use futures::{stream, StreamExt};
use serde::Serialize;
use time::{Date, OffsetDateTime, Time};
use tracing::{info, warn};

use crate::engine::Budget;
use crate::message::SyncMessage;
use crate::on_demand::{reserve_run, ReservedRun, StartError};
use crate::queue::SyncQueue;

/// Tenants prepared concurrently (each costs a few small DynamoDB calls).
const CONCURRENCY: usize = 32;

/// Due tenants prepared, then queued, together. Preparing marks a tenant scheduled for the day before its message
/// is sent, so an invocation killed in between loses that tenant's sync for the day: chunking bounds that window
/// to one chunk instead of the whole fan-out, and the budget check between chunks keeps the kill from happening.
const CHUNK: usize = CONCURRENCY * 10;

/// Claim attempts for one tenant: the slot can be freed between a refused claim and the deferred request (the
/// running run just ended), and is then claimed again.
const CLAIM_ATTEMPTS: usize = 3;

/// What one scheduled invocation did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleReport {
    pub due: u64,
    pub enqueued: u64,
    /// Already scheduled today (a second invocation on the same day, e.g. an EventBridge retry).
    pub already_scheduled: u64,
    /// A sync was already running: the scheduled run is deferred until it ends (recorded on the run slot and
    /// started by whoever ends that run), and the tenant is moved to its next due time.
    pub busy: u64,
    /// The run could not be recorded or queued: the day mark was undone, so a retry of the event schedules the
    /// tenant again (the handler fails so that Lambda retries it).
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

/// What undoes a tenant's day mark: the day and the due time it had before.
struct DayMark {
    day: String,
    previous_due: String,
}

enum Prepared {
    Reserved(Box<ReservedRun>, DayMark),
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
        let day_str = day_str.as_str();
        let prepared: Vec<(TenantId, Prepared)> =
            stream::iter(chunk)
                .map(|tenant| async move {
                    (tenant.clone(), prepare(store, tenant, now, day_str).await)
                })
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

/// Sends the messages of one prepared chunk; a run whose message could not be sent is abandoned (failed, slot
/// freed) and its tenant's day mark undone.
async fn queue_prepared(
    store: &Store,
    queue: &SyncQueue,
    prepared: Vec<(TenantId, Prepared)>,
    report: &mut ScheduleReport,
) {
    let mut messages: Vec<SyncMessage> = Vec::new();
    let mut reserved: HashMap<String, (TenantId, ReservedRun, DayMark)> = HashMap::new();
    for (tenant, p) in prepared {
        match p {
            Prepared::Reserved(run, mark) => {
                messages.push(run.message());
                reserved.insert(run.run.id.clone(), (tenant, *run, mark));
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
        if let Some((tenant, run, mark)) = reserved.remove(&message.run_id) {
            warn!(tenant = %tenant.as_str(), run = %run.run.id, error = %error, "scheduled sync could not be queued; undone");
            run.abandon(store, &format!("the sync could not be queued: {error}"))
                .await;
            unmark(store, &tenant, &mark).await;
        }
    }
}

async fn prepare(store: &Store, tenant: &TenantId, now: OffsetDateTime, day_str: &str) -> Prepared {
    let mark = match mark_day(store, tenant, now, day_str).await {
        Ok(DayMarked::Now(mark)) => mark,
        Ok(DayMarked::NotDue) => return Prepared::NotDue,
        Ok(DayMarked::Already) => return Prepared::AlreadyScheduled,
        Err(e) => {
            warn!(tenant = %tenant.as_str(), error = %e, "could not schedule the tenant's sync");
            return Prepared::Failed;
        }
    };
    // From here on the day is marked: every way out but a reserved or deferred run undoes the mark.
    for _ in 0..CLAIM_ATTEMPTS {
        match reserve_run(store, tenant, Trigger::Scheduled).await {
            Ok(run) => return Prepared::Reserved(Box::new(run), mark),
            Err(StartError::AlreadyRunning { run_id }) => {
                match store.defer_scheduled_run(tenant, day_str).await {
                    Ok(true) => {
                        info!(tenant = %tenant.as_str(), running = %run_id, "tenant busy; its scheduled sync starts when the running one ends");
                        return Prepared::Busy;
                    }
                    // The running run ended in between: claim the free slot.
                    Ok(false) => continue,
                    Err(e) => {
                        warn!(tenant = %tenant.as_str(), error = %e, "could not defer the tenant's scheduled sync");
                        break;
                    }
                }
            }
            Err(e) => {
                warn!(tenant = %tenant.as_str(), error = %e, "could not start the tenant's scheduled sync");
                break;
            }
        }
    }
    unmark(store, tenant, &mark).await;
    Prepared::Failed
}

enum DayMarked {
    Now(DayMark),
    /// Already scheduled that day: a second invocation the same day stops here.
    Already,
    /// Not configured, or auto-sync is off.
    NotDue,
}

/// Marks the tenant scheduled for the day and moves its next due time (the day mark is the idempotency key).
async fn mark_day(
    store: &Store,
    tenant: &TenantId,
    now: OffsetDateTime,
    day_str: &str,
) -> Result<DayMarked, StoreError> {
    let Some(config) = store.get_config(tenant).await? else {
        return Ok(DayMarked::NotDue);
    };
    let Some(days) = config.auto_sync_days else {
        return Ok(DayMarked::NotDue);
    };
    let next = format_rfc3339(next_due_at(now.date(), days));
    if !store.mark_scheduled(tenant, day_str, &next).await? {
        return Ok(DayMarked::Already);
    }
    Ok(DayMarked::Now(DayMark {
        day: day_str.to_string(),
        previous_due: config.next_due_at.unwrap_or_else(|| format_rfc3339(now)),
    }))
}

/// Undoes a day mark so a retry of the fan-out schedules the tenant again.
async fn unmark(store: &Store, tenant: &TenantId, mark: &DayMark) {
    if let Err(e) = store
        .unmark_scheduled(tenant, &mark.day, &mark.previous_due)
        .await
    {
        warn!(tenant = %tenant.as_str(), day = %mark.day, error = %e,
              "could not undo the day mark; the tenant's scheduled sync waits for its next due time");
    }
}

fn format_rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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
