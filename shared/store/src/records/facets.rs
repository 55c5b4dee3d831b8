//! Facet keys: what the `facets` and `asset_facets` indexes sort findings and assets by (see [`crate::keys`]), the
//! key prefixes a filter reads, and the one-off backfill of the items stored before the indexes existed.
//!
//! Backfill: a whole-item write (the sync's puts, a re-evaluated status) and every update that moves a facet
//! (closing a finding, retiring or re-activating an asset) write `facet_sk` from now on. Items written before it
//! existed lack it and are absent from both indexes until [`Store::backfill_facets_page`] walks the table and sets
//! it (`scripts/backfill-facets` runs it; resumable from the cursor it prints, idempotent: it only writes items
//! without `facet_sk`, each conditional on the values it read, so a concurrent sync write is never overwritten).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;

use s1_core::lifecycle::FindingState;
use s1_core::AnalystVerdict;

use crate::batch::{get_all, Projection};
use crate::error::{Result, StoreError};
use crate::keys::{
    asset_facet_sk, finding_facet_sk, tenant_pk_of, FindingFacets, RecordLayout, TenantId,
    ASSET_FACET_PREFIX, ASSET_PREFIX, FINDING_FACET_PREFIX, FINDING_PREFIX,
};
use crate::store::{s, Store};

/// Items examined per backfill page.
const BACKFILL_PAGE: i32 = 500;

/// Values of every facet of a finding, in the order of its `facet_sk` and, within each, in key (byte) order.
const FINDING_FACETS: [&[&str]; 5] = [
    &["false", "true"],
    &["failed", "passed"],
    &["closed", "open", "reopened", "resolved"],
    &["critical", "high", "info", "low", "medium"],
    &[
        "false_positive",
        "other",
        "suspicious",
        "true_positive",
        "undefined",
    ],
];

/// A facet filter of findings: `Some` fixes that facet's value (in its key spelling).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct FacetFilter<'a> {
    pub attached: Option<bool>,
    pub status: Option<&'a str>,
    pub state: Option<&'a str>,
    pub severity: Option<&'a str>,
    pub verdict: Option<&'a str>,
}

impl FacetFilter<'_> {
    /// The `facet_sk` prefixes that hold exactly the matching findings, in key order: every value of each facet
    /// before the last fixed one, the fixed values where fixed; the facets after the last fixed one stay open
    /// (one prefix covers them). `None` when no facet is fixed.
    pub(super) fn prefixes(&self) -> Option<Vec<String>> {
        let attached = self.attached.map(|a| if a { "true" } else { "false" });
        let fixed = [
            attached,
            self.status,
            self.state,
            self.severity,
            self.verdict,
        ];
        let last = fixed.iter().rposition(Option::is_some)?;
        let mut prefixes = vec![FINDING_FACET_PREFIX.to_string()];
        for (values, value) in FINDING_FACETS.iter().zip(fixed).take(last + 1) {
            let values: Vec<&str> = match value {
                Some(v) => vec![v],
                None => values.to_vec(),
            };
            prefixes = prefixes
                .iter()
                .flat_map(|p| values.iter().map(move |v| format!("{p}{v}#")))
                .collect();
        }
        Some(prefixes)
    }
}

/// A finding's `facet_sk` from its stored top-level attributes (the ones the views show): attached means listed
/// under an asset in gsi1; a finding without a lifecycle counts as open; a verdict outside the known ones is `other`.
/// `pk` is the finding's own (the tenant's, or one of its record shards).
pub(super) fn finding_facet_of(
    pk: &str,
    gsi1pk: &str,
    status: &str,
    state: Option<&str>,
    severity: &str,
    verdict: &str,
    id: &str,
) -> String {
    let unattached = gsi1pk.strip_prefix(tenant_pk_of(pk)) == Some("#UNATTACHED");
    let verdict = match AnalystVerdict::KNOWN.contains(&verdict) {
        true => verdict,
        false => "other",
    };
    finding_facet_sk(
        FindingFacets {
            attached: !unattached,
            status,
            state: state.unwrap_or(FindingState::Open.as_str()),
            severity,
            verdict,
        },
        id,
    )
}

/// What a finding's facet key is made of, besides its state (read before an update that moves the state).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct FacetInputs {
    pub sk: String,
    pub gsi1pk: String,
    pub status: String,
    pub severity: String,
    pub verdict: String,
}

