//! Finding digests: which findings a tenant has stored, and with which content and lifecycle state, kept in a few
//! compact items so that a page of findings is decided without reading each finding.
//!
//! Items (one row of the table in [`crate::keys`]):
//! - the marker `DIGEST#FINDING`: `complete` (every stored finding has an entry), `backfill_after` (how far the
//!   one-off pass over findings stored before digests existed has come) and `overflow` (a bucket outgrew its cap:
//!   digests are off for the tenant and every finding is read, as before digests);
//! - 64 buckets `DIGEST#FINDING#<00..63>`, bucket = the entry's key mod 64: `entries`, a binary attribute of
//!   sorted 16-byte pairs (first 8 bytes of SHA-256 of the finding's sort key, first 8 bytes of SHA-256 of its
//!   content hash and lifecycle state), 16 bytes a finding: 31 entries (0.5 KB) a bucket at 2,000 findings, 1,563
//!   (25 KB) at 100,000; capped at 20,000 entries (320 KB, under the 400 KB item limit).
//!
//! What an entry means, and why a crash cannot make it lie:
//! - a value other than [`UNKNOWN`] is the digest of the stored finding. Only the sync writes findings' content
//!   and lifecycle (under its lease), and every such write sets the entry to [`UNKNOWN`] *before* the finding is
//!   written and to the new value only *after* it is: a crash in between leaves [`UNKNOWN`] (the finding is read
//!   next time), never a value ahead of the stored finding;
//! - [`UNKNOWN`]: the finding may exist, read it;
//! - no entry: with the marker complete, no such finding is stored (so a first sync reads no finding at all);
//!   without it, read the finding.
//!
//! A tenant whose findings were stored before digests existed gets its marker incomplete and, one query page per
//! applied page, the pass fills the buckets from the stored findings; it then marks the digests complete. Until
//! then a finding with no entry is read as before.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

use super::put;
use crate::batch::{get_all, write_all, Item, Projection};
use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, TenantId, FINDING_PREFIX};
use crate::store::Store;
use crate::views::Query;

/// Buckets of a tenant's finding digests.
pub(super) const FINDING_BUCKETS: u64 = 64;
/// The entry of a finding that may exist and must be read.
pub(super) const UNKNOWN: u64 = 0;
/// Entries a bucket may hold (16 bytes each): past it the tenant's digests are switched off, never truncated.
const MAX_ENTRIES_PER_BUCKET: usize = 20_000;
/// Stored findings the one-off pass reads per applied page.
const BACKFILL_PAGE: i32 = 1000;
const FINDING_DIGEST: &str = "FINDING";

