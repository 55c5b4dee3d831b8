//! The production model: what a first sync of a large tenant would take in AWS, from a few latencies and rates
//! (parameters with documented defaults) and the per-record costs the bench measures. Pure arithmetic, so that it
//! can be checked by unit tests and rerun with other assumptions (`sync-bench --model --help`).
//!
//! Per page of `page_size` records:
//! - fetch: `max(s1_page_latency, 1 / s1_requests_per_second)` (the client paces itself per console);
//! - DynamoDB: batch reads (`read_keys_per_record` keys a record, 100 a call) and batch writes (25 a call), at most
//!   `ddb_parallel_calls` in flight, each taking `ddb_call_latency`; never faster than the tenant's partitions allow
//!   (one partition key value takes `partition_wcu_per_s` write units and `partition_rcu_per_s` read units a
//!   second). Assets and the reads before writing (assets, digests) share the tenant's partition `T#<tenant>`;
//!   findings are written to `record_shards` partitions (16 for a tenant created since record shards exist, 1 for
//!   a legacy one, where they share `T#<tenant>` with the reads). Index writes go to other partitions and do not
//!   count here;
//! - the checkpoint: `checkpoint_calls` calls one after the other;
//! - CPU: `cpu_per_record`.
//!
//! `sequential` adds them up (fetch, then write, then checkpoint: the engine today); `overlapped` takes the larger
//! of fetch and the rest (the next page fetched while this one is written). Lambda: each invocation works for
//! `timeout - safety_margin`, then checkpoints and continues in a new one (`resume_overhead` each);
//! GB-seconds = billed seconds × memory.

/// Assumptions, each with its default and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Records per SentinelOne page: 1,000 (the API's maximum, what the client asks for).
    pub page_size: f64,
    /// One SentinelOne page's answer time: 1.0 s assumed (a 1,000-record page is 2-4 MB of JSON); no public figure.
    pub s1_page_latency_s: f64,
    /// The client's pacing toward one console: 10 requests/s (its default, `ClientOptions`).
    pub s1_requests_per_second: f64,
    /// One BatchGetItem/BatchWriteItem/UpdateItem/PutItem round trip inside the region: 10 ms assumed.
    pub ddb_call_latency_s: f64,
    /// Batch calls in flight at once: 4 (`shared/store/src/batch.rs`).
    pub ddb_parallel_calls: f64,
    /// Write units per second one partition key value takes: 1,000 (DynamoDB's per-partition limit).
    pub partition_wcu_per_s: f64,
    /// Read units per second one partition key value takes: 3,000 (same source).
    pub partition_rcu_per_s: f64,
    /// Table write units per asset item (not counting index writes): 2 (items of 1-2 KB; the bench's
    /// `/capacity` line prints the measured figure per kind).
    pub table_wcu_per_asset: f64,
    /// Table write units per finding item: 2 (same; the gsi1 copy is written to the asset's partition of the index).
    pub table_wcu_per_finding: f64,
    /// Partitions a tenant's findings are written to: 16 (`RECORD_SHARDS` in `shared/store/src/keys.rs`; 1 for a
    /// tenant stored before record shards existed).
    pub record_shards: f64,
    /// Keys read per record before writing, first sync: 1.5 (the bench's keys requested / records at 1k/10k).
    pub read_keys_per_record: f64,
    /// Calls per page outside the batch layer, one after the other (lease + checkpoint, run progress): 2.
    pub checkpoint_calls: f64,
    /// Mapping and decision CPU per record: 20 µs (the mapping bench measures ~10-15 µs on a shared VM core).
    pub cpu_per_record_s: f64,
    /// The worker's Lambda timeout: 900 s (infra/template.yaml).
    pub lambda_timeout_s: f64,
    /// The engine stops taking pages this long before the deadline: 60 s (`SYNC_SAFETY_MARGIN_SECS`).
    pub safety_margin_s: f64,
    /// The worker's memory: 512 MB (infra/template.yaml).
    pub memory_mb: f64,
    /// A continuation's start (cold start, lease, state read): 1 s assumed.
    pub resume_overhead_s: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            page_size: 1_000.0,
            s1_page_latency_s: 1.0,
            s1_requests_per_second: 10.0,
            ddb_call_latency_s: 0.010,
            ddb_parallel_calls: 4.0,
            partition_wcu_per_s: 1_000.0,
            partition_rcu_per_s: 3_000.0,
            table_wcu_per_asset: 2.0,
            table_wcu_per_finding: 2.0,
            record_shards: 16.0,
            read_keys_per_record: 1.5,
            checkpoint_calls: 2.0,
            cpu_per_record_s: 20e-6,
            lambda_timeout_s: 900.0,
            safety_margin_s: 60.0,
            memory_mb: 512.0,
            resume_overhead_s: 1.0,
        }
    }
}