impl FacetInputs {
    pub(super) fn facet_sk(&self, pk: &str, state: Option<&str>) -> String {
        let id = self.sk.strip_prefix(FINDING_PREFIX).unwrap_or(&self.sk);
        finding_facet_of(
            pk,
            &self.gsi1pk,
            &self.status,
            state,
            &self.severity,
            &self.verdict,
            id,
        )
    }
}

/// Where a backfill walk of the table stands: the last key it examined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillCursor {
    pub pk: String,
    pub sk: String,
}

#[derive(Debug, Deserialize)]
struct Legacy {
    pk: String,
    sk: String,
    kind: String,
    #[serde(default)]
    gsi1pk: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    verdict: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

impl Store {
    /// The facet inputs of these findings (by sort key); missing findings are absent.
    pub(super) async fn facet_inputs(
        &self,
        tenant: &TenantId,
        layout: RecordLayout,
        sks: impl Iterator<Item = String>,
    ) -> Result<HashMap<String, FacetInputs>> {
        let keys: Vec<_> = sks
            .map(|sk| Store::key(layout.record_pk_of_sk(tenant, &sk), sk))
            .collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let projection = Projection {
            expression: Some("sk, gsi1pk, #st, severity, verdict".into()),
            names: HashMap::from([("#st".to_string(), "status".to_string())]),
        };
        get_all(&*self.batch, &self.table, keys, &projection, self.retry)
            .await?
            .into_iter()
            .map(|i| {
                let f: FacetInputs =
                    serde_dynamo::from_item(i).map_err(StoreError::item("finding facets"))?;
                Ok((f.sk.clone(), f))
            })
            .collect()
    }

    /// One page of the backfill: examines up to 500 items of the table (segment `segment` of `segments` of a
    /// parallel scan) after `start`, and sets `facet_sk` on each finding and asset that lacks it. Returns how many
    /// it set and where to continue (`None`: this segment is done). Each write is conditional on the item still
    /// lacking `facet_sk` and still holding the values the key was made of, so it never overwrites a newer write.
    pub async fn backfill_facets_page(
        &self,
        segment: i32,
        segments: i32,
        start: Option<BackfillCursor>,
    ) -> Result<(u64, Option<BackfillCursor>)> {
        let out = self
            .dynamodb
            .scan()
            .table_name(&self.table)
            .segment(segment)
            .total_segments(segments)
            .filter_expression("attribute_not_exists(facet_sk) AND (kind = :f OR kind = :a)")
            .projection_expression("pk, sk, kind, gsi1pk, #st, #lst, severity, verdict, active")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#lst", "state")
            .expression_attribute_values(":f", s("finding"))
            .expression_attribute_values(":a", s("asset"))
            .set_exclusive_start_key(start.map(|c| Store::key(c.pk, c.sk)))
            .limit(BACKFILL_PAGE)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Scan", e))?;
        let mut updated = 0;
        for item in out.items.unwrap_or_default() {
            let legacy: Legacy =
                serde_dynamo::from_item(item).map_err(StoreError::item("backfilled item"))?;
            if self.backfill_one(legacy).await? {
                updated += 1;
            }
        }
        let next = out.last_evaluated_key.and_then(|mut k| {
            let pk = k.remove("pk")?.as_s().ok()?.clone();
            let sk = k.remove("sk")?.as_s().ok()?.clone();
            Some(BackfillCursor { pk, sk })
        });
        Ok((updated, next))
    }

