//! Asset digests: which assets the agent walk may call unchanged without reading them.
//!
//! Items (beside the finding digests, in the tenant's partition):
//! - the marker `DIGEST#ASSET`: `run` (the run whose agent walk last started), `prev` (the run before it),
//!   `overflow` (a bucket outgrew its cap: asset digests are off for the tenant and every walked asset is read) and
//!   `covers_active` (every active asset has an entry or is named in the journal: see `coverage`, which lets
//!   finalize skip reading the active assets);
//! - the journal `DIGEST#ASSET#PENDING`: `keys`, the entry keys (8 bytes each) of assets being read or written;
//! - 64 buckets `DIGEST#ASSET#<00..63>`, bucket = entry key mod 64: `entries`, sorted 24-byte records (first 8
//!   bytes of SHA-256 of the asset's sort key, first 8 bytes of SHA-256 of the stored asset's content hash, the
//!   stored `last_seen` in Unix nanoseconds), capped at [`MAX_ENTRIES_PER_BUCKET`] (8 KB, about 21,000 assets).
//!
//! How an entry is used: the walk rebuilds the stored asset from what SentinelOne returns, with the entry's
//! `last_seen` (the one field that moves on every request), and keeps the rebuilt asset only when its content hash
//! is the entry's: the rebuilt asset then is the stored asset, and the engine runs the real merge rule against it.
//! Only a decision of "unchanged" skips the read; any other decision reads the asset as before. So the merge rule,
//! the settings, `last_seen`'s hourly refresh and machines seen under several agents need no rule of their own:
//! an asset that is not exactly what SentinelOne describes is read.
//!
//! Why an entry that is vouched for describes the stored asset, whoever writes asset items:
//! - an entry is set only for a live asset (active, SentinelOne side not retired), after the walk read it or after
//!   the sync wrote it; every sync write of an asset item ([`crate::Store::apply_walked_assets`] and
//!   [`crate::Store::apply_asset_decisions`], which the agent walk and threat onboarding use) first names the
//!   asset in the journal when it has an entry, then writes, then sets the entry, then takes it out of the journal;
//!   the walk also names every asset it is about to read (and so to record as seen) before recording it: a crash
//!   anywhere leaves the asset in the journal, and a named asset is never vouched for;
//! - retirement (finalize) keeps no entry up to date (it drops the entries of the assets it retired, and a plan
//!   that read every active asset drops those of inactive ones): it marks inactive only assets its run did not
//!   record as seen.
//!   So an entry is vouched for only when the previous run (the marker's `prev`, set before a run's walk and so
//!   before its retirement) recorded the asset as seen, and that run is the one before this run in the run
//!   history (a run that recorded nothing in the marker, such as one of a release without asset digests, breaks
//!   the chain); an asset that run did not see is read. Seen markers expire after 7 days: after a longer pause
//!   nothing is vouched for and the walk reads every asset once;
//! - registrations create an asset item only where none exists, and revive only an inactive one: neither touches
//!   an asset an entry describes. Assets are never deleted.
//!
//! A dry run reads every asset, as before, and writes no digest.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use s1_core::{Asset, ContentHash};
use time::OffsetDateTime;

mod coverage;
mod io;

use super::{
    big_endian_words, digest_bucket_sk, digest_bucket_sk_named, digest_marker_sk, entry_key,
    first_u64,
};
use crate::batch::Item;
use crate::error::Result;

const ASSET_DIGEST: &str = "ASSET";
/// The marker's attribute saying that every active asset has an entry or is named in the journal.
const COVERS_ACTIVE: &str = "covers_active";
const JOURNAL: &str = "PENDING";
/// Buckets of a tenant's asset digests.
const ASSET_BUCKETS: u64 = 64;
/// Entries a bucket may hold (24 bytes each, 8 KB): past it the tenant's asset digests are switched off, never
/// truncated. A bucket write then costs what writing a few assets does, and the read of all buckets (one query of
/// 512 KB, 128 read units) stays far below one read per walked asset.
const MAX_ENTRIES_PER_BUCKET: usize = 340;
/// Assets the journal may name (8 bytes each); past it the tenant's asset digests are switched off.
const MAX_PENDING: usize = 20_000;
/// `last_seen` of an asset that has none.
const NO_LAST_SEEN: i64 = i64::MIN;

