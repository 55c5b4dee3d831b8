//! Finding digests: which findings a tenant has stored, and with which content and lifecycle state, kept in a few
//! compact items so that a page of findings is decided without reading each finding.
//!
//! Items (one row of the table in [`crate::keys`]):
//! - the marker `DIGEST#FINDING`: `complete` (every stored finding has an entry), `backfill_after` (how far the
//!   one-off pass over findings stored before digests existed has come) and `overflow` (a bucket outgrew its cap:
//!   digests are off for the tenant and every finding is read, as before digests);
//! - the journal `DIGEST#FINDING#PENDING`: `keys`, the entry keys (8 bytes each) of the findings being written;
//! - 64 buckets `DIGEST#FINDING#<00..63>`, bucket = the entry's key mod 64: `entries`, a binary attribute of
//!   sorted 16-byte pairs (first 8 bytes of SHA-256 of the finding's sort key, first 8 bytes of SHA-256 of its
//!   content hash and lifecycle state), 16 bytes a finding: 31 entries (0.5 KB) a bucket at 2,000 findings, 1,563
//!   (25 KB) at 100,000 were there no cap; capped at 512 entries (8 KB, about 32,000 findings), past which the tenant's
//!   digests switch off and every finding is read as before.
//!
//! What an entry means, and why a crash cannot make it lie:
//! - a value other than [`UNKNOWN`] is the digest of the stored finding, unless the journal names the finding.
//!   Only the sync writes findings' content and lifecycle (under its lease), and every such write first puts the
//!   findings' keys in the journal (one small item), then writes the findings, then their new entries, and only
//!   then takes them out of the journal: a crash anywhere in between leaves them in the journal, so they are
//!   read next time, and no entry ever vouches for a finding that was since rewritten;
//! - [`UNKNOWN`], or named in the journal: the finding may exist, read it;
//! - no entry: with the marker complete, no such finding is stored (so a first sync reads no finding at all);
//!   without it, read the finding.
//!
//! A tenant whose findings were stored before digests existed gets its marker incomplete and, one query page per
//! applied page, the pass fills the buckets from the stored findings; it then marks the digests complete. Until
//! then a finding with no entry is read as before.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use crate::batch::Item;
use crate::error::{Result, StoreError};

mod assets;
mod io;

pub use assets::{AssetDigests, StoredAssets};

/// Buckets of a tenant's finding digests.
pub(super) const FINDING_BUCKETS: u64 = 64;
/// The entry of a finding that may exist and must be read.
pub(super) const UNKNOWN: u64 = 0;
/// Entries a bucket may hold (16 bytes each): past it the tenant's digests are switched off, never truncated. 512
/// entries are 8 KB: a bucket write then costs what one finding write does with its three indexes (2 write units
/// each in the table, gsi1, facets and asset_facets), so the digests stop where they would cost more than they save
/// (about 32,000 findings with 64 buckets) instead of growing to the item size limit.
const MAX_ENTRIES_PER_BUCKET: usize = 512;
/// Stored findings the one-off pass reads per applied page.
const BACKFILL_PAGE: i32 = 1000;
/// Findings the journal may name (8 bytes each); past it the tenant's digests are switched off.
const MAX_PENDING: usize = 20_000;
const JOURNAL: &str = "PENDING";
const FINDING_DIGEST: &str = "FINDING";

/// Sort key of a digest kind's marker.
pub(super) fn digest_marker_sk(kind: &str) -> String {
    format!("DIGEST#{kind}")
}

/// Sort key of a digest kind's named item (the journal).
pub(super) fn digest_bucket_sk_named(kind: &str, name: &str) -> String {
    format!("DIGEST#{kind}#{name}")
}

/// Sort key of one bucket of a digest kind.
pub(super) fn digest_bucket_sk(kind: &str, bucket: u64) -> String {
    format!("DIGEST#{kind}#{bucket:02}")
}

