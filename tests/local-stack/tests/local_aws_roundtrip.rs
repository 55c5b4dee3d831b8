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

/// A transaction one of whose actions fails leaves every item it named as it was: the new item absent, the updated
/// one unchanged, and the items it did not name untouched. The local stack puts back only the items a transaction
/// names (scripts/moto_costs.py) instead of copying the whole table, so this is its proof of the same rollback.
#[tokio::test]
async fn a_cancelled_transaction_leaves_every_item_as_it_was() {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("create table");
    for (sk, n) in [("A", "1"), ("HELD", "1"), ("OTHER", "7")] {
        stack
            .dynamodb
            .put_item()
            .table_name(&table)
            .item("pk", s("T#t1"))
            .item("sk", s(sk))
            .item("n", AttributeValue::N(n.to_string()))
            .send()
            .await
            .expect("seed");
    }
    let put_new = Put::builder()
        .table_name(&table)
        .item("pk", s("T#t1"))
        .item("sk", s("NEW"))
        .build()
        .expect("put");
    let update_a = Update::builder()
        .table_name(&table)
        .key("pk", s("T#t1"))
        .key("sk", s("A"))
        .update_expression("SET n = :two, added = :x")
        .expression_attribute_values(":two", AttributeValue::N("2".to_string()))
        .expression_attribute_values(":x", s("x"))
        .build()
        .expect("update");
    let absent_held = ConditionCheck::builder()
        .table_name(&table)
        .key("pk", s("T#t1"))
        .key("sk", s("HELD"))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .expect("check");
    let err = stack
        .dynamodb
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put_new).build())
        .transact_items(TransactWriteItem::builder().update(update_a).build())
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(absent_held)
                .build(),
        )
        .send()
        .await
        .expect_err("the failing check cancels the transaction");
    let codes: Vec<String> = err
        .as_service_error()
        .filter(|e| e.is_transaction_canceled_exception())
        .and_then(|e| match e {
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                Some(c.cancellation_reasons().iter().map(|r| r.code().unwrap_or_default().to_string()).collect())
            }
            _ => None,
        })
        .expect("a TransactionCanceledException with its reasons");
    assert_eq!(codes, ["None", "None", "ConditionalCheckFailed"]);

    let get = |sk: &'static str| {
        let stack = &stack;
        let table = &table;
        async move {
            stack
                .dynamodb
                .get_item()
                .table_name(table)
                .key("pk", s("T#t1"))
                .key("sk", s(sk))
                .consistent_read(true)
                .send()
                .await
                .expect("get")
                .item
        }
    };
    assert_eq!(get("NEW").await, None, "the put was rolled back");
    let a = get("A").await.expect("A is still stored");
    assert_eq!(a.get("n"), Some(&AttributeValue::N("1".to_string())));
    assert!(
        !a.contains_key("added"),
        "the update was rolled back: {a:?}"
    );
    let other = get("OTHER").await.expect("OTHER is still stored");
    assert_eq!(other.get("n"), Some(&AttributeValue::N("7".to_string())));
}

/// An item past DynamoDB's size limit is refused and one just under it is stored: the local stack checks the
/// finished item's size once (scripts/moto_costs.py), and this shows the check is still made.
#[tokio::test]
async fn an_item_over_the_size_limit_is_refused() {
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("create table");
    let put = |sk: &str, bytes: usize| {
        stack
            .dynamodb
            .put_item()
            .table_name(&table)
            .item("pk", s("T#t1"))
            .item("sk", s(sk))
            // Spread over many attributes, as the store's items are.
            .set_item(Some(
                (0..100)
                    .map(|i| (format!("a{i:03}"), s(&"x".repeat(bytes / 100))))
                    .chain([("pk".to_string(), s("T#t1")), ("sk".to_string(), s(sk))])
                    .collect(),
            ))
    };
    put("FITS", 390_000)
        .send()
        .await
        .expect("a 390 KB item is stored");
    let err = put("TOO_LARGE", 420_000)
        .send()
        .await
        .expect_err("a 420 KB item must be refused");
    let message = format!("{err:?}");
    assert!(
        message.contains("ValidationException") && message.contains("size"),
        "expected a validation error about the item size, got {message}"
    );
}
