//! The tenant every stored item, log line and request belongs to. It lives in the core because every layer names
//! it (the HTTP edge reads it from the caller's claims, the store builds keys from it, the engine logs it), and its
//! charset rule is what keeps one tenant's keys and secret names from reaching another's.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A tenant of the platform, as named by the JWT claim the deployment configures. Restricted to a charset that
/// cannot break out of a key (`#`) or a secret-name prefix (`/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

/// A tenant id outside the charset or length [`TenantId`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the tenant id is invalid: it must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
)]
pub struct InvalidTenantId;

impl TenantId {
    pub const MAX_LEN: usize = 128;

    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidTenantId> {
        let raw = raw.into();
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(raw))
        } else {
            Err(InvalidTenantId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl std::str::FromStr for TenantId {
    type Err = InvalidTenantId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_limited_to_a_safe_charset() {
        for ok in ["a", "tenant-1", "Acme_Corp.eu", &"x".repeat(128)] {
            assert!(TenantId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "a#b", "../x", "a b", "é", &"x".repeat(129)] {
            assert!(TenantId::new(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<TenantId>("\"a/b\"").is_err());
    }
}
