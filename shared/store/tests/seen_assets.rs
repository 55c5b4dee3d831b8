//! Seen-assets markers against the local stack: a page's keys are stored front-coded in one binary attribute (a
//! fraction of a list of strings, so of the write units an unchanged re-sync spends on them), every key reads
//! back exactly, markers written before as a list are still read, and a malformed marker is refused.

mod common;

use std::collections::HashSet;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::StoreError;

const RUN: &str = "run-seen-assets";

/// Computer names as fleets name them: a department or role, a kind, a number.
fn names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let dept = ["fin", "hr", "ops", "eng", "sales"][i % 5];
            let kind = ["desktop", "laptop"][(i / 5) % 2];
            format!("{dept}-{kind}-{:04}", (i * 37) % 10_000)
        })
        .collect()
}

async fn put_raw(env: &common::Env, tenant: &str, sk: &str, name: &str, value: AttributeValue) {
    env.stack
        .dynamodb
        .put_item()
        .table_name(&env.table)
        .item("pk", AttributeValue::S(format!("T#{tenant}")))
        .item("sk", AttributeValue::S(sk.to_string()))
        .item("kind", AttributeValue::S("seen".into()))
        .item("expires_at", AttributeValue::N("4102444800".into()))
        .item(name, value)
        .send()
        .await
        .expect("put");
}

#[tokio::test]
async fn a_pages_keys_are_stored_front_coded_in_well_under_half_their_bytes_and_read_back_exactly()
{
    let env = common::env().await;
    let t = common::tenant("seen-packed");
    let page = names(1_000);
    env.store
        .record_seen_assets(&t, RUN, 3, &page)
        .await
        .unwrap();

    let item = common::raw_item(&env, t.as_str(), &format!("SEEN#{RUN}#00000003#0")).await;
    assert!(!item.contains_key("keys"), "no list of strings: {item:?}");
    let Some(AttributeValue::B(packed)) = item.get("packed_keys") else {
        panic!("the keys are one binary attribute: {item:?}");
    };
    let plain: usize = page.iter().map(String::len).sum();
    assert!(
        packed.as_ref().len() * 2 < plain,
        "{} bytes stored for {plain} bytes of names",
        packed.as_ref().len()
    );

    let read = env.store.seen_asset_keys(&t, RUN).await.unwrap();
    assert_eq!(read, page.into_iter().collect::<HashSet<_>>());
}

#[tokio::test]
async fn markers_written_as_a_list_are_still_read_beside_packed_ones() {
    let env = common::env().await;
    let t = common::tenant("seen-legacy");
    put_raw(
        &env,
        t.as_str(),
        &format!("SEEN#{RUN}#00000000#0"),
        "keys",
        AttributeValue::L(vec![
            AttributeValue::S("old-pc-1".into()),
            AttributeValue::S("old-pc-2".into()),
        ]),
    )
    .await;
    env.store
        .record_seen_assets(&t, RUN, 1, &["new-pc-1".to_string()])
        .await
        .unwrap();
    let read = env.store.seen_asset_keys(&t, RUN).await.unwrap();
    let expected: HashSet<String> = ["old-pc-1", "old-pc-2", "new-pc-1"]
        .map(String::from)
        .into();
    assert_eq!(read, expected);
}

#[tokio::test]
async fn a_malformed_marker_is_refused_not_read_as_fewer_keys() {
    let env = common::env().await;
    let t = common::tenant("seen-malformed");
    // One key that claims three bytes and holds one.
    put_raw(
        &env,
        t.as_str(),
        &format!("SEEN#{RUN}#00000000#0"),
        "packed_keys",
        AttributeValue::B(Blob::new(vec![0, 3, b'a'])),
    )
    .await;
    let err = env.store.seen_asset_keys(&t, RUN).await.unwrap_err();
    assert!(matches!(err, StoreError::Malformed { .. }), "{err:?}");
}