/// Sort key of a digest kind's marker.
pub(super) fn digest_marker_sk(kind: &str) -> String {
    format!("DIGEST#{kind}")
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

    /// Sets the entry of the finding at `sk`. Its bucket must have been read: an unread one is never written
    /// (it would replace the stored bucket), and the entry is then left as it is.
    pub(super) fn set(&mut self, sk: &str, value: u64) {
        if !self.usable() {
            return;
        }
        let key = entry_key(sk);
        let Some(bucket) = self.buckets.get_mut(&(key % FINDING_BUCKETS)) else {
            return;
        };
        if bucket.entries.get(&key) == Some(&value) {
            return;
        }
        bucket.entries.insert(key, value);
        bucket.dirty = true;
        if bucket.entries.len() > MAX_ENTRIES_PER_BUCKET {
            // Switched off rather than truncated: a missing entry would say "not stored".
            self.overflow = true;
            self.complete = false;
            self.marker_dirty = true;
            for b in self.buckets.values_mut() {
                b.dirty = false;
            }
        }
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
    let bytes = match item.get("entries") {
        Some(AttributeValue::B(b)) => b.as_ref(),
        None => &[][..],
        Some(_) => {
            return Err(StoreError::Malformed {
                what: "digest",
                detail: "entries are not binary".into(),
            })
        }
    };
    if bytes.len() % 16 != 0 {
        return Err(StoreError::Malformed {
            what: "digest",
            detail: format!("entries of {} bytes are not 16-byte pairs", bytes.len()),
        });
    }
    Ok(bytes
        .chunks_exact(16)
        .map(|pair| {
            let (k, v) = pair.split_at(8);
            let mut kb = [0u8; 8];
            let mut vb = [0u8; 8];
            kb.copy_from_slice(k);
            vb.copy_from_slice(v);
            (u64::from_be_bytes(kb), u64::from_be_bytes(vb))
        })
        .collect())
}

fn bool_attr(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}

impl Store {
    /// The finding digests of the buckets these sort keys fall in, with the marker (one BatchGetItem). With
    /// `writable` (an apply, not a dry run) the marker is created when missing (complete at once when the tenant
    /// has no finding yet) and, while the digests are incomplete, the one-off pass advances by a page.
    pub(super) async fn load_finding_digests(
        &self,
        tenant: &TenantId,
        sks: &[String],
        writable: bool,
    ) -> Result<Digests> {
        let mut buckets: Vec<u64> = sks
            .iter()
            .map(|sk| entry_key(sk) % FINDING_BUCKETS)
            .collect();
        buckets.sort_unstable();
        buckets.dedup();
        let mut digests = self.read_digests(tenant, &buckets).await?;
        if !digests.exists {
            let empty = !self.has_findings(tenant).await?;
            if !writable {
                // A dry run writes nothing: on a tenant with no finding everything is new, otherwise read.
                if !empty {
                    return Ok(Digests::off());
                }
                digests.exists = true;
                digests.complete = true;
                return Ok(digests);
            }
            digests.exists = true;
            digests.complete = empty;
            digests.marker_dirty = true;
            self.save_digests(tenant, &mut digests).await?;
        }
        if writable && !digests.complete && !digests.overflow {
            self.backfill_step(tenant, &mut digests).await?;
        }
        Ok(digests)
    }

    async fn read_digests(&self, tenant: &TenantId, buckets: &[u64]) -> Result<Digests> {
        let pk = tenant_pk(tenant);
        let mut keys = vec![Store::key(pk.clone(), digest_marker_sk(FINDING_DIGEST))];
        keys.extend(
            buckets
                .iter()
                .map(|b| Store::key(pk.clone(), digest_bucket_sk(FINDING_DIGEST, *b))),
        );
        let items = get_all(
            &*self.batch,
            &self.table,
            keys,
            &Projection::default(),
            self.retry,
        )
        .await?;
        let mut digests = Digests::default();
        for b in buckets {
            digests.buckets.insert(*b, Bucket::default());
        }
        let marker = digest_marker_sk(FINDING_DIGEST);
        for item in items {
            let Some(AttributeValue::S(sk)) = item.get("sk") else {
                continue;
            };
            if *sk == marker {
                digests.exists = true;
                digests.complete = bool_attr(&item, "complete");
                digests.overflow = bool_attr(&item, "overflow");
                digests.backfill_after = match item.get("backfill_after") {
                    Some(AttributeValue::S(s)) => Some(s.clone()),
                    _ => None,
                };
            } else if let Some(b) = buckets
                .iter()
                .find(|b| *sk == digest_bucket_sk(FINDING_DIGEST, **b))
            {
                digests.buckets.insert(
                    *b,
                    Bucket {
                        entries: parse_entries(&item)?,
                        dirty: false,
                    },
                );
            }
        }
        Ok(digests)
    }

    /// Whether the tenant has stored any finding (a one-item query).
    async fn has_findings(&self, tenant: &TenantId) -> Result<bool> {
        let q = Query::partition(tenant, FINDING_PREFIX).project("#sk", &[("#sk", "sk")]);
        let (items, _) = self.query_once(&q, None, Some(1)).await?;
        Ok(!items.is_empty())
    }

    /// One page of the pass over findings stored before digests existed: their entries, from what is stored.
    async fn backfill_step(&self, tenant: &TenantId, digests: &mut Digests) -> Result<()> {
        let all: Vec<u64> = (0..FINDING_BUCKETS)
            .filter(|b| !digests.buckets.contains_key(b))
            .collect();
        if !all.is_empty() {
            let more = self.read_digests(tenant, &all).await?;
            digests.buckets.extend(more.buckets);
        }
        let q = Query::partition(tenant, FINDING_PREFIX).project(
            "#sk, #h, #st",
            &[("#sk", "sk"), ("#h", "content_hash"), ("#st", "state")],
        );
        let start = digests
            .backfill_after
            .clone()
            .map(|sk| Store::key(tenant_pk(tenant), sk));
        let (items, last) = self.query_once(&q, start, Some(BACKFILL_PAGE)).await?;
        for item in &items {
            let text = |name: &str| match item.get(name) {
                Some(AttributeValue::S(s)) => Some(s.as_str()),
                _ => None,
            };
            let Some(sk) = text("sk") else { continue };
            // A finding stored before lifecycles existed gets one on its next write: read it until then.
            let value = match (text("content_hash"), text("state")) {
                (Some(h), Some(st)) => entry_value(h, st),
                _ => UNKNOWN,
            };
            // Keep an entry the sync already wrote: it is at least as new as this read.
            let key = entry_key(sk);
            let known = digests
                .buckets
                .get(&(key % FINDING_BUCKETS))
                .is_some_and(|b| b.entries.contains_key(&key));
            if !known {
                digests.set(sk, value);
            }
        }
        digests.backfill_after = last
            .and_then(|mut k| k.remove("sk"))
            .and_then(|v| v.as_s().ok().cloned());
        if digests.backfill_after.is_none() && !digests.overflow {
            digests.complete = true;
        }
        digests.marker_dirty = true;
        tracing::info!(tenant = %tenant, read = items.len(), complete = digests.complete,
            "finding digests of stored findings built (one page)");
        // Buckets first, then the marker that counts on them.
        self.save_digests(tenant, digests).await
    }

    /// Writes the buckets that changed, then the marker if it changed (one BatchWriteItem per 25 items).
    pub(super) async fn save_digests(
        &self,
        tenant: &TenantId,
        digests: &mut Digests,
    ) -> Result<()> {
        let pk = tenant_pk(tenant);
        let writes: Vec<_> = digests
            .buckets
            .iter_mut()
            .filter(|(_, b)| b.dirty)
            .map(|(n, b)| {
                b.dirty = false;
                put(bucket_item(&pk, *n, &b.entries))
            })
            .collect();
        let bookkeeping = crate::batch::Bookkeeping(&*self.batch);
        if !writes.is_empty() {
            write_all(&bookkeeping, &self.table, writes, self.retry).await?;
        }
        if digests.marker_dirty {
            digests.marker_dirty = false;
            write_all(
                &bookkeeping,
                &self.table,
                vec![put(digests.marker_item(&pk))],
                self.retry,
            )
            .await?;
        }
        Ok(())
    }

    /// Sets the entries of these findings to [`UNKNOWN`] before something other than a page's apply changes them
    /// (closing, re-evaluating statuses), so that no entry describes a finding that was since rewritten.
    pub(super) async fn forget_finding_digests(
        &self,
        tenant: &TenantId,
        sks: &[String],
    ) -> Result<Digests> {
        let mut digests = self.load_finding_digests(tenant, sks, false).await?;
        for sk in sks {
            digests.set(sk, UNKNOWN);
        }
        self.save_digests(tenant, &mut digests).await?;
        Ok(digests)
    }
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
