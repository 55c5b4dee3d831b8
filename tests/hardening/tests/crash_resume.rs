//! Data safety when a worker dies mid-sync: the engine's DynamoDB client is killed before its k-th write, for
//! every k a sync performs (batch writes, lease/checkpoint heartbeats, run updates, retirements, run slot), and
//! the run is then resumed the way a redelivered message resumes it. Each resumed run must end with exactly the
//! data of an uninterrupted sync, and the state the kill left behind must never hold a value SentinelOne did not
//! send (no finding flipped, no live asset retired). Runs against moto and the simulator.
//!
//! The kill is deterministic, not timed: an HTTP connector wrapped around the SDK's own counts the writes, answers
//! the k-th and every later one with a future that never completes, and signals once every earlier write has
//! finished; the test then drops the engine's future, so no cleanup (lease release, run update) runs - what a
//! killed Lambda leaves behind.

// The sync-engine's end-to-end harness: simulator + local stack + configured tenant.
use test_support::sync as support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use connector_store::{PageTokenKey, RunStatus, Store, SyncState, Trigger};
use futures::StreamExt;
use s1_core::FindingStatus;
use s1_simulator::TenantSpec;
use support::Harness;
use sync_engine::engine::Phase;
use sync_engine::{start_sync, Budget, Outcome, SyncEngine, SyncMessage};
use time::OffsetDateTime;
use tokio::sync::watch;

/// Small pages so a small tenant gives many pages: 30 agents → 2 agent pages, 150 threats → 10 threat pages.
const PAGE_LIMIT: u32 = 15;

fn spec() -> TenantSpec {
    TenantSpec::small()
        .with_seed(2611)
        .with_agents(30)
        .with_threats(150)
}

// ---------------------------------------------------------------------------------------------------------------
// The kill switch.

/// DynamoDB operations that change the table.
const WRITE_OPS: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// Counts one client's writes; when armed at `k`, write k and every later write never complete.
#[derive(Debug)]
struct KillSwitch {
    /// 1-based write number to kill at; 0 = never.
    at: AtomicU64,
    writes: AtomicU64,
    /// Writes before the kill point still on the wire.
    in_flight: AtomicU64,
    tripped: AtomicBool,
    changed: watch::Sender<()>,
    /// Operation of every write, in order (what the crash points are).
    ops: Mutex<Vec<String>>,
}

impl KillSwitch {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            at: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
            changed: watch::channel(()).0,
            ops: Mutex::new(Vec::new()),
        })
    }

    fn arm(&self, at: u64) {
        self.writes.store(0, SeqCst);
        self.tripped.store(false, SeqCst);
        self.ops.lock().expect("ops").clear();
        self.at.store(at, SeqCst);
    }

    fn writes(&self) -> u64 {
        self.writes.load(SeqCst)
    }

    fn ops(&self) -> Vec<String> {
        self.ops.lock().expect("ops").clone()
    }

    /// Resolves once the kill point was reached and every write before it has completed: from then on the table
    /// holds exactly writes 1..k-1, whatever the engine does with the futures it still holds.
    async fn killed(&self) {
        let mut rx = self.changed.subscribe();
        rx.wait_for(|_| self.tripped.load(SeqCst) && self.in_flight.load(SeqCst) == 0)
            .await
            .expect("the switch outlives its waiters");
    }
}

/// Decrements the in-flight count when a pre-kill write completes or is dropped.
struct InFlight(Arc<KillSwitch>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, SeqCst);
        self.0.changed.send_modify(|_| {});
    }
}

#[derive(Debug)]
struct KillingConnector {
    inner: SharedHttpConnector,
    switch: Arc<KillSwitch>,
}

impl HttpConnector for KillingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let op = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_string();
        if !WRITE_OPS.contains(&op.as_str()) {
            // Reads change nothing: a kill before a read is the kill before the next write.
            return self.inner.call(request);
        }
        let s = &self.switch;
        let n = s.writes.fetch_add(1, SeqCst) + 1;
        s.ops.lock().expect("ops").push(op);
        let at = s.at.load(SeqCst);
        if at != 0 && n >= at {
            s.tripped.store(true, SeqCst);
            s.changed.send_modify(|_| {});
            return HttpConnectorFuture::new(std::future::pending());
        }
        s.in_flight.fetch_add(1, SeqCst);
        let guard = InFlight(s.clone());
        let call = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let out = call.await;
            drop(guard);
            out
        })
    }
}

