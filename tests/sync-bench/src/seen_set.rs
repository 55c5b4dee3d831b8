//! What fixing by absence holds after a complete walk. On the memory backend the run's seen markers are written
//! to the in-memory table while the store reads them back with a `Query`, which goes to moto and finds none: the
//! sync itself then has nothing to load. So after each sync the run's markers are copied to moto and loaded: every
//! bucket at once (what fixing held before it went shard by shard, and still holds on a legacy one-partition
//! tenant), then through the fixing plan itself, which loads one record shard's buckets at a time (the plan's
//! reads of the stored vulnerabilities find none on moto here, so its peak is the markers' and a query page's).

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use connector_store::{Store, TenantId, VULNERABILITY_SHARDS};

use crate::memory::MemoryBatch;
use crate::{heap, BoxError};

pub async fn measure(
    label: &str,
    store: &Store,
    table: &MemoryBatch,
    tenant: &TenantId,
    run_id: &str,
    rows: u64,
) -> Result<(), BoxError> {
    let markers = table.items_with_prefix(
        &format!("T#{}", tenant.as_str()),
        &format!("SEENV#{run_id}#"),
    );
    let copied = markers.len();
    let mut requests: Vec<WriteRequest> = Vec::with_capacity(markers.len());
    for item in markers {
        requests.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                .build(),
        );
    }
    while !requests.is_empty() {
        let rest = requests.split_off(requests.len().min(25));
        let chunk = std::mem::replace(&mut requests, rest);
        let out = store
            .dynamodb()
            .batch_write_item()
            .request_items(store.table_name(), chunk)
            .send()
            .await?;
        if let Some(mut unprocessed) = out.unprocessed_items {
            if let Some(again) = unprocessed.remove(store.table_name()) {
                requests.extend(again);
            }
        }
    }
    let expected = usize::try_from(rows).unwrap_or_default();
    let mut figures = Vec::new();
    let sampler = heap::Sampler::start(None);
    let before = heap::live();
    let seen = store
        .load_seen_vulnerabilities(tenant, run_id, 0..VULNERABILITY_SHARDS, expected)
        .await?;
    let held = heap::live().saturating_sub(before);
    drop(seen);
    let peak = heap::summarize(&sampler.stop()).raw_peak_growth;
    figures.push(format!(
        "every_bucket_at_once[held={:.2}MiB bytes_per_returned_row={:.2} peak_growth={:.2}MiB]",
        held as f64 / 1048576.0,
        held as f64 / rows.max(1) as f64,
        peak.max(held as f64) / 1048576.0
    ));
    let layout = store.record_layout(tenant).await?;
    let sampler = heap::Sampler::start(None);
    let plan = store
        .plan_fixing_absent_vulnerabilities(tenant, layout, run_id, expected)
        .await?;
    let peak = heap::summarize(&sampler.stop()).raw_peak_growth;
    figures.push(format!(
        "fixing_plan[record_shards={} most_fingerprints_held={} ({:.2} B a returned row) peak_growth={:.2}MiB \
         ({:.2} B a returned row)]",
        layout.shards(),
        plan.most_seen_held,
        plan.most_seen_held as f64 * 8.0 / rows.max(1) as f64,
        peak / 1048576.0,
        peak / rows.max(1) as f64
    ));
    println!(
        "{label}/fixing-seen-set: markers={copied} rows_returned={rows} {}",
        figures.join(" ")
    );
    Ok(())
}
