//! Re-deriving the status of the tenant's stored findings after a verdict-list change, one page at a time.

use s1_core::verdicts::finding_status;
use s1_core::{ContentHash, VerdictInclusionList};

use super::digests::stored_value;
use super::facets::finding_facet_of;
use super::findings::FindingItem;
use super::put;
use crate::batch::write_all;
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{RecordLayout, TenantId, FINDING_PREFIX};
use crate::store::Store;
use crate::views::Query;

impl Store {
    /// Re-derives the status of one query page of the tenant's stored findings from their stored analyst verdicts
    /// under `list` (after the tenant changed the list; no SentinelOne call), starting after the finding sort key
    /// `start_after` (`None`: the first finding; a position of [`Store::record_walk_page`], the sort key itself
    /// for the legacy layout). Writes only the findings whose status flips. Returns how many
    /// flipped and the sort key to continue after (`None`: that was the last page). One page per call, so the
    /// sync worker can checkpoint between pages and stop before its deadline whatever the tenant's size; a page
    /// redone after a crash finds its findings already flipped and writes nothing.
    pub async fn reevaluate_finding_statuses_page(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        list: &VerdictInclusionList,
        start_after: Option<String>,
    ) -> Result<(u64, Option<String>)> {
        let q = Query::partition(tenant, FINDING_PREFIX);
        let (items, next) = self
            .record_walk_page(
                tenant,
                layout,
                &q,
                start_after.as_deref(),
                self.reevaluate_page,
            )
            .await?;
        let mut flipped = Vec::new();
        let mut entries = Vec::new();
        for i in items {
            let mut item: FindingItem =
                serde_dynamo::from_item(i).map_err(StoreError::item("finding"))?;
            let status = finding_status(&item.finding.analyst_verdict, list);
            if status != item.finding.status {
                item.finding.status = status;
                item.status = status.as_str().to_string();
                item.content_hash = item.finding.content_hash();
                item.updated_at = format_timestamp(now());
                item.facet_sk = Some(finding_facet_of(
                    &item.pk,
                    &item.gsi1pk,
                    &item.status,
                    item.state.as_deref(),
                    &item.severity,
                    &item.verdict,
                    &item.finding.id,
                ));
                let value = stored_value(&item.content_hash, item.state.as_deref());
                entries.push((item.sk.clone(), value));
                flipped.push(put(
                    serde_dynamo::to_item(item).map_err(StoreError::item("finding"))?
                ));
            }
        }
        let n = flipped.len() as u64;
        // The journal names the flipped findings while they are written; their entries change only after.
        let sks: Vec<String> = entries.iter().map(|(sk, _)| sk.clone()).collect();
        let mut digests = self.expect_finding_writes(tenant, layout, &sks).await?;
        write_all(&*self.batch, &self.table, flipped, self.retry).await?;
        entries.iter().for_each(|(sk, v)| digests.set(sk, *v));
        self.save_digests(tenant, &mut digests).await?;
        tracing::debug!(tenant = %tenant, flipped = n, more = next.is_some(), "finding statuses re-evaluated (one page)");
        Ok((n, next))
    }
}
