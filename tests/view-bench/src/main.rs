//! View bench: fills one tenant with threat findings, vulnerability findings and one asset per 20 findings on the
//! local stack, written directly with BatchWriteItem in the stored format (the store's own `new_finding_item` /
//! `new_vulnerability_item` / `new_asset_item`; a sync would take far longer), then lists the first pages of every
//! filter and combination the views accept and prints the items DynamoDB read per item a page returned (a Query's
//! ScannedCount, BatchGetItem's items; counted by an SDK interceptor). Not a timed test: it prints figures and
//! asserts nothing about time.
//!
//! The tenant gets the record layout a sync gives a new tenant (findings and vulnerabilities spread over
//! [`connector_store::RECORD_SHARDS`] partition keys, the layout item written as a sync writes it);
//! `RECORD_SHARDS=1` fills the legacy layout instead (one partition key, no layout item), as a tenant stored before
//! record shards has it.
//!
//! `scripts/local-aws start; eval "$(scripts/local-aws env)"; cargo run --release -p view-bench -- [findings]
//! [vulnerabilities]` (default 1,000,000 findings; as many vulnerabilities as findings).

mod vulnerabilities;

use std::time::Instant;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::stream::{self, StreamExt, TryStreamExt};
use local_stack::LocalStack;
use serde_json::json;

use connector_store::{
    new_asset_item, new_finding_item_in, AssetFilter, FindingFilter, PageTokenKey, RecordLayout,
    Store, TenantId,
};
use s1_core::lifecycle::FindingState;
use s1_core::{AnalystVerdict, Asset, Finding, FindingStatus, Severity};
use test_support::items_read::ItemsRead;

