//! Findings: applying a page (written only when changed), the unattached findings' pages, re-deriving statuses
//! one page at a time after a verdict-list change, and the findings view.

use std::collections::HashMap;

use s1_core::verdicts::finding_status;
use s1_core::{normalize_computer_name, AnalystVerdict, ContentHash, Finding};
use s1_core::{FindingStatus, Severity, VerdictInclusionList};
use serde::{Deserialize, Serialize};

use super::put;
use crate::batch::{write_all, Item};
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{
    finding_gsi1pk, finding_sk, tenant_pk, unattached_gsi1pk, TenantId, FINDING_PREFIX,
};
use crate::page_token::filter_digest;
use crate::runs::WriteCounts;
use crate::store::{s, Page, Store};
use crate::views::Query;

/// Unattached findings re-examined per query page.
const UNATTACHED_PAGE: i32 = 500;

#[derive(Debug, Serialize, Deserialize)]
struct FindingItem {
    pk: String,
    sk: String,
    kind: String,
    gsi1pk: String,
    gsi1sk: String,
    finding: Finding,
    content_hash: String,
    /// Top-level copies of the filterable fields, in their API spellings.
    #[serde(default = "yes")]
    attached: bool,
    status: String,
    severity: String,
    verdict: String,
    created_at: String,
    updated_at: String,
}

fn yes() -> bool {
    true
}

/// Where a walk of the unattached findings stands (opaque; valid within one invocation).
#[derive(Debug, Clone)]
pub struct UnattachedCursor(Item);

/// Filters of the findings view. Findings are listed by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingFilter {
    pub status: Option<FindingStatus>,
    pub severity: Option<Severity>,
    /// The asset's computer name (any case): lists that asset's findings through gsi1.
    pub asset: Option<String>,
    pub verdict: Option<AnalystVerdict>,
    /// `Some(false)`: only the findings whose asset does not exist yet (through gsi1); `Some(true)`: only attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<bool>,
}

impl Store {
    /// Applies one page of findings: writes only new findings and findings whose content hash changed.
    pub async fn apply_findings(
        &self,
        tenant: &TenantId,
        findings: &[Finding],
    ) -> Result<WriteCounts> {
        let mut counts = WriteCounts::default();
        let mut latest: HashMap<&str, &Finding> = HashMap::new();
        let mut order = Vec::new();
        for f in findings {
            if latest.insert(f.id.as_str(), f).is_some() {
                counts.unchanged += 1;
            } else {
                order.push(f.id.as_str());
            }
        }
        let heads = self
            .read_heads(
                tenant,
                order.iter().map(|id| finding_sk(id)).collect(),
                false,
            )
            .await?;
        let now_s = format_timestamp(now());
        let mut writes = Vec::new();
        for id in order {
            let f = latest[id];
            let sk = finding_sk(id);
            let hash = f.content_hash();
            let stored = heads.get(&sk);
            if stored.is_some_and(|h| h.content_hash.as_deref() == Some(hash.as_str())) {
                counts.unchanged += 1;
                continue;
            }
            if stored.is_some() {
                counts.updated += 1;
            } else {
                counts.created += 1;
            }
            let created_at = stored
                .and_then(|h| h.created_at.clone())
                .unwrap_or_else(|| now_s.clone());
            writes.push(put(finding_item(
                tenant,
                f.clone(),
                hash,
                created_at,
                now_s.clone(),
            )?));
        }
        write_all(&*self.batch, &self.table, writes, self.retry).await?;
        tracing::debug!(tenant = %tenant, created = counts.created, updated = counts.updated, unchanged = counts.unchanged, "finding page applied");
        Ok(counts)
    }

