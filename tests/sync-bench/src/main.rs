//! Bench binary for issue 10: generates a simulated tenant, syncs it through the real engine, client and store,
//! and prints wall time, pages, items/s, peak RSS, DynamoDB items read/written and SentinelOne requests for a
//! first sync, an unchanged re-sync and a re-sync after 1% of threats changed, plus fetch-only and write-only runs.

mod capacity;
mod heap;
mod memory;
mod model;
mod seen_set;
mod sim_process;

use std::collections::BTreeSet;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_store::batch::{BatchApi, BoxFuture, GetOutcome, Item, Projection};
use connector_store::{
    save_configuration, PageTokenKey, SdkBatch, Store, StoreError, TenantConfig, TenantId, Trigger,
    Vault,
};
use futures::StreamExt;
use local_stack::LocalStack;
use s1_core::mapping::{assets_from_agents, findings_from_threats};
use s1_core::merge::{decide_asset, decide_finding};
use s1_core::{AnalystVerdict, ApiToken, AssetDecision, MappingSettings};
use sentinelone_client::{AgentQuery, ClientOptions, ConsoleUrl, S1Client, ThreatQuery, UrlPolicy};
use sync_engine::{start_sync, Budget, Outcome, SyncEngine, SyncMessage, SyncQueue};
use test_support::counting::{CallCounter, Calls};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Moto,
    Memory,
}

struct Args {
    agents: usize,
    threats: usize,
    seed: u64,
    backend: Backend,
    /// Pages per second toward the simulator; production paces at 10 (decision 7), which would measure the pacing.
    rps: f64,
    skip_split: bool,
    /// Application-vulnerability rows per active agent (0: the walk runs and finds none, as before it existed).
    risks_per_agent: usize,
    /// Every run walks all vulnerabilities (the weekly complete walk) instead of the delta since the last walk.
    complete_vulnerability_walks: bool,
}

impl Args {
    /// What the in-memory table is sized for up front, so that it does not rehash inside a measured run: each
    /// agent's asset, registration and rows, each threat's finding, and room for the bookkeeping items (digests,
    /// seen markers of every run), with a quarter to spare.
    fn table_items(&self) -> usize {
        (self.agents * (self.risks_per_agent + 3) + self.threats * 2) * 5 / 4 + 10_000
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        agents: 1_000,
        threats: 10_000,
        seed: 42,
        backend: Backend::Moto,
        rps: 10_000.0,
        skip_split: false,
        risks_per_agent: 0,
        complete_vulnerability_walks: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--agents" => a.agents = value()?.parse().map_err(|e| format!("--agents: {e}"))?,
            "--threats" => a.threats = value()?.parse().map_err(|e| format!("--threats: {e}"))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--rps" => a.rps = value()?.parse().map_err(|e| format!("--rps: {e}"))?,
            "--skip-split" => a.skip_split = true,
            "--complete-vulnerability-walks" => a.complete_vulnerability_walks = true,
            "--risks-per-agent" => {
                a.risks_per_agent = value()?
                    .parse()
                    .map_err(|e| format!("--risks-per-agent: {e}"))?
            }
            "--backend" => {
                a.backend = match value()?.as_str() {
                    "moto" => Backend::Moto,
                    "memory" => Backend::Memory,
                    other => return Err(format!("--backend must be moto or memory, not {other}")),
                }
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: sync-bench [--agents N] [--threats T] [--seed S] \
                     [--backend moto|memory] [--rps R] [--skip-split] [--risks-per-agent V] [--complete-vulnerability-walks]"
                ))
            }
        }
    }
    Ok(a)
}

/// Counts what goes through the batch layer: every asset/finding read and write of a sync.
struct Counting {
    inner: Arc<dyn BatchApi>,
    /// Capacity units of the batch traffic (both backends), by DynamoDB's rules (see `capacity`).
    meter: Arc<capacity::Meter>,
    keys_requested: AtomicU64,
    items_read: AtomicU64,
    items_written: AtomicU64,
    get_calls: AtomicU64,
    write_calls: AtomicU64,
}

