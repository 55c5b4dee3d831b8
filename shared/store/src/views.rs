//! Queries of one tenant's partition (or one of its indexes), paged with signed tokens, and the internal full walks.
//!
//! A view page reads only items it returns: every filter a view accepts is a key condition (a partition, a
//! sort-key prefix of the table or an index), never a FilterExpression over items the page then drops. A filter
//! that several key prefixes serve (findings filtered on some of their facets, see [`crate::keys`]) is read prefix
//! by prefix ([`Store::sharded_query`]); a prefix with no items costs a call, not an item.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::batch::Item;
use crate::error::{Result, StoreError};
use crate::keys::{
    tenant_pk, RecordLayout, TenantId, ASSET_FACETS_INDEX, FACETS_INDEX, OPEN_VULNERABILITIES_INDEX,
};
use crate::page_token;
use crate::store::{s, Store};

pub const MAX_PAGE_SIZE: u32 = 1000;
/// Key prefixes one faceted page may query. A filter that matches little walks up to 80 prefixes (a verdict alone,
/// see [`crate::keys`]); past this bound the page ends short with a token that resumes at the next prefix, so a
/// request's work stays bounded whatever the layout grows to.
const MAX_PREFIXES_PER_PAGE: usize = 100;
/// Cursor field of a faceted page token: the key prefix the next page starts in.
const PREFIX_CURSOR: &str = "~prefix";
/// Cursor field of a page token over several partitions (a spread tenant's record shards): the shard the next page
/// starts in. Absent: shard 0 (the only one of a single-partition listing).
const SHARD_CURSOR: &str = "~shard";