/// What an entry holds: the digest of the stored asset's content hash and the stored `last_seen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    value: u64,
    last_seen: i64,
}

impl Entry {
    /// The entry of an asset as stored; `None` when its `last_seen` cannot be kept exactly (then it is read).
    fn of(asset: &Asset) -> Option<Self> {
        let last_seen = match asset.last_seen {
            None => NO_LAST_SEEN,
            Some(t) => {
                let nanos = i64::try_from(t.unix_timestamp_nanos()).ok()?;
                // Only a UTC time is rebuilt as it was; anything else is read.
                if !t.offset().is_utc() || nanos == NO_LAST_SEEN {
                    return None;
                }
                nanos
            }
        };
        Some(Self {
            value: asset_value(asset),
            last_seen,
        })
    }

    /// `incoming` with this entry's `last_seen`: the stored asset, if its hash is the entry's.
    fn rebuild(&self, incoming: &Asset) -> Option<Asset> {
        let mut asset = incoming.clone();
        asset.last_seen = match self.last_seen {
            NO_LAST_SEEN => None,
            nanos => Some(OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).ok()?),
        };
        (asset_value(&asset) == self.value).then_some(asset)
    }
}

/// The assets the asset digests show stored, for a walk that only needs to know whether an asset exists (the
/// threat walk and the attach phase): an asset with an entry exists, since an entry is set only after the sync
/// stored the asset, and assets are never deleted (retirement marks them inactive; disconnect keeps them). So an
/// entry proves existence even when it no longer vouches for the asset's content (named in the journal, not seen
/// by the previous run, retired since, digests switched off by an overflow). An asset without an entry may exist
/// too: it is read. Entry keys are the first 8 bytes of SHA-256 of the asset's sort key: two keys of one tenant
/// sharing them is a 2^-64 chance per pair.
#[derive(Debug, Clone, Default)]
pub struct StoredAssets {
    entry_keys: HashSet<u64>,
}

impl StoredAssets {
    /// Whether the digests show the asset at `key` stored.
    pub fn contains(&self, key: &str) -> bool {
        self.entry_keys.contains(&asset_entry_key(key))
    }

    /// How many assets the digests show stored.
    pub fn len(&self) -> usize {
        self.entry_keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entry_keys.is_empty()
    }
}

impl From<&AssetDigests> for StoredAssets {
    fn from(digests: &AssetDigests) -> Self {
        Self {
            entry_keys: digests
                .buckets
                .values()
                .flat_map(|b| b.entries.keys().copied())
                .collect(),
        }
    }
}

fn asset_value(asset: &Asset) -> u64 {
    first_u64(asset.content_hash().as_bytes())
}

fn asset_entry_key(key: &str) -> u64 {
    entry_key(&crate::keys::asset_sk(key))
}

#[derive(Debug, Default)]
struct Bucket {
    entries: BTreeMap<u64, Entry>,
    dirty: bool,
}

/// A tenant's asset digests as read, with the asset keys the previous run recorded as seen; changes are kept until
/// the store saves them.
#[derive(Debug, Default)]
pub struct AssetDigests {
    /// The run these digests were loaded for (`None`: loaded only to keep entries honest around a write).
    run: Option<String>,
    /// Loaded only to keep entries honest around a write outside a walk: vouches for nothing.
    write_only: bool,
    prev: Option<String>,
    overflow: bool,
    marker_dirty: bool,
    buckets: HashMap<u64, Bucket>,
    pending: HashSet<u64>,
    journal_dirty: bool,
    /// Asset keys the previous run recorded as seen: only these are vouched for.
    seen_before: HashSet<String>,
    /// Every active asset SentinelOne describes has an entry or is named in the journal (see `coverage`).
    covers_active: bool,
}

