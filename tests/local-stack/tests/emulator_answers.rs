//! What the local stack answers for the requests the store makes, where `scripts/moto_costs.py` replaces moto's own
//! code with cheaper code: a query's pages (the table's and an index's), projections into maps, the size of a
//! nested item, and every kind of attribute value through a write and each way of reading it back. Each test states
//! DynamoDB's answer, so that a change to the emulator that answers otherwise fails here rather than in a sync; the
//! last one compares the stack with moto as released over a seeded workload.

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::LocalStack;
use std::collections::HashMap;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

type Item = HashMap<String, AttributeValue>;

async fn put(stack: &LocalStack, table: &str, item: Item) {
    stack
        .dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put");
}

fn keyed(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// Every page of a query, in order, with the sort keys (or the named attribute) of its items.
async fn pages(
    stack: &LocalStack,
    table: &str,
    index: Option<&str>,
    condition: &str,
    values: &[(&str, AttributeValue)],
    limit: i32,
    forward: bool,
) -> Vec<Vec<String>> {
    let key_attr = if index.is_some() { "gsi1sk" } else { "sk" };
    let mut start = None;
    let mut out = Vec::new();
    loop {
        let mut q = stack
            .dynamodb
            .query()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(condition)
            .limit(limit)
            .scan_index_forward(forward)
            .set_exclusive_start_key(start.take());
        for (name, value) in values {
            q = q.expression_attribute_values(*name, value.clone());
        }
        let page = q.send().await.expect("query");
        out.push(
            page.items()
                .iter()
                .map(|item| match item.get(key_attr) {
                    Some(AttributeValue::S(v)) => v.clone(),
                    other => panic!("no {key_attr} in {item:?}: {other:?}"),
                })
                .collect(),
        );
        match page.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return out,
        }
    }
}

fn seq(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:03}")).collect()
}

#[tokio::test]
async fn a_query_pages_through_exactly_the_items_its_key_condition_selects() {
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("create table");
    // Two partitions sharing sort keys, and other prefixes around the one asked for (before and after it).
    for pk in ["T#one", "T#two"] {
        for prefix in ["A#", "B#", "C#"] {
            for i in 0..12 {
                put(&stack, &table, keyed(pk, &format!("{prefix}{i:03}"))).await;
            }
        }
    }
    let one = [(":p", s("T#one")), (":b", s("B#"))];
    let prefixed = pages(
        &stack,
        &table,
        None,
        "pk = :p AND begins_with(sk, :b)",
        &one,
        5,
        true,
    )
    .await;
    assert_eq!(prefixed.concat(), seq("B#", 0..12), "{prefixed:?}");
    assert!(
        prefixed[..prefixed.len() - 1].iter().all(|p| p.len() == 5),
        "full pages before the last: {prefixed:?}"
    );

    let backwards = pages(
        &stack,
        &table,
        None,
        "pk = :p AND begins_with(sk, :b)",
        &one,
        5,
        false,
    )
    .await;
    let mut reversed = seq("B#", 0..12);
    reversed.reverse();
    assert_eq!(backwards.concat(), reversed);

    let between = pages(
        &stack,
        &table,
        None,
        "pk = :p AND sk BETWEEN :lo AND :hi",
        &[(":p", s("T#one")), (":lo", s("A#010")), (":hi", s("B#001"))],
        2,
        true,
    )
    .await;
    assert_eq!(
        between.concat(),
        ["A#010", "A#011", "B#000", "B#001"],
        "{between:?}"
    );

    let whole = pages(
        &stack,
        &table,
        None,
        "pk = :p",
        &[(":p", s("T#two"))],
        7,
        true,
    )
    .await;
    assert_eq!(
        whole.concat(),
        [seq("A#", 0..12), seq("B#", 0..12), seq("C#", 0..12)].concat()
    );

    let none = pages(
        &stack,
        &table,
        None,
        "pk = :p AND begins_with(sk, :b)",
        &[(":p", s("T#one")), (":b", s("Z#"))],
        5,
        true,
    )
    .await;
    assert_eq!(none.concat(), Vec::<String>::new());
}

