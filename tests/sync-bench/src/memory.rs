//! An in-memory stand-in for DynamoDB's BatchGetItem/BatchWriteItem, for tenants too large for moto (a Python
//! server that handles one request at a time). Only the bulk asset/finding traffic goes here; configuration, runs,
//! leases and checkpoints stay on moto, so the engine runs its normal code path.
//!
//! Its heap is accounted exactly, so that the heap figures can take it out: every stored key and item is sized
//! from its strings', vectors' and hash maps' capacities when it goes in or out (see `deep`), and the map itself
//! is sized up front (`with_capacity`) so that it never rehashes during a measured run (a rehash holds the old and
//! the new slot arrays at once: 200 MiB at 1.4M items, which the figures would otherwise count as the
//! connector's).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use connector_store::batch::{BatchApi, BoxFuture, GetOutcome, Item, Projection};
use connector_store::StoreError;

type Key = (String, String);

#[derive(Default)]
pub struct MemoryBatch {
    items: Mutex<HashMap<Key, Item>>,
    // Item counts by kind and the map's capacity, readable without the lock by the heap sampler.
    assets: AtomicU64,
    findings: AtomicU64,
    other: AtomicU64,
    capacity: AtomicU64,
    // Exact heap bytes of the stored keys and items by kind (the map's own slot array is `capacity`'s).
    asset_bytes: AtomicU64,
    finding_bytes: AtomicU64,
    other_bytes: AtomicU64,
    rehashes: AtomicU64,
}

/// How many items of each kind the in-memory table holds, and its hash map's capacity (slots).
#[derive(Clone, Copy, Default, Debug)]
pub struct TableCounts {
    pub assets: u64,
    pub findings: u64,
    pub other: u64,
    pub capacity: u64,
    /// Heap bytes of the stored keys and items, all kinds (without the map's slot array).
    pub bytes: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Asset,
    Finding,
    Other,
}

fn kind_of(key: &Key) -> Kind {
    if key.1.starts_with("ASSET#") {
        Kind::Asset
    } else if key.1.starts_with("FINDING#") {
        Kind::Finding
    } else {
        Kind::Other
    }
}

impl MemoryBatch {
    fn counter(&self, kind: Kind) -> &AtomicU64 {
        match kind {
            Kind::Asset => &self.assets,
            Kind::Finding => &self.findings,
            Kind::Other => &self.other,
        }
    }

    fn bytes_counter(&self, kind: Kind) -> &AtomicU64 {
        match kind {
            Kind::Asset => &self.asset_bytes,
            Kind::Finding => &self.finding_bytes,
            Kind::Other => &self.other_bytes,
        }
    }

    /// A table whose map holds `items` entries without rehashing.
    pub fn with_capacity(items: usize) -> Self {
        let map: HashMap<Key, Item> = HashMap::with_capacity(items);
        Self {
            capacity: AtomicU64::new(map.capacity() as u64),
            items: Mutex::new(map),
            ..Default::default()
        }
    }

    /// Copies of the items of partition `pk` whose sort key starts with `sk_prefix`.
    pub fn items_with_prefix(&self, pk: &str, sk_prefix: &str) -> Vec<Item> {
        let Ok(items) = self.items.lock() else {
            return Vec::new();
        };
        items
            .iter()
            .filter(|((p, s), _)| p == pk && s.starts_with(sk_prefix))
            .map(|(_, item)| item.clone())
            .collect()
    }

    /// How many times a write found the map grown (each a rehash inside a measured run).
    pub fn rehashes(&self) -> u64 {
        self.rehashes.load(Ordering::Relaxed)
    }

    pub fn counts(&self) -> TableCounts {
        TableCounts {
            assets: self.assets.load(Ordering::Relaxed),
            findings: self.findings.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
            capacity: self.capacity.load(Ordering::Relaxed),
            bytes: self.asset_bytes.load(Ordering::Relaxed)
                + self.finding_bytes.load(Ordering::Relaxed)
                + self.other_bytes.load(Ordering::Relaxed),
        }
    }

    /// Mean heap bytes per stored item of each kind (exact sums over the items held), and the map's slot layout.
    pub fn item_bytes(&self) -> crate::heap::ItemBytes {
        let c = self.counts();
        let per =
            |bytes: &AtomicU64, n: u64| bytes.load(Ordering::Relaxed) as f64 / n.max(1) as f64;
        crate::heap::ItemBytes {
            asset: per(&self.asset_bytes, c.assets),
            finding: per(&self.finding_bytes, c.findings),
            other: per(&self.other_bytes, c.other),
        }
    }
}

fn key_of(item: &Item) -> Option<Key> {
    let s = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    Some((s("pk")?, s("sk")?))
}

/// Stores a copy of every binary value sized to its length: a `Blob` does not tell its vector's capacity, which
/// the writer may have grown past the length (the seen markers' fingerprints are), so without the copy the table
/// would hold bytes its figure does not count and the heap figures would show them as the connector's.
fn exact_blobs(item: &mut Item) {
    for value in item.values_mut() {
        match value {
            AttributeValue::B(b) => *b = Blob::new(b.as_ref().to_vec()),
            AttributeValue::M(m) => exact_blobs(m),
            _ => {}
        }
    }
}

