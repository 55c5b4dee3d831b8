//! The assets view: assets of a tenant sorted by key, filtered, one page at a time.

use serde::{Deserialize, Serialize};

use super::assets::AssetItem;
use super::facets::asset_facet_prefix;
use super::StoredAsset;
use crate::error::{Result, StoreError};
use crate::keys::{TenantId, ASSET_PREFIX};
use crate::page_token::filter_digest;
use crate::store::{Page, Store};
use crate::views::Query;

/// Filters of the assets view. Assets are listed by key (normalised computer name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetFilter {
    /// Computer-name prefix (compared case-insensitively).
    pub name_prefix: Option<String>,
    pub active: Option<bool>,
}

impl Store {
    /// Assets of the tenant sorted by key, filtered, one page at a time. The name prefix is a prefix of the
    /// table's sort key; with `active` it is a prefix of the `facets` index's (`ASSET#<active>#<key>`): either way
    /// a page reads only the assets it returns.
    pub async fn list_assets(
        &self,
        tenant: &TenantId,
        filter: &AssetFilter,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<Page<StoredAsset>> {
        let name = filter
            .name_prefix
            .as_deref()
            .map(str::trim_start)
            .unwrap_or_default()
            .to_lowercase();
        let q = match filter.active {
            Some(active) => Query::facets(tenant).prefixed(asset_facet_prefix(active, &name)),
            None => Query::partition(tenant, format!("{ASSET_PREFIX}{name}")),
        };
        let (items, next) = self
            .paged_query(
                tenant,
                "assets",
                &filter_digest(filter),
                q,
                page_token,
                limit,
            )
            .await?;
        let assets = items
            .into_iter()
            .map(serde_dynamo::from_item::<_, AssetItem>)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("asset"))?;
        let assets = self.with_registrations(tenant, assets).await?;
        Ok(Page {
            items: assets,
            next_page_token: next,
        })
    }
}
