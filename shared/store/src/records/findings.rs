//! Findings: applying a page (written only when changed), closing the ones a complete walk did not return, and
//! the unattached findings' pages (re-deriving statuses lives in [`super::finding_statuses`]).

use std::collections::HashMap;

use futures::stream::{StreamExt, TryStreamExt};

use s1_core::lifecycle::{self, FindingState, Lifecycle};
use s1_core::records::IncidentStatus;
use s1_core::{ContentHash, Finding};
use serde::{Deserialize, Serialize};

use super::digests::{entry_value, unchanged_values, Digests, Known, UNKNOWN};
use super::facets::finding_facet_of;
use super::put;
use crate::batch::{write_all, Item};
use crate::clock::{format_timestamp, now};
use crate::error::{Result, StoreError};
use crate::keys::{
    finding_gsi1pk, finding_sk, unattached_gsi1pk, RecordLayout, TenantId, FINDING_PREFIX,
};
use crate::runs::WriteCounts;
use crate::store::{s, Store};
use crate::views::Query;

/// Unattached findings re-examined per query page.
const UNATTACHED_PAGE: i32 = 500;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FindingItem {
    pub(super) pk: String,
    pub(super) sk: String,
    kind: String,
    pub(super) gsi1pk: String,
    gsi1sk: String,
    /// The finding's key in the `facets` and `asset_facets` indexes (see [`crate::keys`]); absent on findings
    /// stored before those indexes existed, until the backfill ([`super::facets`]) or a rewrite sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) facet_sk: Option<String>,
    #[serde(with = "super::record_text")]
    pub(super) finding: Finding,
    pub(super) content_hash: String,
    /// Top-level copies of the filterable fields, in their API spellings.
    #[serde(default = "yes")]
    attached: bool,
    pub(super) status: String,
    pub(super) severity: String,
    pub(super) verdict: String,
    created_at: String,
    pub(super) updated_at: String,
    /// The finding's lifecycle (absent on findings stored before lifecycles existed: the next sync that returns
    /// them records one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lifecycle: Option<Lifecycle>,
    /// Top-level copy of the lifecycle's state, in its API spelling, for the state filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) state: Option<String>,
}

impl FindingItem {
    /// The finding as the views show it: with its lifecycle.
    pub(super) fn into_finding(self) -> Finding {
        let mut f = self.finding;
        f.lifecycle = self.lifecycle;
        f
    }
}

/// What closing the findings a complete walk did not return would do, before anything is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClosePlan {
    /// Stored findings that are not closed.
    pub live: u64,
    /// Of those, the ones the walk did not return: sort key and current lifecycle.
    pub absent: Vec<(String, Lifecycle)>,
}

fn yes() -> bool {
    true
}

/// Where a walk of the unattached findings stands (opaque; valid within one invocation).
#[derive(Debug, Clone)]
pub struct UnattachedCursor(Item);

impl Store {
    /// Applies one page of findings: writes only new findings, findings whose content hash changed and findings
    /// whose lifecycle changes (SentinelOne resolved or unresolved the threat, or a closed finding came back).
    /// Only the findings the tenant's digests ([`super::digests`]) cannot vouch for are read. Boxed, so that the
    /// page's future stays small inside the sync's (whose unoptimised frames come near a thread's stack size).
    pub async fn apply_findings(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        findings: &[Finding],
    ) -> Result<WriteCounts> {
        Box::pin(self.apply_findings_boxed(tenant, layout, findings)).await
    }

    /// The digests' journal names the findings before they are written; their entries change only after.
    async fn apply_findings_boxed(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        findings: &[Finding],
    ) -> Result<WriteCounts> {
        let (counts, writes, mut digests) =
            self.plan_findings(tenant, layout, findings, true).await?;
        digests.expect_writes(writes.iter().map(|w| &w.sk));
        self.save_journal(tenant, &mut digests).await?;
        let (after, records): (Vec<_>, Vec<_>) = writes
            .into_iter()
            .map(|w| ((w.sk, w.value), w.item))
            .unzip();
        write_all(&*self.batch, &self.table, records, self.retry).await?;
        after.iter().for_each(|(sk, value)| digests.set(sk, *value));
        self.save_digests(tenant, &mut digests).await?;
        tracing::debug!(tenant = %tenant, created = counts.created, updated = counts.updated, unchanged = counts.unchanged, "finding page applied");
        Ok(counts)
    }