#[tokio::test]
async fn an_index_query_selects_by_the_index_keys_across_partitions() {
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("create table");
    for (pk, i) in [
        ("T#one", 0),
        ("T#two", 1),
        ("T#one", 2),
        ("T#two", 3),
        ("T#one", 4),
    ] {
        let mut item = keyed(pk, &format!("FINDING#{i}"));
        item.insert("gsi1pk".to_string(), s("T#t#ASSET#host-1"));
        item.insert("gsi1sk".to_string(), s(&format!("FINDING#{i:03}")));
        put(&stack, &table, item).await;
        // The same index sort key under another index partition, and another prefix under this one.
        let mut other = keyed(pk, &format!("OTHER#{i}"));
        other.insert("gsi1pk".to_string(), s("T#t#ASSET#host-2"));
        other.insert("gsi1sk".to_string(), s(&format!("FINDING#{i:03}")));
        put(&stack, &table, other).await;
        let mut vuln = keyed(pk, &format!("VULN#{i}"));
        vuln.insert("gsi1pk".to_string(), s("T#t#ASSET#host-1"));
        vuln.insert("gsi1sk".to_string(), s(&format!("VULN#{i:03}")));
        put(&stack, &table, vuln).await;
        // No index keys at all: never in the index.
        put(&stack, &table, keyed(pk, &format!("PLAIN#{i}"))).await;
    }
    let found = pages(
        &stack,
        &table,
        Some("gsi1"),
        "gsi1pk = :g AND begins_with(gsi1sk, :f)",
        &[(":g", s("T#t#ASSET#host-1")), (":f", s("FINDING#"))],
        2,
        true,
    )
    .await;
    assert_eq!(found.concat(), seq("FINDING#", 0..5), "{found:?}");

    let all = pages(
        &stack,
        &table,
        Some("gsi1"),
        "gsi1pk = :g",
        &[(":g", s("T#t#ASSET#host-1"))],
        3,
        false,
    )
    .await;
    let mut expected = [seq("FINDING#", 0..5), seq("VULN#", 0..5)].concat();
    expected.reverse();
    assert_eq!(all.concat(), expected, "{all:?}");
}

fn nested_record() -> Item {
    let mut item = keyed("T#one", "ASSET#host-1");
    item.insert(
        "asset".to_string(),
        AttributeValue::M(HashMap::from([
            ("origin".to_string(), s("agent")),
            (
                "agent_ids".to_string(),
                AttributeValue::L(vec![s("101"), s("102")]),
            ),
            (
                "cvss".to_string(),
                AttributeValue::M(HashMap::from([
                    (
                        "base_score".to_string(),
                        AttributeValue::N("5.8".to_string()),
                    ),
                    ("vector".to_string(), AttributeValue::Null(true)),
                ])),
            ),
            ("tags".to_string(), AttributeValue::L(vec![])),
            ("empty".to_string(), AttributeValue::M(HashMap::new())),
            ("infected".to_string(), AttributeValue::Bool(false)),
        ])),
    );
    item.insert("src_sentinelone".to_string(), AttributeValue::Bool(true));
    item.insert(
        "digest".to_string(),
        AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![
            0u8, 255, 7, 0,
        ])),
    );
    item.insert(
        "sets".to_string(),
        AttributeValue::M(HashMap::from([
            (
                "ss".to_string(),
                AttributeValue::Ss(vec!["a".to_string(), "é".to_string()]),
            ),
            (
                "ns".to_string(),
                AttributeValue::Ns(vec!["1".to_string(), "2.5".to_string()]),
            ),
            (
                "bs".to_string(),
                AttributeValue::Bs(vec![aws_sdk_dynamodb::primitives::Blob::new(vec![1u8, 2])]),
            ),
        ])),
    );
    item.insert("count".to_string(), AttributeValue::N("42".to_string()));
    item
}