impl AssetDigests {
    /// The stored asset of `incoming`'s key, when the digests vouch that it is `incoming` with the stored
    /// `last_seen`, live, and not retired since (see the module documentation); `None`: read it.
    pub fn vouch(&self, incoming: &Asset) -> Option<Asset> {
        if self.overflow || self.run.is_none() || self.write_only {
            return None;
        }
        let key = incoming.key.as_str();
        if !self.seen_before.contains(key) {
            return None;
        }
        let entry_key = asset_entry_key(key);
        if self.pending.contains(&entry_key) {
            return None;
        }
        self.buckets
            .get(&(entry_key % ASSET_BUCKETS))?
            .entries
            .get(&entry_key)?
            .rebuild(incoming)
    }

    /// How many assets the digests hold an entry for.
    pub fn entries(&self) -> usize {
        self.buckets.values().map(|b| b.entries.len()).sum()
    }

    fn has_entry(&self, key: &str) -> bool {
        let k = asset_entry_key(key);
        self.buckets
            .get(&(k % ASSET_BUCKETS))
            .is_some_and(|b| b.entries.contains_key(&k))
    }

    /// Names in the journal the assets among `keys` that have an entry (the others vouch for nothing).
    fn expect(&mut self, keys: impl IntoIterator<Item = impl AsRef<str>>) {
        if self.overflow {
            return;
        }
        for key in keys {
            let key = key.as_ref();
            if self.has_entry(key) {
                self.journal_dirty |= self.pending.insert(asset_entry_key(key));
            }
        }
        if self.pending.len() > MAX_PENDING {
            self.switch_off();
        }
    }

    /// Sets the entry of the asset at `key` from the asset as stored now (`None`, or an asset that is not live:
    /// removes it), and takes it out of the journal.
    fn settle(&mut self, key: &str, stored_live: Option<&Asset>) {
        if self.overflow {
            return;
        }
        let k = asset_entry_key(key);
        let entry = stored_live.and_then(Entry::of);
        if stored_live.is_some() && entry.is_none() {
            self.lose_coverage();
        }
        let bucket = self.buckets.entry(k % ASSET_BUCKETS).or_default();
        let changed = match entry {
            Some(e) => bucket.entries.insert(k, e) != Some(e),
            None => bucket.entries.remove(&k).is_some(),
        };
        bucket.dirty |= changed;
        let full = bucket.entries.len() > MAX_ENTRIES_PER_BUCKET;
        self.journal_dirty |= self.pending.remove(&k);
        if full {
            self.switch_off();
        }
    }

    /// Switched off rather than truncated: nothing is vouched for again. Only the marker is written.
    fn switch_off(&mut self) {
        self.overflow = true;
        self.covers_active = false;
        self.marker_dirty = true;
        self.journal_dirty = false;
        for b in self.buckets.values_mut() {
            b.dirty = false;
        }
    }

    fn marker_item(&self, pk: &str) -> Item {
        let mut item = Item::from([
            ("pk".to_string(), AttributeValue::S(pk.to_string())),
            (
                "sk".to_string(),
                AttributeValue::S(digest_marker_sk(ASSET_DIGEST)),
            ),
            ("kind".to_string(), AttributeValue::S("digest".into())),
            ("overflow".to_string(), AttributeValue::Bool(self.overflow)),
            (
                COVERS_ACTIVE.to_string(),
                AttributeValue::Bool(self.covers_active),
            ),
        ]);
        for (name, run) in [("run", &self.run), ("prev", &self.prev)] {
            if let Some(r) = run {
                item.insert(name.into(), AttributeValue::S(r.clone()));
            }
        }
        item
    }

