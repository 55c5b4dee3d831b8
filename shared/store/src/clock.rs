//! Timestamps as the table stores them: RFC 3339 UTC with whole seconds and `Z`, a fixed width so that string order
//! is time order (the due index's sort key relies on it).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::error::StoreError;

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `2026-11-25T01:15:00Z`.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        // A year outside 0..=9999 is the only failure; clamp to the Unix epoch rather than fail a write.
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Reads any RFC 3339 timestamp (what callers pass in) and renders it in the stored form.
pub fn normalize_timestamp(s: &str) -> Result<String, StoreError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(format_timestamp)
        .map_err(|_| StoreError::InvalidInput(format!("\"{s}\" is not an RFC 3339 timestamp")))
}

pub(crate) fn now_millis() -> i64 {
    let n = now();
    (n.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Seconds since the epoch, for the table's `expires_at` TTL attribute.
pub(crate) fn epoch_seconds_in(days: i64) -> i64 {
    (now() + time::Duration::days(days)).unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_is_fixed_width_utc() {
        assert_eq!(
            normalize_timestamp("2026-11-25T02:15:00.123+01:00").unwrap(),
            "2026-11-25T01:15:00Z"
        );
        assert!(normalize_timestamp("yesterday").is_err());
    }
}
