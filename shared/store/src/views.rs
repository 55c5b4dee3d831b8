//! Queries of one tenant's partition (or gsi1), paged with signed tokens, and the internal full walks.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::batch::Item;
use crate::error::{Result, StoreError};
use crate::keys::{tenant_pk, TenantId};
use crate::page_token;
use crate::store::{s, Store};

pub const MAX_PAGE_SIZE: u32 = 1000;
/// Items read per call when a filter may drop most of them.
const FILTERED_READ: i32 = 500;

/// One key-condition query: partition (or gsi1 partition) plus a sort-key prefix, optionally filtered.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    index: Option<&'static str>,
    pk_attr: &'static str,
    sk_attr: &'static str,
    pk: String,
    sk_prefix: String,
    filter: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    forward: bool,
    projection: Option<String>,
}

impl Query {
    pub(crate) fn partition(tenant: &TenantId, sk_prefix: impl Into<String>) -> Self {
        Self {
            index: None,
            pk_attr: "pk",
            sk_attr: "sk",
            pk: tenant_pk(tenant),
            sk_prefix: sk_prefix.into(),
            filter: None,
            names: HashMap::new(),
            values: HashMap::new(),
            forward: true,
            projection: None,
        }
    }

    pub(crate) fn gsi1(pk: String, sk_prefix: impl Into<String>) -> Self {
        Self {
            index: Some("gsi1"),
            pk_attr: "gsi1pk",
            sk_attr: "gsi1sk",
            pk,
            ..Self::partition_raw(sk_prefix)
        }
    }

    fn partition_raw(sk_prefix: impl Into<String>) -> Self {
        Self {
            index: None,
            pk_attr: "pk",
            sk_attr: "sk",
            pk: String::new(),
            sk_prefix: sk_prefix.into(),
            filter: None,
            names: HashMap::new(),
            values: HashMap::new(),
            forward: true,
            projection: None,
        }
    }

    pub(crate) fn newest_first(mut self) -> Self {
        self.forward = false;
        self
    }

    /// Adds `clause` (ANDed) to the filter, with its placeholders.
    pub(crate) fn and_filter(
        mut self,
        clause: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Self {
        self.filter = Some(match self.filter.take() {
            Some(f) => format!("({f}) AND ({clause})"),
            None => clause.to_string(),
        });
        for (k, v) in names {
            self.names.insert((*k).to_string(), (*v).to_string());
        }
        for (k, v) in values {
            self.values.insert(k.to_string(), v);
        }
        self
    }

    pub(crate) fn project(mut self, expression: &str, names: &[(&str, &str)]) -> Self {
        self.projection = Some(expression.to_string());
        for (k, v) in names {
            self.names.insert((*k).to_string(), (*v).to_string());
        }
        self
    }

    fn key_attrs(&self) -> &'static [&'static str] {
        match self.index {
            Some(_) => &["pk", "sk", "gsi1pk", "gsi1sk"],
            None => &["pk", "sk"],
        }
    }

    fn cursor_of(&self, item: &Item) -> Result<BTreeMap<String, String>> {
        self.key_attrs()
            .iter()
            .map(|a| match item.get(*a) {
                Some(AttributeValue::S(v)) => Ok(((*a).to_string(), v.clone())),
                _ => Err(StoreError::Malformed {
                    what: "listed",
                    detail: format!("item without key attribute {a}"),
                }),
            })
            .collect()
    }

    fn start_key(&self, cursor: BTreeMap<String, String>) -> Result<Item> {
        // The cursor must name exactly this listing's partition: a signed token already guarantees it, this is the
        // belt to those braces.
        if cursor.get(self.pk_attr) != Some(&self.pk) || cursor.len() != self.key_attrs().len() {
            return Err(StoreError::InvalidPageToken);
        }
        Ok(cursor.into_iter().map(|(k, v)| (k, s(v))).collect())
    }
}

impl Store {
    pub(crate) async fn query_once(
        &self,
        q: &Query,
        start: Option<Item>,
        limit: Option<i32>,
    ) -> Result<(Vec<Item>, Option<Item>)> {
        let mut names = q.names.clone();
        names.insert("#qpk".into(), q.pk_attr.into());
        names.insert("#qsk".into(), q.sk_attr.into());
        let mut values = q.values.clone();
        values.insert(":qpk".into(), s(&q.pk));
        values.insert(":qsk".into(), s(&q.sk_prefix));
        let out = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .set_index_name(q.index.map(str::to_string))
            .key_condition_expression("#qpk = :qpk AND begins_with(#qsk, :qsk)")
            .set_filter_expression(q.filter.clone())
            .set_projection_expression(q.projection.clone())
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(q.forward)
            .set_exclusive_start_key(start)
            .set_limit(limit)
            .set_consistent_read(q.index.is_none().then_some(true))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    /// Every item the query matches, page by page, handed to `each` in pages (memory bounded by a page).
    pub(crate) async fn query_each<F>(&self, q: &Query, mut each: F) -> Result<()>
    where
        F: FnMut(Vec<Item>) -> Result<()>,
    {
        let mut start = None;
        loop {
            let (items, last) = self.query_once(q, start, None).await?;
            each(items)?;
            match last {
                Some(k) => start = Some(k),
                None => return Ok(()),
            }
        }
    }

    /// One page of at most `limit` matching items after `page_token`, and the token of the next page.
    pub(crate) async fn paged_query(
        &self,
        tenant: &TenantId,
        view: &str,
        filter_digest: &str,
        q: Query,
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<String>)> {
        // Checked before any read: a store without the key serves no paged listing at all.
        let key = self.page_token_key()?;
        let limit = limit.clamp(1, MAX_PAGE_SIZE) as usize;
        let mut start = match page_token {
            Some(t) => {
                Some(q.start_key(page_token::verify(key, t, tenant, view, filter_digest)?)?)
            }
            None => None,
        };
        let mut out = Vec::with_capacity(limit);
        loop {
            let remaining = limit - out.len();
            let read = if q.filter.is_some() {
                FILTERED_READ.max(remaining as i32)
            } else {
                remaining as i32
            };
            let (items, last) = self.query_once(&q, start.take(), Some(read)).await?;
            let got = items.len();
            out.extend(items.into_iter().take(remaining));
            if got > remaining {
                // Cut inside DynamoDB's page: resume right after the last item returned.
                let cursor = match out.last() {
                    Some(item) => q.cursor_of(item)?,
                    None => return Ok((out, None)),
                };
                return Ok((
                    out,
                    Some(page_token::sign(key, tenant, view, filter_digest, cursor)),
                ));
            }
            match last {
                None => return Ok((out, None)),
                Some(k) if out.len() == limit => {
                    let cursor = q.cursor_of(&k)?;
                    return Ok((
                        out,
                        Some(page_token::sign(key, tenant, view, filter_digest, cursor)),
                    ));
                }
                Some(k) => start = Some(k),
            }
        }
    }
}