const DEFAULT_FINDINGS: u64 = 1_000_000;
/// The API's default page size.
pub(crate) const PAGE: u32 = 50;
/// Pages listed per filter.
pub(crate) const PAGES: usize = 2;
const FINDINGS_PER_ASSET: u64 = 20;
/// The asset the `asset` filter names.
pub(crate) const ASSET: &str = "host-000042";

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A stable spread of `i` over 0..100 (splitmix64), so the fill is the same on every run.
pub(crate) fn spread(i: u64, salt: u64) -> u64 {
    let mut z = i
        .wrapping_add(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % 1000
}

/// Finding `i`: mostly false positives of low severity; 0.1 % suspicious, 1 % critical, 20 % resolved, 10 %
/// unattached; one asset per 20 findings.
fn finding(i: u64, assets: u64) -> Finding {
    let verdict = match spread(i, 1) {
        0 => "suspicious",
        1..=299 => "true_positive",
        300..=399 => "undefined",
        _ => "false_positive",
    };
    let severity = match spread(i, 2) {
        0..=9 => "critical",
        10..=159 => "high",
        160..=459 => "medium",
        460..=998 => "low",
        _ => "info",
    };
    let resolved = spread(i, 3) < 200;
    let attached = spread(i, 4) >= 100;
    let failed = matches!(verdict, "true_positive" | "suspicious");
    let asset = format!("host-{:06}", i % assets);
    serde_json::from_value(json!({
        "id": format!("s1-threat-{i:09}"), "threat_id": format!("{i:09}"), "asset_key": asset, "asset_name": asset,
        "attached": attached, "title": "Trojan detected", "status": if failed { "failed" } else { "passed" },
        "severity": severity, "analyst_verdict": verdict,
        "incident_status": if resolved { Some("resolved") } else { None }, "mitigation_status": "mitigated",
        "confidence_level": "malicious", "classification": "Trojan", "threat_name": "invoice-2024-q3-final.exe",
        "file_path": "\\Device\\HarddiskVolume3\\Users\\someone\\Downloads\\invoice-2024-q3-final.exe",
        "sha1": "3395856ce81f2b7382dee72602f798b642f14140", "sha256": null, "md5": null,
        "detection_engines": ["sentinelone_cloud", "pre_execution"], "detection_type": "static",
        "mitre_tactics": ["Execution", "Persistence"], "mitre_techniques": ["T1204.002", "T1547.001"],
        "first_seen": "2026-01-10T08:00:00Z", "last_seen": "2026-01-10T08:05:00Z", "updated_at": "2026-01-10T09:00:00Z",
        "console_url": format!("https://tenant.sentinelone.net/incidents/threats/{i:09}/overview"),
        "agent_id": format!("agent-{}", i % assets)
    }))
    .expect("a finding of the bench's own making")
}

fn asset(n: u64) -> Asset {
    let name = format!("host-{n:06}");
    serde_json::from_value(json!({
        "key": name, "name": name, "ipv4": ["10.0.0.1"], "ipv6": [], "mac_addresses": ["00:11:22:33:44:55"],
        "os_name": "Windows Server 2022", "os_type": "windows", "os_version": "10.0.20348", "machine_type": "server",
        "model": null, "serial": null, "domain": "corp", "agent_version": "24.1.2", "site_id": "1", "site_name": "HQ",
        "group_id": "2", "group_name": "Default Group", "account_id": "3", "account_name": "Acme",
        "active": true, "decommissioned": false, "infected": false, "last_seen": "2026-11-24T10:00:00Z",
        "console_url": null, "primary_agent_id": format!("a-{n}"), "agent_ids": [format!("a-{n}")],
        "custom_fields": {}, "tags": [], "origin": "agent"
    }))
    .expect("an asset of the bench's own making")
}

async fn write_batch(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    mut requests: Vec<WriteRequest>,
) -> Result<(), BoxError> {
    while !requests.is_empty() {
        let out = db
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await?;
        requests = out
            .unprocessed_items
            .and_then(|mut u| u.remove(table))
            .unwrap_or_default();
    }
    Ok(())
}

async fn fill(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    t: &TenantId,
    layout: RecordLayout,
    findings: u64,
    vulnerabilities: u64,
) -> Result<(), BoxError> {
    let assets = (findings / FINDINGS_PER_ASSET).max(50);
    let started = Instant::now();
    let items = (0..assets)
        .map(|n| new_asset_item(t, &asset(n), spread(n, 5) >= 100, "bench"))
        .chain((0..findings).map(|i| new_finding_item_in(t, layout, &finding(i, assets))))
        .chain((0..vulnerabilities).map(|i| vulnerabilities::item(t, layout, i, assets)));
    let batches = stream::iter(items)
        .chunks(25)
        .map(|chunk| {
            chunk
                .into_iter()
                .map(|item| {
                    Ok(WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item?)).build()?)
                        .build())
                })
                .collect::<Result<Vec<_>, BoxError>>()
        })
        .map(|batch| async move { write_batch(db, table, batch?).await });
    let mut written = 0u64;
    let mut batches = batches.buffer_unordered(4);
    while batches.try_next().await?.is_some() {
        written += 25;
        if written.is_multiple_of(100_000) {
            eprintln!(
                "view-bench: {written} items written in {:.0?}",
                started.elapsed()
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "filled {findings} findings, {vulnerabilities} vulnerabilities and {assets} assets in {secs:.0} s ({:.0} \
         items/s), records over {} partition key(s)",
        (findings + vulnerabilities + assets) as f64 / secs,
        layout.shards()
    );
    Ok(())
}

/// Items read and returned by the first [`PAGES`] pages of one listing, and the worst page's ratio.
#[derive(Default)]
pub(crate) struct Figures {
    read: u64,
    returned: u64,
    pub(crate) worst: f64,
}

impl Figures {
    pub(crate) fn page(&mut self, read: u64, returned: u64) {
        self.read += read;
        self.returned += returned;
        let ratio = match (read, returned) {
            (0, _) => 0.0,
            (_, 0) => f64::INFINITY,
            (r, n) => r as f64 / n as f64,
        };
        self.worst = self.worst.max(ratio);
    }

    pub(crate) fn cell(&self) -> String {
        format!("{}/{} = {:.2}", self.read, self.returned, self.worst)
    }
}

async fn findings_figures(
    store: &Store,
    reads: &ItemsRead,
    t: &TenantId,
    filter: &FindingFilter,
    state: Option<FindingState>,
) -> Result<Figures, BoxError> {
    let mut f = Figures::default();
    let mut token: Option<String> = None;
    for _ in 0..PAGES {
        let before = reads.listed();
        let page = store
            .list_findings_in_state(t, filter, state, token.as_deref(), PAGE)
            .await?;
        f.page(reads.listed() - before, page.items.len() as u64);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(f)
}

async fn assets_figures(
    store: &Store,
    reads: &ItemsRead,
    t: &TenantId,
    filter: &AssetFilter,
) -> Result<Figures, BoxError> {
    let mut f = Figures::default();
    let mut token: Option<String> = None;
    for _ in 0..PAGES {
        let before = reads.listed();
        let page = store.list_assets(t, filter, token.as_deref(), PAGE).await?;
        f.page(reads.listed() - before, page.items.len() as u64);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(f)
}

/// The combination named by `mask` (bit 0 status, 1 severity, 2 verdict, 3 state, 4 asset).
fn combination(mask: u32, attached: Option<bool>) -> (String, FindingFilter, Option<FindingState>) {
    let mut names = Vec::new();
    let mut f = FindingFilter {
        attached,
        ..FindingFilter::default()
    };
    let mut state = None;
    if mask & 1 != 0 {
        f.status = Some(FindingStatus::Failed);
        names.push("status");
    }
    if mask & 2 != 0 {
        f.severity = Some(Severity::Critical);
        names.push("severity");
    }
    if mask & 4 != 0 {
        f.verdict = Some(AnalystVerdict::Suspicious);
        names.push("verdict");
    }
    if mask & 8 != 0 {
        state = Some(FindingState::Resolved);
        names.push("state");
    }
    if mask & 16 != 0 {
        f.asset = Some(ASSET.into());
        names.push("asset");
    }
    let name = if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(" + ")
    };
    (name, f, state)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let findings: u64 = match std::env::args().nth(1) {
        Some(n) => n
            .parse()
            .map_err(|_| "the argument is the number of findings")?,
        None => DEFAULT_FINDINGS,
    };
    let vulnerabilities: u64 = match std::env::args().nth(2) {
        Some(n) => n
            .parse()
            .map_err(|_| "the second argument is the number of vulnerabilities")?,
        None => findings,
    };
    let stack = LocalStack::connect().await?;
    let table = stack.fresh_table().await?;
    let t = TenantId::new("view-bench")?;
    let reads = ItemsRead::default();
    let store = Store::new(
        reads.client(&stack.dynamodb),
        &table,
        PageTokenKey::random(),
    );
    let layout = match std::env::var("RECORD_SHARDS").ok().as_deref() {
        None | Some("16") => store.ensure_record_layout(&t).await?,
        Some("1") => RecordLayout::LEGACY,
        Some(_) => {
            return Err(
                "RECORD_SHARDS is 16 (the default, a new tenant's layout) or 1 (legacy)".into(),
            )
        }
    };
    fill(
        &stack.dynamodb,
        &table,
        &t,
        layout,
        findings,
        vulnerabilities,
    )
    .await?;

    println!();
    println!(
        "Findings: items read / items returned over the first {PAGES} pages of {PAGE} = the worst page's read per \
         returned item (status=failed, severity=critical, verdict=suspicious, state=resolved, asset={ASSET})"
    );
    println!("| filters | attached absent | attached=true | attached=false |");
    println!("|---|---|---|---|");
    let mut worst: f64 = 0.0;
    let started = Instant::now();
    for mask in 0..32 {
        let mut cells = Vec::new();
        let mut name = String::new();
        for attached in [None, Some(true), Some(false)] {
            let (n, filter, state) = combination(mask, attached);
            name = n;
            if filter.asset.is_some() && attached == Some(false) {
                cells.push("refused (400)".to_string());
                continue;
            }
            let f = findings_figures(&store, &reads, &t, &filter, state).await?;
            worst = worst.max(f.worst);
            cells.push(f.cell());
        }
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!();
    println!("| asset filters | read/returned = worst page |");
    println!("|---|---|");
    for (name, filter) in [
        ("(none)", AssetFilter::default()),
        ("name=host-0001", name_active(Some("host-0001"), None)),
        ("active=true", name_active(None, Some(true))),
        ("active=false", name_active(None, Some(false))),
        (
            "name=host-0001 + active=true",
            name_active(Some("host-0001"), Some(true)),
        ),
        (
            "name=host-0001 + active=false",
            name_active(Some("host-0001"), Some(false)),
        ),
    ] {
        let f = assets_figures(&store, &reads, &t, &filter).await?;
        worst = worst.max(f.worst);
        println!("| {name} | {} |", f.cell());
    }
    worst = worst.max(vulnerabilities::print_figures(&store, &reads, &t).await?);
    println!();
    println!(
        "worst page over every filter and combination: {worst:.2} items read per item returned ({} findings; \
         {vulnerabilities} vulnerabilities; records over {} partition key(s); listing took {:.0} s)",
        findings,
        layout.shards(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "beside the listed items: {} record-layout GetItem reads (one small item per tenant-wide request)",
        reads.single_gets()
    );
    Ok(())
}

fn name_active(name: Option<&str>, active: Option<bool>) -> AssetFilter {
    AssetFilter {
        name_prefix: name.map(str::to_string),
        active,
    }
}
