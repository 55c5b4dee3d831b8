//! Assets and findings: applying a page of decisions so that writes cost only what changed, asset retirement
//! without rewriting unchanged assets, re-deriving finding statuses, and the two listings.
//!
//! This file holds what both kinds share (reading the stored heads an apply compares against, the API spelling of
//! enum values, put requests); [`assets`], [`registrations`], [`retirement`], [`findings`], [`finding_views`],
//! [`facets`] (the index keys every view filter reads), [`unmatched`], [`seen`] (the per-page markers of what
//! a run saw) and [`record_text`] (a record's content as one JSON text attribute) hold the rest.

mod asset_views;
mod asset_writes;
mod assets;
mod digests;
mod facets;
mod finding_statuses;
mod finding_views;
mod findings;
mod record_text;
mod record_walk;
mod registrations;
mod retirement;
mod seen;
mod seen_packing;
mod unmatched;
mod vulnerabilities;
mod vulnerability_fixing;
mod vulnerability_seen;
mod vulnerability_views;
mod vulnerability_writes;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use serde::Deserialize;

use s1_core::Asset;

use crate::batch::{get_all, Item, Projection};
use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, RecordLayout, TenantId};
use crate::store::Store;

pub use asset_views::AssetFilter;
pub use assets::{new_asset_item, StoredAsset};
pub use digests::{AssetDigests, StoredAssets};
pub use facets::BackfillCursor;
pub use finding_views::FindingFilter;
pub use findings::{new_finding_item, new_finding_item_in, ClosePlan, UnattachedCursor};
pub use registrations::RegistrationOutcome;
pub use retirement::{RetirementCounts, RetirementPlan};
pub use unmatched::{
    unmatched_agents_csv, AssetIdentifiers, PossibleMatch, UnmatchedAgent, MAX_UNMATCHED_PER_RUN,
    UNMATCHED_CSV_HEADER, UNMATCHED_TTL_DAYS,
};
pub use vulnerability_fixing::{FixCandidate, FixPlan};
pub use vulnerability_seen::{
    vulnerability_fingerprint, SeenVulnerabilities, VULNERABILITY_SHARDS,
};
pub use vulnerability_views::{
    new_vulnerability_item, new_vulnerability_item_in, AnyKindFilter, FindingKind, SeverityCounts,
    SharedState, StoredFinding, StoredVulnerability, VulnerabilityFilter,
};
pub use vulnerability_writes::{AssetDirectory, PlacedVulnerability, VulnerabilityWrites};

/// UpdateItem calls in flight for per-item updates (agent links, retirement).
const PARALLEL_UPDATES: usize = 8;

#[derive(Debug, Deserialize)]
struct StoredHead {
    sk: String,
    #[serde(default)]
    content_hash: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    asset: Option<Asset>,
    /// Set when the sync retired only the SentinelOne side of an asset the platform registered itself.
    #[serde(default)]
    sentinelone_retired_at: Option<String>,
    /// The finding's lifecycle (findings only; absent on findings stored before lifecycles existed).
    #[serde(default)]
    lifecycle: Option<s1_core::lifecycle::Lifecycle>,
}

pub(crate) fn put(item: Item) -> WriteRequest {
    // Only fails without an item, which is always set here.
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .unwrap_or_else(|_| unreachable!("a put request with an item always builds")),
        )
        .build()
}

impl Store {
    async fn read_heads(
        &self,
        tenant: &TenantId,
        sks: Vec<String>,
        with_asset: bool,
    ) -> Result<HashMap<String, StoredHead>> {
        let pk = tenant_pk(tenant);
        let keys = sks.into_iter().map(|sk| (pk.clone(), sk)).collect();
        self.read_heads_at(keys, with_asset).await
    }

    /// [`Store::read_heads`] of findings or vulnerabilities, each in its partition under `layout`.
    async fn read_record_heads(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        sks: Vec<String>,
    ) -> Result<HashMap<String, StoredHead>> {
        let keys = sks
            .into_iter()
            .map(|sk| (layout.record_pk_of_sk(tenant, &sk), sk))
            .collect();
        self.read_heads_at(keys, false).await
    }

    /// The stored heads of these (partition key, sort key) pairs, by sort key.
    async fn read_heads_at(
        &self,
        keys: Vec<(String, String)>,
        with_asset: bool,
    ) -> Result<HashMap<String, StoredHead>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let keys = keys
            .into_iter()
            .map(|(pk, sk)| Store::key(pk, sk))
            .collect();
        let mut names = HashMap::from([
            ("#sk".to_string(), "sk".to_string()),
            ("#h".to_string(), "content_hash".to_string()),
            ("#act".to_string(), "active".to_string()),
            ("#cr".to_string(), "created_at".to_string()),
            ("#srt".to_string(), "sentinelone_retired_at".to_string()),
            ("#lc".to_string(), "lifecycle".to_string()),
        ]);
        let mut expression = "#sk, #h, #act, #cr, #srt, #lc".to_string();
        if with_asset {
            names.insert("#as".into(), "asset".into());
            expression.push_str(", #as");
        }
        let projection = Projection {
            expression: Some(expression),
            names,
        };
        let items = get_all(&*self.batch, &self.table, keys, &projection, self.retry).await?;
        items
            .into_iter()
            .map(|i| {
                let head: StoredHead =
                    serde_dynamo::from_item(i).map_err(StoreError::item("stored head"))?;
                Ok((head.sk.clone(), head))
            })
            .collect()
    }
}
