//! The foundation's proof: the real aws-sdk clients reach the local stack over HTTP, the table it holds is the
//! template's table, and DynamoDB conditions are enforced there as in AWS.

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::{template_path, LocalStack, TableDefinition};
use std::collections::BTreeSet;

/// An index as compared here: name, key schema, projection type.
type IndexShape = (String, Vec<(String, String)>, String);

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

#[tokio::test]
async fn created_table_has_the_keys_and_indexes_of_the_template() {
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("create table");
    let def = TableDefinition::from_template(&template_path()).expect("template");
    assert_eq!(def.billing_mode, "PAY_PER_REQUEST");
    assert!(def.point_in_time_recovery, "the template must keep PITR on");

    let described = stack
        .dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("describe");
    let t = described.table.expect("table description");
    let keys: Vec<(String, String)> = t
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(keys, def.key_schema);
    let attrs: BTreeSet<(String, String)> = t
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_string(),
                a.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(attrs, def.attributes.iter().cloned().collect());
    let mut indexes: Vec<IndexShape> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            (
                g.index_name().unwrap_or_default().to_string(),
                g.key_schema()
                    .iter()
                    .map(|k| {
                        (
                            k.attribute_name().to_string(),
                            k.key_type().as_str().to_string(),
                        )
                    })
                    .collect(),
                g.projection()
                    .and_then(|p| p.projection_type())
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    indexes.sort();
    let mut expected: Vec<IndexShape> = def
        .global_secondary_indexes
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.key_schema.clone(),
                g.projection_type.clone(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(indexes, expected);
    assert!(
        !expected.is_empty(),
        "the template defines the GSIs later issues query"
    );
}

#[tokio::test]
async fn item_round_trips_and_a_failing_condition_is_refused() {
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("create table");
    let put = |owner: &str| {
        stack
            .dynamodb
            .put_item()
            .table_name(&table)
            .item("pk", s("TENANT#t1"))
            .item("sk", s("LEASE"))
            .item("owner", s(owner))
            .condition_expression("attribute_not_exists(pk)")
    };
    put("worker-a")
        .send()
        .await
        .expect("first conditional put succeeds");

    let err = put("worker-b")
        .send()
        .await
        .expect_err("second conditional put must be refused");
    let refused = err
        .as_service_error()
        .map(|e| e.is_conditional_check_failed_exception())
        .unwrap_or(false);
    assert!(refused, "expected ConditionalCheckFailed, got {err:?}");

    let got = stack
        .dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", s("TENANT#t1"))
        .key("sk", s("LEASE"))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    let item = got.item.expect("item stored");
    assert_eq!(
        item.get("owner"),
        Some(&s("worker-a")),
        "the refused write changed nothing"
    );
}

#[tokio::test]
async fn secret_round_trips_through_secrets_manager() {
    let stack = LocalStack::connect().await.expect("local stack");
    let name = format!("{}tenant-a", stack.fresh_secret_prefix());
    stack
        .secrets
        .create_secret()
        .name(&name)
        .secret_string("v1")
        .send()
        .await
        .expect("create");
    stack
        .secrets
        .put_secret_value()
        .secret_id(&name)
        .secret_string("v2")
        .send()
        .await
        .expect("put");
    let got = stack
        .secrets
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .expect("get");
    assert_eq!(got.secret_string(), Some("v2"));
    stack
        .secrets
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete");
    let gone = stack
        .secrets
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await;
    assert!(gone.is_err(), "a deleted secret must not be readable");
}

#[test]
fn template_parser_refuses_a_template_without_exactly_one_table() {
    let err = TableDefinition::from_template_str("Resources: {}\n").expect_err("no table");
    assert!(err.to_string().contains("expected exactly one"), "{err}");
}
