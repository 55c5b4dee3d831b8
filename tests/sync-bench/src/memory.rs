//! An in-memory stand-in for DynamoDB's BatchGetItem/BatchWriteItem, for tenants too large for moto (a Python
//! server that handles one request at a time). Only the bulk asset/finding traffic goes here; configuration, runs,
//! leases and checkpoints stay on moto, so the engine runs its normal code path.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use connector_store::batch::{BatchApi, BoxFuture, GetOutcome, Item, Projection};
use connector_store::StoreError;

#[derive(Default)]
pub struct MemoryBatch {
    items: Mutex<HashMap<(String, String), Item>>,
}

fn key_of(item: &Item) -> Option<(String, String)> {
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
                    items.insert(k, put.item);
                } else if let Some(del) = r.delete_request {
                    let k = key_of(&del.key).ok_or_else(|| invalid("delete"))?;
                    items.remove(&k);
                }
            }
            Ok(Vec::new())
        })
    }
}