    /// What [`Store::apply_findings`] would write and count, without writing (a dry run counts with it). Returns
    /// the counts and, per written finding, its title and whether it would be created.
    pub async fn preview_findings(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        findings: &[Finding],
    ) -> Result<(WriteCounts, Vec<(String, bool)>)> {
        let (counts, writes, _) =
            Box::pin(self.plan_findings(tenant, layout, findings, false)).await?;
        Ok((
            counts,
            writes.into_iter().map(|w| (w.title, w.created)).collect(),
        ))
    }

    /// The writes of a page, decided against the digests and, where they cannot vouch, the stored heads. With
    /// `writable`, the digests may be created or extended ([`Store::load_finding_digests`]) and the entries of
    /// the findings read are brought up to date in memory (saved by the caller).
    async fn plan_findings(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        findings: &[Finding],
        writable: bool,
    ) -> Result<(WriteCounts, Vec<FindingWrite>, Digests)> {
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
        let sks: Vec<String> = order.iter().map(|id| finding_sk(id)).collect();
        let mut digests = self
            .load_finding_digests(tenant, layout, &sks, writable)
            .await?;
        let mut known = HashMap::new();
        let mut unread = Vec::new();
        for (id, sk) in order.iter().zip(&sks) {
            let f = latest[id];
            let resolved = f.incident_status == Some(IncidentStatus::Resolved);
            let k = digests.lookup(sk, &unchanged_values(&f.content_hash(), resolved));
            if k == Known::Unsure {
                unread.push(sk.clone());
            }
            known.insert(*id, k);
        }
        let heads = self.read_record_heads(tenant, layout, unread).await?;
        let now_s = format_timestamp(now());
        let mut writes = Vec::new();
        for id in order {
            if known[id] == Known::Same {
                counts.unchanged += 1;
                continue;
            }
            let f = latest[id];
            let sk = finding_sk(id);
            let hash = f.content_hash();
            let stored = heads.get(&sk);
            let resolved = f.incident_status == Some(IncidentStatus::Resolved);
            let before = stored.and_then(|h| h.lifecycle.as_ref());
            let (lifecycle, entered) = lifecycle::observe(before, resolved, &now_s);
            let same_content =
                stored.is_some_and(|h| h.content_hash.as_deref() == Some(hash.as_str()));
            if same_content && before.is_some() && entered.is_none() {
                counts.unchanged += 1;
                // Read because the digests could not vouch for it: now they can, from what is stored.
                if let Some(l) = before {
                    digests.set(&sk, entry_value(&hash, l.state.as_str()));
                }
                continue;
            }
            if stored.is_some() {
                counts.updated += 1;
                // A finding stored before lifecycles existed gets its first one now: not a transition.
                match entered.filter(|_| before.is_some()) {
                    Some(FindingState::Resolved) => counts.resolved += 1,
                    Some(FindingState::Reopened) => counts.reopened += 1,
                    _ => {}
                }
            } else {
                counts.created += 1;
            }
            let created_at = stored
                .and_then(|h| h.created_at.clone())
                .unwrap_or_else(|| now_s.clone());
            let mut stored_finding = f.clone();
            stored_finding.lifecycle = None;
            let value = entry_value(&hash, lifecycle.state.as_str());
            writes.push(FindingWrite {
                title: f.title.clone(),
                created: stored.is_none(),
                item: put(finding_item(
                    tenant,
                    layout,
                    stored_finding,
                    hash,
                    created_at,
                    now_s.clone(),
                    Some(lifecycle),
                )?),
                sk,
                value,
            });
        }
        Ok((counts, writes, digests))
    }