#[derive(Clone, Copy, Default)]
struct Counts {
    keys_requested: u64,
    items_read: u64,
    items_written: u64,
    get_calls: u64,
    write_calls: u64,
}

impl Counting {
    fn new(inner: Arc<dyn BatchApi>, meter: Arc<capacity::Meter>) -> Self {
        Self {
            inner,
            meter,
            keys_requested: AtomicU64::new(0),
            items_read: AtomicU64::new(0),
            items_written: AtomicU64::new(0),
            get_calls: AtomicU64::new(0),
            write_calls: AtomicU64::new(0),
        }
    }

    fn snapshot(&self) -> Counts {
        Counts {
            keys_requested: self.keys_requested.load(Ordering::Relaxed),
            items_read: self.items_read.load(Ordering::Relaxed),
            items_written: self.items_written.load(Ordering::Relaxed),
            get_calls: self.get_calls.load(Ordering::Relaxed),
            write_calls: self.write_calls.load(Ordering::Relaxed),
        }
    }
}

impl Counts {
    fn since(self, before: Counts) -> Counts {
        Counts {
            keys_requested: self.keys_requested - before.keys_requested,
            items_read: self.items_read - before.items_read,
            items_written: self.items_written - before.items_written,
            get_calls: self.get_calls - before.get_calls,
            write_calls: self.write_calls - before.write_calls,
        }
    }
}

impl BatchApi for Counting {
    fn batch_get<'a>(
        &'a self,
        table: &'a str,
        keys: Vec<Item>,
        projection: &'a Projection,
    ) -> BoxFuture<'a, Result<GetOutcome, StoreError>> {
        Box::pin(async move {
            self.get_calls.fetch_add(1, Ordering::Relaxed);
            self.keys_requested
                .fetch_add(keys.len() as u64, Ordering::Relaxed);
            let asked = keys.len();
            let sk = |i: &Item| match i.get("sk") {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => Some(s.clone()),
                _ => None,
            };
            let asked_kinds: Vec<String> = keys
                .iter()
                .map(|k| capacity::key_kind(sk(k).as_deref()))
                .collect();
            let out = self.inner.batch_get(table, keys, projection).await?;
            // By kind of key: each found item's units, the minimum for each key that found nothing.
            let mut found_by_kind: std::collections::BTreeMap<String, (u64, f64)> =
                Default::default();
            for i in &out.items {
                let e = found_by_kind
                    .entry(capacity::key_kind(sk(i).as_deref()))
                    .or_default();
                e.0 += 1;
                e.1 += capacity::read_units(capacity::item_size(i), true);
            }
            let mut asked_by_kind: std::collections::BTreeMap<String, u64> = Default::default();
            for k in asked_kinds {
                *asked_by_kind.entry(k).or_default() += 1;
            }
            for (kind, n) in asked_by_kind {
                let (found, read) = found_by_kind.get(&kind).copied().unwrap_or_default();
                self.meter.add_key(
                    "BatchGetItem",
                    &kind,
                    capacity::KeyUnits {
                        keys: n,
                        read: read + n.saturating_sub(found) as f64 * capacity::read_units(0, true),
                        ..Default::default()
                    },
                );
            }
            self.items_read
                .fetch_add(out.items.len() as u64, Ordering::Relaxed);
            // Strongly consistent (the store's batch reads are). A projection does not lower the charge, which is
            // on the whole item: items under 4 KB cost one unit whatever is projected. A key that finds nothing
            // costs the minimum; unprocessed keys are asked again and charged then.
            let missing = asked - out.items.len() - out.unprocessed.len();
            let read = out
                .items
                .iter()
                .map(|i| capacity::read_units(capacity::item_size(i), true))
                .sum::<f64>()
                + missing as f64 * capacity::read_units(0, true);
            self.meter.add(
                "BatchGetItem",
                capacity::Units {
                    calls: 1,
                    read,
                    ..Default::default()
                },
            );
            Ok(out)
        })
    }

    fn batch_write<'a>(
        &'a self,
        table: &'a str,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> BoxFuture<'a, Result<Vec<aws_sdk_dynamodb::types::WriteRequest>, StoreError>> {
        Box::pin(async move {
            self.write_calls.fetch_add(1, Ordering::Relaxed);
            let sent = requests.len() as u64;
            let (mut write, mut bytes) = (0.0, 0u64);
            for r in &requests {
                let (w, b) = request_units(r);
                write += w;
                bytes += b;
                if let Some(item) = r.put_request().map(|p| p.item()) {
                    self.meter.add_kind(item, w);
                    let sk = match item.get("sk") {
                        Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => Some(s.as_str()),
                        _ => None,
                    };
                    self.meter.add_key(
                        "BatchWriteItem",
                        &capacity::key_kind(sk),
                        capacity::KeyUnits {
                            keys: 1,
                            write: w,
                            ..Default::default()
                        },
                    );
                }
            }
            let unprocessed = self.inner.batch_write(table, requests).await?;
            for r in &unprocessed {
                let (w, b) = request_units(r);
                write -= w;
                bytes -= b;
                if let Some(item) = r.put_request().map(|p| p.item()) {
                    self.meter.add_kind_back(item, w);
                }
            }
            self.items_written
                .fetch_add(sent - unprocessed.len() as u64, Ordering::Relaxed);
            self.meter.add(
                "BatchWriteItem",
                capacity::Units {
                    calls: 1,
                    write,
                    items_written: sent - unprocessed.len() as u64,
                    bytes_written: bytes,
                    ..Default::default()
                },
            );
            Ok(unprocessed)
        })
    }
}

