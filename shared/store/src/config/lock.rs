//! The configuration lock: saves and disconnects of one tenant run one at a time under a short conditional lock
//! item (`CONFIGLOCK`), so a losing concurrent save's rollback can never undo the winner's token.

use crate::clock::now_millis;
use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, TenantId, CONFIG_LOCK_SK};
use crate::store::{n, s, Store};

/// How long a configuration change may hold the tenant's config lock before another may break it (a crashed
/// save); far longer than the handful of calls a save makes.
const CONFIG_LOCK_TTL_MS: i64 = 60_000;

/// Serialises configuration changes of one tenant. Without it, two concurrent saves could both write the secret
/// and the loser's rollback would put back the token the winner just replaced.
pub(super) async fn take_config_lock(store: &Store, tenant: &TenantId) -> Result<String> {
    let owner = uuid::Uuid::new_v4().simple().to_string();
    let now_ms = now_millis();
    let res = store
        .dynamodb
        .put_item()
        .table_name(&store.table)
        .item("pk", s(tenant_pk(tenant)))
        .item("sk", s(CONFIG_LOCK_SK))
        .item("kind", s("config_lock"))
        .item("owner", s(&owner))
        .item("lock_expires_ms", n(now_ms + CONFIG_LOCK_TTL_MS))
        // TTL clean-up of a lock left by a crash (the condition below does not rely on it).
        .item("expires_at", n(now_ms / 1000 + 3600))
        .condition_expression("attribute_not_exists(pk) OR lock_expires_ms <= :now")
        .expression_attribute_values(":now", n(now_ms))
        .send()
        .await;
    match res {
        Ok(_) => Ok(owner),
        Err(e) => {
            let err = StoreError::dynamo("PutItem", e);
            if err.is_conditional_check_failed() {
                Err(StoreError::SaveInProgress)
            } else {
                Err(err)
            }
        }
    }
}

pub(super) async fn release_config_lock(store: &Store, tenant: &TenantId, owner: &str) {
    let res = store
        .dynamodb
        .delete_item()
        .table_name(&store.table)
        .set_key(Some(Store::key(tenant_pk(tenant), CONFIG_LOCK_SK)))
        .condition_expression("#o = :o")
        .expression_attribute_names("#o", "owner")
        .expression_attribute_values(":o", s(owner))
        .send()
        .await;
    if let Err(e) = res {
        // It expires on its own; the next save after the TTL proceeds.
        let err = StoreError::dynamo("DeleteItem", e);
        tracing::warn!(tenant = %tenant, error = %err, "could not release the configuration lock");
    }
}