/// The local stack's DynamoDB client with every request going through a [`KillingConnector`].
fn killable_client(h: &Harness, switch: Arc<KillSwitch>) -> aws_sdk_dynamodb::Client {
    let base = h.stack.dynamodb.config();
    // The SDK installs its default client below the config, out of reach: the same client, built here.
    let inner = base.http_client().unwrap_or_else(|| {
        aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https()
    });
    let http = http_client_fn(move |settings, components| {
        SharedHttpConnector::new(KillingConnector {
            inner: inner.http_connector(settings, components),
            switch: switch.clone(),
        })
    });
    aws_sdk_dynamodb::Client::from_conf(base.to_builder().http_client(http).build())
}

// ---------------------------------------------------------------------------------------------------------------
// Tables and what they hold.

/// One table: a plain store for setup and checks, and an engine whose writes go through the kill switch.
struct Table {
    name: String,
    store: Store,
    engine: SyncEngine,
    switch: Arc<KillSwitch>,
}

async fn new_table(h: &Harness) -> Table {
    let name = h.stack.fresh_table().await.expect("table");
    let switch = KillSwitch::new();
    let store = Store::new(h.stack.dynamodb.clone(), &name, PageTokenKey::random());
    let killable = Store::new(
        killable_client(h, switch.clone()),
        &name,
        PageTokenKey::random(),
    );
    let mut client_options = support::client_options();
    client_options.page_limit = PAGE_LIMIT;
    let engine = SyncEngine {
        store: killable,
        vault: h.vault.clone(),
        url_policy: test_support::dev_loopback_policy(),
        client_options,
        max_retire_percent: s1_core::retirement::DEFAULT_MAX_RETIRE_PERCENT,
    };
    Table {
        name,
        store,
        engine,
        switch,
    }
}

/// A new table holding exactly the items of table `from` (a snapshot to start a case from).
async fn copy_of(h: &Harness, from: &str) -> Table {
    let to = new_table(h).await;
    let db = &h.stack.dynamodb;
    let mut start = None;
    loop {
        let page = db
            .scan()
            .table_name(from)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for chunk in page.items().chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .expect("put"),
                        )
                        .build()
                })
                .collect();
            while !requests.is_empty() {
                let out = db
                    .batch_write_item()
                    .request_items(&to.name, requests)
                    .send()
                    .await
                    .expect("batch write");
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&to.name))
                    .unwrap_or_default();
            }
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return to,
        }
    }
}

/// What a tenant's views show: assets as (content hash, active, agent ids), findings as (content hash, status,
/// threat id), vulnerabilities as (content hash, lifecycle state, asset key). Two tables with equal `Data` hold the
/// same data.
#[derive(Debug, Clone, PartialEq, Default)]
struct Data {
    assets: BTreeMap<String, (String, bool, BTreeSet<String>)>,
    findings: BTreeMap<String, (String, FindingStatus, String)>,
    vulnerabilities: BTreeMap<String, (String, String, String)>,
}

