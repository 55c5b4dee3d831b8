//! Fuzzing of the two parsers at the store's trust boundary (issue 11): page tokens (which come back from any
//! caller) and the configuration record read back from the table (which anyone with write access to the table, or
//! an older or newer version of the connector, may have shaped differently). Proptest, bounded by
//! `HARDENING_CASES` like fuzz_parsers.rs. Both parsers are private to the store, so they are driven through its
//! public calls on moto; a refused page token never reaches DynamoDB, so those cases cost no request.
//!
//! Page tokens: arbitrary strings, mutated real tokens, other tenants' real tokens, and tokens forged with the
//! signing key itself (as if it had leaked) naming any tenant, listing, filter and cursor. Each must be refused with
//! `StoreError::InvalidPageToken` (or, for a well-formed cursor of the caller's own partition, served), never
//! panic, and never serve another tenant's items.
//!
//! Stored configuration: arbitrary DynamoDB attribute maps as the `CONFIG` item, and valid items with fields
//! removed, retyped or replaced. Reading must give a configuration or a typed error, never a panic.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use connector_store::{
    AssetFilter, FindingFilter, PageTokenKey, Store, StoreError, SyncRun, TenantConfig, TenantId,
    Trigger,
};
use hardening::{config, mutate, mutation, nasty_string};
use hmac::{Hmac, Mac};
use local_stack::LocalStack;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use sha2::Sha256;

const KEY: [u8; 32] = *b"hardening-fuzz-page-token-key-32";

struct Fixture {
    store: Store,
    table: String,
    b: TenantId,
    /// Real tokens of A's and B's run listings (page size 2 over 7 runs each).
    a_tokens: Vec<String>,
    b_tokens: Vec<String>,
    /// Requests that reached DynamoDB from page-token cases (a refusal costs none).
    served: AtomicU64,
    stored_configs: AtomicU64,
    read_ok: AtomicU64,
    read_refused: AtomicU64,
}

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

async fn tokens(store: &Store, tenant: &TenantId) -> Vec<String> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store
            .list_runs(tenant, token.as_deref(), 2)
            .await
            .expect("list");
        assert!(page.items.iter().all(|r| &r.tenant == tenant));
        match page.next_page_token {
            Some(t) => {
                all.push(t.clone());
                token = Some(t);
            }
            None => return all,
        }
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        rt().block_on(async {
            let stack = LocalStack::connect().await.expect("local stack");
            let table = stack.fresh_table().await.expect("table");
            let store = Store::new(
                stack.dynamodb.clone(),
                table.clone(),
                PageTokenKey::new(KEY.to_vec()).expect("key"),
            );
            let a = TenantId::new("tenant-a").expect("id");
            let b = TenantId::new("tenant-b").expect("id");
            for t in [&a, &b] {
                for _ in 0..7 {
                    store
                        .create_run(&SyncRun::new(t.clone(), Trigger::OnDemand))
                        .await
                        .expect("run");
                }
            }
            let (a_tokens, b_tokens) = (tokens(&store, &a).await, tokens(&store, &b).await);
            assert_eq!((a_tokens.len(), b_tokens.len()), (3, 3));
            Fixture {
                store,
                table,
                b,
                a_tokens,
                b_tokens,
                served: AtomicU64::new(0),
                stored_configs: AtomicU64::new(0),
                read_ok: AtomicU64::new(0),
                read_refused: AtomicU64::new(0),
            }
        })
    })
}

