//! An in-memory stand-in for DynamoDB's BatchGetItem/BatchWriteItem, for tenants too large for moto (a Python
//! server that handles one request at a time). Only the bulk asset/finding traffic goes here; configuration, runs,
//! leases and checkpoints stay on moto, so the engine runs its normal code path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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
}

/// How many items of each kind the in-memory table holds, and its hash map's capacity (slots).
#[derive(Clone, Copy, Default, Debug)]
pub struct TableCounts {
    pub assets: u64,
    pub findings: u64,
    pub other: u64,
    pub capacity: u64,
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

    pub fn counts(&self) -> TableCounts {
        TableCounts {
            assets: self.assets.load(Ordering::Relaxed),
            findings: self.findings.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
            capacity: self.capacity.load(Ordering::Relaxed),
        }
    }

    /// Heap bytes per stored item of each kind, measured by deep-cloning up to ~4,000 items of each kind while
    /// nothing else runs (call between phases) and reading the allocator's live bytes around each batch of clones.
    pub fn item_bytes(&self) -> crate::heap::ItemBytes {
        let Ok(items) = self.items.lock() else {
            return Default::default();
        };
        let mut out = crate::heap::ItemBytes {
            slot: (std::mem::size_of::<(Key, Item)>() as f64 + 1.0) * 8.0 / 7.0,
            ..Default::default()
        };
        for kind in [Kind::Asset, Kind::Finding, Kind::Other] {
            let total = items.keys().filter(|k| kind_of(k) == kind).count();
            if total == 0 {
                continue;
            }
            let stride = total.div_ceil(4_000).max(1);
            let mut copies: Vec<(Key, Item)> = Vec::with_capacity(total.div_ceil(stride));
            let before = crate::heap::live();
            for (k, v) in items
                .iter()
                .filter(|(k, _)| kind_of(k) == kind)
                .step_by(stride)
            {
                copies.push((k.clone(), v.clone()));
            }
            let per = (crate::heap::live() - before) as f64 / copies.len() as f64;
            match kind {
                Kind::Asset => out.asset = per,
                Kind::Finding => out.finding = per,
                Kind::Other => out.other = per,
            }
        }
        out
    }
}

fn key_of(item: &Item) -> Option<Key> {
    let s = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    Some((s("pk")?, s("sk")?))
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
                if let Some(put) = r.put_request {
                    let k = key_of(&put.item).ok_or_else(|| invalid("put"))?;
                    let kind = kind_of(&k);
                    if items.insert(k, put.item).is_none() {
                        self.counter(kind).fetch_add(1, Ordering::Relaxed);
                    }
                } else if let Some(del) = r.delete_request {
                    let k = key_of(&del.key).ok_or_else(|| invalid("delete"))?;
                    if items.remove(&k).is_some() {
                        self.counter(kind_of(&k)).fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
            self.capacity
                .store(items.capacity() as u64, Ordering::Relaxed);
            Ok(Vec::new())
        })
    }
}
