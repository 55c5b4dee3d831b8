//! Heap accounting for the connector's share of memory. The simulated console runs in a child process
//! (`sim_process`), so this process holds two owners: the in-memory table of `--backend memory` (every written
//! item) and the connector. The counting allocator gives live heap bytes at any instant; a sampler thread records
//! them with the in-memory table's item counts, so each phase's peak can be read with the table's bytes taken out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use peak_alloc::PeakAlloc;

use crate::memory::{MemoryBatch, TableCounts};

#[global_allocator]
pub static HEAP: PeakAlloc = PeakAlloc;

/// Live heap bytes (what the program asked the allocator for; RSS adds allocator overhead and fragmentation).
pub fn live() -> usize {
    HEAP.current_usage()
}

#[derive(Clone, Copy)]
pub struct Sample {
    pub heap: usize,
    pub table: TableCounts,
}

/// Samples every 5 ms until stopped. The sample buffer is allocated up front, before the phase's baseline is read,
/// so recording does not show up as growth.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Sample>>,
}

const INTERVAL: Duration = Duration::from_millis(5);
const MAX_SAMPLES: usize = 400_000;

impl Sampler {
    pub fn start(table: Option<Arc<MemoryBatch>>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let mut samples = Vec::with_capacity(MAX_SAMPLES);
        let handle = std::thread::spawn(move || {
            let take = |samples: &mut Vec<Sample>| {
                let table = table.as_ref().map(|t| t.counts()).unwrap_or_default();
                let s = Sample {
                    heap: live(),
                    table,
                };
                if samples.len() < MAX_SAMPLES {
                    samples.push(s);
                } else if let Some(worst) = samples.last_mut() {
                    // Past the buffer, keep only the sample with the most heap in the last slot.
                    if s.heap > worst.heap {
                        *worst = s;
                    }
                }
            };
            while !flag.load(Ordering::Relaxed) {
                take(&mut samples);
                std::thread::sleep(INTERVAL);
            }
            take(&mut samples);
            samples
        });
        Self { stop, handle }
    }

    pub fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// Mean bytes per stored item of each kind of the in-memory table (printed beside the figures).
#[derive(Clone, Copy, Default, Debug)]
pub struct ItemBytes {
    pub asset: f64,
    pub finding: f64,
    pub other: f64,
}

/// The in-memory table's heap at a sample: its keys and items (summed exactly as they go in and out) and its
/// map's slot array.
pub fn table_bytes(c: &TableCounts) -> f64 {
    let slots = crate::memory::deep::map_slots::<((String, String), connector_store::batch::Item)>(
        c.capacity as usize,
    );
    (c.bytes + slots) as f64
}

/// A phase's heap figures, in bytes: the raw peak over the phase's start, and the same with the in-memory table's
/// bytes taken out at every sample (the connector's working memory).
pub struct PhaseHeap {
    pub start: usize,
    /// What the phase left allocated, without the table's growth: per-row state kept past the run shows here.
    pub retained_excl_table: f64,
    pub raw_peak_growth: f64,
    pub peak_growth_excl_table: f64,
    pub table_growth: f64,
    pub samples: usize,
}

pub fn summarize(samples: &[Sample]) -> PhaseHeap {
    let Some(first) = samples.first() else {
        return PhaseHeap {
            start: live(),
            retained_excl_table: 0.0,
            raw_peak_growth: 0.0,
            peak_growth_excl_table: 0.0,
            table_growth: 0.0,
            samples: 0,
        };
    };
    let base_excl = first.heap as f64 - table_bytes(&first.table);
    let last = samples.last().unwrap_or(first);
    let mut raw_peak = first.heap;
    let mut excl_peak = base_excl;
    for s in samples {
        raw_peak = raw_peak.max(s.heap);
        excl_peak = excl_peak.max(s.heap as f64 - table_bytes(&s.table));
    }
    PhaseHeap {
        start: first.heap,
        retained_excl_table: last.heap as f64 - table_bytes(&last.table) - base_excl,
        raw_peak_growth: raw_peak as f64 - first.heap as f64,
        peak_growth_excl_table: excl_peak - base_excl,
        table_growth: table_bytes(&last.table) - table_bytes(&first.table),
        samples: samples.len(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::live;
    use crate::memory::deep;

    type Item = HashMap<String, AttributeValue>;

    fn sample_item() -> Item {
        let mut item: Item = HashMap::new();
        for i in 0..40 {
            let mut text = format!("value {i}");
            text.push_str(&"x".repeat(i * 7));
            item.insert(format!("attribute_{i}"), AttributeValue::S(text));
        }
        let mut nested = HashMap::new();
        nested.insert("n".to_string(), AttributeValue::N("12".to_string()));
        item.insert("m".into(), AttributeValue::M(nested));
        item.insert(
            "l".into(),
            AttributeValue::L(vec![
                AttributeValue::Bool(true),
                AttributeValue::S("abc".into()),
            ]),
        );
        item
    }

    /// Runs `build` until the allocator's live bytes moved by exactly what `expected` says of the value built (the
    /// allocator is global, and the harness runs other tests beside this one, which can only add noise).
    fn counted_exactly<T>(build: impl Fn() -> T, expected: impl Fn(&T) -> u64) -> bool {
        (0..50).any(|_| {
            let before = live();
            let value = build();
            let counted = live().wrapping_sub(before) as u64;
            counted == expected(&value)
        })
    }

    /// The exact sizes the heap figures subtract are what the counting allocator counted for the same values.
    #[test]
    fn deep_sizes_match_the_allocator() {
        assert!(counted_exactly(sample_item, deep::item));
        assert!(counted_exactly(
            || ("T#tenant".to_string(), format!("VULN#{}", "7".repeat(40))),
            deep::key
        ));
        for capacity in [1, 5, 100, 1_000, 100_000] {
            assert!(counted_exactly(
                || HashMap::<(String, String), Item>::with_capacity(capacity),
                |m| deep::map_slots::<((String, String), Item)>(m.capacity())
            ));
        }
    }
}