    /// The stored findings that are not closed, and which of them `returned` (by threat id) says the walk did
    /// not return: nothing written. Call only after a complete walk of all threats.
    pub async fn plan_closing(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        returned: impl Fn(&str) -> bool,
    ) -> Result<ClosePlan> {
        // The whole record: its threat id is inside the record's text (DynamoDB charges a projected read by the
        // whole item all the same).
        let q = Query::partition(tenant, FINDING_PREFIX).project(
            "#sk, #f, #lc",
            &[("#sk", "sk"), ("#f", "finding"), ("#lc", "lifecycle")],
        );
        let mut plan = ClosePlan::default();
        let now_s = format_timestamp(now());
        self.record_query_each(tenant, layout, &q, |items| {
            for i in items {
                #[derive(Deserialize)]
                struct Head {
                    sk: String,
                    #[serde(deserialize_with = "super::record_text::deserialize")]
                    finding: ThreatIdOnly,
                    #[serde(default)]
                    lifecycle: Option<Lifecycle>,
                }
                #[derive(Deserialize)]
                struct ThreatIdOnly {
                    threat_id: String,
                }
                let head: Head =
                    serde_dynamo::from_item(i).map_err(StoreError::item("finding head"))?;
                // Findings stored before lifecycles existed are open until a walk says otherwise.
                let lifecycle = head.lifecycle.unwrap_or_else(|| Lifecycle {
                    state: FindingState::Open,
                    first_seen_at: now_s.clone(),
                    resolved_at: None,
                    closed_at: None,
                    history: Vec::new(),
                });
                if lifecycle.state == FindingState::Closed {
                    continue;
                }
                plan.live += 1;
                if !returned(&head.finding.threat_id) {
                    plan.absent.push((head.sk, lifecycle));
                }
            }
            Ok(())
        })
        .await?;
        Ok(plan)
    }

    /// Closes these findings (from a [`ClosePlan`]): their lifecycle and state only, one UpdateItem each; never
    /// deleted, never their content. Returns how many closed.
    pub async fn close_findings(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        absent: Vec<(String, Lifecycle)>,
    ) -> Result<u64> {
        let now_s = format_timestamp(now());
        let closing: Vec<(String, Lifecycle)> = absent
            .into_iter()
            .filter_map(|(sk, l)| lifecycle::close(&l, &now_s).map(|l| (sk, l)))
            .collect();
        // The facet key moves with the state: read what it is made of, and write both in one update whose
        // condition holds only while those values are the ones read (the sync, which holds the lease, is the only
        // writer meanwhile, so it fails only if something else wrote, and then the finding stays open until the
        // next complete walk rather than landing under a wrong facet).
        let facets = self
            .facet_inputs(tenant, layout, closing.iter().map(|(sk, _)| sk.clone()))
            .await?;
        // Their digest entries stop vouching for them first: a closed finding SentinelOne returns again reopens.
        let sks: Vec<String> = closing.iter().map(|(sk, _)| sk.clone()).collect();
        let mut digests = self.expect_finding_writes(tenant, layout, &sks).await?;
        let closed = futures::stream::iter(closing)
            .filter_map(|(sk, l)| {
                let inputs = facets.get(&sk).cloned();
                async move { inputs.map(|i| (sk, l, i)) }
            })
            .map(|(sk, l, inputs)| {
                let pk = layout.record_pk_of_sk(tenant, &sk);
                let now_s = now_s.clone();
                async move {
                    let value = serde_dynamo::to_attribute_value(&l)
                        .map_err(StoreError::item("finding lifecycle"))?;
                    let facet = inputs.facet_sk(&pk, Some(FindingState::Closed.as_str()));
                    let res = self
                        .dynamodb
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(Store::key(pk, sk)))
                        .update_expression(
                            "SET lifecycle = :lc, #st = :closed, updated_at = :now, facet_sk = :fs",
                        )
                        .condition_expression(
                            "attribute_exists(pk) AND gsi1pk = :g AND #status = :s AND severity = :sev AND verdict = :v",
                        )
                        .expression_attribute_names("#st", "state")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":lc", value)
                        .expression_attribute_values(":closed", s(FindingState::Closed.as_str()))
                        .expression_attribute_values(":now", s(now_s))
                        .expression_attribute_values(":fs", s(facet))
                        .expression_attribute_values(":g", s(inputs.gsi1pk))
                        .expression_attribute_values(":s", s(inputs.status))
                        .expression_attribute_values(":sev", s(inputs.severity))
                        .expression_attribute_values(":v", s(inputs.verdict))
                        .send()
                        .await;
                    StoreError::condition_held("UpdateItem", res)
                }
            })
            .buffer_unordered(super::PARALLEL_UPDATES)
            .try_collect::<Vec<bool>>()
            .await?;
        sks.iter().for_each(|sk| digests.set(sk, UNKNOWN));
        self.save_digests(tenant, &mut digests).await?;
        let n = closed.into_iter().filter(|c| *c).count() as u64;
        tracing::info!(tenant = %tenant, closed = n, "findings absent from a complete threat walk closed");
        Ok(n)
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
}

