//! Key patterns of the single table, and the tenant id every key starts from.
//!
//! One table (defined only in `infra/template.yaml`) holds every entity. Every item of a tenant lives under the
//! partition `T#<tenant>` or, for the findings and vulnerabilities of a spread tenant, `T#<tenant>#R#<nn>` (see
//! the partition plan below), so no query can cross tenants; GSI keys repeat the tenant for the same reason.
//!
//! | Entity                  | pk           | sk                              | other keys                                                   | notes |
//! |-------------------------|--------------|---------------------------------|--------------------------------------------------------------|-------|
//! | Configuration           | `T#<tenant>` | `CONFIG`                        | `due_pk` = `DUE#<shard>`, `due_sk` = `<next_due_at>#<tenant>` | due keys only while auto-sync is on (sparse `due` index); never the token |
//! | Config lock             | `T#<tenant>` | `CONFIGLOCK`                    |                                                              | held (60 s max) while a save or disconnect runs; `expires_at` TTL |
//! | Source marker           | `T#<tenant>` | `SOURCE`                        |                                                              | `connected` / `disconnected` (+ when); kept after disconnect |
//! | Asset                   | `T#<tenant>` | `ASSET#<asset key>`             |                                                              | asset key = normalised computer name; `active` false once retired |
//! | Asset registration      | `T#<tenant>` | `ASSETREG#<asset key>`          |                                                              | what the platform registered itself (import, manual); written only by registrations, never by the sync |
//! | Unmatched agent         | `T#<tenant>` | `UNMATCHED#<run id>#<n, 6 digits>` |                                                          | an agent the run did not onboard, with reason and possible match; at most 1,000 per run; `expires_at` TTL (30 days) |
//! | Finding                 | `T#<tenant>` | `FINDING#<finding id>`          | `gsi1pk` = `T#<tenant>#ASSET#<asset key>` (`T#<tenant>#UNATTACHED` while its asset does not exist), `gsi1sk` = `FINDING#<finding id>` | gsi1 lists the findings of one asset, and the unattached ones |
//! | Vulnerability           | `T#<tenant>` | `VULN#<record id>`              | `gsi1pk` as a finding's, `gsi1sk` = `VULN#<record id>`; `vopen_pk` = its asset's `gsi1pk` and `vopen_sk` = `<severity>#<record id>` only while attached and not fixed | SentinelOne's application-risk record (CVE × application version × endpoint); `kind` `vulnerability` |
//! | Custom field definition | `T#<tenant>` | `CF#<lowercased name>`          |                                                              | one per name, case-insensitively |
//! | Sync run                | `T#<tenant>` | `RUN#<run id>`                  |                                                              | run ids sort by creation time, so a reverse query is newest first |
//! | Run slot                | `T#<tenant>` | `RUNSLOT`                       |                                                              | the one pending/running run; claimed conditionally |
//! | Sync state              | `T#<tenant>` | `SYNC`                          |                                                              | lease owner + expiry, checkpoint, threats watermark |
//! | Seen-assets page        | `T#<tenant>` | `SEEN#<run id>#<page no, 8 digits>#<part>` |                                                   | asset keys one page of a run saw (2,000 per part); `expires_at` TTL (7 days) |
//! | Finding digests         | `T#<tenant>` | `DIGEST#FINDING` (marker), `DIGEST#FINDING#PENDING` (journal), `DIGEST#FINDING#<00..63>` (buckets) |   | marker: `complete`, `backfill_after`, `overflow`; journal: `keys` of the findings being written; bucket = key mod 64, `entries` = sorted 16-byte pairs (SHA-256 prefixes of a finding's sort key and of its content hash + state), set only after the findings they describe are written (`records::digests`) |
//! | Seen-threats page       | `T#<tenant>` | `SEENT#<run id>#<page no, 8 digits>` |                                                         | 64-bit fingerprints + status of the threats one page of a run counted, so a threat repeated on a later page (or in a later invocation) is counted once; TTL (7 days) |
//! | Seen-risks page         | `T#<tenant>` | `SEENV#<run id>#S<shard>#<page no, 8 digits>` |                                               | 64-bit fingerprints (binary, 8 bytes each) of the risk record ids of one shard that one page of a run's vulnerability walk returned: what fixing by absence compares with; TTL (7 days) |
//!
//! Every item also carries `kind` (`config`, `source`, `asset`, `finding`, `custom_field`, `run`, `seen`) so a scan
//! or an export can tell entities apart without parsing keys (`asset_registration` for asset registrations,
//! `vulnerability` for vulnerabilities, `seen_vulnerabilities` for seen-risks pages).
//!
//! Facet indexes (every view filter is a key, so a page reads only what it returns): findings and assets carry
//! `facet_sk` (`FINDING#<attached>#<status>#<state>#<severity>#<verdict>#<id>`, `ASSET#<active>#<key>`); index
//! `facets` is (`pk`, `facet_sk`), index `asset_facets` is (`gsi1pk`, `facet_sk`). Items stored before they
//! existed get `facet_sk` from the one-off backfill (`backfill-facets`, see `records::facets`).
//!
//! Vulnerabilities carry `facet_sk` = `VULN#<state>#<severity>#<cve>#<record id>` in the same two indexes (the
//! CVE id upper-cased, `none` when absent), so kind, state, severity and CVE filters are key prefixes; the sparse
//! index `open_vulnerabilities` (`vopen_pk`, `vopen_sk`, keys only) holds an asset's present vulnerabilities by
//! severity, which the asset views count.
//!
//! Partition plan (record shards): one partition key value takes about 1,000 write units/s (GSI key values
//! likewise). A first sync of 1M findings of ~1.65 KB is 2 WCU per base write plus one write per index holding it
//! (gsi1, facets, asset_facets: 2 WCU each), about 8M WCU: over two hours at 1,000 WCU/s on one key. So a tenant's
//! findings and vulnerabilities are spread over `S` partitions, S recorded per tenant in its layout item:
//!
//! | Entity          | pk                        | sk                 | notes |
//! |-----------------|---------------------------|--------------------|-------|
//! | Record layout   | `T#<tenant>`              | `LAYOUT`           | `record_shards` = S; written once (conditionally) by the sync holding the tenant's lease before its first record write: 16 for a tenant with no finding and no vulnerability, 1 for one that already has some; missing = 1 |
//! | Finding, S > 1  | `T#<tenant>#R#<nn>`       | `FINDING#<id>`     | nn = shard (two digits) = first 8 bytes of SHA-256(id) as a big-endian u64, mod S; every other key as in the table above |
//! | Vulnerability, S > 1 | `T#<tenant>#R#<nn>`  | `VULN#<record id>` | the same shard function of the record id |
//!
//! With S = 1 (every tenant stored before the layout existed) findings and vulnerabilities stay under
//! `T#<tenant>`, exactly as above. Sort keys do not change with the layout, so the finding digests (keyed by sort
//! key hashes) stay valid. The `facets` index (`pk`, `facet_sk`) is sharded with the table; gsi1, `asset_facets`
//! and `open_vulnerabilities` are per asset and unchanged. A shard pk starts with `T#<tenant>#`, so no key
//! crosses tenants. Tenant-wide views read each key prefix shard by shard (shard 0 first, key order within a
//! shard) with the shard and its cursor in the signed page token; `migrate-record-shards` moves an S = 1 tenant
//! to S = 16 (copy, flip the layout, delete the legacy copies; resumable and idempotent, under the tenant's run
//! slot and lease). 16 shards allow about 16,000 write units/s for a tenant's records: the 1M-finding first sync above in
//! about 8.5 minutes of writes instead of two hours.
//!
//! Shards of the due index: `DUE#0` … `DUE#15`, shard = first 8 bytes of SHA-256(tenant) mod 16, so the
//! scheduler's read is spread over 16 partitions instead of one hot key.

