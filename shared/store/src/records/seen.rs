//! Seen markers: per page of a run, the asset keys its agent walk saw (what finalize does not retire) and the
//! fingerprints of the threats it counted (so a resumed run counts each threat once). One TTL'd item per page.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use s1_core::FindingStatus;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::digests::big_endian_words;
use super::put;
use super::seen_packing::{pack_keys, unpack_keys};
use crate::batch::write_all;
use crate::batch::Item;
use crate::clock::epoch_seconds_in;
use crate::error::{Result, StoreError};
use crate::keys::{
    seen_prefix, seen_sk, seen_threats_prefix, seen_threats_sk, tenant_pk, TenantId,
};
use crate::store::Store;
use crate::views::Query;

/// Seen-asset lists are kept this long (TTL): far longer than any run, short enough to cost nothing.
const SEEN_TTL_DAYS: i64 = 7;
/// Keys per seen-assets item: well under DynamoDB's 400 KB item limit even for long names.
const SEEN_KEYS_PER_ITEM: usize = 2000;

/// The threats one page of a run counted: 64-bit fingerprints of their ids, big-endian, 8 bytes each, in the
/// binary attribute of the status counted ([`COUNTED_FAILED`] or [`COUNTED_PASSED`]; a 1,000-threat page is one
/// ~8 KB item). Items written before hold `entries`: 16 hex digits plus `f`/`p` per threat, still read.
#[derive(Debug, Serialize, Deserialize)]
struct SeenThreatsItem {
    pk: String,
    sk: String,
    kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    entries: String,
    expires_at: i64,
}

/// The attributes holding the fingerprints of a page's threats counted as failed and as passed.
const COUNTED_FAILED: &str = "failed";
const COUNTED_PASSED: &str = "passed";

/// A page's seen asset keys: front-coded in the binary attribute [`PACKED_KEYS`] (see `seen_packing`); items
/// written before hold them as the list `keys`, still read.
#[derive(Debug, Serialize, Deserialize)]
struct SeenItem {
    pk: String,
    sk: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keys: Vec<String>,
    expires_at: i64,
}

/// The attribute holding a seen-assets item's front-coded keys.
const PACKED_KEYS: &str = "packed_keys";

impl Store {
    /// Records the fingerprints and counted statuses of the threats one page of a run counted (one item per page).
    pub async fn record_seen_threats(
        &self,
        tenant: &TenantId,
        run_id: &str,
        page_no: u64,
        entries: &[(u64, FindingStatus)],
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // A threat listed twice on a page counts under its last status, as the reader of the former layout
        // (one string in page order) took it.
        let last: HashMap<u64, FindingStatus> = entries.iter().copied().collect();
        let (mut failed, mut passed) = (Vec::new(), Vec::new());
        for (fingerprint, status) in last {
            match status {
                FindingStatus::Failed => failed.push(fingerprint),
                FindingStatus::Passed => passed.push(fingerprint),
            }
        }
        let item = SeenThreatsItem {
            pk: tenant_pk(tenant),
            sk: seen_threats_sk(run_id, page_no),
            kind: "seen_threats".into(),
            entries: String::new(),
            expires_at: epoch_seconds_in(SEEN_TTL_DAYS),
        };
        let mut item: Item =
            serde_dynamo::to_item(item).map_err(StoreError::item("seen threats"))?;
        for (name, mut fingerprints) in [(COUNTED_FAILED, failed), (COUNTED_PASSED, passed)] {
            fingerprints.sort_unstable();
            let bytes: Vec<u8> = fingerprints.iter().flat_map(|f| f.to_be_bytes()).collect();
            item.insert(name.to_string(), AttributeValue::B(Blob::new(bytes)));
        }
        write_all(&*self.batch, &self.table, vec![put(item)], self.retry).await
    }

