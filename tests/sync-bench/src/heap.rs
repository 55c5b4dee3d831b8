//! Heap accounting for the connector's share of memory. Process RSS here mixes three owners: the in-process
//! simulator (the whole generated tenant), the in-memory table of `--backend memory` (every written item) and the
//! connector. The counting allocator gives live heap bytes at any instant; a sampler thread records them with the
//! in-memory table's item counts, so each phase's peak can be read with the table's bytes taken out.

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

/// Bytes per stored item of each kind of the in-memory table, and per slot of its hash map.
#[derive(Clone, Copy, Default, Debug)]
pub struct ItemBytes {
    pub asset: f64,
    pub finding: f64,
    pub other: f64,
    pub slot: f64,
}

impl ItemBytes {
    pub fn table_bytes(&self, c: &TableCounts) -> f64 {
        c.assets as f64 * self.asset
            + c.findings as f64 * self.finding
            + c.other as f64 * self.other
            + c.capacity as f64 * self.slot
    }
}

/// A phase's heap figures, in bytes: the raw peak over the phase's start, and the same with the in-memory table's
/// bytes taken out at every sample (the connector's working memory plus the simulator's per-request buffers).
pub struct PhaseHeap {
    pub start: usize,
    pub raw_peak_growth: f64,
    pub peak_growth_excl_table: f64,
    pub table_growth: f64,
    pub samples: usize,
}

pub fn summarize(samples: &[Sample], bytes: &ItemBytes) -> PhaseHeap {
    let Some(first) = samples.first() else {
        return PhaseHeap {
            start: live(),
            raw_peak_growth: 0.0,
            peak_growth_excl_table: 0.0,
            table_growth: 0.0,
            samples: 0,
        };
    };
    let base_excl = first.heap as f64 - bytes.table_bytes(&first.table);
    let mut raw_peak = first.heap;
    let mut excl_peak = base_excl;
    for s in samples {
        raw_peak = raw_peak.max(s.heap);
        excl_peak = excl_peak.max(s.heap as f64 - bytes.table_bytes(&s.table));
    }
    let last = samples.last().unwrap_or(first);
    PhaseHeap {
        start: first.heap,
        raw_peak_growth: raw_peak as f64 - first.heap as f64,
        peak_growth_excl_table: excl_peak - base_excl,
        table_growth: bytes.table_bytes(&last.table) - bytes.table_bytes(&first.table),
        samples: samples.len(),
    }
}