use sha2::{Digest, Sha256};

/// Number of partitions of the `due` index.
pub const DUE_SHARDS: u64 = 16;
/// Record shards of a tenant that starts with no finding and no vulnerability.
pub const RECORD_SHARDS: u32 = 16;
/// Most record shards a layout may name (two digits in the key).
const MAX_RECORD_SHARDS: u32 = 100;

pub(crate) const LAYOUT_SK: &str = "LAYOUT";

pub(crate) const CONFIG_SK: &str = "CONFIG";
pub(crate) const CONFIG_LOCK_SK: &str = "CONFIGLOCK";
pub(crate) const SOURCE_SK: &str = "SOURCE";
pub(crate) const RUNSLOT_SK: &str = "RUNSLOT";
pub(crate) const SYNC_SK: &str = "SYNC";
pub(crate) const ASSET_PREFIX: &str = "ASSET#";
pub(crate) const ASSET_REGISTRATION_PREFIX: &str = "ASSETREG#";
pub(crate) const FINDING_PREFIX: &str = "FINDING#";
pub(crate) const VULNERABILITY_PREFIX: &str = "VULN#";
pub(crate) const CUSTOM_FIELD_PREFIX: &str = "CF#";
pub(crate) const RUN_PREFIX: &str = "RUN#";
pub(crate) const SEEN_PREFIX: &str = "SEEN#";
pub(crate) const SEEN_THREATS_PREFIX: &str = "SEENT#";
pub(crate) const SEEN_VULNERABILITIES_PREFIX: &str = "SEENV#";

