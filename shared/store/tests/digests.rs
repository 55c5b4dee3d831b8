//! Finding digests against the local stack: what a page of findings reads and writes when the digests can vouch
//! for it, when they cannot (a tenant stored before digests, a crash between a page's writes), and that the
//! lifecycle transitions and status re-evaluation keep them honest.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use connector_store::batch::{BoxFuture, GetOutcome, Item, Projection};
use connector_store::{BatchApi, RecordLayout, SdkBatch, Store, StoreError, TenantId};
use s1_core::records::IncidentStatus;
use s1_core::{AnalystVerdict, Finding, VerdictInclusionList};
use serde_json::json;

fn finding(id: usize, verdict: &str) -> Finding {
    let failed = VerdictInclusionList::default().contains(&AnalystVerdict::from_wire(verdict));
    serde_json::from_value(json!({
        "id": format!("s1-threat-{id:06}"), "threat_id": format!("{id:06}"), "asset_key": "host-1",
        "asset_name": "host-1", "title": "Trojan detected", "status": if failed { "failed" } else { "passed" },
        "severity": "high", "analyst_verdict": verdict, "incident_status": null, "mitigation_status": null,
        "confidence_level": null, "classification": "Trojan", "threat_name": "evil.exe", "file_path": "C:\\evil.exe",
        "sha1": null, "sha256": null, "md5": null, "detection_engines": [], "detection_type": null,
        "mitre_tactics": [], "mitre_techniques": [], "first_seen": null, "last_seen": null, "updated_at": null,
        "console_url": null, "agent_id": null
    }))
    .expect("finding json")
}

fn page(n: usize) -> Vec<Finding> {
    (0..n).map(|i| finding(i, "true_positive")).collect()
}

fn sk_of(item: &Item) -> String {
    match item.get("sk") {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    }
}

fn written_sk(w: &WriteRequest) -> String {
    w.put_request().map(|p| sk_of(p.item())).unwrap_or_default()
}

/// The batch calls a store makes, by sort key: keys read, records written, bookkeeping written. Can fail, as a
/// crash would, every bookkeeping write once a record was written after `fail_bookkeeping_after_records` was
/// set, or every record write.
#[derive(Default)]
struct Recorder {
    read: Mutex<Vec<String>>,
    records: Mutex<Vec<String>>,
    bookkeeping: Mutex<Vec<String>>,
    fail_bookkeeping_after_records: AtomicBool,
    records_since_armed: AtomicU64,
    fail_records: AtomicBool,
    inner: Option<SdkBatch>,
}

impl Recorder {
    fn new(store: &Store) -> Arc<Self> {
        Arc::new(Self {
            inner: Some(SdkBatch(store.dynamodb().clone())),
            ..Self::default()
        })
    }

    fn take(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        (
            std::mem::take(&mut *self.read.lock().unwrap()),
            std::mem::take(&mut *self.records.lock().unwrap()),
            std::mem::take(&mut *self.bookkeeping.lock().unwrap()),
        )
    }

    fn inner(&self) -> &SdkBatch {
        self.inner.as_ref().expect("inner")
    }
}

fn crash() -> StoreError {
    StoreError::InvalidInput("killed by the test".into())
}

impl BatchApi for Recorder {
    fn batch_get<'a>(
        &'a self,
        table: &'a str,
        keys: Vec<Item>,
        projection: &'a Projection,
    ) -> BoxFuture<'a, connector_store::Result<GetOutcome>> {
        self.read.lock().unwrap().extend(keys.iter().map(sk_of));
        self.inner().batch_get(table, keys, projection)
    }

    fn batch_write<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, connector_store::Result<Vec<WriteRequest>>> {
        if self.fail_records.load(Ordering::SeqCst) {
            return Box::pin(async { Err(crash()) });
        }
        self.records_since_armed
            .fetch_add(requests.len() as u64, Ordering::SeqCst);
        self.records
            .lock()
            .unwrap()
            .extend(requests.iter().map(written_sk));
        self.inner().batch_write(table, requests)
    }

    fn batch_write_bookkeeping<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, connector_store::Result<Vec<WriteRequest>>> {
        if self.fail_bookkeeping_after_records.load(Ordering::SeqCst)
            && self.records_since_armed.load(Ordering::SeqCst) > 0
        {
            return Box::pin(async { Err(crash()) });
        }
        self.bookkeeping
            .lock()
            .unwrap()
            .extend(requests.iter().map(written_sk));
        self.inner().batch_write_bookkeeping(table, requests)
    }
}

