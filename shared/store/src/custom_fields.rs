//! The tenant's custom field definitions (filled from SentinelOne tags by the sync). Names are unique per tenant
//! case-insensitively: the item key is the lowercased name.
//!
//! A tenant has at most [`MAX_CUSTOM_FIELDS`]. The bound holds under concurrent creates because every create and
//! delete writes its definition and a per-tenant counter item (`CFCOUNT`, next to the `CF#…` items but outside
//! their prefix) in one transaction, and the counter's update is conditional on the bound. A tenant whose
//! definitions predate the counter gets it on its first create or delete: the definitions are counted and the
//! counter is created only if still absent, and since every write waits for the counter, the count it starts from is
//! exact.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Delete, Put, ReturnValuesOnConditionCheckFailure, Select,
    TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use s1_core::custom_fields::{CustomFieldDefinition, CustomFieldName};

use crate::error::{Result, StoreError};
use crate::keys::{custom_field_sk, tenant_pk, TenantId, CUSTOM_FIELD_PREFIX};
use crate::store::{n, s, Store};
use crate::views::Query;

/// Custom field definitions one tenant may have. Every sync loads all of them and applies them to every asset it
/// writes (each SentinelOne tag is matched against every definition), so their number multiplies the per-asset work
/// of every sync of the tenant; 100 is far more than the tag keys a console uses and keeps the list one small read.
pub const MAX_CUSTOM_FIELDS: usize = 100;

/// The counter item's sort key. Not under [`CUSTOM_FIELD_PREFIX`], so listings never see it.
const COUNT_SK: &str = "CFCOUNT";
/// The counter attribute (a reserved word in expressions, hence always `#c`).
const COUNT_ATTR: &str = "count";

/// How often a create or delete is tried when DynamoDB cancels its transaction for a conflict with another one on
/// the same counter (a burst of creates), and how long it waits between tries (jittered, doubling).
const TRANSACTION_ATTEMPTS: u32 = 8;
const CONFLICT_BACKOFF: Duration = Duration::from_millis(25);

#[derive(Serialize, Deserialize)]
struct CustomFieldItem {
    pk: String,
    sk: String,
    kind: String,
    definition: CustomFieldDefinition,
}

fn parse_name(name: &str) -> Result<CustomFieldName> {
    CustomFieldName::parse(name).map_err(|e| StoreError::InvalidInput(e.to_string()))
}

/// What a cancelled transaction says about each of its two writes (definition, counter).
enum Cancelled {
    /// The definition's condition failed (exists on create, missing on delete).
    Definition,
    /// The counter's condition failed; `exists` tells a missing counter from a full one.
    Counter { exists: bool },
    /// Another transaction touched the same items at the same time: worth trying again.
    Conflict,
}

fn cancelled(err: &StoreError) -> Option<Cancelled> {
    let StoreError::DynamoDb { source, .. } = err else {
        return None;
    };
    let aws_sdk_dynamodb::Error::TransactionCanceledException(e) = &**source else {
        return None;
    };
    let reasons = e.cancellation_reasons();
    let failed = |r: Option<&CancellationReason>| {
        r.and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
    };
    if failed(reasons.first()) {
        return Some(Cancelled::Definition);
    }
    if failed(reasons.get(1)) {
        let exists = reasons
            .get(1)
            .and_then(CancellationReason::item)
            .is_some_and(|i| i.contains_key(COUNT_ATTR));
        return Some(Cancelled::Counter { exists });
    }
    reasons
        .iter()
        .any(|r| r.code() == Some("TransactionConflict"))
        .then_some(Cancelled::Conflict)
}