/// One finding to write, with what a dry run reports of it and its digest entry once written.
struct FindingWrite {
    title: String,
    created: bool,
    item: aws_sdk_dynamodb::types::WriteRequest,
    sk: String,
    value: u64,
}

/// The item [`Store::apply_findings`] writes for a finding it has not stored before: for bulk loaders (the view
/// bench) that fill a table faster than a sync, in exactly the stored format.
pub fn new_finding_item(tenant: &TenantId, f: &Finding) -> Result<Item> {
    new_finding_item_in(tenant, RecordLayout::LEGACY, f)
}

/// [`new_finding_item`] in a given record layout (a loader filling a spread tenant writes its layout item too).
pub fn new_finding_item_in(tenant: &TenantId, layout: RecordLayout, f: &Finding) -> Result<Item> {
    let now_s = format_timestamp(now());
    let resolved = f.incident_status == Some(IncidentStatus::Resolved);
    let (lifecycle, _) = lifecycle::observe(None, resolved, &now_s);
    let mut stored = f.clone();
    stored.lifecycle = None;
    finding_item(
        tenant,
        layout,
        stored,
        f.content_hash(),
        now_s.clone(),
        now_s,
        Some(lifecycle),
    )
}

fn finding_item(
    tenant: &TenantId,
    layout: RecordLayout,
    f: Finding,
    hash: String,
    created_at: String,
    updated_at: String,
    lifecycle: Option<Lifecycle>,
) -> Result<Item> {
    let pk = layout.record_pk(tenant, &f.id);
    let gsi1pk = match (&f.asset_key, f.attached) {
        (Some(key), true) => finding_gsi1pk(tenant, key.as_str()),
        _ => unattached_gsi1pk(tenant),
    };
    let state = lifecycle.as_ref().map(|l| l.state.as_str());
    let facet_sk = finding_facet_of(
        &pk,
        &gsi1pk,
        f.status.as_str(),
        state,
        f.severity.as_str(),
        f.analyst_verdict.as_str(),
        &f.id,
    );
    let item = FindingItem {
        pk,
        sk: finding_sk(&f.id),
        kind: "finding".into(),
        gsi1pk,
        gsi1sk: finding_sk(&f.id),
        facet_sk: Some(facet_sk),
        attached: f.attached,
        status: f.status.as_str().to_string(),
        severity: f.severity.as_str().to_string(),
        verdict: f.analyst_verdict.as_str().to_string(),
        content_hash: hash,
        finding: f,
        created_at,
        updated_at,
        state: lifecycle.as_ref().map(|l| l.state.as_str().to_string()),
        lifecycle,
    };
    serde_dynamo::to_item(item).map_err(StoreError::item("finding"))
}
