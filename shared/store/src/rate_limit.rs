//! The per-tenant request limit of the HTTP API: one item per tenant holding a token bucket in its GCRA form (the
//! "theoretical arrival time", `tat`, of the next request), updated by conditional UpdateItems only, so concurrent
//! requests on any number of Lambda instances never both take the last token. A bucket is full again after
//! `burst / per_second` seconds of quiet; an idle tenant's item expires through the table's TTL.
//!
//! Key: pk `RATE#<tenant>`, sk `RATE` — a partition of its own per tenant, apart from `T#<tenant>`, so a sync
//! writing the tenant's data at full speed never competes with the API's admissions for one partition's
//! throughput, and "everything of a tenant" (its `T#` partition) stays the tenant's data.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::{Result, StoreError};
use crate::keys::TenantId;
use crate::store::{n, Store};

pub(crate) const RATE_PREFIX: &str = "RATE#";
pub(crate) const RATE_SK: &str = "RATE";
/// An idle bucket is full long before this; the TTL only keeps the table free of tenants that stopped calling.
const IDLE_EXPIRY_SECS: u64 = 24 * 60 * 60;

/// The partition of `tenant`'s request bucket.
pub(crate) fn rate_pk(t: &TenantId) -> String {
    format!("{RATE_PREFIX}{}", t.as_str())
}

/// Requests per second a tenant may make on average, and how many it may make at once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl RateLimit {
    /// Refuses a rate that is not a positive finite number or a burst of zero.
    pub fn new(per_second: f64, burst: u32) -> Result<Self> {
        if !(per_second.is_finite() && per_second > 0.0 && per_second <= 1_000_000.0) || burst == 0
        {
            return Err(StoreError::InvalidInput(format!(
                "a request limit needs a rate above 0 and at most 1,000,000 per second and a burst of at least 1, not {per_second}/s with a burst of {burst}"
            )));
        }
        Ok(Self { per_second, burst })
    }

    /// Microseconds one request costs (the emission interval).
    fn interval_micros(&self) -> i64 {
        ((1_000_000.0 / self.per_second).round() as i64).max(1)
    }

    /// How far ahead of now the bucket's `tat` may run before a request is refused.
    fn tolerance_micros(&self) -> i64 {
        self.interval_micros()
            .saturating_mul(i64::from(self.burst).saturating_sub(1))
    }
}

/// Whether a request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Over the limit: the earliest the next request can be admitted.
    Limited {
        retry_after: Duration,
    },
}

impl Store {
    /// Takes one request from `tenant`'s bucket. Two conditional writes at most, each atomic: a bucket that has
    /// refilled starts over from now; otherwise the request is added if the bucket still holds one. When both
    /// conditions fail the tenant is over its limit and nothing is written.
    pub async fn admit_request(&self, tenant: &TenantId, limit: &RateLimit) -> Result<Admission> {
        self.admit_request_at(tenant, limit, now_micros()).await
    }

    /// [`Store::admit_request`] at `now` (microseconds since the epoch), for tests that step the clock.
    pub async fn admit_request_at(
        &self,
        tenant: &TenantId,
        limit: &RateLimit,
        now: i64,
    ) -> Result<Admission> {
        let interval = limit.interval_micros();
        let expires = now / 1_000_000 + IDLE_EXPIRY_SECS as i64;
        let key = || Store::key(rate_pk(tenant), RATE_SK);
        // A new or refilled bucket: the request's successor may come one interval from now.
        let fresh = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key()))
            .update_expression("SET tat = :next, expires_at = :exp")
            .condition_expression("attribute_not_exists(tat) OR tat <= :now")
            .expression_attribute_values(":next", n(now.saturating_add(interval)))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":exp", n(expires))
            .send()
            .await;
        if StoreError::condition_held("UpdateItem", fresh)? {
            return Ok(Admission::Allowed);
        }
        // A bucket in use: admitted while the tenant's requests stay within the burst ahead of now.
        let taken = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key()))
            .update_expression("SET tat = tat + :interval, expires_at = :exp")
            .condition_expression("tat <= :latest")
            .expression_attribute_values(":interval", n(interval))
            .expression_attribute_values(":latest", n(now.saturating_add(limit.tolerance_micros())))
            .expression_attribute_values(":exp", n(expires))
            .send()
            .await;
        if StoreError::condition_held("UpdateItem", taken)? {
            return Ok(Admission::Allowed);
        }
        let tat = self.bucket_tat(tenant).await?.unwrap_or(now);
        let wait = tat
            .saturating_sub(limit.tolerance_micros())
            .saturating_sub(now)
            .max(0);
        Ok(Admission::Limited {
            retry_after: Duration::from_micros(wait as u64),
        })
    }

    async fn bucket_tat(&self, tenant: &TenantId) -> Result<Option<i64>> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Store::key(rate_pk(tenant), RATE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out
            .item
            .as_ref()
            .and_then(|i| i.get("tat"))
            .and_then(|v| match v {
                AttributeValue::N(n) => n.parse().ok(),
                _ => None,
            }))
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_need_a_positive_rate_and_a_burst() {
        assert!(RateLimit::new(5.0, 20).is_ok());
        assert!(RateLimit::new(0.0, 20).is_err());
        assert!(RateLimit::new(f64::NAN, 20).is_err());
        assert!(RateLimit::new(5.0, 0).is_err());
    }
}