fn invalid(what: &str) -> StoreError {
    StoreError::InvalidInput(format!("in-memory batch: {what} without a string pk/sk"))
}

impl BatchApi for MemoryBatch {
    fn batch_get<'a>(
        &'a self,
        _table: &'a str,
        keys: Vec<Item>,
        _projection: &'a Projection,
    ) -> BoxFuture<'a, Result<GetOutcome, StoreError>> {
        // Whole items are returned whatever the projection: readers only deserialize the fields they need.
        Box::pin(async move {
            let items = self
                .items
                .lock()
                .map_err(|_| StoreError::InvalidInput("in-memory table poisoned".into()))?;
            let mut found = Vec::with_capacity(keys.len());
            for k in &keys {
                let k = key_of(k).ok_or_else(|| invalid("key"))?;
                if let Some(item) = items.get(&k) {
                    found.push(item.clone());
                }
            }
            Ok(GetOutcome {
                items: found,
                unprocessed: Vec::new(),
            })
        })
    }

    fn batch_write<'a>(
        &'a self,
        _table: &'a str,
        requests: Vec<WriteRequest>,
    ) -> BoxFuture<'a, Result<Vec<WriteRequest>, StoreError>> {
        Box::pin(async move {
            let mut items = self
                .items
                .lock()
                .map_err(|_| StoreError::InvalidInput("in-memory table poisoned".into()))?;
            for r in requests {
                if let Some(mut put) = r.put_request {
                    exact_blobs(&mut put.item);
                    let k = key_of(&put.item).ok_or_else(|| invalid("put"))?;
                    let kind = kind_of(&k);
                    let counter = self.bytes_counter(kind);
                    counter.fetch_add(deep::item(&put.item), Ordering::Relaxed);
                    let key_bytes = deep::key(&k);
                    match items.insert(k, put.item) {
                        // A new key is kept with its item; on a replacement the map keeps the stored key.
                        None => {
                            counter.fetch_add(key_bytes, Ordering::Relaxed);
                            self.counter(kind).fetch_add(1, Ordering::Relaxed);
                        }
                        Some(old) => {
                            counter.fetch_sub(deep::item(&old), Ordering::Relaxed);
                        }
                    }
                } else if let Some(del) = r.delete_request {
                    let k = key_of(&del.key).ok_or_else(|| invalid("delete"))?;
                    if let Some((key, old)) = items.remove_entry(&k) {
                        let kind = kind_of(&key);
                        self.counter(kind).fetch_sub(1, Ordering::Relaxed);
                        self.bytes_counter(kind)
                            .fetch_sub(deep::key(&key) + deep::item(&old), Ordering::Relaxed);
                    }
                }
            }
            if items.capacity() as u64 != self.capacity.load(Ordering::Relaxed) {
                // Past the size given to `with_capacity`: the heap figures then include a rehash.
                self.rehashes.fetch_add(1, Ordering::Relaxed);
            }
            self.capacity
                .store(items.capacity() as u64, Ordering::Relaxed);
            Ok(Vec::new())
        })
    }
}

/// Exact heap bytes of keys and items, by the layouts of `String`, `Vec` and std's `HashMap` (hashbrown: a slot
/// array of `buckets` entries, aligned to the control group, then `buckets + GROUP` control bytes). The counting
/// allocator counts requested sizes, so these are what it counted for the value (`deep_sizes_match_the_allocator`).
pub mod deep {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::Key;

    const GROUP: usize = if cfg!(any(target_arch = "x86", target_arch = "x86_64")) {
        16
    } else {
        8
    };

    /// The slot and control bytes of a hash map of `capacity` (as `HashMap::capacity` reports it) entries of `T`.
    pub fn map_slots<T>(capacity: usize) -> u64 {
        if capacity == 0 {
            return 0;
        }
        let buckets = if capacity < 8 {
            (capacity + 1).next_power_of_two()
        } else {
            capacity / 7 * 8
        };
        let align = std::mem::align_of::<T>().max(GROUP);
        let slots = (std::mem::size_of::<T>() * buckets).next_multiple_of(align);
        (slots + buckets + GROUP) as u64
    }

    fn string(s: &String) -> u64 {
        s.capacity() as u64
    }

    fn vec<T>(v: &Vec<T>) -> u64 {
        (v.capacity() * std::mem::size_of::<T>()) as u64
    }

    fn value(v: &AttributeValue) -> u64 {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => string(s),
            AttributeValue::B(b) => b.as_ref().len() as u64,
            AttributeValue::Ss(v) | AttributeValue::Ns(v) => {
                vec(v) + v.iter().map(string).sum::<u64>()
            }
            AttributeValue::Bs(v) => {
                vec(v) + v.iter().map(|b| b.as_ref().len() as u64).sum::<u64>()
            }
            AttributeValue::L(v) => vec(v) + v.iter().map(value).sum::<u64>(),
            AttributeValue::M(m) => item(m),
            _ => 0,
        }
    }

    /// An item: its map's slots, then every attribute name and value.
    pub fn item(m: &HashMap<String, AttributeValue>) -> u64 {
        map_slots::<(String, AttributeValue)>(m.capacity())
            + m.iter().map(|(k, v)| string(k) + value(v)).sum::<u64>()
    }

    pub fn key(k: &Key) -> u64 {
        string(&k.0) + string(&k.1)
    }
}
