//! Seen-threats markers against the local stack: a page's counted threats are stored as 8-byte fingerprints in
//! one binary attribute per status (half the bytes of the former hex text, so of the write units an unchanged
//! re-sync spends on them), read back with the status counted (a later page's wins), and markers written before
//! as text are still read.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use connector_store::StoreError;
use s1_core::FindingStatus;

const RUN: &str = "run-seen-threats";

fn binary_len(item: &HashMap<String, AttributeValue>, name: &str) -> usize {
    match item.get(name) {
        Some(AttributeValue::B(b)) => b.as_ref().len(),
        other => panic!("{name} is not binary: {other:?}"),
    }
}

#[tokio::test]
async fn a_pages_threats_take_eight_bytes_each_and_read_back_with_their_status() {
    let env = common::env().await;
    let t = common::tenant("seent-packed");
    let page: Vec<(u64, FindingStatus)> = (0..1_000u64)
        .map(|i| {
            let status = if i % 3 == 0 {
                FindingStatus::Passed
            } else {
                FindingStatus::Failed
            };
            (i.wrapping_mul(0x9e37_79b9_7f4a_7c15), status)
        })
        .collect();
    env.store
        .record_seen_threats(&t, RUN, 2, &page)
        .await
        .unwrap();
    let sk = format!("SEENT#{RUN}#00000002");
    let item = common::raw_item(&env, t.as_str(), &sk).await;
    assert!(!item.contains_key("entries"), "no hex text: {item:?}");
    assert_eq!(
        binary_len(&item, "failed") + binary_len(&item, "passed"),
        8 * page.len()
    );

    // A later page's sighting wins; a page at or past `before_page` is not read.
    let flipped = page[1].0;
    env.store
        .record_seen_threats(&t, RUN, 3, &[(flipped, FindingStatus::Passed)])
        .await
        .unwrap();
    env.store
        .record_seen_threats(&t, RUN, 9, &[(7, FindingStatus::Failed)])
        .await
        .unwrap();
    let read = env.store.load_seen_threats(&t, RUN, 9).await.unwrap();
    let mut expected: HashMap<u64, FindingStatus> = page.into_iter().collect();
    expected.insert(flipped, FindingStatus::Passed);
    assert_eq!(read, expected);
}

#[tokio::test]
async fn a_threat_listed_twice_on_a_page_counts_under_its_last_status() {
    let env = common::env().await;
    let t = common::tenant("seent-twice");
    env.store
        .record_seen_threats(
            &t,
            RUN,
            0,
            &[(42, FindingStatus::Failed), (42, FindingStatus::Passed)],
        )
        .await
        .unwrap();
    let read = env.store.load_seen_threats(&t, RUN, 1).await.unwrap();
    assert_eq!(read, HashMap::from([(42, FindingStatus::Passed)]));
}

#[tokio::test]
async fn markers_written_as_hex_text_are_still_read_and_malformed_ones_refused() {
    let env = common::env().await;
    let t = common::tenant("seent-legacy");
    let put = |sk: String, name: &'static str, value: AttributeValue| {
        env.stack
            .dynamodb
            .put_item()
            .table_name(&env.table)
            .item("pk", AttributeValue::S(format!("T#{}", t.as_str())))
            .item("sk", AttributeValue::S(sk))
            .item("kind", AttributeValue::S("seen_threats".into()))
            .item("expires_at", AttributeValue::N("4102444800".into()))
            .item(name, value)
            .send()
    };
    put(
        format!("SEENT#{RUN}#00000000"),
        "entries",
        AttributeValue::S(format!("{:016x}f{:016x}p", 5u64, 6u64)),
    )
    .await
    .expect("put");
    env.store
        .record_seen_threats(&t, RUN, 1, &[(5, FindingStatus::Passed)])
        .await
        .unwrap();
    let read = env.store.load_seen_threats(&t, RUN, 2).await.unwrap();
    assert_eq!(
        read,
        HashMap::from([(5, FindingStatus::Passed), (6, FindingStatus::Passed)])
    );

    put(
        format!("SEENT#{RUN}#00000001"),
        "failed",
        AttributeValue::B(vec![1u8, 2, 3].into()),
    )
    .await
    .expect("put");
    let err = env.store.load_seen_threats(&t, RUN, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::Malformed { .. }), "{err:?}");
}