fn first_u64(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The entry key of a record's sort key.
pub(super) fn entry_key(sk: &str) -> u64 {
    first_u64(sk.as_bytes())
}

/// The entry value of a stored finding: its content hash and lifecycle state (never [`UNKNOWN`]).
pub(super) fn entry_value(content_hash: &str, state: &str) -> u64 {
    let mut bytes = Vec::with_capacity(content_hash.len() + state.len() + 1);
    bytes.extend_from_slice(content_hash.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(state.as_bytes());
    first_u64(&bytes).max(1)
}

/// The entry of a stored finding from its stored attributes: [`UNKNOWN`] without a lifecycle state (stored before
/// lifecycles existed: the next write records one).
pub(super) fn stored_value(content_hash: &str, state: Option<&str>) -> u64 {
    state.map_or(UNKNOWN, |st| entry_value(content_hash, st))
}

/// What the digests say of one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Known {
    /// Stored with one of the values asked about: nothing to read or write.
    Same,
    /// Not stored: nothing to read.
    Absent,
    /// Read the finding to know.
    Unsure,
}

#[derive(Debug, Default)]
struct Bucket {
    entries: BTreeMap<u64, u64>,
    dirty: bool,
}

/// The marker and the buckets a page needs, as read; changes are kept until [`Store::save_digests`].
#[derive(Debug, Default)]
pub(super) struct Digests {
    /// The marker exists (false: nothing about the tenant's findings is known yet).
    exists: bool,
    complete: bool,
    overflow: bool,
    backfill_after: Option<String>,
    marker_dirty: bool,
    buckets: HashMap<u64, Bucket>,
    /// Entry keys the journal names (being written, or left by a crash): never vouched for.
    pending: HashSet<u64>,
    journal_dirty: bool,
}

impl Digests {
    /// Digests that know nothing: every finding is read (a dry run before the marker exists, an overflowed tenant).
    fn off() -> Self {
        Self::default()
    }

    fn usable(&self) -> bool {
        self.exists && !self.overflow
    }

    /// What the digests say of the finding at `sk`, if its entry is one of `same`.
    pub(super) fn lookup(&self, sk: &str, same: &[u64]) -> Known {
        if !self.usable() {
            return Known::Unsure;
        }
        let key = entry_key(sk);
        if self.pending.contains(&key) {
            return Known::Unsure;
        }
        match self
            .buckets
            .get(&(key % FINDING_BUCKETS))
            .and_then(|b| b.entries.get(&key))
        {
            Some(v) if *v != UNKNOWN && same.contains(v) => Known::Same,
            None if self.complete => Known::Absent,
            _ => Known::Unsure,
        }
    }

    /// Names these findings in the journal: they are about to be written (saved by [`Store::save_journal`]
    /// before they are).
    pub(super) fn expect_writes<'a>(&mut self, sks: impl IntoIterator<Item = &'a String>) {
        if !self.usable() {
            return;
        }
        for sk in sks {
            self.journal_dirty |= self.pending.insert(entry_key(sk));
        }
        if self.pending.len() > MAX_PENDING {
            self.switch_off();
        }
    }

    /// Sets the entry of the finding at `sk` and takes it out of the journal (both saved by
    /// [`Store::save_digests`], in that order). Its bucket must have been read: an unread one is never written (it
    /// would replace the stored bucket), and the entry is then left as it is.
    pub(super) fn set(&mut self, sk: &str, value: u64) {
        if !self.usable() {
            return;
        }
        let key = entry_key(sk);
        let Some(bucket) = self.buckets.get_mut(&(key % FINDING_BUCKETS)) else {
            return;
        };
        if bucket.entries.get(&key) != Some(&value) {
            bucket.entries.insert(key, value);
            bucket.dirty = true;
        }
        let full = bucket.entries.len() > MAX_ENTRIES_PER_BUCKET;
        self.journal_dirty |= self.pending.remove(&key);
        if full {
            self.switch_off();
        }
    }

    /// Switched off rather than truncated: a missing entry would say "not stored". Only the marker is written.
    fn switch_off(&mut self) {
        self.overflow = true;
        self.complete = false;
        self.marker_dirty = true;
        self.journal_dirty = false;
        for b in self.buckets.values_mut() {
            b.dirty = false;
        }
    }

    fn journal_item(&self, pk: &str) -> Item {
        let mut keys: Vec<u64> = self.pending.iter().copied().collect();
        keys.sort_unstable();
        let bytes: Vec<u8> = keys.iter().flat_map(|k| k.to_be_bytes()).collect();
        Item::from([
            ("pk".to_string(), AttributeValue::S(pk.to_string())),
            (
                "sk".to_string(),
                AttributeValue::S(digest_bucket_sk_named(FINDING_DIGEST, JOURNAL)),
            ),
            ("kind".to_string(), AttributeValue::S("digest".into())),
            ("keys".to_string(), AttributeValue::B(Blob::new(bytes))),
        ])
    }

    fn marker_item(&self, pk: &str) -> Item {
        let mut item = Item::from([
            ("pk".to_string(), AttributeValue::S(pk.to_string())),
            (
                "sk".to_string(),
                AttributeValue::S(digest_marker_sk(FINDING_DIGEST)),
            ),
            ("kind".to_string(), AttributeValue::S("digest".into())),
            ("complete".to_string(), AttributeValue::Bool(self.complete)),
            ("overflow".to_string(), AttributeValue::Bool(self.overflow)),
        ]);
        if let Some(after) = &self.backfill_after {
            item.insert("backfill_after".into(), AttributeValue::S(after.clone()));
        }
        item
    }
}

