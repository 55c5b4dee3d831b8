//! The tenant's custom field definitions (filled from SentinelOne tags by the sync). Names are unique per tenant
//! case-insensitively: the item key is the lowercased name.

use serde::{Deserialize, Serialize};

use s1_core::custom_fields::{CustomFieldDefinition, CustomFieldName};

use crate::error::{Result, StoreError};
use crate::keys::{custom_field_sk, tenant_pk, TenantId, CUSTOM_FIELD_PREFIX};
use crate::store::Store;
use crate::views::Query;

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
    /// [`StoreError::DuplicateCustomField`]. The name is validated by the core's naming rule.
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
        let res = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                serde_dynamo::to_item(item).map_err(StoreError::item("custom field"))?,
            ))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(definition),
            Err(e) => {
                let err = StoreError::dynamo("PutItem", e);
                if err.is_conditional_check_failed() {
                    Err(StoreError::DuplicateCustomField {
                        name: definition.name,
                    })
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Removes the definition named `name` (any case); `false` when there was none.
    pub async fn delete_custom_field(&self, tenant: &TenantId, name: &str) -> Result<bool> {
        let out = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(
                tenant_pk(tenant),
                custom_field_sk(name.trim()),
            )))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
