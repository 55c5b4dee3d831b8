//! Content hashes for change detection: the store compares them to skip writes that would change nothing.
//!
//! The hash is SHA-256 (hex) over a canonical JSON rendering of the mapped value: object keys sorted at every
//! level, no insignificant whitespace. It is stable across runs, processes and the order fields arrived in from
//! SentinelOne, and changes when any mapped field changes. Sync timestamps (when we last wrote or saw a record) are
//! not part of [`crate::Asset`] or [`crate::Finding`]; the store keeps them beside the item, so they can never make
//! an unchanged record look changed.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::asset::Asset;
use crate::finding::Finding;
use crate::vulnerability::Vulnerability;

/// A stable hash of everything that was mapped.
pub trait ContentHash {
    /// 64 lowercase hex characters.
    fn content_hash(&self) -> String;
}

/// Bumped when the canonical form changes on purpose, so old and new hashes never compare equal by accident.
const CANONICAL_VERSION: &[u8] = b"s1-core/content-hash/v1\n";

fn hash_of<T: Serialize>(value: &T) -> String {
    let mut hasher = Sha256::new();
    hasher.update(CANONICAL_VERSION);
    // Serialising Asset/Finding cannot fail (string keys, RFC 3339 timestamps validated at decode); if it ever
    // did, hashing the null value still yields a stable hash that differs from any real record's.
    let tree = serde_json::to_value(value).unwrap_or(Value::Null);
    write_canonical(&mut HashWriter(&mut hasher), &tree);
    hex::encode(hasher.finalize())
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `value` with object keys sorted explicitly, so the result does not depend on whether some other crate
/// in the build turned on serde_json's `preserve_order`.
fn write_canonical(out: &mut HashWriter<'_>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.0.update(b"{");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.0.update(b",");
                }
                write_scalar(out, k);
                out.0.update(b":");
                if let Some(v) = map.get(k) {
                    write_canonical(out, v);
                }
            }
            out.0.update(b"}");
        }
        Value::Array(items) => {
            out.0.update(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.0.update(b",");
                }
                write_canonical(out, v);
            }
            out.0.update(b"]");
        }
        scalar => write_scalar(out, scalar),
    }
}

fn write_scalar<T: Serialize + ?Sized>(out: &mut HashWriter<'_>, value: &T) {
    // Writing a scalar Value into an in-memory hasher cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

impl ContentHash for Asset {
    fn content_hash(&self) -> String {
        hash_of(self)
    }
}

impl ContentHash for Finding {
    /// The lifecycle is left out (it is serialised only when set, so a finding without one hashes as before).
    fn content_hash(&self) -> String {
        if self.lifecycle.is_none() {
            return hash_of(self);
        }
        let mut tree = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut tree {
            map.remove("lifecycle");
        }
        hash_of(&tree)
    }
}

impl ContentHash for Vulnerability {
    /// What a scan moves on every pass (`scan`) is left out: a re-scan that found nothing new writes nothing.
    fn content_hash(&self) -> String {
        let mut tree = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut tree {
            map.remove("scan");
        }
        hash_of(&tree)
    }
}
