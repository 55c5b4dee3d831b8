//! The daily fan-out over many tenants: exactly the due ones are queued, once, whatever the retries.

use std::collections::{BTreeMap, BTreeSet};

use connector_store::{save_configuration, PageTokenKey, Store, TenantConfig, TenantId, Vault};
use futures::{stream, StreamExt};
use local_stack::LocalStack;
use s1_core::ApiToken;
use sync_engine::{schedule_due_syncs, Budget, SyncMessage, SyncQueue};
use time::format_description::well_known::Rfc3339;
use time::macros::time;
use time::{Date, Duration, OffsetDateTime};

async fn drain_messages(stack: &LocalStack, queue: &SyncQueue) -> Vec<SyncMessage> {
    let mut all = Vec::new();
    loop {
        let out = stack
            .sqs
            .receive_message()
            .queue_url(queue.url())
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return all;
        }
        for m in messages {
            all.push(SyncMessage::from_body(m.body().unwrap_or_default()).expect("valid message"));
            stack
                .sqs
                .delete_message()
                .queue_url(queue.url())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

#[tokio::test]
async fn a_thousand_tenants_with_mixed_intervals_enqueue_exactly_the_due_ones_once() {
    let stack = LocalStack::connect().await.expect("local stack");
    let store = Store::new(
        stack.dynamodb.clone(),
        stack.fresh_table().await.expect("table"),
        PageTokenKey::random(),
    );
    let vault = Vault::new(stack.secrets.clone(), stack.fresh_secret_prefix());
    let queue = SyncQueue::new(stack.sqs.clone(), stack.fresh_queue().await.expect("queue"));
    let token = ApiToken::new("eyJ0ZXN0LXNjaGVkdWxlZC10b2tlbi0wMDAx".into()).expect("token");

    // i % 4: 0 = auto-sync off; 1 = newly on (due from the moment it is saved); 2 = scheduled days ago and due
    // again at this run; 3 = scheduled yesterday, due two days after this run.
    let today = OffsetDateTime::now_utc().date();
    let run_at = (today + Duration::days(1))
        .with_time(time!(01:15))
        .assume_utc();
    let day = |d: Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let midnight = |d: Date| {
        d.with_time(time!(00:00))
            .assume_utc()
            .format(&Rfc3339)
            .expect("format")
    };
    let (earlier, yesterday) = (
        day(today - Duration::days(5)),
        day(today - Duration::days(1)),
    );
    let (due_at_run, later) = (
        midnight(run_at.date()),
        midnight(run_at.date() + Duration::days(2)),
    );
    let plan: BTreeMap<String, u32> = (0..1000u32)
        .map(|i| (format!("tenant-{i:04}"), i % 4))
        .collect();
    stream::iter(plan.clone())
        .map(|(name, kind)| {
            let (store, vault, token) = (&store, &vault, &token);
            let (earlier, yesterday, due_at_run, later) =
                (&earlier, &yesterday, &due_at_run, &later);
            async move {
                let tenant = TenantId::new(name).expect("tenant");
                let mut config = TenantConfig::new("https://acme.sentinelone.net");
                config.auto_sync_days = if kind == 0 {
                    None
                } else {
                    Some(1 + (kind as u16) * 3)
                };
                save_configuration(store, vault, &tenant, config, Some(token))
                    .await
                    .expect("saved");
                match kind {
                    2 => assert!(store
                        .mark_scheduled(&tenant, earlier, due_at_run)
                        .await
                        .expect("mark")),
                    3 => assert!(store
                        .mark_scheduled(&tenant, yesterday, later)
                        .await
                        .expect("mark")),
                    _ => {}
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let expected: BTreeSet<String> = plan
        .iter()
        .filter(|(_, k)| **k == 1 || **k == 2)
        .map(|(t, _)| t.clone())
        .collect();

    // An invocation out of time before its first chunk touches nothing and reports every due tenant deferred, so
    // the handler fails and Lambda's retry of the same event does the work.
    let out_of_time = schedule_due_syncs(
        &store,
        &queue,
        run_at,
        Budget::for_duration(std::time::Duration::ZERO),
    )
    .await
    .expect("fan-out out of time");
    assert_eq!(out_of_time.enqueued, 0, "{out_of_time:?}");
    assert_eq!(out_of_time.deferred, out_of_time.due, "{out_of_time:?}");
    assert!(
        out_of_time.due as usize >= expected.len(),
        "{out_of_time:?}"
    );

    let report = schedule_due_syncs(&store, &queue, run_at, Budget::unlimited())
        .await
        .expect("fan-out");
    assert_eq!(report.enqueued as usize, expected.len(), "{report:?}");
    assert_eq!(report.failed, 0);
    assert_eq!(report.deferred, 0);

    // The same event again (an EventBridge retry): nothing is queued twice.
    let again = schedule_due_syncs(&store, &queue, run_at, Budget::unlimited())
        .await
        .expect("second fan-out");
    assert_eq!(again.enqueued, 0, "{again:?}");

    let messages = drain_messages(&stack, &queue).await;
    let tenants: Vec<String> = messages.iter().map(|m| m.tenant.clone()).collect();
    let unique: BTreeSet<String> = tenants.iter().cloned().collect();
    assert_eq!(tenants.len(), unique.len(), "no tenant queued twice");
    assert_eq!(unique, expected);

    // Each queued tenant moved to its next due time: tomorrow's run does not pick up a 4- or 7-day tenant.
    let tomorrow = schedule_due_syncs(
        &store,
        &queue,
        run_at + Duration::days(1),
        Budget::unlimited(),
    )
    .await
    .expect("next day");
    assert_eq!(tomorrow.enqueued, 0, "{tomorrow:?}");
}