/// Read with a projected table scan: the views page through tokens and decode whole records, which costs seconds
/// per tenant on a busy moto, more than a few hundred cases can afford. The projection keeps what identifies a
/// record's content: the content hash the store wrote with it (over the whole asset or finding), the active flag,
/// the status, and the agent ids / threat id.
async fn data(h: &Harness, t: &Table) -> Data {
    let s = |item: &std::collections::HashMap<String, AttributeValue>, name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let mut d = Data::default();
    let mut start = None;
    loop {
        let page = h
            .stack
            .dynamodb
            .scan()
            .table_name(&t.name)
            .consistent_read(true)
            .projection_expression(
                "sk, kind, content_hash, active, #st, asset.agent_ids, finding, #state, asset_key",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#state", "state")
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            let key = s(item, "sk");
            match s(item, "kind").as_str() {
                "asset" => {
                    let active = matches!(item.get("active"), Some(AttributeValue::Bool(true)));
                    let agents: BTreeSet<String> = item
                        .get("asset")
                        .and_then(|a| a.as_m().ok())
                        .and_then(|a| a.get("agent_ids"))
                        .and_then(|ids| ids.as_l().ok())
                        .map(|ids| ids.iter().filter_map(|i| i.as_s().ok().cloned()).collect())
                        .unwrap_or_default();
                    let value = (s(item, "content_hash"), active, agents);
                    assert!(d.assets.insert(key, value).is_none(), "asset stored twice");
                }
                "finding" => {
                    let status = match s(item, "status").as_str() {
                        "failed" => FindingStatus::Failed,
                        "passed" => FindingStatus::Passed,
                        other => panic!("finding {key} with status {other:?}"),
                    };
                    // The record is stored as its JSON text (a map on items written before).
                    let threat = match item.get("finding") {
                        Some(AttributeValue::S(text)) => {
                            serde_json::from_str::<serde_json::Value>(text)
                                .ok()
                                .and_then(|f| f.get("threat_id")?.as_str().map(str::to_string))
                        }
                        Some(AttributeValue::M(f)) => {
                            f.get("threat_id").and_then(|t| t.as_s().ok()).cloned()
                        }
                        _ => None,
                    }
                    .unwrap_or_default();
                    let value = (s(item, "content_hash"), status, threat);
                    assert!(
                        d.findings.insert(key, value).is_none(),
                        "finding stored twice"
                    );
                }
                "vulnerability" => {
                    let value = (
                        s(item, "content_hash"),
                        s(item, "state"),
                        s(item, "asset_key"),
                    );
                    assert!(
                        d.vulnerabilities.insert(key, value).is_none(),
                        "vulnerability stored twice"
                    );
                }
                _ => {}
            }
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return d,
        }
    }
}

/// Records of `expected` missing from `actual` (lost), records of `actual` not in `expected` (duplicated or
/// invented), and records present in both with different content.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Diff {
    lost: usize,
    extra: usize,
    changed: usize,
}

fn diff(actual: &Data, expected: &Data) -> (Diff, Vec<String>) {
    fn one<V: PartialEq>(
        a: &BTreeMap<String, V>,
        e: &BTreeMap<String, V>,
        d: &mut Diff,
        names: &mut Vec<String>,
    ) {
        for (k, v) in e {
            match a.get(k) {
                None => {
                    d.lost += 1;
                    names.push(format!("lost {k}"));
                }
                Some(x) if x != v => {
                    d.changed += 1;
                    names.push(format!("changed {k}"));
                }
                Some(_) => {}
            }
        }
        for k in a.keys().filter(|k| !e.contains_key(*k)) {
            d.extra += 1;
            names.push(format!("extra {k}"));
        }
    }
    let mut d = Diff::default();
    let mut names = Vec::new();
    one(&actual.assets, &expected.assets, &mut d, &mut names);
    one(&actual.findings, &expected.findings, &mut d, &mut names);
    one(
        &actual.vulnerabilities,
        &expected.vulnerabilities,
        &mut d,
        &mut names,
    );
    names.truncate(10);
    (d, names)
}

