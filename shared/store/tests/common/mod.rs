#![allow(dead_code)]

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::{PageTokenKey, RecordLayout, Store, TenantId, Vault};
use local_stack::LocalStack;

pub struct Env {
    pub stack: LocalStack,
    pub table: String,
    pub store: Store,
    pub vault: Vault,
    pub prefix: String,
}

pub async fn env() -> Env {
    let stack = LocalStack::connect()
        .await
        .expect("local stack: run scripts/local-aws start and eval its env");
    let table = stack.fresh_table().await.expect("fresh table");
    let prefix = stack.fresh_secret_prefix();
    let store = Store::new(stack.dynamodb.clone(), &table, PageTokenKey::random());
    let vault = Vault::new(stack.secrets.clone(), &prefix);
    Env {
        stack,
        table,
        store,
        vault,
        prefix,
    }
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).expect("tenant id")
}

/// Every item of the table, as JSON text (for "no token anywhere" checks).
pub async fn scan_all(env: &Env) -> Vec<String> {
    test_support::scan_table(&env.stack.dynamodb, &env.table)
        .await
        .iter()
        .map(|item| format!("{item:?}"))
        .collect()
}

/// The tenant's record layout as the sync gets it (recorded when missing: spread for a tenant without records).
pub async fn layout(store: &Store, t: &TenantId) -> RecordLayout {
    store.ensure_record_layout(t).await.expect("record layout")
}

/// The tenant's item under `sk` as stored (it must exist): for tests of a stored format.
pub async fn raw_item(env: &Env, tenant: &str, sk: &str) -> HashMap<String, AttributeValue> {
    env.stack
        .dynamodb
        .get_item()
        .table_name(&env.table)
        .key("pk", AttributeValue::S(format!("T#{tenant}")))
        .key("sk", AttributeValue::S(sk.to_string()))
        .send()
        .await
        .expect("get")
        .item
        .unwrap_or_else(|| panic!("no item {sk} stored"))
}