    fn journal_item(&self, pk: &str) -> Item {
        let mut keys: Vec<u64> = self.pending.iter().copied().collect();
        keys.sort_unstable();
        let bytes: Vec<u8> = keys.iter().flat_map(|k| k.to_be_bytes()).collect();
        Item::from([
            ("pk".to_string(), AttributeValue::S(pk.to_string())),
            (
                "sk".to_string(),
                AttributeValue::S(digest_bucket_sk_named(ASSET_DIGEST, JOURNAL)),
            ),
            ("kind".to_string(), AttributeValue::S("digest".into())),
            ("keys".to_string(), AttributeValue::B(Blob::new(bytes))),
        ])
    }
}

fn bucket_item(pk: &str, bucket: u64, entries: &BTreeMap<u64, Entry>) -> Item {
    let mut bytes = Vec::with_capacity(entries.len() * 24);
    for (k, e) in entries {
        bytes.extend_from_slice(&k.to_be_bytes());
        bytes.extend_from_slice(&e.value.to_be_bytes());
        bytes.extend_from_slice(&e.last_seen.to_be_bytes());
    }
    Item::from([
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        (
            "sk".to_string(),
            AttributeValue::S(digest_bucket_sk(ASSET_DIGEST, bucket)),
        ),
        ("kind".to_string(), AttributeValue::S("digest".into())),
        ("entries".to_string(), AttributeValue::B(Blob::new(bytes))),
    ])
}

fn parse_entries(item: &Item) -> Result<BTreeMap<u64, Entry>> {
    let words = big_endian_words(item, "entries", "asset digest", 3)?;
    Ok(words
        .chunks_exact(3)
        .map(|w| {
            (
                w[0],
                Entry {
                    value: w[1],
                    last_seen: w[2] as i64,
                },
            )
        })
        .collect())
}

/// The bucket number of a bucket's sort key (`DIGEST#ASSET#<nn>`).
fn bucket_of(sk: &str) -> Option<u64> {
    let prefix = digest_bucket_sk_named(ASSET_DIGEST, "");
    sk.strip_prefix(&prefix)?
        .parse::<u64>()
        .ok()
        .filter(|b| *b < ASSET_BUCKETS)
}

/// Keeping entries honest around a page's writes (called by the asset apply).
impl AssetDigests {
    /// Names the assets about to be written that have an entry, and, while the digests cover every active
    /// asset, every one of them (a write may make an asset active: until its entry is set, the journal covers it).
    pub(in crate::records) fn expect_writes(&mut self, keys: &[String]) {
        self.expect(keys);
        self.expect_covered(keys);
    }

    /// The asset at `key` is now stored as `asset` (`None`: not stored), `live` when it is active with its
    /// SentinelOne side live: sets or removes its entry and takes it out of the journal.
    pub(in crate::records) fn stored(&mut self, key: &str, asset: Option<&Asset>, live: bool) {
        self.settle(key, asset.filter(|_| live));
    }

    /// The asset at `key` was just written as `asset` (`None`: as something that cannot be read back); `live` as
    /// for [`Self::stored`]. A write of a machine SentinelOne returned retired may still have left it active (a
    /// registration that landed meanwhile makes the write keep the asset's active description, for finalize to
    /// retire): then, as for a write that cannot be read back, the digests no longer know that every active asset
    /// has an entry.
    pub(in crate::records) fn written(&mut self, key: &str, asset: Option<&Asset>, live: bool) {
        if !live || asset.is_none() {
            self.lose_coverage();
        }
        self.settle(key, asset.filter(|_| live));
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// An agent's asset named `name`, last seen at `last_seen` (RFC 3339): also the coverage tests' fixture.
    pub(in crate::records::digests) fn asset(name: &str, last_seen: Option<&str>) -> Asset {
        let mut a: Asset = serde_json::from_value(json!({
            "key": name, "name": name, "ipv4": [], "ipv6": [], "mac_addresses": [], "os_name": null,
            "os_type": null, "os_version": null, "machine_type": null, "model": null, "serial": null,
            "domain": null, "agent_version": null, "site_id": null, "site_name": null, "group_id": null,
            "group_name": null, "account_id": null, "account_name": null, "active": true,
            "decommissioned": false, "infected": false, "last_seen": null, "console_url": null,
            "primary_agent_id": "1", "agent_ids": ["1"], "custom_fields": {}, "tags": [], "origin": "agent"
        }))
        .expect("asset json");
        a.last_seen = last_seen.map(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
        });
        a
    }