/// What a kill may leave behind, between the data before the run (`before`) and after it (`after`):
/// nothing deleted; every finding as it was or as SentinelOne now sends it (so a failed finding SentinelOne
/// still reports failed is never passed); every asset as it was, as it ends, or part-way through merging its agents
/// (a machine under several agents on different pages); no asset live before and after is retired.
/// Returns how many failed findings the partial pass could have flipped.
fn check_crash_state(k: u64, before: &Data, after: &Data, crashed: &Data) -> usize {
    for key in before.assets.keys() {
        assert!(
            crashed.assets.contains_key(key),
            "kill at write {k}: asset {key} deleted"
        );
    }
    for key in before.findings.keys() {
        assert!(
            crashed.findings.contains_key(key),
            "kill at write {k}: finding {key} deleted"
        );
    }
    for (key, (hash, active, agents)) in &crashed.assets {
        let was = before.assets.get(key);
        let Some(ends) = after.assets.get(key) else {
            panic!("kill at write {k}: asset {key} is in no complete sync's result");
        };
        let as_was_or_ends = was.is_some_and(|w| &w.0 == hash) || &ends.0 == hash;
        let merging = !agents.is_empty() && agents.is_subset(&ends.2);
        assert!(
            as_was_or_ends || merging,
            "kill at write {k}: asset {key} holds content SentinelOne never sent"
        );
        let live_throughout = was.is_none_or(|w| w.1) && ends.1;
        assert!(
            *active || !live_throughout,
            "kill at write {k}: live asset {key} retired by a partial pass"
        );
    }
    for (id, value) in &crashed.vulnerabilities {
        assert!(
            before.vulnerabilities.get(id) == Some(value)
                || after.vulnerabilities.get(id) == Some(value),
            "kill at write {k}: vulnerability {id} holds a value SentinelOne never sent"
        );
    }
    for id in before.vulnerabilities.keys() {
        assert!(
            crashed.vulnerabilities.contains_key(id),
            "kill at write {k}: vulnerability {id} deleted"
        );
    }
    let mut exposed = 0;
    for (id, value) in &crashed.findings {
        let was = before.findings.get(id);
        let ends = after.findings.get(id);
        assert!(
            was == Some(value) || ends == Some(value),
            "kill at write {k}: finding {id} holds a value SentinelOne never sent"
        );
        if let (Some(w), Some(e)) = (was, ends) {
            if w.1 == FindingStatus::Failed && e.1 == FindingStatus::Failed {
                exposed += 1;
                assert_eq!(
                    value.1,
                    FindingStatus::Failed,
                    "kill at write {k}: finding {id} flipped failed → passed by a partial pass"
                );
            }
        }
    }
    exposed
}

// ---------------------------------------------------------------------------------------------------------------
// Runs.

/// A whole sync through `t`'s engine with the switch counting but never killing; returns the final run status.
async fn uninterrupted(h: &Harness, t: &Table) -> RunStatus {
    t.switch.arm(0);
    let run = start_sync(&t.store, &h.queue, &h.tenant, Trigger::OnDemand)
        .await
        .expect("sync starts");
    let message = SyncMessage::first(h.tenant.as_str(), &run.id);
    match t
        .engine
        .run(&message, Budget::unlimited(), "reference")
        .await
        .expect("reference sync")
    {
        Outcome::Finished(run) => run.status,
        other => panic!("reference sync: {other:?}"),
    }
}

/// Starts a sync and kills its worker before its k-th write. Returns the message a redelivery would carry, or
/// `None` when the run finished with fewer than k writes.
async fn killed_at(h: &Harness, t: &Table, k: u64) -> Option<SyncMessage> {
    let run = start_sync(&t.store, &h.queue, &h.tenant, Trigger::OnDemand)
        .await
        .expect("sync starts");
    let message = SyncMessage::first(h.tenant.as_str(), &run.id);
    t.switch.arm(k);
    let finished = tokio::select! {
        out = t.engine.run(&message, Budget::unlimited(), "crashed") => {
            out.expect("a run before its kill point");
            true
        }
        () = t.switch.killed() => false,
    };
    // The engine's future is dropped here, mid-write: nothing after write k-1 reaches the table.
    t.switch.arm(0);
    (!finished).then_some(message)
}

/// What the redelivered message does once the dead worker's lease has expired: another owner first finds the
/// tenant busy while the lease is live, then takes over and runs the chain to its end.
async fn resume(h: &Harness, t: &Table, k: u64, message: &SyncMessage) -> RunStatus {
    let run = t
        .store
        .get_run(&h.tenant, &message.run_id)
        .await
        .expect("read run")
        .expect("run exists");
    if k > 1 && !run.status.is_finished() {
        // Write 1 is the lease; from write 2 on the dead worker holds it until it expires.
        let out = t
            .engine
            .run(message, Budget::unlimited(), "impatient")
            .await
            .expect("busy check");
        assert!(
            matches!(out, Outcome::Busy),
            "kill at write {k}: a second worker ran while the dead one's lease was live: {out:?}"
        );
    }
    // LEASE_TTL passing, without waiting for it: the dead owner's lease re-stamped to expire now.
    t.store
        .try_acquire_lease(&h.tenant, "crashed", Duration::ZERO)
        .await
        .expect("lease write");
    let mut message = message.clone();
    for _ in 0..100 {
        match t
            .engine
            .run(&message, Budget::unlimited(), "resumed")
            .await
            .expect("resume")
        {
            Outcome::Finished(run) => return run.status,
            Outcome::Continue(next) => message = next,
            other => panic!("kill at write {k}: resume: {other:?}"),
        }
    }
    panic!("kill at write {k}: the resumed chain never finished");
}