/// One tenant's projected first sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub pages: f64,
    /// The console's floor: pages at the client's pacing and the page latency, nothing else.
    pub fetch_s: f64,
    /// The partitions' floor: all table write and read units at the per-partition rates (the busiest partition).
    pub partition_s: f64,
    pub sequential_s: f64,
    pub overlapped_s: f64,
    /// Invocations and GB-seconds of the sequential engine (today's).
    pub invocations: f64,
    pub gb_seconds: f64,
}

/// Seconds for one page of `records` whose items cost `table_wcu` write units each and are written to `shards`
/// partitions (1: the tenant's own, which the reads use too).
fn page_times(p: &Params, records: f64, table_wcu: f64, shards: f64) -> (f64, f64, f64, f64) {
    let fetch = p.s1_page_latency_s.max(1.0 / p.s1_requests_per_second);
    let keys = records * p.read_keys_per_record;
    let calls = (keys / 100.0).ceil() + (records / 25.0).ceil();
    let ddb_calls = (calls / p.ddb_parallel_calls).ceil() * p.ddb_call_latency_s;
    // Strongly consistent reads of items under 4 KB: one read unit per key, on the tenant's partition.
    let reads = keys / p.partition_rcu_per_s;
    let writes = records * table_wcu / (p.partition_wcu_per_s * shards);
    // Spread writes run beside the reads (other partitions); the busiest partition bounds the page.
    let partition = match shards > 1.0 {
        true => writes.max(reads),
        false => writes + reads,
    };
    let rest = ddb_calls.max(partition)
        + p.checkpoint_calls * p.ddb_call_latency_s
        + records * p.cpu_per_record_s;
    (fetch, partition, fetch + rest, fetch.max(rest))
}

pub fn project(p: &Params, agents: f64, threats: f64) -> Projection {
    let mut out = Projection {
        pages: 0.0,
        fetch_s: 0.0,
        partition_s: 0.0,
        sequential_s: 0.0,
        overlapped_s: 0.0,
        invocations: 0.0,
        gb_seconds: 0.0,
    };
    for (records, wcu, shards) in [
        (agents, p.table_wcu_per_asset, 1.0),
        (threats, p.table_wcu_per_finding, p.record_shards),
    ] {
        let full = (records / p.page_size).floor();
        let last = records - full * p.page_size;
        for (count, size) in [(full, p.page_size), (f64::from(last > 0.0), last)] {
            if count == 0.0 {
                continue;
            }
            let (fetch, partition, sequential, overlapped) = page_times(p, size, wcu, shards);
            out.pages += count;
            out.fetch_s += count * fetch;
            out.partition_s += count * partition;
            out.sequential_s += count * sequential;
            out.overlapped_s += count * overlapped;
        }
    }
    let work_per_invocation = p.lambda_timeout_s - p.safety_margin_s;
    out.invocations = (out.sequential_s / work_per_invocation).ceil().max(1.0);
    let billed = out.sequential_s + (out.invocations - 1.0) * p.resume_overhead_s;
    out.gb_seconds = billed * p.memory_mb / 1024.0;
    out
}

fn count(n: f64) -> String {
    if n >= 1_000_000.0 {
        format!("{}M", n / 1_000_000.0)
    } else {
        format!("{}k", n / 1_000.0)
    }
}