/// Write units and bytes of one BatchWriteItem request (a delete at the minimum: its item is not in the request).
fn request_units(r: &aws_sdk_dynamodb::types::WriteRequest) -> (f64, u64) {
    match r.put_request() {
        Some(p) => (
            capacity::typed_put_units(p.item()),
            capacity::item_size(p.item()) as u64,
        ),
        None => (1.0, 0),
    }
}

/// Peak and current resident set of this process, in KiB, from /proc/self/status.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn machine_info() {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!(
        "machine: nproc={nproc} cpu=\"{model}\" loadavg=\"{}\"",
        loadavg()
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Bench {
    stack: LocalStack,
    /// The DynamoDB client every store of the bench uses, with the timing interceptor installed.
    dynamodb: aws_sdk_dynamodb::Client,
    /// Every DynamoDB call the store makes (batch and direct), counted and timed, so a phase's wall can be split
    /// into time waiting on DynamoDB and the rest.
    ddb: Arc<Calls>,
    /// Capacity units of every DynamoDB call (batch ones counted by `Counting`, the rest by the SDK interceptor).
    meter: Arc<capacity::Meter>,
    table: Option<Arc<memory::MemoryBatch>>,
    /// The simulated console, in a child process (see `sim_process`).
    sim: sim_process::SimProcess,
    store: Store,
    counting: Arc<Counting>,
    engine: SyncEngine,
    queue: SyncQueue,
    tenant: TenantId,
    args: Args,
}

fn options(rps: f64) -> ClientOptions {
    // Production page size (1,000, decision 4); the pacing is lifted because the console is local.
    ClientOptions {
        requests_per_second: rps,
        ..ClientOptions::default()
    }
}

fn policy() -> UrlPolicy {
    test_support::dev_loopback_policy()
}

type FreshStore = (Store, Arc<Counting>, Option<Arc<memory::MemoryBatch>>);