async fn sync_state(h: &Harness, t: &Table) -> SyncState {
    t.store
        .load_sync_state(&h.tenant)
        .await
        .expect("sync state")
}

/// After a resumed run: no run slot left claimed (the next sync can start) and the watermark of the reference.
async fn assert_settled(h: &Harness, t: &Table, k: u64, watermark: &Option<OffsetDateTime>) {
    let state = sync_state(h, t).await;
    assert_eq!(state.checkpoint, None, "kill at write {k}: checkpoint left");
    assert_eq!(
        &state.watermark, watermark,
        "kill at write {k}: watermark differs from the uninterrupted sync's"
    );
    assert_eq!(
        t.store.run_slot_holder(&h.tenant).await.expect("slot"),
        None,
        "kill at write {k}: the run slot stays claimed, so no new sync can start"
    );
}

#[derive(Debug, Default)]
struct Tally {
    cases: u64,
    kills: u64,
    lost: usize,
    extra: usize,
    changed: usize,
    failed_exposed: usize,
    ops: BTreeMap<String, u64>,
}

impl Tally {
    fn count_ops(&mut self, ops: &[String]) {
        for op in ops {
            *self.ops.entry(op.clone()).or_default() += 1;
        }
    }
}

/// Cases in flight at once: moto applies requests one at a time, so this only overlaps our side of each request
/// (signing, decoding, the simulator) with moto's.
const PARALLEL_CASES: usize = 4;

/// What one kill-and-resume case saw.
struct Case {
    k: u64,
    /// The checkpoint's phase the kill left (`None`: no checkpoint of this run yet, or the run had completed).
    phase: Option<String>,
    failed_exposed: usize,
    diff: Diff,
}

/// The reference for a family of cases: `base`'s next sync, uninterrupted, in a copy of `base`.
struct Reference {
    before: Data,
    after: Data,
    status: RunStatus,
    watermark: Option<OffsetDateTime>,
    writes: u64,
    ops: Vec<String>,
}

async fn reference(h: &Harness, base: &Table) -> Reference {
    let before = data(h, base).await;
    let t = copy_of(h, &base.name).await;
    let status = uninterrupted(h, &t).await;
    Reference {
        before,
        after: data(h, &t).await,
        status,
        watermark: sync_state(h, &t).await.watermark,
        writes: t.switch.writes(),
        ops: t.switch.ops(),
    }
}

/// Kills `base`'s next sync (in a copy of `base`) before write `k`, checks what the kill left, resumes, and
/// compares with the uninterrupted sync.
async fn kill_and_resume(h: &Harness, base: &Table, r: &Reference, label: &str, k: u64) -> Case {
    let t = copy_of(h, &base.name).await;
    let message = killed_at(h, &t, k)
        .await
        .unwrap_or_else(|| panic!("{label}: the run finished before write {k}"));
    let failed_exposed = check_crash_state(k, &r.before, &r.after, &data(h, &t).await);
    let phase = sync_state(h, &t).await.checkpoint.map(|c| c.phase);

    let status = resume(h, &t, k, &message).await;
    assert_eq!(status, r.status, "{label}, kill at write {k}: run status");
    let (diff, names) = diff(&data(h, &t).await, &r.after);
    assert_eq!(
        diff,
        Diff::default(),
        "{label}, kill at write {k}: resumed data differs: {names:?}"
    );
    assert_settled(h, &t, k, &r.watermark).await;
    if std::env::var_os("CRASH_RESUME_TRACE").is_some() {
        eprintln!("{label}: kill at write {k} of {} held", r.writes);
    }
    Case {
        k,
        phase,
        failed_exposed,
        diff,
    }
}