/// The tenant type lives in the core (every layer names it); kept here too so `connector_store::keys::TenantId`
/// and `connector_store::TenantId` keep working.
pub use s1_core::TenantId;

/// Shard of the due index this tenant's configuration lives in.
pub fn due_shard(t: &TenantId) -> u64 {
    let digest = Sha256::digest(t.as_str().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % DUE_SHARDS
}

pub(crate) fn tenant_pk(t: &TenantId) -> String {
    format!("T#{}", t.as_str())
}

/// The tenant part (`T#<tenant>`) of a partition key: the key itself, or a record shard's without `#R#<nn>`.
/// Tenant ids hold no `#`, so the tenant part ends at the second one.
pub(crate) fn tenant_pk_of(pk: &str) -> &str {
    match pk.match_indices('#').nth(1) {
        Some((at, _)) => &pk[..at],
        None => pk,
    }
}

/// Shard (of `shards`) of the finding or vulnerability with this id: first 8 bytes of SHA-256(id), big-endian,
/// mod `shards`.
pub fn record_shard(id: &str, shards: u32) -> u32 {
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(shards.max(1))) as u32
}

/// Where a tenant's findings and vulnerabilities live: `shards` partitions (1: the legacy `T#<tenant>`). Read once
/// per invocation or request ([`crate::Store::record_layout`]) and passed to every record access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLayout {
    shards: u32,
}

impl RecordLayout {
    /// Every finding and vulnerability under `T#<tenant>` (tenants stored before layouts existed).
    pub const LEGACY: Self = Self { shards: 1 };
    /// A new tenant's layout: [`RECORD_SHARDS`] partitions.
    pub const SPREAD: Self = Self {
        shards: RECORD_SHARDS,
    };

    /// A layout of `shards` partitions (1 to 100).
    pub fn with_shards(shards: u32) -> Option<Self> {
        (1..=MAX_RECORD_SHARDS)
            .contains(&shards)
            .then_some(Self { shards })
    }

    pub fn shards(self) -> u32 {
        self.shards
    }

    /// Partition key of the finding or vulnerability with this id (the id part of its sort key).
    pub fn record_pk(self, t: &TenantId, id: &str) -> String {
        match self.shards {
            1 => tenant_pk(t),
            n => record_shard_pk(t, record_shard(id, n)),
        }
    }

    /// Partition key of the finding (`FINDING#<id>`) or vulnerability (`VULN#<id>`) with this sort key.
    pub(crate) fn record_pk_of_sk(self, t: &TenantId, sk: &str) -> String {
        let id = sk
            .strip_prefix(FINDING_PREFIX)
            .or_else(|| sk.strip_prefix(VULNERABILITY_PREFIX))
            .unwrap_or(sk);
        self.record_pk(t, id)
    }

    /// The partitions holding the tenant's findings and vulnerabilities, shard 0 first.
    pub fn record_partitions(self, t: &TenantId) -> Vec<String> {
        match self.shards {
            1 => vec![tenant_pk(t)],
            n => (0..n).map(|shard| record_shard_pk(t, shard)).collect(),
        }
    }
}