#[tokio::test]
async fn every_kind_of_value_reads_back_as_written_by_get_query_and_batch_get() {
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("create table");
    let written = nested_record();
    stack
        .dynamodb
        .batch_write_item()
        .request_items(
            &table,
            vec![aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(
                    aws_sdk_dynamodb::types::PutRequest::builder()
                        .set_item(Some(written.clone()))
                        .build()
                        .expect("put request"),
                )
                .build()],
        )
        .send()
        .await
        .expect("batch write");

    let got = stack
        .dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", s("T#one"))
        .key("sk", s("ASSET#host-1"))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
        .expect("stored");
    assert_eq!(got, written, "get");

    let queried = stack
        .dynamodb
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("T#one"))
        .send()
        .await
        .expect("query");
    assert_eq!(queried.items(), std::slice::from_ref(&written), "query");

    let batch = stack
        .dynamodb
        .batch_get_item()
        .request_items(
            &table,
            aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .keys(keyed("T#one", "ASSET#host-1"))
                .build()
                .expect("keys"),
        )
        .send()
        .await
        .expect("batch get");
    let responses = batch.responses.expect("responses");
    assert_eq!(responses[&table], [written], "batch get");
}

#[tokio::test]
async fn a_projection_returns_the_named_attributes_and_map_entries_only() {
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("create table");
    put(&stack, &table, nested_record()).await;
    let projected = stack
        .dynamodb
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("T#one"))
        .projection_expression("#sk, #src, #a.#o, #a.#c.#b, #a.#missing, #gone")
        .expression_attribute_names("#sk", "sk")
        .expression_attribute_names("#src", "src_sentinelone")
        .expression_attribute_names("#a", "asset")
        .expression_attribute_names("#o", "origin")
        .expression_attribute_names("#c", "cvss")
        .expression_attribute_names("#b", "base_score")
        .expression_attribute_names("#missing", "missing")
        .expression_attribute_names("#gone", "gone")
        .send()
        .await
        .expect("query");
    let expected = HashMap::from([
        ("sk".to_string(), s("ASSET#host-1")),
        ("src_sentinelone".to_string(), AttributeValue::Bool(true)),
        (
            "asset".to_string(),
            AttributeValue::M(HashMap::from([
                ("origin".to_string(), s("agent")),
                (
                    "cvss".to_string(),
                    AttributeValue::M(HashMap::from([(
                        "base_score".to_string(),
                        AttributeValue::N("5.8".to_string()),
                    )])),
                ),
            ])),
        ),
    ]);
    assert_eq!(projected.items(), [expected]);

    // Projection must not change what is stored.
    let stored = stack
        .dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", s("T#one"))
        .key("sk", s("ASSET#host-1"))
        .send()
        .await
        .expect("get")
        .item
        .expect("stored");
    assert_eq!(stored, nested_record());
}

#[tokio::test]
async fn a_nested_item_over_the_size_limit_is_refused() {
    let stack = LocalStack::connect().await.expect("local stack");
    let table = stack.fresh_table().await.expect("create table");
    // The size is in the leaves of maps inside lists inside maps: the emulator must count them all.
    let nested = |bytes: usize| {
        let leaf = s(&"y".repeat(bytes / 40));
        let inner = AttributeValue::M(HashMap::from([("v".to_string(), leaf)]));
        let list = AttributeValue::L(vec![inner; 10]);
        let mut item = keyed("T#one", "NESTED");
        item.insert(
            "deep".to_string(),
            AttributeValue::M((0..4).map(|i| (format!("k{i}"), list.clone())).collect()),
        );
        item
    };
    stack
        .dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(nested(390_000)))
        .send()
        .await
        .expect("a nested 390 KB item is stored");
    let err = stack
        .dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(nested(420_000)))
        .send()
        .await
        .expect_err("a nested 420 KB item must be refused");
    let message = format!("{err:?}");
    assert!(
        message.contains("ValidationException") && message.contains("size"),
        "expected a validation error about the item size, got {message}"
    );
}

/// The emulator's own proof, beside the tests above: `scripts/moto_costs_check.py` runs one seeded workload of
/// writes and paged queries (table and index, every sort-key condition, limits, both directions, filters,
/// projections) against moto as released and against the project's stack in memory, and fails on the first
/// response that differs. It uses the local stack's own Python (`scripts/local-aws install` put moto there).
#[test]
fn moto_costs_answers_every_query_of_a_seeded_workload_as_moto_does() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".local/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `scripts/local-aws install` (scripts/test does)",
        python.display()
    );
    let out = std::process::Command::new(&python)
        .arg(root.join("scripts/moto_costs_check.py"))
        .output()
        .expect("run scripts/moto_costs_check.py");
    assert!(
        out.status.success(),
        "moto_costs answered differently from moto:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the same with and without moto_costs"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
