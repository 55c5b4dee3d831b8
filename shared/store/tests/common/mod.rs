#![allow(dead_code)]

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
