//! Shared generators for the hardening suites: bounded arbitrary JSON, byte mutations of real pages, and the case
//! count (`HARDENING_CASES`, default 256) so CI runs a short smoke and a longer run is one variable away.
//! The suites themselves live in `tests/`.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Default proptest cases per property in CI.
pub const DEFAULT_CASES: u32 = 256;

/// Largest generated body: fuzz inputs stay small so a case never allocates without bound.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Cases per property: `HARDENING_CASES` when set to a positive number, else [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    std::env::var("HARDENING_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_CASES)
}

/// A proptest config with [`cases`] cases and no persisted regression files (failures print their seed).
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings that break naive parsers: empty, huge-looking numbers, control characters, JSON-ish text, unicode.
pub fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("null".to_string()),
        Just("{}".to_string()),
        Just("\u{0}".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("1e309".to_string()),
        Just("İ\u{202e}x".to_string()),
        Just("https://evil.example/".to_string()),
        Just("..%2F..%2F".to_string()),
        ".{0,40}",
    ]
}

/// Arbitrary JSON, at most 4 levels deep and ~64 nodes: every shape a hostile peer can send within the size cap.
pub fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        nasty_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((nasty_string(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// An object whose keys are drawn from `keys` (so generated values reach the fields a parser actually reads),
/// plus arbitrary extra keys.
pub fn object_with_keys(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec((prop::sample::select(keys), arb_json()), 0..keys.len() + 1),
        prop::collection::vec((nasty_string(), arb_json()), 0..3),
    )
        .prop_map(|(known, extra)| {
            let mut m = Map::new();
            for (k, v) in known {
                m.insert(k.to_string(), v);
            }
            for (k, v) in extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

/// One mutation of a byte string: flip a bit, truncate, insert a byte, delete a span, or duplicate a span.
#[derive(Debug, Clone)]
pub enum Mutation {
    Flip { at: usize, bit: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

/// Applies `mutations` in order; the result never exceeds [`MAX_BODY_BYTES`] beyond the input's own size.
pub fn mutate(input: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = input.to_vec();
    for m in mutations {
        if out.is_empty() {
            break;
        }
        let len = out.len();
        match *m {
            Mutation::Flip { at, bit } => out[at % len] ^= 1 << bit,
            Mutation::Truncate { at } => out.truncate(at % len),
            Mutation::Insert { at, byte } => out.insert(at % (len + 1), byte),
            Mutation::Delete { at, len: n } => {
                let start = at % len;
                let end = (start + n).min(len);
                out.drain(start..end);
            }
            Mutation::Duplicate { at, len: n } => {
                if out.len() < input.len() + MAX_BODY_BYTES {
                    let start = at % len;
                    let end = (start + n).min(len);
                    let span: Vec<u8> = out[start..end].to_vec();
                    out.splice(end..end, span);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_in_bounds() {
        let input = b"{\"data\":[]}";
        let out = mutate(
            input,
            &[
                Mutation::Truncate { at: 5 },
                Mutation::Flip { at: 99, bit: 7 },
            ],
        );
        assert_eq!(out.len(), 5);
        assert_ne!(&out[..], &input[..5]);
        assert!(mutate(b"", &[Mutation::Insert { at: 3, byte: 1 }]).is_empty());
    }
}