/// Every listing of tenant B with `token`: each must refuse it (or, where `may_serve`, serve B's own items only).
fn assert_refused_for_b(token: &str, may_serve: bool) -> Result<(), TestCaseError> {
    let f = fixture();
    rt().block_on(async {
        let runs = f.store.list_runs(&f.b, Some(token), 10).await;
        match runs {
            Err(StoreError::InvalidPageToken) => {}
            Ok(page) if may_serve => {
                f.served.fetch_add(1, Ordering::Relaxed);
                prop_assert!(
                    page.items.iter().all(|r| r.tenant == f.b),
                    "another tenant's run served: {:?}",
                    page.items
                );
            }
            // A well-formed cursor DynamoDB itself rejects (e.g. an empty key string): typed, not served.
            Err(StoreError::DynamoDb { .. }) if may_serve => {
                f.served.fetch_add(1, Ordering::Relaxed);
            }
            // A key-forged cursor with attributes no start key has (e.g. an empty attribute name): DynamoDB
            // refuses it (moto even answers with an error page); a typed error, nothing served.
            Err(StoreError::DynamoDb { .. }) => {}
            other => prop_assert!(false, "token {token:?} gave {other:?}"),
        }
        for result in [
            f.store
                .list_assets(&f.b, &AssetFilter::default(), Some(token), 10)
                .await
                .map(|p| p.items.len()),
            f.store
                .list_findings(&f.b, &FindingFilter::default(), Some(token), 10)
                .await
                .map(|p| p.items.len()),
        ] {
            // Tokens are bound to their listing: a runs token (or anything else) is never an assets/findings one.
            prop_assert!(
                matches!(result, Err(StoreError::InvalidPageToken)),
                "token {token:?} gave {result:?}"
            );
        }
        Ok(())
    })
}

fn sign(payload: &serde_json::Value) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).expect("json"));
    let mut mac = Hmac::<Sha256>::new_from_slice(&KEY).expect("key");
    mac.update(body.as_bytes());
    format!(
        "{body}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn token_like() -> impl Strategy<Value = String> {
    prop_oneof![
        nasty_string(),
        // Two base64-ish halves around a dot: the token's own shape.
        ("[A-Za-z0-9_-]{0,120}", "[A-Za-z0-9_-]{0,60}").prop_map(|(a, b)| format!("{a}.{b}")),
        // Arbitrary bytes, as a caller could put anything into the query string.
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        // A well-formed body holding arbitrary JSON, with a random signature.
        (hardening::arb_json(), "[A-Za-z0-9_-]{43}").prop_map(|(v, sig)| format!(
            "{}.{sig}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap_or_default())
        )),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_are_refused_as_page_tokens(token in token_like()) {
        assert_refused_for_b(&token, false)?;
    }

    #[test]
    fn mutated_and_other_tenants_tokens_are_refused(
        which in 0usize..6,
        mutations in prop::collection::vec(mutation(), 0..4),
    ) {
        let f = fixture();
        let (original, own) = if which < 3 {
            (&f.a_tokens[which], false)
        } else {
            (&f.b_tokens[which - 3], true)
        };
        let mutated = String::from_utf8_lossy(&mutate(original.as_bytes(), &mutations)).into_owned();
        // Unmutated, B's own tokens are valid for B's runs; every other case must be refused.
        let may_serve = own && &mutated == original;
        assert_refused_for_b(&mutated, may_serve)?;
    }
}

#[test]
fn tokens_forged_with_the_key_never_cross_tenants() {
    let text = || prop_oneof![Just(String::new()), nasty_string()];
    let strategy = (
        prop_oneof![
            Just("tenant-a".to_string()),
            Just("tenant-b".to_string()),
            nasty_string()
        ],
        prop_oneof![
            Just("runs".to_string()),
            Just("assets".to_string()),
            Just("findings".to_string()),
            nasty_string()
        ],
        text(),
        prop_oneof![
            Just("T#tenant-a".to_string()),
            Just("T#tenant-b".to_string()),
            nasty_string()
        ],
        prop_oneof![
            Just("RUN#".to_string()),
            Just("RUN#99999999".to_string()),
            nasty_string()
        ],
        prop::collection::vec((nasty_string(), nasty_string()), 0..2),
        any::<bool>(),
    );
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |(t, v, f, pk, sk, extra, drop_sk)| {
        let mut k: BTreeMap<String, String> = BTreeMap::from([("pk".to_string(), pk)]);
        if !drop_sk {
            k.insert("sk".into(), sk);
        }
        for (key, value) in extra {
            k.insert(key, value);
        }
        let token = sign(&serde_json::json!({"t": t, "v": v, "f": f, "k": k}));
        // Only a token naming B, the runs listing, its (empty) filter and exactly B's partition may be served.
        let well_formed_for_b = t == "tenant-b"
            && v == "runs"
            && f.is_empty()
            && k.len() == 2
            && k.get("pk").map(String::as_str) == Some("T#tenant-b")
            && k.contains_key("sk");
        assert_refused_for_b(&token, well_formed_for_b)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "fuzz_store: {} forged tokens, {} well-formed for B reached DynamoDB, none served another tenant",
        hardening::cases(),
        fixture().served.load(Ordering::Relaxed)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The stored configuration record.

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn arb_attr() -> impl Strategy<Value = AttributeValue> {
    let number = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u16>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_string()),
        Just("-0".to_string()),
        Just("0.5".to_string()),
        Just("1e3".to_string()),
        Just("99999999999999999999999999999999999999".to_string()),
    ];
    let leaf = prop_oneof![
        nasty_string().prop_map(AttributeValue::S),
        number.clone().prop_map(AttributeValue::N),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(|b| AttributeValue::B(Blob::new(b))),
        prop::collection::btree_set("[a-z]{1,8}", 1..4)
            .prop_map(|s| AttributeValue::Ss(s.into_iter().collect())),
        prop::collection::btree_set(any::<i32>(), 1..4)
            .prop_map(|s| AttributeValue::Ns(s.into_iter().map(|n| n.to_string()).collect())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(AttributeValue::L),
            prop::collection::hash_map(
                prop_oneof![
                    prop::sample::select(CONFIG_FIELDS).prop_map(str::to_string),
                    "[a-z_]{1,12}"
                ],
                inner,
                0..6
            )
            .prop_map(AttributeValue::M),
        ]
    })
}