/// `T#<tenant>#R#<nn>`: one shard of a spread tenant's findings and vulnerabilities.
pub(crate) fn record_shard_pk(t: &TenantId, shard: u32) -> String {
    format!("T#{}#R#{shard:02}", t.as_str())
}

pub(crate) fn asset_sk(key: &str) -> String {
    format!("{ASSET_PREFIX}{key}")
}

pub(crate) fn asset_registration_sk(key: &str) -> String {
    format!("{ASSET_REGISTRATION_PREFIX}{key}")
}

pub(crate) fn finding_sk(id: &str) -> String {
    format!("{FINDING_PREFIX}{id}")
}

pub(crate) fn finding_gsi1pk(t: &TenantId, asset_key: &str) -> String {
    format!("T#{}#ASSET#{asset_key}", t.as_str())
}

/// gsi1 partition of the tenant's unattached findings (their asset does not exist yet).
pub(crate) fn unattached_gsi1pk(t: &TenantId) -> String {
    format!("T#{}#UNATTACHED", t.as_str())
}

/// Index of the tenant's findings and assets by their filterable values: `pk` (the tenant) and `facet_sk`.
pub(crate) const FACETS_INDEX: &str = "facets";
/// Index of one asset's findings (and of the unattached ones) by their filterable values: `gsi1pk` and `facet_sk`.
pub(crate) const ASSET_FACETS_INDEX: &str = "asset_facets";
pub(crate) const FINDING_FACET_PREFIX: &str = "FINDING#";
pub(crate) const ASSET_FACET_PREFIX: &str = "ASSET#";

/// The values of a finding its views filter on, in their API spellings (a verdict outside the known ones is
/// `other`: it cannot be asked for, but it must still be listed by the filters that do not name a verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FindingFacets<'a> {
    pub attached: bool,
    pub status: &'a str,
    pub state: &'a str,
    pub severity: &'a str,
    pub verdict: &'a str,
}

/// `facet_sk` of a finding: `FINDING#<attached>#<status>#<state>#<severity>#<verdict>#<finding id>`.
pub(crate) fn finding_facet_sk(f: FindingFacets<'_>, id: &str) -> String {
    format!(
        "{FINDING_FACET_PREFIX}{}#{}#{}#{}#{}#{id}",
        f.attached, f.status, f.state, f.severity, f.verdict
    )
}

pub(crate) fn vulnerability_sk(id: &str) -> String {
    format!("{VULNERABILITY_PREFIX}{id}")
}

/// Index of each asset's present vulnerabilities by severity: `vopen_pk` (the asset's `gsi1pk`), `vopen_sk`.
pub(crate) const OPEN_VULNERABILITIES_INDEX: &str = "open_vulnerabilities";
pub(crate) const VULNERABILITY_FACET_PREFIX: &str = "VULN#";

/// The CVE id as a key part: upper-cased, without the key separator; `none` when absent or blank.
pub(crate) fn cve_facet(cve: Option<&str>) -> String {
    match cve.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => c.to_ascii_uppercase().replace('#', ""),
        None => "none".to_string(),
    }
}

/// `facet_sk` of a vulnerability: `VULN#<state>#<severity>#<cve>#<record id>`.
pub(crate) fn vulnerability_facet_sk(
    state: &str,
    severity: &str,
    cve: Option<&str>,
    id: &str,
) -> String {
    format!(
        "{VULNERABILITY_FACET_PREFIX}{state}#{severity}#{}#{id}",
        cve_facet(cve)
    )
}

/// `vopen_sk` of a present, attached vulnerability: `<severity>#<record id>`.
pub(crate) fn open_vulnerability_sk(severity: &str, id: &str) -> String {
    format!("{severity}#{id}")
}

/// `facet_sk` of an asset: `ASSET#<active>#<asset key>`.
pub(crate) fn asset_facet_sk(active: bool, key: &str) -> String {
    format!("{ASSET_FACET_PREFIX}{active}#{key}")
}

pub(crate) fn seen_threats_prefix(run_id: &str) -> String {
    format!("{SEEN_THREATS_PREFIX}{run_id}#")
}

pub(crate) fn seen_threats_sk(run_id: &str, page_no: u64) -> String {
    format!("{SEEN_THREATS_PREFIX}{run_id}#{page_no:08}")
}