/// A store on a fresh moto table whose batch layer is counted and, with `--backend memory`, held in memory.
async fn fresh_store(
    stack: &LocalStack,
    dynamodb: &aws_sdk_dynamodb::Client,
    backend: Backend,
    meter: Arc<capacity::Meter>,
    expected_items: usize,
) -> Result<FreshStore, BoxError> {
    let table = stack.fresh_table().await?;
    let store = Store::new(dynamodb.clone(), table, PageTokenKey::random());
    let (inner, memory): (Arc<dyn BatchApi>, _) = match backend {
        Backend::Moto => (Arc::new(SdkBatch(dynamodb.clone())), None),
        Backend::Memory => {
            let m = Arc::new(memory::MemoryBatch::with_capacity(expected_items));
            (m.clone(), Some(m))
        }
    };
    let counting = Arc::new(Counting::new(inner, meter));
    Ok((store.with_batch_api(counting.clone()), counting, memory))
}

impl Bench {
    async fn new(args: Args) -> Result<Self, BoxError> {
        let sim = sim_process::SimProcess::spawn(sim_process::Spec {
            agents: args.agents,
            threats: args.threats,
            seed: args.seed,
            risks_per_agent: args.risks_per_agent,
        })?;
        let (sim_hwm, sim_rss) = sim.rss_kib()?;
        let (hwm, rss) = rss_kib();
        println!(
            "simulator: {} agents, {} threats, {} vulnerability rows per agent generated in {:.2}s in its own process \
             (pid {}, rss {:.1} MiB, peak {:.1} MiB); bench process rss {:.1} MiB (peak {:.1} MiB) before any sync",
            args.agents,
            args.threats,
            args.risks_per_agent,
            sim.generated_secs,
            sim.pid(),
            mib(sim_rss),
            mib(sim_hwm),
            mib(rss),
            mib(hwm)
        );
        let stack = LocalStack::connect().await?;
        let ddb = Arc::new(Calls::default());
        let meter = Arc::new(capacity::Meter::default());
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            stack
                .dynamodb
                .config()
                .to_builder()
                .interceptor(CallCounter::new(ddb.clone(), ""))
                .interceptor(
                    capacity::CapacityInterceptor::new(meter.clone(), true)
                        .with_whole_items(stack.dynamodb.clone()),
                )
                .build(),
        );
        let (store, counting, table) = fresh_store(
            &stack,
            &dynamodb,
            args.backend,
            meter.clone(),
            args.table_items(),
        )
        .await?;
        let vault = Vault::new(stack.secrets.clone(), stack.fresh_secret_prefix());
        let queue = SyncQueue::new(stack.sqs.clone(), stack.fresh_queue().await?);
        let tenant = TenantId::new("bench-tenant")?;
        let token = ApiToken::new(sim.token())?;
        save_configuration(
            &store,
            &vault,
            &tenant,
            TenantConfig::new(sim.base_url()),
            Some(&token),
        )
        .await?;
        if args.complete_vulnerability_walks {
            store.set_full_vulnerability_walk_every(&tenant, 0).await?;
        }
        let engine = SyncEngine {
            store: store.clone(),
            vault,
            url_policy: policy(),
            client_options: options(args.rps),
            max_retire_percent: s1_core::retirement::DEFAULT_MAX_RETIRE_PERCENT,
        };
        Ok(Self {
            stack,
            dynamodb,
            ddb,
            meter,
            table,
            sim,
            store,
            counting,
            engine,
            queue,
            tenant,
            args,
        })
    }

    /// One full run through the engine (queued by `start_sync` like "Sync now"; the message is handed to the engine
    /// directly rather than through the worker so that SQS polling is not part of the figure).
    async fn sync(&self, label: &str) -> Result<(), BoxError> {
        self.sim.clear_requests()?;
        let before = self.counting.snapshot();
        let (_, rss_before) = rss_kib();
        let run = start_sync(&self.store, &self.queue, &self.tenant, Trigger::OnDemand).await?;
        let ddb_before = self.ddb.snapshot();
        let units_before = self.meter.snapshot();
        let sampler = heap::Sampler::start(self.table.clone());
        let started = Instant::now();
        let outcome = self
            .engine
            .run(
                &SyncMessage::first(self.tenant.as_str(), &run.id),
                Budget::unlimited(),
                "bench",
            )
            .await?;
        let wall = started.elapsed();
        let samples = sampler.stop();
        let ddb_used = self.ddb.snapshot().since(&ddb_before);
        let units = self.meter.snapshot().since(&units_before);
        let Outcome::Finished(run) = outcome else {
            return Err(
                format!("{label}: the run did not finish in one invocation: {outcome:?}").into(),
            );
        };
        let c = self.counting.snapshot().since(before);
        let requests = self.sim.requests()?;
        let (sim_hwm, _) = self.sim.rss_kib()?;
        let (hwm, rss) = rss_kib();
        let items = run.counters.items_fetched;
        println!(
            "{label}: status={:?} wall={:.2}s pages={} items_fetched={} items/s={:.0} s1_requests={} \
             ddb_keys_requested={} ddb_items_read={} ddb_items_written={} ddb_batch_get_calls={} ddb_batch_write_calls={} \
             rss_before={:.1}MiB rss_after={:.1}MiB peak_rss_so_far={:.1}MiB simulator_peak_rss_so_far={:.1}MiB \
             loadavg=\"{}\"",
            run.status,
            wall.as_secs_f64(),
            run.pages,
            items,
            items as f64 / wall.as_secs_f64(),
            requests,
            c.keys_requested,
            c.items_read,
            c.items_written,
            c.get_calls,
            c.write_calls,
            mib(rss_before),
            mib(rss),
            mib(hwm),
            mib(sim_hwm),
            loadavg()
        );
        self.print_heap(label, &samples);
        let v = &run.vulnerabilities;
        // On the memory backend the asset directory and the fixing plan (both queries) see no item: rows are
        // stored unattached there and nothing is fixed by absence; the write counts are the same.
        println!(
            "{label}/vulnerabilities: fetched={} created={} updated={} unchanged={} fixed={} reopened={} skipped={} \
             written_share={:.4}{}",
            v.fetched,
            v.created,
            v.updated,
            v.unchanged,
            v.fixed,
            v.reopened,
            v.skipped,
            (v.created + v.updated) as f64 / (v.fetched.max(1)) as f64,
            v.skipped_reason
                .as_deref()
                .map(|r| format!(" skipped_reason={r:?}"))
                .unwrap_or_default()
        );
        println!(
            "{label}/dynamodb: calls={} busy={:.2}s ({:.0}% of wall) calls_per_op: {}",
            ddb_used.calls(),
            ddb_used.busy.as_secs_f64(),
            100.0 * ddb_used.busy.as_secs_f64() / wall.as_secs_f64(),
            ddb_used.describe()
        );
        self.print_capacity(label, &units);
        if let (Some(table), true) = (&self.table, self.args.complete_vulnerability_walks) {
            seen_set::measure(label, &self.store, table, &self.tenant, &run.id, v.fetched).await?;
        }
        Ok(())
    }

    /// The run's capacity units beside the yardstick's: a plain sync writes every record once per run, and its
    /// flat items are under 1 KB (scripts/yardstick/plain_sync.py prints their size), so one write unit a record.
    fn print_capacity(&self, label: &str, units: &capacity::MeterSnapshot) {
        let records = (self.args.agents + self.args.threats) as f64;
        let (read, write) = (units.read(), units.write());
        // On-demand prices a write request unit at five read request units: the run's cost in write units.
        let write_equivalent = write + read / 5.0;
        println!(
            "{label}/capacity: rcu={read:.1} wcu={write:.0} per_record[rcu={:.3} wcu={:.3}] \
             write_equivalent(wcu+rcu/5)={write_equivalent:.0} plain_script_wcu={records:.0} \
             vs_plain[wcu={:.4} write_equivalent={:.4} all_units={:.4}] by_op: {} kinds: {} by_key: {}",
            read / records,
            write / records,
            write / records,
            write_equivalent / records,
            (read + write) / records,
            units.describe(),
            units.describe_kinds(),
            units.describe_keys()
        );
    }

    /// The phase's heap growth, raw and without the in-memory table (whose bytes per item are measured now, while
    /// nothing else runs).
    fn print_heap(&self, label: &str, samples: &[heap::Sample]) {
        let bytes = self
            .table
            .as_ref()
            .map(|t| t.item_bytes())
            .unwrap_or_default();
        let h = heap::summarize(samples);
        println!(
            "{label}/heap: heap_at_start={:.1}MiB peak_growth={:.1}MiB peak_growth_excl_memory_table={:.1}MiB \
             retained_excl_memory_table={:.1}MiB memory_table_growth={:.1}MiB memory_table_rehashes={} \
             table_bytes_per_item[asset={:.0} finding={:.0} other={:.0}] samples={}",
            mib(h.start as u64 / 1024),
            h.raw_peak_growth / 1048576.0,
            h.peak_growth_excl_table / 1048576.0,
            h.retained_excl_table / 1048576.0,
            h.table_growth / 1048576.0,
            self.table.as_ref().map(|t| t.rehashes()).unwrap_or_default(),
            bytes.asset,
            bytes.finding,
            bytes.other,
            h.samples
        );
    }

    /// Flips the analyst verdict of 1% of threats (every 100th in walk order), which also bumps their updatedAt.
    /// The ids come from a walk through the client, one page at a time: a snapshot of the simulator's whole tenant
    /// as JSON values would need tens of GB at 1M threats.
    async fn change_one_percent(&self) -> Result<usize, BoxError> {
        let client = self.client()?;
        let mut picks: Vec<(String, bool)> = Vec::new();
        let mut index = 0usize;
        let mut threats = pin!(client.threats(ThreatQuery::default()));
        while let Some(page) = threats.next().await {
            for t in page?.records {
                if index.is_multiple_of(100) {
                    let is_fp =
                        t.threat_info.analyst_verdict == Some(AnalystVerdict::FalsePositive);
                    picks.push((t.id, is_fp));
                }
                index += 1;
            }
        }
        let mut changed = 0;
        for (id, is_fp) in picks {
            let next = if is_fp {
                "true_positive"
            } else {
                "false_positive"
            };
            if self.sim.set_threat_verdict(&id, next)? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    fn client(&self) -> Result<S1Client, BoxError> {
        let console = ConsoleUrl::parse(&self.sim.base_url(), &policy())?;
        Ok(S1Client::new(
            console,
            ApiToken::new(self.sim.token())?,
            options(self.args.rps),
        )?)
    }

    /// Fetch-only: both walks through the client (HTTP + decode), nothing written. Returns the pages when `keep`.
    async fn fetch_only(&self, keep: bool) -> Result<Fetched, BoxError> {
        let client = self.client()?;
        self.sim.clear_requests()?;
        let sampler = heap::Sampler::start(None);
        let started = Instant::now();
        let mut fetched = Fetched::default();
        let mut records = 0u64;
        let mut agents = pin!(client.agents(AgentQuery::default()));
        while let Some(page) = agents.next().await {
            let page = page?;
            records += page.records.len() as u64;
            if keep {
                fetched.agents.push(page.records);
            }
        }
        let mut threats = pin!(client.threats(ThreatQuery::default()));
        while let Some(page) = threats.next().await {
            let page = page?;
            records += page.records.len() as u64;
            if keep {
                fetched.threats.push(page.records);
            }
        }
        let wall = started.elapsed();
        let samples = sampler.stop();
        let (hwm, _) = rss_kib();
        println!(
            "fetch-only: wall={:.2}s records={records} records/s={:.0} s1_requests={} peak_rss_so_far={:.1}MiB kept_pages={keep}",
            wall.as_secs_f64(),
            records as f64 / wall.as_secs_f64(),
            self.sim.requests()?,
            mib(hwm)
        );
        if !keep {
            self.print_heap("fetch-only", &samples);
        }
        fetched.wall = wall;
        Ok(fetched)
    }

    /// Write-only: applies pre-decoded pages to a fresh table with the store calls the engine makes per page
    /// (seen keys, asset reads, decisions, asset writes; asset reads, finding decisions, finding writes), without
    /// the per-page checkpoint and the finalize pass.
    async fn write_only(&self, fetched: &Fetched) -> Result<Duration, BoxError> {
        let (store, counting, table) = fresh_store(
            &self.stack,
            &self.dynamodb,
            self.args.backend,
            Arc::new(capacity::Meter::default()),
            self.args.table_items(),
        )
        .await?;
        let settings = MappingSettings {
            auto_onboard: true,
            update_metadata: true,
            verdicts: TenantConfig::new(self.sim.base_url()).verdict_list()?,
            console_base_url: self.sim.base_url(),
        };
        let tenant = &self.tenant;
        let run_id = "write-only";
        let ddb_before = self.ddb.snapshot();
        let sampler = heap::Sampler::start(table.clone());
        let started = Instant::now();
        for (page_no, records) in fetched.agents.iter().enumerate() {
            let assets = assets_from_agents(records, &settings);
            let keys: Vec<String> = assets.iter().map(|a| a.key.as_str().to_string()).collect();
            store
                .record_seen_assets(tenant, run_id, page_no as u64, &keys)
                .await?;
            let existing = store.load_assets(tenant, &keys).await?;
            let decisions: Vec<AssetDecision> = assets
                .iter()
                .map(|a| decide_asset(a, existing.get(a.key.as_str()).map(|s| &s.asset), &settings))
                .collect();
            store
                .apply_asset_decisions(tenant, &decisions, run_id)
                .await?;
        }
        for records in &fetched.threats {
            let mapped = findings_from_threats(records, &settings);
            let keys: Vec<String> = mapped
                .findings
                .iter()
                .filter_map(|f| f.asset_key.as_ref().map(|k| k.as_str().to_string()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let existing = store.load_assets(tenant, &keys).await?;
            let findings: Vec<_> = mapped
                .findings
                .iter()
                .map(|f| {
                    let exists = f
                        .asset_key
                        .as_ref()
                        .is_some_and(|k| existing.contains_key(k.as_str()));
                    decide_finding(f, exists)
                })
                .collect();
            let layout = store.ensure_record_layout(tenant).await?;
            store.apply_findings(tenant, layout, &findings).await?;
        }
        let wall = started.elapsed();
        let samples = sampler.stop();
        let ddb_used = self.ddb.snapshot().since(&ddb_before);
        let c = counting.snapshot();
        let (hwm, _) = rss_kib();
        let n = fetched.agents.iter().map(Vec::len).sum::<usize>()
            + fetched.threats.iter().map(Vec::len).sum::<usize>();
        println!(
            "write-only: wall={:.2}s records={n} records/s={:.0} ddb_items_read={} ddb_items_written={} peak_rss_so_far={:.1}MiB",
            wall.as_secs_f64(),
            n as f64 / wall.as_secs_f64(),
            c.items_read,
            c.items_written,
            mib(hwm)
        );
        println!(
            "write-only/dynamodb: calls={} busy={:.2}s calls_per_op: {}",
            ddb_used.calls(),
            ddb_used.busy.as_secs_f64(),
            ddb_used.describe()
        );
        let h = heap::summarize(&samples);
        println!(
            "write-only/heap: peak_growth={:.1}MiB peak_growth_excl_memory_table={:.1}MiB (the decoded input pages are held before the phase starts)",
            h.raw_peak_growth / 1048576.0,
            h.peak_growth_excl_table / 1048576.0
        );
        Ok(wall)
    }

    /// What finalize's seen-key set costs: `retire_unseen_assets` collects every seen asset key of the run into
    /// one `HashSet<String>` (grown by `extend`, as there). Built here from the walk's own asset keys.
    fn seen_set_bytes(&self, fetched: &Fetched) {
        let settings = MappingSettings {
            auto_onboard: true,
            update_metadata: true,
            verdicts: Default::default(),
            console_base_url: self.sim.base_url(),
        };
        let keys: Vec<Vec<String>> = fetched
            .agents
            .iter()
            .map(|records| {
                assets_from_agents(records, &settings)
                    .into_iter()
                    .map(|a| a.key.as_str().to_string())
                    .collect()
            })
            .collect();
        let before = heap::live();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for page in &keys {
            seen.extend(page.iter().cloned());
        }
        let bytes = heap::live() - before;
        let key_len = seen.iter().map(String::len).sum::<usize>() as f64 / seen.len().max(1) as f64;
        println!(
            "finalize-seen-set: keys={} bytes={} bytes_per_key={:.1} mean_key_len={key_len:.1} (HashSet<String> as in retire_unseen_assets)",
            seen.len(),
            bytes,
            bytes as f64 / seen.len().max(1) as f64
        );
    }
}

#[derive(Default)]
struct Fetched {
    agents: Vec<Vec<s1_core::records::Agent>>,
    threats: Vec<Vec<s1_core::records::Threat>>,
    wall: Duration,
}

#[tokio::main]
async fn main() {
    // `--model [flags]`: the production model's table only, no sync (see `model`).
    let raw: Vec<String> = std::env::args().skip(1).collect();
    // The simulated console's own process (see `sim_process`).
    if raw.first().map(String::as_str) == Some(sim_process::SERVE_FLAG) {
        if let Err(e) = sim_process::serve(&raw[1..]).await {
            eprintln!("simulator process failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    if raw.first().map(String::as_str) == Some("--model") {
        match model::parse(&raw[1..]) {
            Ok(params) => {
                println!("model parameters: {params:?}");
                print!("{}", model::table(&params));
                return;
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("sync-bench failed: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    machine_info();
    println!(
        "size: agents={} threats={} seed={} backend={} page_limit=1000 rps={}",
        args.agents,
        args.threats,
        args.seed,
        if args.backend == Backend::Moto {
            "moto"
        } else {
            "memory (batch reads/writes in memory; rest on moto)"
        },
        args.rps
    );
    let skip_split = args.skip_split;
    let bench = Bench::new(args).await?;
    bench.sync("first-sync").await?;
    bench.sync("unchanged-resync").await?;
    let changed = bench.change_one_percent().await?;
    println!("changed: {changed} threat verdicts flipped");
    bench.sync("resync-1pct-changed").await?;
    if !skip_split {
        // Streaming pass first (keeps nothing): its time is the fetch-only figure. Then a pass that keeps the
        // decoded pages as the write-only input (its memory is the bench's, not the connector's).
        let fetch = bench.fetch_only(false).await?.wall;
        let fetched = bench.fetch_only(true).await?;
        bench.seen_set_bytes(&fetched);
        let write = bench.write_only(&fetched).await?;
        drop(fetched);
        println!(
            "overlap: fetch_only={:.2}s write_only={:.2}s max={:.2}s (goal: first-sync wall <= 1.2 x max = {:.2}s)",
            fetch.as_secs_f64(),
            write.as_secs_f64(),
            fetch.max(write).as_secs_f64(),
            fetch.max(write).as_secs_f64() * 1.2
        );
    }
    println!("end: loadavg=\"{}\"", loadavg());
    Ok(())
}