const CONFIG_FIELDS: &[&str] = &[
    "console_url",
    "verdicts",
    "auto_sync_days",
    "auto_onboard",
    "update_metadata",
    "group_names",
    "token_updated_at",
    "updated_at",
    "next_due_at",
    "version",
];

fn valid_config() -> HashMap<String, AttributeValue> {
    let mut c = TenantConfig::new("https://acme.sentinelone.net");
    c.auto_sync_days = Some(7);
    c.group_names = vec!["Servers".into()];
    c.updated_at = "2026-11-25T00:00:00Z".into();
    c.version = 3;
    match serde_dynamo::to_attribute_value(&c).expect("serialises") {
        AttributeValue::M(m) => m,
        _ => unreachable!("a struct is a map"),
    }
}

/// What the `config` attribute of the stored item becomes.
#[derive(Debug, Clone)]
enum ConfigShape {
    /// A valid configuration with some fields replaced by arbitrary values and some removed.
    Edited {
        replace: Vec<(usize, AttributeValue)>,
        remove: Vec<usize>,
    },
    /// A well-typed configuration holding hostile values (what a tampered but schema-valid item looks like).
    Typed(Box<TenantConfig>),
    /// Any attribute at all.
    Arbitrary(AttributeValue),
    Missing,
}

fn typed_config() -> impl Strategy<Value = TenantConfig> {
    let strings = || prop::collection::vec(nasty_string(), 0..4);
    (
        nasty_string(),
        strings(),
        any::<Option<u16>>(),
        any::<(bool, bool)>(),
        strings(),
        (nasty_string(), nasty_string(), any::<Option<bool>>()),
        any::<u64>(),
    )
        .prop_map(
            |(
                console_url,
                verdicts,
                auto_sync_days,
                (onboard, metadata),
                groups,
                (ts, due, token),
                version,
            )| {
                let mut c = TenantConfig::new(console_url);
                c.verdicts = verdicts;
                c.auto_sync_days = auto_sync_days;
                c.auto_onboard = onboard;
                c.update_metadata = metadata;
                c.group_names = groups;
                c.updated_at = ts.clone();
                c.next_due_at = (!due.is_empty()).then_some(due);
                c.token_updated_at = token.map(|_| ts);
                c.version = version;
                c
            },
        )
}

fn config_shape() -> impl Strategy<Value = ConfigShape> {
    prop_oneof![
        4 => (
            prop::collection::vec((0..CONFIG_FIELDS.len(), arb_attr()), 0..4),
            prop::collection::vec(0..CONFIG_FIELDS.len(), 0..3),
        )
            .prop_map(|(replace, remove)| ConfigShape::Edited { replace, remove }),
        2 => typed_config().prop_map(|c| ConfigShape::Typed(Box::new(c))),
        2 => arb_attr().prop_map(ConfigShape::Arbitrary),
        1 => Just(ConfigShape::Missing),
    ]
}