    /// Every threat fingerprint the run counted on its pages before `before_page` (the checkpointed ones), with
    /// the status it was counted under (a later page's entry wins: it is the newer sighting).
    pub async fn load_seen_threats(
        &self,
        tenant: &TenantId,
        run_id: &str,
        before_page: u64,
    ) -> Result<HashMap<u64, FindingStatus>> {
        let mut seen = HashMap::new();
        let last = seen_threats_sk(run_id, before_page);
        self.query_each(
            &Query::partition(tenant, seen_threats_prefix(run_id)),
            |items| {
                for i in items {
                    let packed = [
                        (COUNTED_FAILED, FindingStatus::Failed),
                        (COUNTED_PASSED, FindingStatus::Passed),
                    ]
                    .map(|(name, status)| {
                        big_endian_words(&i, name, "seen threats", 1).map(|f| (f, status))
                    });
                    let item: SeenThreatsItem =
                        serde_dynamo::from_item(i).map_err(StoreError::item("seen threats"))?;
                    // Page numbers are zero-padded, so sort keys compare like the numbers.
                    if item.sk >= last {
                        continue;
                    }
                    for counted in packed {
                        let (fingerprints, status) = counted?;
                        seen.extend(fingerprints.into_iter().map(|f| (f, status)));
                    }
                    let bytes = item.entries.as_bytes();
                    for chunk in bytes.chunks_exact(17) {
                        let Some(fingerprint) = std::str::from_utf8(&chunk[..16])
                            .ok()
                            .and_then(|h| u64::from_str_radix(h, 16).ok())
                        else {
                            return Err(StoreError::InvalidInput(
                                "a seen-threats item holds a malformed fingerprint".into(),
                            ));
                        };
                        let status = if chunk[16] == b'p' {
                            FindingStatus::Passed
                        } else {
                            FindingStatus::Failed
                        };
                        seen.insert(fingerprint, status);
                    }
                }
                Ok(())
            },
        )
        .await?;
        Ok(seen)
    }

    /// Records the asset keys one page of a run's agent walk saw: one item per page (TTL'd), not one write per
    /// asset, so unchanged assets cost nothing to keep active.
    pub async fn record_seen_assets(
        &self,
        tenant: &TenantId,
        run_id: &str,
        page_no: u64,
        keys: &[String],
    ) -> Result<()> {
        let pk = tenant_pk(tenant);
        let mut writes = Vec::new();
        for (part, chunk) in keys.chunks(SEEN_KEYS_PER_ITEM).enumerate() {
            let item = SeenItem {
                pk: pk.clone(),
                sk: format!("{}#{part}", seen_sk(run_id, page_no)),
                kind: "seen".into(),
                keys: Vec::new(),
                expires_at: epoch_seconds_in(SEEN_TTL_DAYS),
            };
            let mut item: Item =
                serde_dynamo::to_item(item).map_err(StoreError::item("seen assets"))?;
            item.insert(
                PACKED_KEYS.to_string(),
                AttributeValue::B(Blob::new(pack_keys(chunk))),
            );
            writes.push(put(item));
        }
        write_all(&*self.batch, &self.table, writes, self.retry).await
    }

    /// The asset keys every page of `run_id` recorded as seen.
    pub async fn seen_asset_keys(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> Result<HashSet<String>> {
        let mut seen: HashSet<String> = HashSet::new();
        self.query_each(&Query::partition(tenant, seen_prefix(run_id)), |items| {
            for i in items {
                match i.get(PACKED_KEYS) {
                    Some(AttributeValue::B(packed)) => seen.extend(unpack_keys(packed.as_ref())?),
                    Some(_) => {
                        return Err(StoreError::Malformed {
                            what: "seen assets",
                            detail: format!("{PACKED_KEYS} are not binary"),
                        })
                    }
                    None => {}
                }
                let item: SeenItem =
                    serde_dynamo::from_item(i).map_err(StoreError::item("seen assets"))?;
                seen.extend(item.keys);
            }
            Ok(())
        })
        .await?;
        Ok(seen)
    }
}