    async fn backfill_one(&self, i: Legacy) -> Result<bool> {
        let mut req = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(i.pk.clone(), i.sk.clone())))
            .update_expression("SET facet_sk = :fs");
        let (facet, condition) = match (i.kind.as_str(), i.sk.strip_prefix(ASSET_PREFIX)) {
            ("asset", Some(key)) => {
                let active = i.active.unwrap_or(true);
                req = req.expression_attribute_values(":act", AttributeValue::Bool(active));
                (asset_facet_sk(active, key), "active = :act")
            }
            ("finding", _) => {
                let (Some(gsi1pk), Some(status), Some(severity), Some(verdict)) =
                    (i.gsi1pk, i.status, i.severity, i.verdict)
                else {
                    tracing::warn!(pk = %i.pk, sk = %i.sk, "a finding without its filterable values: left for its next write");
                    return Ok(false);
                };
                let inputs = FacetInputs {
                    sk: i.sk.clone(),
                    gsi1pk,
                    status,
                    severity,
                    verdict,
                };
                let facet = inputs.facet_sk(&i.pk, i.state.as_deref());
                req = req
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":g", s(inputs.gsi1pk))
                    .expression_attribute_values(":s", s(inputs.status))
                    .expression_attribute_values(":sev", s(inputs.severity))
                    .expression_attribute_values(":v", s(inputs.verdict));
                let condition = match i.state {
                    Some(state) => {
                        req = req
                            .expression_attribute_names("#lst", "state")
                            .expression_attribute_values(":lst", s(state));
                        "gsi1pk = :g AND #status = :s AND severity = :sev AND verdict = :v AND #lst = :lst"
                    }
                    None => {
                        req = req.expression_attribute_names("#lst", "state");
                        "gsi1pk = :g AND #status = :s AND severity = :sev AND verdict = :v AND attribute_not_exists(#lst)"
                    }
                };
                (facet, condition)
            }
            _ => return Ok(false),
        };
        let res = req
            .condition_expression(format!("attribute_not_exists(facet_sk) AND {condition}"))
            .expression_attribute_values(":fs", s(facet))
            .send()
            .await;
        StoreError::condition_held("UpdateItem", res)
    }
}

/// The `facet_sk` prefix of the assets with this activity whose key starts with `key_prefix`.
pub(super) fn asset_facet_prefix(active: bool, key_prefix: &str) -> String {
    format!("{ASSET_FACET_PREFIX}{active}#{key_prefix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_fixed_facet_reads_only_the_prefixes_before_it() {
        let none = FacetFilter::default();
        assert_eq!(none.prefixes(), None);
        let attached = FacetFilter {
            attached: Some(true),
            ..Default::default()
        };
        assert_eq!(attached.prefixes().unwrap(), ["FINDING#true#"]);
        let status = FacetFilter {
            status: Some("failed"),
            ..Default::default()
        };
        assert_eq!(
            status.prefixes().unwrap(),
            ["FINDING#false#failed#", "FINDING#true#failed#"]
        );
        let verdict = FacetFilter {
            verdict: Some("suspicious"),
            ..Default::default()
        };
        let p = verdict.prefixes().unwrap();
        assert_eq!(p.len(), 2 * 2 * 4 * 5, "the most prefixes any filter reads");
        assert!(p.iter().all(|p| p.ends_with("#suspicious#")));
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(
            p, sorted,
            "prefixes come in key order, so pages are in key order"
        );
    }

    #[test]
    fn every_value_a_finding_can_hold_has_a_prefix() {
        let severities = s1_core::Severity::ALL.map(|s| s.as_str());
        assert!(severities.iter().all(|s| FINDING_FACETS[3].contains(s)));
        let statuses = s1_core::FindingStatus::ALL.map(|s| s.as_str());
        assert!(statuses.iter().all(|s| FINDING_FACETS[1].contains(s)));
        assert!(FindingState::KNOWN
            .iter()
            .all(|s| FINDING_FACETS[2].contains(s)));
        assert!(AnalystVerdict::KNOWN
            .iter()
            .all(|v| FINDING_FACETS[4].contains(v)));
        assert!(FINDING_FACETS[4].contains(&"other"));
    }

    #[test]
    fn facet_keys_of_legacy_findings() {
        let k = finding_facet_of(
            "T#a",
            "T#a#UNATTACHED",
            "failed",
            None,
            "high",
            "brand_new",
            "s1-1",
        );
        assert_eq!(k, "FINDING#false#failed#open#high#other#s1-1");
        let k = finding_facet_of(
            "T#a",
            "T#a#ASSET#srv",
            "passed",
            Some("closed"),
            "low",
            "suspicious",
            "s1-2",
        );
        assert_eq!(k, "FINDING#true#passed#closed#low#suspicious#s1-2");
        // A spread tenant's finding: its pk is a record shard, its attachment still reads from gsi1pk.
        let k = finding_facet_of(
            "T#a#R#07",
            "T#a#UNATTACHED",
            "failed",
            Some("open"),
            "high",
            "suspicious",
            "s1-3",
        );
        assert_eq!(k, "FINDING#false#failed#open#high#suspicious#s1-3");
    }
}