fn findings_among(keys: &[String]) -> Vec<&String> {
    keys.iter().filter(|k| k.starts_with("FINDING#")).collect()
}

async fn setup(name: &str) -> (common::Env, Store, Arc<Recorder>, TenantId) {
    let env = common::env().await;
    let recorder = Recorder::new(&env.store);
    let store = env.store.clone().with_batch_api(recorder.clone());
    (env, store, recorder, common::tenant(name))
}

#[tokio::test]
async fn a_first_sync_reads_no_finding_and_an_unchanged_page_reads_only_digests() {
    let (_env, store, rec, t) = setup("digest-first").await;
    let all = page(300);
    let first = store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    assert_eq!(first.created, 300);
    let (read, records, bookkeeping) = rec.take();
    assert!(
        findings_among(&read).is_empty(),
        "no finding read on a first sync: {:?}",
        findings_among(&read)
    );
    assert_eq!(records.len(), 300);
    assert!(bookkeeping.iter().all(|k| k.starts_with("DIGEST#FINDING")));

    let again = store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    assert_eq!((again.written(), again.unchanged), (0, 300));
    let (read, records, bookkeeping) = rec.take();
    assert!(findings_among(&read).is_empty(), "only digests read");
    assert!(
        read.len() <= 66,
        "the marker, the journal and at most 64 buckets: {}",
        read.len()
    );
    assert!(
        records.is_empty() && bookkeeping.is_empty(),
        "nothing written"
    );
}

#[tokio::test]
async fn a_page_touching_most_buckets_reads_them_with_one_query_and_a_small_page_by_key() {
    let (_env, store, rec, t) = setup("digest-query").await;
    let layout = common::layout(&store, &t).await;
    let all = page(300);
    store.apply_findings(&t, layout, &all).await.unwrap();
    rec.take();
    // 300 findings fall in (almost) every one of the 64 buckets: one query reads them all, no key is asked for.
    let again = store.apply_findings(&t, layout, &all).await.unwrap();
    assert_eq!((again.written(), again.unchanged), (0, 300));
    let (read, records, bookkeeping) = rec.take();
    assert!(read.is_empty(), "read by key: {read:?}");
    assert!(records.is_empty() && bookkeeping.is_empty());
    // Three findings: the marker, the journal and their buckets by key.
    let few = store.apply_findings(&t, layout, &all[..3]).await.unwrap();
    assert_eq!(few.unchanged, 3);
    let (read, _, _) = rec.take();
    assert!(read.contains(&"DIGEST#FINDING".to_string()), "{read:?}");
    assert!(read.len() <= 5, "{read:?}");
    // A changed finding among many is still seen through the queried buckets.
    let mut changed = all.clone();
    changed[42].title = "Ransomware detected".into();
    let once = store.apply_findings(&t, layout, &changed).await.unwrap();
    assert_eq!((once.updated, once.unchanged), (1, 299));
}

#[tokio::test]
async fn a_changed_finding_is_read_alone_and_written() {
    let (env, store, rec, t) = setup("digest-change").await;
    let mut all = page(120);
    store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    rec.take();
    all[7].title = "Trojan quarantined".into();
    let c = store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    assert_eq!((c.created, c.updated, c.unchanged), (0, 1, 119));
    let (read, records, _) = rec.take();
    assert_eq!(findings_among(&read), vec!["FINDING#s1-threat-000007"]);
    assert_eq!(records, vec!["FINDING#s1-threat-000007".to_string()]);
    let stored = env
        .store
        .list_findings(&t, &Default::default(), None, 200)
        .await
        .unwrap();
    let f7 = stored
        .items
        .iter()
        .find(|f| f.id == "s1-threat-000007")
        .unwrap();
    assert_eq!(f7.title, "Trojan quarantined");
    // Reverting to the earlier content is a change too.
    all[7].title = "Trojan detected".into();
    assert_eq!(
        store
            .apply_findings(&t, common::layout(&store, &t).await, &all)
            .await
            .unwrap()
            .updated,
        1
    );
}

