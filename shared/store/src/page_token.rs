//! Opaque page tokens for the views: the last key of a page, signed with HMAC-SHA256 and bound to the tenant, the
//! view and the filter, so a token can neither be forged, nor replayed by another tenant, nor used on another
//! listing or with other filters.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::keys::TenantId;

type HmacSha256 = Hmac<Sha256>;

/// The key page tokens are signed with (deployment-wide, e.g. from a secret or generated per cold start when
/// tokens need not survive restarts). Debug never prints it.
#[derive(Clone)]
pub struct PageTokenKey(Vec<u8>);

impl PageTokenKey {
    pub const MIN_LEN: usize = 32;

    /// At least 32 bytes of key material.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, StoreError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(StoreError::InvalidInput(format!(
                "the page-token key must be at least {} bytes",
                Self::MIN_LEN
            )));
        }
        Ok(Self(bytes))
    }

    /// A fresh random key: tokens then stay valid only for this process.
    pub fn random() -> Self {
        Self(rand::random::<[u8; 32]>().to_vec())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this never fails.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
        }
    }
}

impl fmt::Debug for PageTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PageTokenKey([redacted])")
    }
}

/// What a token carries. Short field names keep tokens short in URLs.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    t: String,
    v: String,
    f: String,
    k: BTreeMap<String, String>,
}

/// A digest of the filter a listing was called with: a token is valid only with the same filter.
pub(crate) fn filter_digest<F: Serialize>(filter: &F) -> String {
    let json = serde_json::to_vec(filter).unwrap_or_default();
    hex::encode(&Sha256::digest(&json)[..12])
}

pub(crate) fn sign(
    key: &PageTokenKey,
    tenant: &TenantId,
    view: &str,
    filter: &str,
    cursor: BTreeMap<String, String>,
) -> String {
    let payload = Payload {
        t: tenant.as_str().to_string(),
        v: view.to_string(),
        f: filter.to_string(),
        k: cursor,
    };
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap_or_default());
    let mut mac = key.mac();
    mac.update(body.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{body}.{sig}")
}

pub(crate) fn verify(
    key: &PageTokenKey,
    token: &str,
    tenant: &TenantId,
    view: &str,
    filter: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let (body, sig) = token.split_once('.').ok_or(StoreError::InvalidPageToken)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| StoreError::InvalidPageToken)?;
    let mut mac = key.mac();
    mac.update(body.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| StoreError::InvalidPageToken)?;
    let json = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| StoreError::InvalidPageToken)?;
    let payload: Payload =
        serde_json::from_slice(&json).map_err(|_| StoreError::InvalidPageToken)?;
    if payload.t != tenant.as_str() || payload.v != view || payload.f != filter {
        return Err(StoreError::InvalidPageToken);
    }
    Ok(payload.k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> BTreeMap<String, String> {
        BTreeMap::from([("sk".to_string(), "ASSET#a".to_string())])
    }

    #[test]
    fn round_trips_and_refuses_every_mismatch() {
        let key = PageTokenKey::random();
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        let tok = sign(&key, &a, "assets", "f1", cursor());
        assert_eq!(verify(&key, &tok, &a, "assets", "f1").unwrap(), cursor());
        assert!(verify(&key, &tok, &b, "assets", "f1").is_err());
        assert!(verify(&key, &tok, &a, "findings", "f1").is_err());
        assert!(verify(&key, &tok, &a, "assets", "f2").is_err());
        assert!(verify(&PageTokenKey::random(), &tok, &a, "assets", "f1").is_err());
        let mut tampered = tok.clone().into_bytes();
        tampered[3] ^= 1;
        assert!(verify(
            &key,
            &String::from_utf8(tampered).unwrap(),
            &a,
            "assets",
            "f1"
        )
        .is_err());
        assert!(verify(&key, "garbage", &a, "assets", "f1").is_err());
        assert!(format!("{key:?}").contains("redacted"));
    }
}