/// Which write points to kill at. `CRASH_RESUME_POINTS=all` (the documented long run) takes every one;
/// `CRASH_RESUME_POINTS=a..b` (inclusive) reproduces a failing case quickly. The default, run by `scripts/test`,
/// is every third write plus the first and the last four: each kill point is one full sync through moto, and the
/// last writes (final run update, slot release) are where the run-slot bug hid.
fn points(writes: u64) -> Vec<u64> {
    let only = std::env::var("CRASH_RESUME_POINTS").ok();
    if only.as_deref() == Some("all") {
        return (1..=writes).collect();
    }
    let range = only.as_deref().and_then(|v| {
        let (a, b) = v.split_once("..")?;
        Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?))
    });
    match range {
        Some((a, b)) => (a.max(1)..=b.min(writes)).collect(),
        None => (1..=writes)
            .filter(|k| *k == 1 || k % 3 == 0 || *k + 4 > writes)
            .collect(),
    }
}

/// Kills `base`'s next sync at each of its write points (see [`points`]), each case in its own copy of `base`.
async fn kill_at_write_points(
    h: &Harness,
    base: &Table,
    label: &str,
) -> (Reference, Tally, Vec<Case>) {
    let r = reference(h, base).await;
    if std::env::var_os("CRASH_RESUME_TRACE").is_some() {
        eprintln!("{label}: reference sync made {} writes", r.writes);
    }
    assert!(r.writes >= 20, "{label}: only {} writes", r.writes);
    let mut cases: Vec<Case> = futures::stream::iter(points(r.writes))
        .map(|k| kill_and_resume(h, base, &r, label, k))
        .buffer_unordered(PARALLEL_CASES)
        .collect()
        .await;
    cases.sort_by_key(|c| c.k);
    let mut tally = Tally::default();
    tally.count_ops(&r.ops);
    for c in &cases {
        tally.cases += 1;
        tally.kills += 1;
        tally.failed_exposed += c.failed_exposed;
        tally.lost += c.diff.lost;
        tally.extra += c.diff.extra;
        tally.changed += c.diff.changed;
    }
    (r, tally, cases)
}