fn built<T>(r: std::result::Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T> {
    // Only fails when a required field is missing, and every one is set below.
    r.map_err(|e| StoreError::Malformed {
        what: "custom field write",
        detail: e.to_string(),
    })
}

impl Store {
    /// Every definition of the tenant, sorted by name (case-insensitively).
    pub async fn list_custom_fields(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<CustomFieldDefinition>> {
        let mut out = Vec::new();
        self.query_each(&Query::partition(tenant, CUSTOM_FIELD_PREFIX), |items| {
            for i in items {
                let item: CustomFieldItem =
                    serde_dynamo::from_item(i).map_err(StoreError::item("custom field"))?;
                out.push(item.definition);
            }
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Adds a definition; a name already defined (in any case) is refused with
    /// [`StoreError::DuplicateCustomField`], one more than [`MAX_CUSTOM_FIELDS`] with
    /// [`StoreError::CustomFieldLimit`]. The name is validated by the core's naming rule.
    pub async fn put_custom_field(
        &self,
        tenant: &TenantId,
        definition: &CustomFieldDefinition,
    ) -> Result<CustomFieldDefinition> {
        let name = parse_name(&definition.name)?;
        let definition = CustomFieldDefinition::from(name);
        let item = CustomFieldItem {
            pk: tenant_pk(tenant),
            sk: custom_field_sk(&definition.name),
            kind: "custom_field".into(),
            definition: definition.clone(),
        };
        let item = serde_dynamo::to_item(item).map_err(StoreError::item("custom field"))?;
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        let increment = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(Store::key(tenant_pk(tenant), COUNT_SK)))
                .update_expression("SET #c = #c + :one")
                .condition_expression("attribute_exists(#c) AND #c < :max")
                .expression_attribute_names("#c", COUNT_ATTR)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(MAX_CUSTOM_FIELDS))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(increment).build(),
        ];
        match self.counted_write(tenant, items).await? {
            None => Ok(definition),
            Some(Cancelled::Definition) => Err(StoreError::DuplicateCustomField {
                name: definition.name,
            }),
            Some(_) => {
                tracing::info!(tenant = %tenant, limit = MAX_CUSTOM_FIELDS, "custom field refused: limit reached");
                Err(StoreError::CustomFieldLimit {
                    limit: MAX_CUSTOM_FIELDS,
                })
            }
        }
    }

    /// Removes the definition named `name` (any case); `false` when there was none.
    pub async fn delete_custom_field(&self, tenant: &TenantId, name: &str) -> Result<bool> {
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Store::key(
                    tenant_pk(tenant),
                    custom_field_sk(name.trim()),
                )))
                .condition_expression("attribute_exists(pk)")
                .build(),
        )?;
        let decrement = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(Store::key(tenant_pk(tenant), COUNT_SK)))
                .update_expression("SET #c = #c - :one")
                .condition_expression("attribute_exists(#c)")
                .expression_attribute_names("#c", COUNT_ATTR)
                .expression_attribute_values(":one", n(1))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(decrement).build(),
        ];
        match self.counted_write(tenant, items).await? {
            None => Ok(true),
            Some(Cancelled::Definition) => Ok(false),
            Some(_) => Err(StoreError::Malformed {
                what: "custom field counter",
                detail: "the counter refused a delete".into(),
            }),
        }
    }

    /// Runs a definition write + counter update transaction. `None` when it committed; otherwise which condition
    /// refused it. A missing counter is created (from a count of the definitions) and the write tried again, as is
    /// a transaction cancelled for a conflict with a concurrent one.
    async fn counted_write(
        &self,
        tenant: &TenantId,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Cancelled>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = self
                .dynamodb
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match res {
                Ok(_) => return Ok(None),
                Err(e) => StoreError::dynamo("TransactWriteItems", e),
            };
            match cancelled(&err) {
                Some(Cancelled::Counter { exists: false }) if attempt < TRANSACTION_ATTEMPTS => {
                    self.create_custom_field_counter(tenant).await?;
                }
                Some(Cancelled::Conflict) if attempt < TRANSACTION_ATTEMPTS => {
                    let cap = CONFLICT_BACKOFF.saturating_mul(1 << attempt.min(6));
                    let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
                    tokio::time::sleep(Duration::from_millis(rand::random_range(0..=millis))).await;
                }
                Some(Cancelled::Conflict | Cancelled::Counter { exists: false }) | None => {
                    return Err(err)
                }
                Some(refused) => return Ok(Some(refused)),
            }
        }
    }

    /// Creates the tenant's counter from a count of its definitions, unless another call created it first.
    async fn create_custom_field_counter(&self, tenant: &TenantId) -> Result<()> {
        let mut count: usize = 0;
        let mut start = None;
        loop {
            let out = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :cf)")
                .expression_attribute_values(":p", s(tenant_pk(tenant)))
                .expression_attribute_values(":cf", s(CUSTOM_FIELD_PREFIX))
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            count += usize::try_from(out.count).unwrap_or_default();
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        let res = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant)))
            .item("sk", s(COUNT_SK))
            .item("kind", s("custom_field_count"))
            .item(COUNT_ATTR, AttributeValue::N(count.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => {
                tracing::info!(tenant = %tenant, count, "custom field counter created");
                Ok(())
            }
            Err(e) => {
                let err = StoreError::dynamo("PutItem", e);
                if err.is_conditional_check_failed() {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}