#[tokio::test]
async fn lifecycle_transitions_are_seen_through_the_digests() {
    let (_env, store, rec, t) = setup("digest-lifecycle").await;
    let mut all = page(20);
    store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    all[3].incident_status = Some(IncidentStatus::Resolved);
    let r = store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    assert_eq!((r.updated, r.resolved, r.unchanged), (1, 1, 19));
    all[3].incident_status = None;
    let o = store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    assert_eq!((o.updated, o.reopened, o.unchanged), (1, 1, 19));

    // Closed by a complete walk that did not return #5; SentinelOne returns it unchanged: it reopens.
    let plan = store
        .plan_closing(&t, common::layout(&store, &t).await, |threat| {
            threat != "000005"
        })
        .await
        .unwrap();
    assert_eq!(plan.absent.len(), 1);
    assert_eq!(
        store
            .close_findings(&t, common::layout(&store, &t).await, plan.absent)
            .await
            .unwrap(),
        1
    );
    rec.take();
    let back = store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    assert_eq!((back.updated, back.reopened, back.unchanged), (1, 1, 19));
    let (read, _, _) = rec.take();
    assert_eq!(findings_among(&read), vec!["FINDING#s1-threat-000005"]);
    let quiet = store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    assert_eq!(quiet.written(), 0);
}

#[tokio::test]
async fn reevaluated_statuses_keep_the_digests_honest() {
    let (_env, store, rec, t) = setup("digest-reevaluate").await;
    let all: Vec<Finding> = (0..30)
        .map(|i| finding(i, ["true_positive", "suspicious"][i % 2]))
        .collect();
    store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    // Only true positives fail now: the suspicious ones flip to passed.
    let list = VerdictInclusionList::from_list(&["true_positive".to_string()]).unwrap();
    // Page by page: a spread tenant's walk takes at least a page per record shard.
    let layout = common::layout(&store, &t).await;
    let (mut flipped, mut at) = (0, None);
    loop {
        let (n, next) = store
            .reevaluate_finding_statuses_page(&t, layout, &list, at)
            .await
            .unwrap();
        flipped += n;
        match next {
            Some(next) => at = Some(next),
            None => break,
        }
    }
    assert_eq!(flipped, 15);
    rec.take();
    // SentinelOne's findings as the engine now maps them: unchanged, and vouched for without a read.
    let now: Vec<Finding> = all
        .iter()
        .cloned()
        .map(|mut f| {
            f.status = s1_core::verdicts::finding_status(&f.analyst_verdict, &list);
            f
        })
        .collect();
    assert_eq!(
        store
            .apply_findings(&t, common::layout(&store, &t).await, &now)
            .await
            .unwrap()
            .written(),
        0
    );
    let (read, _, _) = rec.take();
    assert!(findings_among(&read).is_empty());
    // The findings with their earlier status differ from what is stored now: written.
    assert_eq!(
        store
            .apply_findings(&t, common::layout(&store, &t).await, &all)
            .await
            .unwrap()
            .updated,
        15
    );
}