fn build_item(
    pk: &str,
    shape: &ConfigShape,
    extra: &[(String, AttributeValue)],
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("pk".to_string(), s(pk)),
        ("sk".to_string(), s("CONFIG")),
        ("kind".to_string(), s("config")),
    ]);
    match shape {
        ConfigShape::Edited { replace, remove } => {
            let mut c = valid_config();
            for (i, v) in replace {
                c.insert(CONFIG_FIELDS[*i].to_string(), v.clone());
            }
            for i in remove {
                c.remove(CONFIG_FIELDS[*i]);
            }
            item.insert("config".into(), AttributeValue::M(c));
        }
        ConfigShape::Typed(c) => {
            item.insert(
                "config".into(),
                serde_dynamo::to_attribute_value(c.as_ref()).expect("serialises"),
            );
        }
        ConfigShape::Arbitrary(v) => {
            item.insert("config".into(), v.clone());
        }
        ConfigShape::Missing => {}
    }
    for (k, v) in extra {
        if k != "pk" && k != "sk" {
            item.insert(k.clone(), v.clone());
        }
    }
    item
}

#[test]
fn any_stored_config_item_reads_as_a_config_or_a_typed_error() {
    let strategy = (
        config_shape(),
        prop::collection::vec(
            (
                prop_oneof![
                    Just("due_pk".to_string()),
                    Just("due_sk".to_string()),
                    Just("scheduled_day".to_string()),
                    Just("kind".to_string()),
                    "[a-z_]{1,10}",
                ],
                arb_attr(),
            ),
            0..3,
        ),
    );
    let f = fixture();
    let n = AtomicU64::new(0);
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |(shape, extra)| {
        let tenant =
            TenantId::new(format!("fz-{}", n.fetch_add(1, Ordering::Relaxed))).expect("id");
        let item = build_item(&format!("T#{}", tenant.as_str()), &shape, &extra);
        rt().block_on(async {
            let put = f
                .store
                .dynamodb()
                .put_item()
                .table_name(&f.table)
                .set_item(Some(item))
                .send()
                .await;
            // DynamoDB itself refuses some shapes (a non-string index key, say): those can never be read back.
            if put.is_err() {
                return Ok(());
            }
            f.stored_configs.fetch_add(1, Ordering::Relaxed);
            match f.store.get_config(&tenant).await {
                Ok(Some(c)) => {
                    f.read_ok.fetch_add(1, Ordering::Relaxed);
                    if let ConfigShape::Typed(written) = &shape {
                        prop_assert_eq!(
                            &c,
                            written.as_ref(),
                            "a well-typed config reads back as written"
                        );
                    }
                    // What the engine does next with it must not panic either.
                    let _ = c.verdict_list();
                    let _ = sentinelone_client::ConsoleUrl::parse(
                        &c.console_url,
                        &sentinelone_client::UrlPolicy {
                            allow_list: Vec::new(),
                            allow_dev_loopback: false,
                        },
                    );
                }
                Err(e @ (StoreError::Item { .. } | StoreError::Malformed { .. })) => {
                    // Extra attributes can retype what the store reads (an index key as a list, say): DynamoDB
                    // refuses such an item on write, moto stores it, and reading it must then be a typed refusal.
                    prop_assert!(
                        !matches!(shape, ConfigShape::Typed(_)) || !extra.is_empty(),
                        "a well-typed config was refused: {e:?}"
                    );
                    f.read_refused.fetch_add(1, Ordering::Relaxed);
                }
                other => prop_assert!(false, "{shape:?} read as {other:?}"),
            }
            let status = f.store.source_status(&tenant).await;
            prop_assert!(
                matches!(
                    status,
                    Ok(connector_store::SourceStatus::Connected)
                        | Err(StoreError::Item { .. } | StoreError::Malformed { .. })
                ),
                "{status:?}"
            );
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "fuzz_store: {} config items generated, {} stored by DynamoDB, {} read as a config, {} refused as malformed",
        n.load(Ordering::Relaxed),
        f.stored_configs.load(Ordering::Relaxed),
        f.read_ok.load(Ordering::Relaxed),
        f.read_refused.load(Ordering::Relaxed)
    );
}