    /// One page of the tenant's unattached findings (their asset did not exist when they were written).
    pub async fn unattached_findings(
        &self,
        tenant: &TenantId,
        start: Option<UnattachedCursor>,
    ) -> Result<(Vec<Finding>, Option<UnattachedCursor>)> {
        let q = Query::gsi1(unattached_gsi1pk(tenant), FINDING_PREFIX);
        let (items, last) = self
            .query_once(&q, start.map(|c| c.0), Some(UNATTACHED_PAGE))
            .await?;
        let findings = items
            .into_iter()
            .map(|i| serde_dynamo::from_item::<_, FindingItem>(i).map(|f| f.finding))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("finding"))?;
        Ok((findings, last.map(UnattachedCursor)))
    }

    /// Re-derives the status of one query page of the tenant's stored findings from their stored analyst verdicts
    /// under `list` (after the tenant changed the list; no SentinelOne call), starting after the finding sort key
    /// `start_after` (`None`: the first finding). Writes only the findings whose status flips. Returns how many
    /// flipped and the sort key to continue after (`None`: that was the last page). One page per call, so the
    /// sync worker can checkpoint between pages and stop before its deadline whatever the tenant's size; a page
    /// redone after a crash finds its findings already flipped and writes nothing.
    pub async fn reevaluate_finding_statuses_page(
        &self,
        tenant: &TenantId,
        list: &VerdictInclusionList,
        start_after: Option<String>,
    ) -> Result<(u64, Option<String>)> {
        let q = Query::partition(tenant, FINDING_PREFIX);
        let start = start_after.map(|sk| Store::key(tenant_pk(tenant), sk));
        let (items, last) = self
            .query_once(&q, start, Some(self.reevaluate_page))
            .await?;
        let mut flipped = Vec::new();
        for i in items {
            let mut item: FindingItem =
                serde_dynamo::from_item(i).map_err(StoreError::item("finding"))?;
            let status = finding_status(&item.finding.analyst_verdict, list);
            if status != item.finding.status {
                item.finding.status = status;
                item.status = status.as_str().to_string();
                item.content_hash = item.finding.content_hash();
                item.updated_at = format_timestamp(now());
                flipped.push(put(
                    serde_dynamo::to_item(item).map_err(StoreError::item("finding"))?
                ));
            }
        }
        let n = flipped.len() as u64;
        write_all(&*self.batch, &self.table, flipped, self.retry).await?;
        let next = last
            .and_then(|mut k| k.remove("sk"))
            .and_then(|v| v.as_s().ok().cloned());
        tracing::debug!(tenant = %tenant, flipped = n, more = next.is_some(), "finding statuses re-evaluated (one page)");
        Ok((n, next))
    }

    /// Findings of the tenant sorted by id, filtered, one page at a time (by asset through gsi1).
    pub async fn list_findings(
        &self,
        tenant: &TenantId,
        filter: &FindingFilter,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<Page<Finding>> {
        let mut q = match filter.asset.as_deref() {
            _ if filter.attached == Some(false) => {
                if filter.asset.is_some() {
                    return Err(StoreError::InvalidInput(
                        "an unattached finding has no asset: drop the asset filter or attached=false".into(),
                    ));
                }
                Query::gsi1(unattached_gsi1pk(tenant), FINDING_PREFIX)
            }
            Some(name) => {
                let key = normalize_computer_name(name).ok_or_else(|| {
                    StoreError::InvalidInput(
                        "the asset filter is blank; give a computer name".into(),
                    )
                })?;
                Query::gsi1(finding_gsi1pk(tenant, key.as_str()), FINDING_PREFIX)
            }
            None => Query::partition(tenant, FINDING_PREFIX),
        };
        if let Some(status) = &filter.status {
            q = q.and_filter(
                "#st = :st",
                &[("#st", "status")],
                vec![(":st", s(status.as_str()))],
            );
        }
        if let Some(severity) = &filter.severity {
            q = q.and_filter(
                "#sev = :sev",
                &[("#sev", "severity")],
                vec![(":sev", s(severity.as_str()))],
            );
        }
        if filter.attached == Some(true) {
            q = q.and_filter(
                "#att = :att",
                &[("#att", "attached")],
                vec![(":att", aws_sdk_dynamodb::types::AttributeValue::Bool(true))],
            );
        }
        if let Some(verdict) = &filter.verdict {
            q = q.and_filter(
                "#ver = :ver",
                &[("#ver", "verdict")],
                vec![(":ver", s(verdict.as_str()))],
            );
        }
        let (items, next) = self
            .paged_query(
                tenant,
                "findings",
                &filter_digest(filter),
                q,
                page_token,
                limit,
            )
            .await?;
        let findings = items
            .into_iter()
            .map(|i| serde_dynamo::from_item::<_, FindingItem>(i).map(|f| f.finding))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(StoreError::item("finding"))?;
        Ok(Page {
            items: findings,
            next_page_token: next,
        })
    }
}

fn finding_item(
    tenant: &TenantId,
    f: Finding,
    hash: String,
    created_at: String,
    updated_at: String,
) -> Result<Item> {
    let item = FindingItem {
        pk: tenant_pk(tenant),
        sk: finding_sk(&f.id),
        kind: "finding".into(),
        gsi1pk: match (&f.asset_key, f.attached) {
            (Some(key), true) => finding_gsi1pk(tenant, key.as_str()),
            _ => unattached_gsi1pk(tenant),
        },
        gsi1sk: finding_sk(&f.id),
        attached: f.attached,
        status: f.status.as_str().to_string(),
        severity: f.severity.as_str().to_string(),
        verdict: f.analyst_verdict.as_str().to_string(),
        content_hash: hash,
        finding: f,
        created_at,
        updated_at,
    };
    serde_dynamo::to_item(item).map_err(StoreError::item("finding"))
}