fn bucket_item(pk: &str, bucket: u64, entries: &BTreeMap<u64, u64>) -> Item {
    let mut bytes = Vec::with_capacity(entries.len() * 16);
    for (k, v) in entries {
        bytes.extend_from_slice(&k.to_be_bytes());
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    Item::from([
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        (
            "sk".to_string(),
            AttributeValue::S(digest_bucket_sk(FINDING_DIGEST, bucket)),
        ),
        ("kind".to_string(), AttributeValue::S("digest".into())),
        ("entries".to_string(), AttributeValue::B(Blob::new(bytes))),
    ])
}

fn parse_entries(item: &Item) -> Result<BTreeMap<u64, u64>> {
    let words = big_endian_words(item, "entries", "digest", 2)?;
    Ok(words
        .chunks_exact(2)
        .map(|pair| (pair[0], pair[1]))
        .collect())
}

fn parse_keys(item: &Item) -> Result<HashSet<u64>> {
    Ok(big_endian_words(item, "keys", "digest journal", 1)?
        .into_iter()
        .collect())
}

/// The binary attribute `name` as big-endian 8-byte words, in records of `per_record` words (absent: none).
pub(in crate::records) fn big_endian_words(
    item: &Item,
    name: &str,
    what: &'static str,
    per_record: usize,
) -> Result<Vec<u64>> {
    let bytes = match item.get(name) {
        Some(AttributeValue::B(b)) => b.as_ref(),
        None => &[][..],
        Some(_) => {
            return Err(StoreError::Malformed {
                what,
                detail: format!("{name} are not binary"),
            })
        }
    };
    let record = 8 * per_record;
    if bytes.len() % record != 0 {
        return Err(StoreError::Malformed {
            what,
            detail: format!(
                "{name} of {} bytes are not {record}-byte records",
                bytes.len()
            ),
        });
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|w| {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            u64::from_be_bytes(word)
        })
        .collect())
}

fn bool_attr(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}

