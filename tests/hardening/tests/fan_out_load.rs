//! The daily fan-out at 10,000 tenants (issue 11, "Load"): every tenant is in the sparse `due` index, the
//! scheduler must queue exactly the due ones, once, and do it with a bounded amount of work per tenant.
//!
//! The scheduler has no deadline of its own (it runs to the end of its list), so "finishes inside the handler's
//! 300 s timeout" is shown by counting, not by timing: every DynamoDB and SQS call it makes is counted by an SDK
//! interceptor, together with how many were in flight at once. Calls per due tenant × a per-call latency ÷ the
//! calls in flight bounds the handler's duration in AWS; the wall time on moto goes to docs/reliability.md.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use connector_store::{PageTokenKey, Store, TenantConfig, TenantId};
use futures::{stream, StreamExt};
use local_stack::LocalStack;
use sync_engine::{schedule_due_syncs, Budget, SyncMessage, SyncQueue};
use test_support::counting::{CallCounter, Calls};
use time::format_description::well_known::Rfc3339;
use time::macros::time;
use time::{Duration, OffsetDateTime};

const TENANTS: u32 = 10_000;
/// The scheduled-sync function's `Timeout` in infra/template.yaml.
const HANDLER_TIMEOUT_S: u64 = 300;

/// How many of the 10,000 are due at the run: `HARDENING_FANOUT_DUE` (default 500; 10,000 for the worst case,
/// every tenant on a daily schedule). Each due tenant costs the scheduler 4 DynamoDB calls, which the serialised
/// moto, shared with other suites on a loaded 2-core machine, served at ~30/s, so the CI default stays near two
/// minutes; the call counts below carry the result to any size.
fn due_count() -> u32 {
    std::env::var("HARDENING_FANOUT_DUE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=TENANTS).contains(n))
        .unwrap_or(500)
}

/// What tenant `i` is. Due at the run: `NEW` (never scheduled) or `AGAIN` (scheduled days ago); `TODAY`: due, but
/// an earlier invocation already scheduled it today; `LATER`: due two days after the run. All are in the index.
const NEW: u32 = 0;
const AGAIN: u32 = 1;
const TODAY: u32 = 2;
const LATER: u32 = 3;

fn kind(i: u32, due: u32) -> u32 {
    if i < due {
        if i.is_multiple_of(2) {
            NEW
        } else {
            AGAIN
        }
    } else if i < due + (TENANTS - due).min(due / 4) {
        TODAY
    } else {
        LATER
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The configuration item exactly as the store writes it (layout in shared/store/src/keys.rs), built here so 10,000
/// can be seeded with BatchWriteItem instead of 10,000 locked saves; a sample is read back through the store below.
fn config_item(
    tenant: &TenantId,
    next_due_at: &str,
    scheduled_day: Option<&str>,
) -> HashMap<String, AttributeValue> {
    let mut config = TenantConfig::new("https://acme.sentinelone.net");
    config.auto_sync_days = Some(1);
    config.token_updated_at = Some("2026-01-01T00:00:00Z".into());
    config.updated_at = "2026-01-01T00:00:00Z".into();
    config.next_due_at = Some(next_due_at.to_string());
    config.version = 1;
    let mut item = HashMap::from([
        ("pk".to_string(), s(format!("T#{}", tenant.as_str()))),
        ("sk".to_string(), s("CONFIG")),
        ("kind".to_string(), s("config")),
        (
            "config".to_string(),
            serde_dynamo::to_attribute_value(&config).expect("config serialises"),
        ),
        (
            "due_pk".to_string(),
            s(format!("DUE#{}", connector_store::keys::due_shard(tenant))),
        ),
        (
            "due_sk".to_string(),
            s(format!("{next_due_at}#{}", tenant.as_str())),
        ),
    ]);
    if let Some(day) = scheduled_day {
        item.insert("scheduled_day".into(), s(day));
    }
    item
}

async fn seed(stack: &LocalStack, table: &str, items: Vec<HashMap<String, AttributeValue>>) {
    let batches: Vec<Vec<WriteRequest>> = items
        .chunks(25)
        .map(|chunk| {
            chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .expect("put request"),
                        )
                        .build()
                })
                .collect()
        })
        .collect();
    stream::iter(batches)
        .map(|mut batch| async move {
            for _ in 0..20 {
                let out = stack
                    .dynamodb
                    .batch_write_item()
                    .request_items(table, batch)
                    .send()
                    .await
                    .expect("batch write");
                batch = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(table))
                    .unwrap_or_default();
                if batch.is_empty() {
                    return;
                }
            }
            panic!("moto kept items unprocessed");
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tenants_in_the_due_index_queue_exactly_the_due_ones_once_with_bounded_work() {
    let started = Instant::now();
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("table");
    let queue_url = stack.fresh_queue().await.expect("queue");

    let run_at = (OffsetDateTime::now_utc().date() + Duration::days(1))
        .with_time(time!(01:15))
        .assume_utc();
    let ts = |t: OffsetDateTime| {
        connector_store::clock::normalize_timestamp(&t.format(&Rfc3339).expect("format"))
            .expect("timestamp")
    };
    let run_day = run_at.date();
    let day = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let midnight = |d: time::Date| d.with_time(time!(00:00)).assume_utc();
    let (due_now, due_later) = (
        ts(midnight(run_day)),
        ts(midnight(run_day + Duration::days(2))),
    );
    let (earlier, today) = (day(run_day - Duration::days(5)), day(run_day));

    let tenants: Vec<(TenantId, u32)> = (0..TENANTS)
        .map(|i| {
            (
                TenantId::new(format!("tenant-{i:05}")).expect("id"),
                kind(i, due_count()),
            )
        })
        .collect();
    let items = tenants
        .iter()
        .map(|(t, k)| match *k {
            NEW => config_item(t, &due_now, None),
            AGAIN => config_item(t, &due_now, Some(&earlier)),
            LATER => config_item(t, &due_later, Some(&earlier)),
            _ => config_item(t, &due_now, Some(&today)),
        })
        .collect();
    seed(&stack, &table, items).await;
    let seeded_in = started.elapsed();

    // The seeded items are what the store itself would have written: read a few back through it.
    let plain = Store::new(
        stack.dynamodb.clone(),
        table.clone(),
        PageTokenKey::random(),
    );
    for (t, _) in tenants.iter().step_by(997) {
        let config = plain
            .get_config(t)
            .await
            .expect("readable by the store")
            .expect("present");
        assert_eq!(config.auto_sync_days, Some(1));
    }
    let checked_in = started.elapsed() - seeded_in;

    // The scheduler's clients, counted.
    let calls = Arc::new(Calls::default());
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        stack
            .dynamodb
            .config()
            .to_builder()
            .interceptor(CallCounter::new(calls.clone(), "dynamodb"))
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        stack
            .sqs
            .config()
            .to_builder()
            .interceptor(CallCounter::new(calls.clone(), "sqs"))
            .build(),
    );
    let store = Store::new(dynamodb, table.clone(), PageTokenKey::random());
    let queue = SyncQueue::new(sqs, queue_url);

    let expected: BTreeSet<String> = tenants
        .iter()
        .filter(|(_, k)| *k == NEW || *k == AGAIN)
        .map(|(t, _)| t.as_str().to_string())
        .collect();
    let today_count = tenants.iter().filter(|(_, k)| *k == TODAY).count();
    assert_eq!(expected.len() as u32, due_count());
    let fan_out_started = Instant::now();
    let report = schedule_due_syncs(&store, &queue, run_at, Budget::unlimited())
        .await
        .expect("fan-out");
    let fan_out_took = fan_out_started.elapsed();
    let snapshot = calls.snapshot();
    let max_in_flight = snapshot.max_in_flight;
    let calls_made = snapshot.by_operation;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.enqueued as usize, expected.len(), "{report:?}");
    assert_eq!(report.already_scheduled as usize, today_count, "{report:?}");
    assert_eq!(report.busy, 0);
    assert_eq!(
        report.due as usize,
        expected.len() + today_count,
        "the index gave exactly the due tenants: {report:?}"
    );

    // Bounded work: at most 4 DynamoDB calls per tenant the index gave (config, day mark, run slot, run) plus the
    // index pages, and one SQS call per 10 messages. In flight: the scheduler's concurrency (32), never unbounded.
    let dynamo_calls: u64 = calls_made
        .iter()
        .filter(|(k, _)| k.starts_with("dynamodb:"))
        .map(|(_, v)| v)
        .sum();
    let index_pages = calls_made
        .get("dynamodb:Query")
        .copied()
        .unwrap_or_default();
    let per_tenant = dynamo_calls - index_pages;
    assert!(
        per_tenant <= 4 * report.enqueued + 2 * report.already_scheduled,
        "{dynamo_calls} DynamoDB calls for {report:?}: {calls_made:?}"
    );
    // 16 shards, each one page unless it holds more than 1 MB of index entries (~10,000 of these).
    assert!(index_pages <= 32, "the due index took {index_pages} pages");
    let sqs_sends = calls_made
        .get("sqs:SendMessageBatch")
        .copied()
        .unwrap_or_default();
    // Full batches of 10, except that the scheduler queues chunk by chunk (320 due tenants per chunk, see
    // sync-engine's schedule.rs), so each chunk may end with one partly filled batch.
    let chunks = report.due.div_ceil(320);
    let full = report.enqueued.div_ceil(10);
    assert!(
        (full..=full + chunks).contains(&sqs_sends),
        "{sqs_sends} SQS batches for {report:?}: {calls_made:?}"
    );
    assert!(
        (2..=33).contains(&max_in_flight),
        "{max_in_flight} calls in flight"
    );

    // Exactly the due ones, once each, each with its own run.
    // The messages as the scheduler sent them, captured in its requests (receiving them back from moto took 70 s
    // for 500 here, more than the fan-out), and the queue's own count of what it accepted.
    let messages: Vec<SyncMessage> = calls
        .sent_messages()
        .iter()
        .map(|b| SyncMessage::from_body(b).expect("valid message"))
        .collect();
    let attributes = stack
        .sqs
        .get_queue_attributes()
        .queue_url(queue.url())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("queue attributes");
    let on_queue: usize = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    assert_eq!(on_queue, messages.len(), "the queue holds what was sent");
    let named: Vec<String> = messages.iter().map(|m| m.tenant.clone()).collect();
    let unique: BTreeSet<String> = named.iter().cloned().collect();
    assert_eq!(named.len(), unique.len(), "a tenant was queued twice");
    assert_eq!(unique, expected, "the queued tenants are not the due ones");
    let runs: BTreeSet<&str> = messages.iter().map(|m| m.run_id.as_str()).collect();
    assert_eq!(runs.len(), messages.len(), "two messages share a run id");

    // The handler's timeout, from the counted work rather than a clock: the worst case (all 10,000 due, 4 calls
    // each, index pages, 1,000 SQS batches) at a generous 10 ms per DynamoDB call and 20 ms per SQS batch, with
    // the concurrency measured above.
    let worst_dynamo = 4 * u64::from(TENANTS) + 32;
    let modelled_ms =
        worst_dynamo * 10 / max_in_flight.max(1) + u64::from(TENANTS).div_ceil(10) * 20;
    assert!(
        modelled_ms < HANDLER_TIMEOUT_S * 1000 / 4,
        "{modelled_ms} ms modelled for 10,000 due tenants: too close to the {HANDLER_TIMEOUT_S} s timeout"
    );
    eprintln!(
        "fan-out figures: {TENANTS} tenants in the index, {} due, {} enqueued, {} already scheduled today; seeded \
         in {seeded_in:.1?}, sample read back in {checked_in:.1?}; fan-out {fan_out_took:.1?} on moto ({dynamo_calls} DynamoDB calls incl. \
         {index_pages} index pages, {sqs_sends} SQS batches, max {max_in_flight} in flight: {calls_made:?}); \
         modelled 10,000-due fan-out in AWS: {:.1} s; total {:.1?}",
        report.due,
        report.enqueued,
        report.already_scheduled,
        modelled_ms as f64 / 1000.0,
        started.elapsed()
    );
}
