//! The table handle every repository function hangs off.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::batch::{BatchApi, RetryPolicy, SdkBatch};
use crate::error::StoreError;
use crate::page_token::PageTokenKey;

/// One page of a view. `next_page_token` is opaque and only valid for the same tenant, view and filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

/// The connector table. Cheap to clone; build once per cold start.
#[derive(Clone)]
pub struct Store {
    pub(crate) dynamodb: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
    /// Only the function that serves list views holds it (see [`Store::with_page_token_key`]).
    pub(crate) page_token_key: Option<PageTokenKey>,
    pub(crate) batch: Arc<dyn BatchApi>,
    pub(crate) retry: RetryPolicy,
    /// Findings read per page of a verdict re-evaluation (see [`Store::reevaluate_finding_statuses_page`]).
    pub(crate) reevaluate_page: i32,
}

/// Findings per re-evaluation page: a few hundred KB of items, well inside one Query response (1 MB) and a
/// second or two of writes when most flip, so a page always fits between two budget checks.
pub(crate) const REEVALUATE_PAGE: i32 = 500;

impl Store {
    /// A store that also signs and checks list page tokens with `page_token_key`.
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        page_token_key: PageTokenKey,
    ) -> Self {
        Self::without_page_tokens(dynamodb, table).with_page_token_key(page_token_key)
    }

    /// A store for a function that serves no list view: it never holds the page-token key, and a paged listing
    /// through it fails with [`StoreError::NoPageTokenKey`] instead of signing with a key it should not have.
    pub fn without_page_tokens(
        dynamodb: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
    ) -> Self {
        Self {
            batch: Arc::new(SdkBatch(dynamodb.clone())),
            dynamodb,
            table: table.into(),
            page_token_key: None,
            retry: RetryPolicy::default(),
            reevaluate_page: REEVALUATE_PAGE,
        }
    }

    /// Signs and checks list page tokens with `key` (the read function's store).
    pub fn with_page_token_key(mut self, key: PageTokenKey) -> Self {
        self.page_token_key = Some(key);
        self
    }

    pub(crate) fn page_token_key(&self) -> Result<&PageTokenKey, StoreError> {
        self.page_token_key
            .as_ref()
            .ok_or(StoreError::NoPageTokenKey)
    }

    /// Findings read per re-evaluation page (tests use small pages to force many checkpoints).
    pub fn with_reevaluate_page(mut self, findings: i32) -> Self {
        self.reevaluate_page = findings.max(1);
        self
    }

    /// Routes BatchGetItem/BatchWriteItem through `batch` (e.g. an [`crate::UnprocessedInjector`] in tests).
    pub fn with_batch_api(mut self, batch: Arc<dyn BatchApi>) -> Self {
        self.batch = batch;
        self
    }

    /// How long and how patiently unprocessed batch items are retried.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        &self.dynamodb
    }

    pub(crate) fn key(pk: String, sk: impl Into<String>) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk)),
            ("sk".to_string(), AttributeValue::S(sk.into())),
        ])
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