fn report(label: &str, t: &Tally, started: Instant) {
    eprintln!(
        "{label}: {} crash points, {} kills, lost {}, extra {}, changed {}, failed findings exposed {}, \
         write points by operation {:?}, {:.1} s",
        t.cases,
        t.kills,
        t.lost,
        t.extra,
        t.changed,
        t.failed_exposed,
        t.ops,
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Suites.

/// The first sync of a tenant (everything created), killed before each of its writes.
#[tokio::test]
async fn first_sync_killed_at_its_writes_resumes_to_the_same_data() {
    let started = Instant::now();
    if std::env::var_os("CRASH_RESUME_TRACE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
    let h = Harness::new(spec()).await;
    // The harness's table holds the tenant's configuration and nothing else yet.
    let empty = copy_of(&h, h.store.table_name()).await;
    let (r, tally, _) = kill_at_write_points(&h, &empty, "first sync").await;
    assert!(
        r.after.assets.len() >= 25
            && r.after.findings.len() >= 100
            && r.after.vulnerabilities.len() >= 60,
        "{:?}",
        r.after
    );
    report("first sync", &tally, started);
}

/// An incremental sync after the console changed (a finding failed → passed and one passed → failed, an agent
/// removed, one decommissioned, new agents and threats), killed before each of its writes; then kills where a
/// verdict changes again between the kill and the resume.
#[tokio::test]
async fn incremental_sync_killed_at_its_writes_never_flips_and_resumes_to_the_same_data() {
    let started = Instant::now();
    let h = Harness::new(spec().with_seed(2612)).await;
    let base = copy_of(&h, h.store.table_name()).await;
    uninterrupted(&h, &base).await;
    let synced = data(&h, &base).await;

    let failed: Vec<&String> = synced
        .findings
        .values()
        .filter(|f| f.1 == FindingStatus::Failed)
        .map(|f| &f.2)
        .collect();
    let passed: Vec<&String> = synced
        .findings
        .values()
        .filter(|f| f.1 == FindingStatus::Passed)
        .map(|f| &f.2)
        .collect();
    assert!(failed.len() >= 4 && !passed.is_empty());
    assert!(h.sim.set_threat_verdict(failed[0], "false_positive"));
    assert!(h.sim.set_threat_verdict(passed[0], "true_positive"));
    let agents = h.sim.agents_snapshot();
    let id = |i: usize| agents[i]["id"].as_str().expect("agent id").to_string();
    assert!(h.sim.remove_agent(&id(3)));
    assert!(h.sim.decommission_agent(&id(7)));
    h.sim.add_agents(2);
    h.sim.add_threats(3);
    // A vulnerability patched (the delta walk returns it removed) and one rescored.
    let risks = h.sim.risks_snapshot();
    let risk = |i: usize| risks[i]["id"].as_str().expect("risk id").to_string();
    assert!(h.sim.remove_risk(&risk(0)));
    assert!(h.sim.set_risk_severity(&risk(5), "CRITICAL"));

    let (r, tally, cases) = kill_at_write_points(&h, &base, "incremental sync").await;
    let (before, after) = (&r.before, &r.after);
    assert_ne!(
        before, after,
        "the console changes reached the incremental sync"
    );
    assert!(tally.failed_exposed > 0);
    report("incremental sync", &tally, started);

    // A verdict SentinelOne changes between the kill and the resume: a failed finding (failed before and after the
    // incremental sync) becomes a false positive, a passed one a true positive. Kills in each phase of the run.
    let mut picked: BTreeMap<Option<String>, Vec<u64>> = BTreeMap::new();
    for c in &cases {
        picked.entry(c.phase.clone()).or_default().push(c.k);
    }
    let points: BTreeSet<u64> = picked
        .values()
        .flat_map(|ks| [ks[0], ks[ks.len() / 2], ks[ks.len() - 1]])
        .collect();
    let flip_to_passed: Vec<String> = failed[1..].iter().map(|s| s.to_string()).collect();
    let flip_to_failed: Vec<String> = passed[1..].iter().map(|s| s.to_string()).collect();
    let mut changed_between = Tally::default();
    // The console as the previous case left it: each case changes it once more.
    let mut current = after.clone();
    for (i, k) in points.iter().copied().enumerate() {
        let t = copy_of(&h, &base.name).await;
        let message = killed_at(&h, &t, k).await.expect("killed");
        changed_between.kills += 1;
        let at_kill = sync_state(&h, &t).await.checkpoint;
        changed_between.failed_exposed +=
            check_crash_state(k, before, &current, &data(&h, &t).await);
        let to_passed = &flip_to_passed[i % flip_to_passed.len()];
        let to_failed = &flip_to_failed[i % flip_to_failed.len()];
        assert!(h.sim.set_threat_verdict(to_passed, "false_positive"));
        assert!(h.sim.set_threat_verdict(to_failed, "true_positive"));

        resume(&h, &t, k, &message).await;
        let resumed = data(&h, &t).await;
        let truth = copy_of(&h, &base.name).await;
        uninterrupted(&h, &truth).await;
        let now = data(&h, &truth).await;
        // The vulnerability walk, attach and finalize come after the threat walk: a run killed there does not walk
        // threats again.
        let walked_after_change = at_kill
            .as_ref()
            .is_none_or(|c| Phase::parse(&c.phase).is_none_or(|p| p < Phase::Vulnerabilities));
        if walked_after_change {
            // The resumed threat walk (keyset cursor on updatedAt) meets the changed threats again.
            let (d, names) = diff(&resumed, &now);
            assert_eq!(
                d,
                Diff::default(),
                "kill at write {k}, verdicts changed before the resume: {names:?}"
            );
            assert_settled(&h, &t, k, &sync_state(&h, &truth).await.watermark).await;
        } else {
            // Killed after the threat walk: the resumed run only attaches and finalizes and holds the walk's snapshot; its
            // watermark must let the next sync pick the change up.
            let (d, names) = diff(&resumed, &current);
            assert_eq!(
                d,
                Diff::default(),
                "kill at write {k} in finalize: {names:?}"
            );
            uninterrupted(&h, &t).await;
            let (d, names) = diff(&data(&h, &t).await, &now);
            assert_eq!(
                d,
                Diff::default(),
                "kill at write {k} in finalize, then one more sync: {names:?}"
            );
        }
        let status_of = |threat: &str| now.findings.values().find(|f| f.2 == threat).map(|f| f.1);
        assert_eq!(status_of(to_passed), Some(FindingStatus::Passed));
        assert_eq!(status_of(to_failed), Some(FindingStatus::Failed));
        current = now;
        changed_between.cases += 1;
    }
    report(
        "incremental sync, verdicts changed between kill and resume",
        &changed_between,
        started,
    );
}
