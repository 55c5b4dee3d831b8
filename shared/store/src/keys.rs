//! Key patterns of the single table, and the tenant id every key starts from.
//!
//! One table (defined only in `infra/template.yaml`) holds every entity. Every item of a tenant lives under the
//! partition `T#<tenant>`, so no query can cross tenants; GSI keys repeat the tenant for the same reason.
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
//! | Seen-risks page         | `T#<tenant>` | `SEENV#<run id>#<page no, 8 digits>` |                                                         | 64-bit fingerprints of the risk record ids one page of a run's vulnerability walk returned: what fixing by absence compares with; TTL (7 days) |
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
//! Partition plan (designed, not yet applied): every finding lives under `T#<tenant>`, and one partition key value
//! takes about 1,000 write units/s (GSI key values likewise). A first sync of 1M findings of ~1.65 KB is 2 WCU per
//! base write plus one write per index holding it (gsi1, facets, asset_facets: 2 WCU each), about 8M WCU, over two
//! hours at 1,000 WCU/s on one key. The spread: findings under `T#<tenant>#F#<shard>`, shard = first 8 bytes of
//! SHA-256(finding id) mod S (S = 16, recorded per tenant so it can grow), the facet index keyed the same way; views
//! read shard by shard (key order within a shard) with a per-shard cursor in the signed page token; old items read
//! from `T#<tenant>` until a resumable, idempotent copy-then-delete migration marks the tenant moved.
//!
//! Shards of the due index: `DUE#0` … `DUE#15`, shard = first 8 bytes of SHA-256(tenant) mod 16, so the
//! scheduler's read is spread over 16 partitions instead of one hot key.

use sha2::{Digest, Sha256};

/// Number of partitions of the `due` index.
pub const DUE_SHARDS: u64 = 16;

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
}