/// Deletes the tenant's digest items: what a tenant synced before digests existed looks like.
async fn drop_digests(env: &common::Env, t: &TenantId) {
    for item in test_support::scan_table(&env.stack.dynamodb, &env.table).await {
        let pk = item["pk"].as_s().unwrap();
        if *pk == format!("T#{}", t.as_str()) && sk_of(&item).starts_with("DIGEST#") {
            env.stack
                .dynamodb
                .delete_item()
                .table_name(&env.table)
                .key("pk", item["pk"].clone())
                .key("sk", item["sk"].clone())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_tenant_stored_before_digests_is_read_until_they_are_built() {
    // Stored before digests, so before record layouts too: the legacy layout.
    let (env, store, rec, t) = setup("digest-upgrade").await;
    let mut all = page(2500);
    for chunk in all.chunks(1000) {
        store
            .apply_findings(&t, RecordLayout::LEGACY, chunk)
            .await
            .unwrap();
    }
    drop_digests(&env, &t).await;
    rec.take();
    // The first page after the upgrade: its findings are read (no digest vouches yet); a change is written, a new
    // finding created once.
    all[10].title = "changed".into();
    all.push(finding(9999, "true_positive"));
    let first = store
        .apply_findings(&t, RecordLayout::LEGACY, &all[..1000])
        .await
        .unwrap();
    assert_eq!((first.created, first.updated, first.unchanged), (0, 1, 999));
    let (read, records, _) = rec.take();
    assert!(
        !findings_among(&read).is_empty(),
        "read while the digests are incomplete"
    );
    assert_eq!(records, vec!["FINDING#s1-threat-000010".to_string()]);
    let rest = store
        .apply_findings(&t, RecordLayout::LEGACY, &all[1000..])
        .await
        .unwrap();
    assert_eq!((rest.created, rest.updated, rest.unchanged), (1, 0, 1500));
    // The pass has read all 2,501 stored findings after three pages: from then on only digests are read.
    store
        .apply_findings(&t, RecordLayout::LEGACY, &all[..10])
        .await
        .unwrap();
    rec.take();
    let quiet = store
        .apply_findings(&t, RecordLayout::LEGACY, &all)
        .await
        .unwrap();
    assert_eq!((quiet.written(), quiet.unchanged), (0, 2501));
    let (read, records, bookkeeping) = rec.take();
    assert!(findings_among(&read).is_empty(), "digests complete");
    assert!(records.is_empty() && bookkeeping.is_empty());
    // And a finding that is not stored is known to be new without a read.
    let new = store
        .apply_findings(&t, RecordLayout::LEGACY, &[finding(7777, "suspicious")])
        .await
        .unwrap();
    assert_eq!(new.created, 1);
    assert!(findings_among(&rec.take().0).is_empty());
}

#[tokio::test]
async fn a_crash_between_the_records_and_their_digests_loses_and_doubles_nothing() {
    let (env, store, rec, t) = setup("digest-crash").await;
    let mut all = page(200);
    store
        .apply_findings(&t, common::layout(&store, &t).await, &all)
        .await
        .unwrap();
    rec.take();
    // A crash after the page's findings were written, before their digest entries.
    all[1].title = "changed".into();
    let more: Vec<Finding> = (200..260).map(|i| finding(i, "suspicious")).collect();
    let mut next = all.clone();
    next.extend(more.clone());
    rec.records_since_armed.store(0, Ordering::SeqCst);
    rec.fail_bookkeeping_after_records
        .store(true, Ordering::SeqCst);
    assert!(store
        .apply_findings(&t, common::layout(&store, &t).await, &next)
        .await
        .is_err());
    let (_, records, _) = rec.take();
    assert_eq!(
        records.len(),
        61,
        "the page's writes were done before the crash"
    );
    rec.fail_bookkeeping_after_records
        .store(false, Ordering::SeqCst);
    // The run resumes with the same page: nothing is created twice, nothing rewritten, the change is kept.
    let again = store
        .apply_findings(&t, common::layout(&store, &t).await, &next)
        .await
        .unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 260));
    let (read, records, _) = rec.take();
    assert_eq!(
        findings_among(&read).len(),
        61,
        "only the findings the crash left unvouched"
    );
    assert!(records.is_empty());
    let stored = env
        .store
        .list_findings(&t, &Default::default(), None, 1000)
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 260);
    assert_eq!(
        stored
            .items
            .iter()
            .find(|f| f.id == "s1-threat-000001")
            .unwrap()
            .title,
        "changed"
    );
    // Now vouched for again: nothing read.
    assert_eq!(
        store
            .apply_findings(&t, common::layout(&store, &t).await, &next)
            .await
            .unwrap()
            .written(),
        0
    );
    assert!(findings_among(&rec.take().0).is_empty());

    // A crash while the findings are written (after their "read me" marks): the next run writes them.
    let late: Vec<Finding> = (300..310).map(|i| finding(i, "suspicious")).collect();
    rec.fail_records.store(true, Ordering::SeqCst);
    assert!(store
        .apply_findings(&t, common::layout(&store, &t).await, &late)
        .await
        .is_err());
    rec.fail_records.store(false, Ordering::SeqCst);
    let redo = store
        .apply_findings(&t, common::layout(&store, &t).await, &late)
        .await
        .unwrap();
    assert_eq!(redo.created, 10);
}