/// The entry values under which a finding returned by SentinelOne is unchanged: same content, and a lifecycle state
/// that this observation keeps (see `s1_core::lifecycle::observe`).
pub(super) fn unchanged_values(content_hash: &str, resolved: bool) -> Vec<u64> {
    use s1_core::lifecycle::FindingState;
    if resolved {
        vec![entry_value(content_hash, FindingState::Resolved.as_str())]
    } else {
        vec![
            entry_value(content_hash, FindingState::Open.as_str()),
            entry_value(content_hash, FindingState::Reopened.as_str()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_the_binary_attribute() {
        let entries = BTreeMap::from([(1u64, 2u64), (u64::MAX, 7), (42, UNKNOWN)]);
        let item = bucket_item("T#x", 3, &entries);
        assert_eq!(parse_entries(&item).unwrap(), entries);
        let mut bad = item.clone();
        bad.insert(
            "entries".into(),
            AttributeValue::B(Blob::new(vec![0u8; 15])),
        );
        assert!(parse_entries(&bad).is_err());
    }

    #[test]
    fn a_value_is_never_unknown_and_depends_on_the_state() {
        assert_ne!(entry_value("h", "open"), entry_value("h", "reopened"));
        assert_ne!(entry_value("h", "open"), entry_value("g", "open"));
        assert_ne!(entry_value("", ""), UNKNOWN);
    }

    #[test]
    fn lookups_follow_the_marker() {
        let sk = "FINDING#1";
        let v = entry_value("h", "open");
        let mut d = Digests {
            exists: true,
            complete: true,
            ..Digests::default()
        };
        d.buckets
            .insert(entry_key(sk) % FINDING_BUCKETS, Bucket::default());
        assert_eq!(d.lookup(sk, &[v]), Known::Absent);
        d.complete = false;
        assert_eq!(d.lookup(sk, &[v]), Known::Unsure);
        d.set(sk, v);
        assert_eq!(d.lookup(sk, &[v]), Known::Same);
        assert_eq!(d.lookup(sk, &[entry_value("h", "resolved")]), Known::Unsure);
        d.set(sk, UNKNOWN);
        assert_eq!(d.lookup(sk, &[v, UNKNOWN]), Known::Unsure);
        d.overflow = true;
        d.set(sk, v);
        assert_eq!(d.lookup(sk, &[v]), Known::Unsure);
    }

    #[test]
    fn a_finding_named_in_the_journal_is_never_vouched_for() {
        let sk = "FINDING#1".to_string();
        let v = entry_value("h", "open");
        let mut d = Digests {
            exists: true,
            complete: true,
            ..Digests::default()
        };
        d.buckets
            .insert(entry_key(&sk) % FINDING_BUCKETS, Bucket::default());
        d.set(&sk, v);
        d.journal_dirty = false;
        d.expect_writes([&sk]);
        assert!(d.journal_dirty);
        assert_eq!(d.lookup(&sk, &[v]), Known::Unsure);
        let journal = d.journal_item("T#x");
        assert_eq!(parse_keys(&journal).unwrap(), d.pending);
        d.set(&sk, v);
        assert!(d.pending.is_empty());
        assert_eq!(d.lookup(&sk, &[v]), Known::Same);
    }

    #[test]
    fn an_overflowing_bucket_switches_the_digests_off() {
        let mut d = Digests {
            exists: true,
            complete: true,
            ..Digests::default()
        };
        for b in 0..FINDING_BUCKETS {
            d.buckets.insert(b, Bucket::default());
        }
        d.set("FINDING#unread-bucket", 5);
        d.buckets.retain(|_, b| !b.entries.is_empty());
        assert_eq!(d.buckets.len(), 1);
        d.buckets.clear();
        d.set("FINDING#x", 5);
        assert!(d.buckets.is_empty(), "an unread bucket is never written");
        for b in 0..FINDING_BUCKETS {
            d.buckets.insert(b, Bucket::default());
        }
        let mut n = 0u64;
        while !d.overflow {
            d.set(&format!("FINDING#{n}"), 5);
            n += 1;
        }
        assert!(!d.complete && d.marker_dirty);
        assert!(d.buckets.values().all(|b| !b.dirty));
        assert_eq!(d.lookup("FINDING#0", &[5]), Known::Unsure);
    }
}