fn duration(s: f64) -> String {
    if s >= 3_600.0 {
        format!("{:.1} h", s / 3_600.0)
    } else if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

/// The table the bench prints for the two tenant sizes of the issue.
pub fn table(p: &Params) -> String {
    let mut s = String::from(
        "| Tenant | Pages | Console floor | Partition floor | First sync, sequential | First sync, overlapped | Lambda invocations | GB-seconds |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (agents, threats) in [(10_000.0, 100_000.0), (100_000.0, 1_000_000.0)] {
        let r = project(p, agents, threats);
        s.push_str(&format!(
            "| {} agents / {} threats | {:.0} | {} | {} | {} | {} | {:.0} | {:.0} |\n",
            count(agents),
            count(threats),
            r.pages,
            duration(r.fetch_s),
            duration(r.partition_s),
            duration(r.sequential_s),
            duration(r.overlapped_s),
            r.invocations,
            r.gb_seconds
        ));
    }
    s
}

/// `--name value` pairs over the defaults.
pub fn parse(args: &[String]) -> Result<Params, String> {
    let mut p = Params::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value: f64 = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse()
            .map_err(|e| format!("{flag}: {e}"))?;
        // Zero keys read is a real case (a first sync that reads nothing); every other figure divides or paces.
        let zero_ok = flag == "--read-keys-per-record";
        if !(value.is_finite() && (value > 0.0 || (zero_ok && value == 0.0))) {
            return Err(format!("{flag} must be a positive number"));
        }
        let field = match flag.as_str() {
            "--s1-page-latency-ms" => {
                p.s1_page_latency_s = value / 1_000.0;
                continue;
            }
            "--ddb-latency-ms" => {
                p.ddb_call_latency_s = value / 1_000.0;
                continue;
            }
            "--s1-rps" => &mut p.s1_requests_per_second,
            "--ddb-parallel" => &mut p.ddb_parallel_calls,
            "--partition-wcu" => &mut p.partition_wcu_per_s,
            "--partition-rcu" => &mut p.partition_rcu_per_s,
            "--wcu-per-asset" => &mut p.table_wcu_per_asset,
            "--wcu-per-finding" => &mut p.table_wcu_per_finding,
            "--record-shards" => &mut p.record_shards,
            "--read-keys-per-record" => &mut p.read_keys_per_record,
            "--memory-mb" => &mut p.memory_mb,
            other => {
                return Err(format!(
                    "unknown model flag {other}; flags: --s1-page-latency-ms --s1-rps --ddb-latency-ms \
                     --ddb-parallel --partition-wcu --partition-rcu --wcu-per-asset --wcu-per-finding \
                     --record-shards --read-keys-per-record --memory-mb"
                ))
            }
        };
        *field = value;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_page_adds_fetch_writes_and_checkpoint_in_sequence() {
        let p = Params::default();
        // 1,000 records: 15 reads + 40 writes = 55 calls, 14 rounds of 4 at 10 ms = 0.14 s; the partition needs
        // 2,000 / 1,000 + 1,500 / 3,000 = 2.5 s, which bounds it; checkpoint 0.02 s; CPU 0.02 s.
        let (fetch, partition, sequential, overlapped) = page_times(&p, 1_000.0, 2.0, 1.0);
        assert!(close(fetch, 1.0));
        assert!(close(partition, 2.5));
        assert!(close(sequential, 1.0 + 2.5 + 0.02 + 0.02));
        assert!(close(overlapped, 2.54));
    }

    #[test]
    fn spread_findings_are_bounded_by_the_busiest_partition() {
        let p = Params::default();
        // 16 shards: 2,000 write units at 16,000/s = 0.125 s beside 1,500 reads at 3,000/s = 0.5 s on the tenant's
        // partition: the reads bound the page; the calls (0.14 s) do not.
        let (_, partition, sequential, _) = page_times(&p, 1_000.0, 2.0, 16.0);
        assert!(close(partition, 0.5));
        assert!(close(sequential, 1.0 + 0.5 + 0.02 + 0.02));
        let heavy = Params {
            read_keys_per_record: 0.0,
            ..Params::default()
        };
        assert!(close(page_times(&heavy, 1_000.0, 2.0, 16.0).1, 0.125));
    }

    #[test]
    fn the_console_pacing_is_a_floor_per_page() {
        let p = Params {
            s1_page_latency_s: 0.01,
            s1_requests_per_second: 2.0,
            ..Params::default()
        };
        assert!(close(page_times(&p, 1.0, 1.0, 1.0).0, 0.5));
    }

    #[test]
    fn pages_round_up_per_kind_and_invocations_follow_the_worker_budget() {
        // One partition for everything (a legacy tenant).
        let p = Params {
            record_shards: 1.0,
            ..Params::default()
        };
        let r = project(&p, 1_500.0, 2_000.0);
        assert!(close(r.pages, 4.0));
        // 100k/1M: 1,100 pages of about 3.54 s = ~3,900 s sequential, 840 s of work per invocation: 5 invocations.
        let big = project(&p, 100_000.0, 1_000_000.0);
        assert!(close(big.pages, 1_100.0));
        assert!(close(big.sequential_s, 1_100.0 * 3.54));
        assert!(close(big.invocations, (1_100.0_f64 * 3.54 / 840.0).ceil()));
        let billed = big.sequential_s + (big.invocations - 1.0) * 1.0;
        assert!(close(big.gb_seconds, billed * 0.5));
        assert!(close(big.partition_s, 1_100.0 * 2.5));
        // Spread: the 1,000 finding pages take 1.54 s instead of 3.54 s; the 100 asset pages do not change.
        let spread = project(&Params::default(), 100_000.0, 1_000_000.0);
        assert!(close(spread.sequential_s, 100.0 * 3.54 + 1_000.0 * 1.54));
        assert!(close(spread.partition_s, 100.0 * 2.5 + 1_000.0 * 0.5));
    }

    #[test]
    fn flags_override_defaults_and_refuse_nonsense() {
        let args: Vec<String> = ["--s1-page-latency-ms", "250", "--partition-wcu", "3000"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = parse(&args).unwrap();
        assert!(close(p.s1_page_latency_s, 0.25));
        assert!(close(p.partition_wcu_per_s, 3_000.0));
        assert!(parse(&["--partition-wcu".to_string(), "0".to_string()]).is_err());
        let none_read = parse(&["--read-keys-per-record".to_string(), "0".to_string()]).unwrap();
        assert!(close(none_read.read_keys_per_record, 0.0));
        assert!(parse(&["--nope".to_string(), "1".to_string()]).is_err());
    }
}