pub(crate) fn seen_vulnerabilities_prefix(run_id: &str) -> String {
    format!("{SEEN_VULNERABILITIES_PREFIX}{run_id}#")
}

pub(crate) fn seen_vulnerabilities_sk(run_id: &str, page_no: u64) -> String {
    format!("{SEEN_VULNERABILITIES_PREFIX}{run_id}#{page_no:08}")
}

pub(crate) fn custom_field_sk(name: &str) -> String {
    format!("{CUSTOM_FIELD_PREFIX}{}", name.to_lowercase())
}

pub(crate) fn run_sk(run_id: &str) -> String {
    format!("{RUN_PREFIX}{run_id}")
}

pub(crate) fn seen_prefix(run_id: &str) -> String {
    format!("{SEEN_PREFIX}{run_id}#")
}

pub(crate) fn seen_sk(run_id: &str, page_no: u64) -> String {
    format!("{SEEN_PREFIX}{run_id}#{page_no:08}")
}

pub(crate) fn due_pk(shard: u64) -> String {
    format!("DUE#{shard}")
}

pub(crate) fn due_sk(next_due_at: &str, t: &TenantId) -> String {
    format!("{next_due_at}#{}", t.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        let t = TenantId::new("tenant-1").unwrap();
        assert_eq!(
            due_shard(&t),
            due_shard(&TenantId::new("tenant-1").unwrap())
        );
        let used: std::collections::BTreeSet<u64> = (0..200)
            .map(|i| due_shard(&TenantId::new(format!("t{i}")).unwrap()))
            .collect();
        assert_eq!(used.len() as u64, DUE_SHARDS);
    }

    #[test]
    fn record_shards_are_stable_and_spread() {
        assert_eq!(record_shard("s1-42", 16), record_shard("s1-42", 16));
        // Pinned to literal values: the shard function is part of the stored layout, it must never change (the
        // first 8 bytes of SHA-256, big-endian, mod 16).
        let pinned: Vec<u32> = ["a", "s1-1", "vr-1"]
            .iter()
            .map(|id| record_shard(id, 16))
            .collect();
        assert_eq!(pinned, [10, 3, 3]);
        let mut counts = [0u32; 16];
        for i in 0..10_000 {
            counts[record_shard(&format!("threat-{i}"), 16) as usize] += 1;
        }
        let mean = 10_000 / 16;
        assert!(
            counts.iter().all(|c| *c > 0),
            "every shard used: {counts:?}"
        );
        assert!(
            counts.iter().all(|c| *c <= 2 * mean),
            "none over twice the mean: {counts:?}"
        );
    }

    #[test]
    fn record_pks_stay_inside_the_tenant() {
        let t = TenantId::new("acme-1").unwrap();
        assert_eq!(RecordLayout::LEGACY.record_pk(&t, "x"), "T#acme-1");
        assert_eq!(RecordLayout::LEGACY.record_partitions(&t), ["T#acme-1"]);
        let spread = RecordLayout::SPREAD.record_partitions(&t);
        assert_eq!(spread.len(), 16);
        assert_eq!(spread[0], "T#acme-1#R#00");
        assert_eq!(spread[15], "T#acme-1#R#15");
        for i in 0..500 {
            let id = format!("vr-{i}");
            let pk = RecordLayout::SPREAD.record_pk(&t, &id);
            assert!(pk.starts_with("T#acme-1#R#"), "{pk}");
            assert!(spread.contains(&pk));
            assert_eq!(tenant_pk_of(&pk), "T#acme-1");
            assert_eq!(
                RecordLayout::SPREAD.record_pk_of_sk(&t, &vulnerability_sk(&id)),
                pk
            );
            assert_eq!(
                RecordLayout::SPREAD.record_pk_of_sk(&t, &finding_sk(&id)),
                pk
            );
        }
        assert_eq!(tenant_pk_of("T#acme-1"), "T#acme-1");
        assert_eq!(RecordLayout::with_shards(0), None);
        assert_eq!(RecordLayout::with_shards(101), None);
        assert_eq!(RecordLayout::with_shards(16), Some(RecordLayout::SPREAD));
    }
}
