//! What fixing by absence holds after a complete walk. On the memory backend the run's seen markers are written
//! to the in-memory table while the store reads them back with a `Query`, which goes to moto and finds none: the
//! sync itself then has nothing to load. So after each sync the run's markers are copied to moto and loaded the
//! way fixing loads them (every shard, then one shard), and the heap that costs is printed.

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
    for (name, shards) in [
        ("all_shards", (0..VULNERABILITY_SHARDS).collect::<Vec<_>>()),
        ("one_shard", vec![0]),
    ] {
        let sampler = heap::Sampler::start(None);
        let before = heap::live();
        let seen = store
            .load_seen_vulnerabilities(tenant, run_id, shards, expected)
            .await?;
        let held = heap::live().saturating_sub(before);
        let peak = heap::summarize(&sampler.stop()).raw_peak_growth;
        figures.push(format!(
            "{name}[fingerprints={} held={:.2}MiB bytes_per_returned_row={:.2} peak_growth={:.2}MiB]",
            seen.len(),
            held as f64 / 1048576.0,
            held as f64 / rows.max(1) as f64,
            peak.max(held as f64) / 1048576.0
        ));
    }
    println!(
        "{label}/fixing-seen-set: markers={copied} rows_returned={rows} {}",
        figures.join(" ")
    );
    Ok(())
}