/// A view's filter digest under a record layout: unchanged for the legacy layout (its page tokens stay valid), bound
/// to the shard count otherwise, so a token issued before a tenant's records moved is refused (400) instead of
/// resuming in a partition that no longer holds them.
pub(crate) fn layout_digest(digest: String, layout: RecordLayout) -> String {
    match layout.shards() {
        1 => digest,
        n => format!("{digest}#record_shards={n}"),
    }
}

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

    /// The tenant's findings and assets by facet (`pk`, `facet_sk`); the prefix is set per query.
    pub(crate) fn facets(tenant: &TenantId) -> Self {
        Self {
            index: Some(FACETS_INDEX),
            pk_attr: "pk",
            sk_attr: "facet_sk",
            pk: tenant_pk(tenant),
            ..Self::partition_raw("")
        }
    }

    /// One gsi1 partition (an asset's findings, or the unattached ones) by facet (`gsi1pk`, `facet_sk`).
    pub(crate) fn asset_facets(gsi1pk: String) -> Self {
        Self {
            index: Some(ASSET_FACETS_INDEX),
            pk_attr: "gsi1pk",
            sk_attr: "facet_sk",
            pk: gsi1pk,
            ..Self::partition_raw("")
        }
    }

    /// One asset's present vulnerabilities (`vopen_pk` = the asset's gsi1pk, `vopen_sk` = `<severity>#<id>`), keys
    /// only.
    pub(crate) fn open_vulnerabilities(vopen_pk: String) -> Self {
        Self {
            index: Some(OPEN_VULNERABILITIES_INDEX),
            pk_attr: "vopen_pk",
            sk_attr: "vopen_sk",
            pk: vopen_pk,
            ..Self::partition_raw("")
        }
    }

    /// The same query in another partition (one shard of a spread tenant's records).
    pub(crate) fn in_partition(mut self, pk: impl Into<String>) -> Self {
        self.pk = pk.into();
        self
    }

    pub(crate) fn prefixed(mut self, sk_prefix: impl Into<String>) -> Self {
        self.sk_prefix = sk_prefix.into();
        self
    }

    fn with_prefix(&self, sk_prefix: &str) -> Self {
        let mut q = self.clone();
        q.sk_prefix = sk_prefix.to_string();
        q
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

    /// The attributes of a LastEvaluatedKey of this query: the table's keys and the index's.
    fn key_attrs(&self) -> Vec<&'static str> {
        let mut attrs = vec!["pk", "sk"];
        if self.index.is_some() {
            for a in [self.pk_attr, self.sk_attr] {
                if !attrs.contains(&a) {
                    attrs.push(a);
                }
            }
        }
        attrs
    }

    fn cursor_of(&self, item: &Item) -> Result<BTreeMap<String, String>> {
        self.key_attrs()
            .iter()
            .map(|a| match item.get(*a) {
                Some(AttributeValue::S(v)) => Ok((a.to_string(), v.clone())),
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
        let attrs = self.key_attrs();
        if cursor.get(self.pk_attr) != Some(&self.pk)
            || cursor.len() != attrs.len()
            || !attrs.iter().all(|a| cursor.contains_key(*a))
            || !cursor
                .get(self.sk_attr)
                .is_some_and(|sk| sk.starts_with(&self.sk_prefix))
        {
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
        let mut values = q.values.clone();
        values.insert(":qpk".into(), s(&q.pk));
        // DynamoDB refuses an empty key value, even in begins_with: no prefix means the whole partition.
        let key_condition = match q.sk_prefix.is_empty() {
            true => "#qpk = :qpk",
            false => {
                names.insert("#qsk".into(), q.sk_attr.into());
                values.insert(":qsk".into(), s(&q.sk_prefix));
                "#qpk = :qpk AND begins_with(#qsk, :qsk)"
            }
        };
        let out = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .set_index_name(q.index.map(str::to_string))
            .key_condition_expression(key_condition)
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

    /// One page of at most `limit` items after `page_token`, and the token of the next page. The query carries no
    /// filter (views never read items they drop), so each call asks for what the page still lacks and the page
    /// reads exactly what it returns; a call cut short by DynamoDB's 1 MB limit continues where it stopped.
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
        self.page_token_key()?;
        if q.filter.is_some() {
            return Err(StoreError::InvalidInput(format!(
                "the {view} view cannot filter items it reads: serve the filter from a key"
            )));
        }
        let limit = limit.clamp(1, MAX_PAGE_SIZE) as usize;
        let mut start = match page_token {
            Some(t) => Some(q.start_key(self.verify_token(tenant, view, filter_digest, t)?)?),
            None => None,
        };
        let mut out = Vec::with_capacity(limit);
        loop {
            let remaining = (limit - out.len()) as i32;
            let (items, last) = self.query_once(&q, start.take(), Some(remaining)).await?;
            out.extend(items);
            match last {
                None => return Ok((out, None)),
                Some(k) if out.len() >= limit => {
                    let token = self.sign_token(tenant, view, filter_digest, q.cursor_of(&k)?)?;
                    return Ok((out, Some(token)));
                }
                Some(k) => start = Some(k),
            }
        }
    }

    /// One page of at most `limit` items read prefix by prefix: `prefixes` (in the order the view lists them) are
    /// sort-key prefixes of `q`'s index that together hold exactly the items the filter matches, so every item read
    /// is returned. The token names the prefix to resume in and, within it, the last key read. At most
    /// [`MAX_PREFIXES_PER_PAGE`] prefixes are queried per page: past that the page ends short, with a token.
    ///
    /// `partitions` are the partitions of `q` (a spread tenant's record shards; one for any other listing): each
    /// prefix is read in every partition, the first partition first, before the next prefix, so the listing keeps
    /// its prefix order (threats before vulnerabilities, facet values in key order) and, within a prefix, lists
    /// shard by shard. The token also names the partition to resume in (when there are several), so a page still
    /// reads only what it returns.
    pub(crate) async fn sharded_query(
        &self,
        tenant: &TenantId,
        view: &str,
        filter_digest: &str,
        (q, prefixes, partitions): (Query, &[String], &[String]),
        page_token: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<String>)> {
        // Checked before any read: a store without the key serves no paged listing at all.
        self.page_token_key()?;
        let limit = limit.clamp(1, MAX_PAGE_SIZE) as usize;
        let steps = prefixes.len() * partitions.len();
        let step_of = |shard: usize, at: usize| at * partitions.len() + shard;
        let at_of = |step: usize| (step % partitions.len(), step / partitions.len());
        let (mut step, mut start) = match page_token {
            None => (0, None),
            Some(t) => {
                let mut cursor = self.verify_token(tenant, view, filter_digest, t)?;
                let prefix = cursor
                    .remove(PREFIX_CURSOR)
                    .ok_or(StoreError::InvalidPageToken)?;
                let shard = match cursor.remove(SHARD_CURSOR) {
                    None => 0,
                    Some(n) => n
                        .parse::<usize>()
                        .map_err(|_| StoreError::InvalidPageToken)?,
                };
                let pk = partitions.get(shard).ok_or(StoreError::InvalidPageToken)?;
                let at = prefixes
                    .iter()
                    .position(|p| *p == prefix)
                    .ok_or(StoreError::InvalidPageToken)?;
                let start = match cursor.is_empty() {
                    true => None,
                    false => Some(
                        q.with_prefix(&prefix)
                            .in_partition(pk.clone())
                            .start_key(cursor)?,
                    ),
                };
                (step_of(shard, at), start)
            }
        };
        let token = |step: usize, cursor: Option<BTreeMap<String, String>>| {
            let (shard, at) = at_of(step);
            let mut cursor = cursor.unwrap_or_default();
            if partitions.len() > 1 {
                cursor.insert(SHARD_CURSOR.to_string(), shard.to_string());
            }
            self.prefix_token(tenant, view, filter_digest, &prefixes[at], Some(cursor))
        };
        let mut out = Vec::with_capacity(limit);
        let mut queried = 0;
        while step < steps {
            if queried == MAX_PREFIXES_PER_PAGE {
                return Ok((out, Some(token(step, None)?)));
            }
            let (shard, at) = at_of(step);
            let pq = q
                .with_prefix(&prefixes[at])
                .in_partition(partitions[shard].clone());
            let remaining = (limit - out.len()) as i32;
            let (items, last) = self.query_once(&pq, start.take(), Some(remaining)).await?;
            queried += 1;
            out.extend(items);
            match last {
                Some(k) if out.len() >= limit => {
                    let cursor = pq.cursor_of(&k)?;
                    return Ok((out, Some(token(step, Some(cursor))?)));
                }
                // Cut short by DynamoDB's 1 MB limit: the same prefix goes on.
                Some(k) => start = Some(k),
                None => {
                    step += 1;
                    if out.len() >= limit {
                        let next = match step < steps {
                            true => Some(token(step, None)?),
                            false => None,
                        };
                        return Ok((out, next));
                    }
                }
            }
        }
        Ok((out, None))
    }

    fn prefix_token(
        &self,
        tenant: &TenantId,
        view: &str,
        filter_digest: &str,
        prefix: &str,
        cursor: Option<BTreeMap<String, String>>,
    ) -> Result<String> {
        let mut cursor = cursor.unwrap_or_default();
        cursor.insert(PREFIX_CURSOR.to_string(), prefix.to_string());
        self.sign_token(tenant, view, filter_digest, cursor)
    }

    fn verify_token(
        &self,
        tenant: &TenantId,
        view: &str,
        filter_digest: &str,
        token: &str,
    ) -> Result<BTreeMap<String, String>> {
        page_token::verify(self.page_token_key()?, token, tenant, view, filter_digest)
    }

    fn sign_token(
        &self,
        tenant: &TenantId,
        view: &str,
        filter_digest: &str,
        cursor: BTreeMap<String, String>,
    ) -> Result<String> {
        Ok(page_token::sign(
            self.page_token_key()?,
            tenant,
            view,
            filter_digest,
            cursor,
        ))
    }
}
