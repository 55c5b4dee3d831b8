//! The findings view: every filter and combination read from a key, so a page reads only what it returns.
//!
//! | filter                                   | read from                                         | order                 |
//! |------------------------------------------|---------------------------------------------------|-----------------------|
//! | none                                     | the tenant's record partitions, `FINDING#`        | shard, then id        |
//! | `asset` alone (or with `attached=true`)  | gsi1, the asset's partition                       | id                    |
//! | `attached=false` alone                   | gsi1, the unattached partition                    | id                    |
//! | `asset` or `attached=false`, with others | `asset_facets`, that gsi1 partition, by facet      | facet values, then id |
//! | any other                                | `facets`, the tenant's record partitions, by facet | facet values, shard, then id |
//!
//! "By facet" reads the `facet_sk` prefixes the filter names ([`super::facets::FacetFilter::prefixes`]); the page
//! order is the key order `attached, status, state, severity, verdict` (each in its API spelling, alphabetically),
//! then id. `asset` with `attached=false` is refused: an unattached finding has no asset. A spread tenant's
//! records ([`crate::keys::RecordLayout`]) are read shard by shard, shard 0 first, for each facet prefix in turn
//! (so facet values keep their order); the legacy layout has one shard.

use serde::{Deserialize, Serialize};

use s1_core::lifecycle::FindingState;
use s1_core::{normalize_computer_name, AnalystVerdict, Finding, FindingStatus, Severity};

use super::facets::FacetFilter;
use super::findings::FindingItem;
use crate::batch::Item;
use crate::error::{Result, StoreError};
use crate::keys::{finding_gsi1pk, unattached_gsi1pk, RecordLayout, TenantId, FINDING_PREFIX};
use crate::page_token::filter_digest;
use crate::store::{Page, Store};
use crate::views::{layout_digest, Query};

/// Filters of the findings view (see the module docs for the order each combination lists in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingFilter {
    pub status: Option<FindingStatus>,
    pub severity: Option<Severity>,
    /// The asset's computer name (any case): that asset's findings.
    pub asset: Option<String>,
    pub verdict: Option<AnalystVerdict>,
    /// `Some(false)`: only the findings whose asset does not exist yet; `Some(true)`: only attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<bool>,
}

impl FindingFilter {
    /// Whether the view lists in id order with this filter and `state` (see the module docs); the other
    /// combinations list by facet.
    pub fn lists_by_id(&self, state: Option<FindingState>) -> bool {
        self.status.is_none()
            && self.severity.is_none()
            && self.verdict.is_none()
            && state.is_none()
            && (self.asset.is_some() || self.attached != Some(true))
    }
}

impl Store {
    /// Findings of the tenant, filtered, one page at a time (see the module docs for the order).
    pub async fn list_findings(
        &self,
        tenant: &TenantId,
        filter: &FindingFilter,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<Page<Finding>> {
        self.list_findings_in_state(tenant, filter, None, page_token, limit)
            .await
    }

    /// [`Store::list_findings`] limited to findings in one lifecycle `state` (`None`: any). Findings stored
    /// before lifecycles existed count as `open`. Page tokens are bound to the state as well as the filter.
    pub async fn list_findings_in_state(
        &self,
        tenant: &TenantId,
        filter: &FindingFilter,
        state: Option<FindingState>,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<Page<Finding>> {
        if filter.asset.is_some() && filter.attached == Some(false) {
            return Err(StoreError::InvalidInput(
                "an unattached finding has no asset: drop the asset filter or attached=false"
                    .into(),
            ));
        }
        let asset_pk = match filter.asset.as_deref() {
            Some(name) => {
                let key = normalize_computer_name(name).ok_or_else(|| {
                    StoreError::InvalidInput(
                        "the asset filter is blank; give a computer name".into(),
                    )
                })?;
                Some(finding_gsi1pk(tenant, key.as_str()))
            }
            None if filter.attached == Some(false) => Some(unattached_gsi1pk(tenant)),
            None => None,
        };
        // The view's digest without a state is the filter's own, so page tokens issued before states existed
        // stay valid.
        let digest = match state {
            None => filter_digest(filter),
            Some(st) => filter_digest(&(filter, st.as_str())),
        };
        // The tenant-wide listings read the record partitions: the layout is read once for the request.
        let layout = match asset_pk {
            Some(_) => RecordLayout::LEGACY,
            None => self.record_layout(tenant).await?,
        };
        let digest = layout_digest(digest, layout);
        let partitions = layout.record_partitions(tenant);
        // Listings by id read one key range (an asset's gsi1 partition, or the legacy partition) with
        // `paged_query`; the rest read prefixes across partitions with `sharded_query`.
        let (q, prefixes, partitions) = if filter.lists_by_id(state) {
            let single = match asset_pk {
                Some(pk) => Some(Query::gsi1(pk, FINDING_PREFIX)),
                None if layout == RecordLayout::LEGACY => {
                    Some(Query::partition(tenant, FINDING_PREFIX))
                }
                None => None,
            };
            if let Some(q) = single {
                let (items, next) = self
                    .paged_query(tenant, "findings", &digest, q, page_token, limit)
                    .await?;
                return Ok(Page {
                    items: decode(items)?,
                    next_page_token: next,
                });
            }
            let prefixes = vec![FINDING_PREFIX.to_string()];
            (Query::partition(tenant, ""), prefixes, partitions)
        } else {
            let facets = FacetFilter {
                // Within one gsi1 partition every finding has the same attachment: asset partitions hold the
                // attached ones, the unattached partition the others.
                attached: match asset_pk {
                    Some(_) => Some(filter.asset.is_some()),
                    None => filter.attached,
                },
                status: filter.status.map(FindingStatus::as_str),
                state: state.map(FindingState::as_str),
                severity: filter.severity.map(Severity::as_str),
                verdict: filter.verdict.as_ref().map(AnalystVerdict::as_str),
            };
            let prefixes = facets.prefixes().ok_or_else(|| {
                StoreError::InvalidInput("a faceted listing needs a fixed facet".into())
            })?;
            match asset_pk {
                Some(pk) => (Query::asset_facets(pk.clone()), prefixes, vec![pk]),
                None => (Query::facets(tenant), prefixes, partitions),
            }
        };
        let (items, next) = self
            .sharded_query(
                tenant,
                "findings",
                &digest,
                (q, &prefixes, &partitions),
                page_token,
                limit,
            )
            .await?;
        Ok(Page {
            items: decode(items)?,
            next_page_token: next,
        })
    }
}

fn decode(items: Vec<Item>) -> Result<Vec<Finding>> {
    items
        .into_iter()
        .map(|i| serde_dynamo::from_item::<_, FindingItem>(i).map(FindingItem::into_finding))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(StoreError::item("finding"))
}