    fn walking(prev_seen: &[&str]) -> AssetDigests {
        AssetDigests {
            run: Some("r2".into()),
            prev: Some("r1".into()),
            seen_before: prev_seen.iter().map(|s| s.to_string()).collect(),
            ..AssetDigests::default()
        }
    }

    #[test]
    fn entries_round_trip_through_the_binary_attribute() {
        let a = asset("host-1", Some("2026-01-01T10:00:00.123456Z"));
        let b = asset("host-2", None);
        let entries = BTreeMap::from([
            (1u64, Entry::of(&a).unwrap()),
            (u64::MAX, Entry::of(&b).unwrap()),
        ]);
        let item = bucket_item("T#x", 3, &entries);
        assert_eq!(parse_entries(&item).unwrap(), entries);
        assert_eq!(bucket_of("DIGEST#ASSET#03"), Some(3));
        assert_eq!(bucket_of("DIGEST#ASSET#PENDING"), None);
        let mut bad = item.clone();
        bad.insert(
            "entries".into(),
            AttributeValue::B(Blob::new(vec![0u8; 16])),
        );
        assert!(parse_entries(&bad).is_err());
    }

    #[test]
    fn the_stored_asset_is_rebuilt_only_when_everything_but_last_seen_is_the_same() {
        let stored = asset("host-1", Some("2026-01-01T10:00:00.123456Z"));
        let mut d = walking(&["host-1"]);
        d.stored("host-1", Some(&stored), true);
        let later = asset("host-1", Some("2026-01-01T10:20:00Z"));
        assert_eq!(d.vouch(&later), Some(stored.clone()));
        let mut other_ip = later.clone();
        other_ip.ipv4 = vec!["10.0.0.1".into()];
        assert_eq!(d.vouch(&other_ip), None);
        let mut second_agent = later.clone();
        second_agent.agent_ids.insert("2".into());
        assert_eq!(d.vouch(&second_agent), None);
        let mut none_seen = later.clone();
        none_seen.last_seen = None;
        assert_eq!(d.vouch(&none_seen), Some(stored));
    }

    #[test]
    fn nothing_is_vouched_for_that_the_previous_run_did_not_see_or_that_is_named_or_not_live() {
        let stored = asset("host-1", None);
        let mut d = walking(&[]);
        d.stored("host-1", Some(&stored), true);
        assert_eq!(d.vouch(&stored), None, "not seen by the previous run");
        d.seen_before.insert("host-1".into());
        assert!(d.vouch(&stored).is_some());
        d.expect(["host-1"]);
        assert!(d.journal_dirty);
        assert_eq!(d.vouch(&stored), None, "named in the journal");
        d.stored("host-1", Some(&stored), false);
        assert!(d.pending.is_empty());
        assert_eq!(d.vouch(&stored), None, "retired: no entry");
        assert_eq!(d.entries(), 0);
        d.stored("host-1", Some(&stored), true);
        assert!(d.vouch(&stored).is_some());
        d.write_only = true;
        assert_eq!(
            d.vouch(&stored),
            None,
            "loaded for a write only (the marker's runs kept as read)"
        );
        d.write_only = false;
        d.run = None;
        assert_eq!(d.vouch(&stored), None, "loaded for no run");
    }

    #[test]
    fn an_overflowing_bucket_switches_the_asset_digests_off() {
        let mut d = walking(&["host-0"]);
        let mut n = 0;
        while !d.overflow {
            d.stored(
                &format!("host-{n}"),
                Some(&asset(&format!("host-{n}"), None)),
                true,
            );
            n += 1;
        }
        assert!(d.marker_dirty && d.buckets.values().all(|b| !b.dirty));
        assert_eq!(d.vouch(&asset("host-0", None)), None);
    }
}
