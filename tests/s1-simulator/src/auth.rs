//! API tokens the simulated console knows: their scopes, lifetimes and revocation.

use std::collections::HashMap;

use base64::Engine as _;
use time::{Duration, OffsetDateTime};

/// The console permissions the connector's endpoints need (role permissions `Endpoints.view`,
/// `Threats.view`, `Groups.view` in the console's terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    pub endpoints_view: bool,
    pub threats_view: bool,
    pub groups_view: bool,
    /// `Applications Page.viewRisks`: the application-vulnerability rows.
    pub risks_view: bool,
}

impl Permissions {
    pub fn all() -> Self {
        Self {
            endpoints_view: true,
            threats_view: true,
            groups_view: true,
            risks_view: true,
        }
    }

    pub fn none() -> Self {
        Self {
            endpoints_view: false,
            threats_view: false,
            groups_view: false,
            risks_view: false,
        }
    }

    pub fn with_endpoints_view(mut self, on: bool) -> Self {
        self.endpoints_view = on;
        self
    }

    pub fn with_threats_view(mut self, on: bool) -> Self {
        self.threats_view = on;
        self
    }

    pub fn with_risks_view(mut self, on: bool) -> Self {
        self.risks_view = on;
        self
    }

    pub fn with_groups_view(mut self, on: bool) -> Self {
        self.groups_view = on;
        self
    }
}

impl Default for Permissions {
    fn default() -> Self {
        Self::all()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    pub perms: Permissions,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked: bool,
}

/// Why a presented token was refused (all answered 401, the distinction is for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    Missing,
    WrongScheme,
    Unknown,
    Revoked,
    Expired,
}

impl AuthFailure {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::WrongScheme => "wrong_scheme",
            Self::Unknown => "unknown_token",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, TokenEntry>,
    pub default_token: String,
}

/// A service-user-like token: JWT-shaped (`eyJ…`), random, never derived from the tenant seed so
/// two simulators never share a token.
pub(crate) fn new_token() -> String {
    let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"kid":"s1-simulator","alg":"ES256"}"#);
    let nonce: [u8; 16] = rand::random();
    let sig: [u8; 32] = rand::random();
    let claims = format!(
        r#"{{"sub":"service-user","jti":"{}","iss":"s1-simulator"}}"#,
        hex_lower(&nonce)
    );
    format!(
        "{header}.{}.{}",
        b64.encode(claims.as_bytes()),
        b64.encode(sig)
    )
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl TokenStore {
    pub(crate) fn with_default(token: String) -> Self {
        let mut s = Self::default();
        let now = OffsetDateTime::now_utc();
        s.insert(
            token.clone(),
            Permissions::all(),
            now - Duration::days(30),
            now + Duration::days(180),
        );
        s.default_token = token;
        s
    }

    pub(crate) fn insert(
        &mut self,
        token: String,
        perms: Permissions,
        created_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) {
        self.tokens.insert(
            token,
            TokenEntry {
                perms,
                created_at,
                expires_at,
                revoked: false,
            },
        );
    }

    pub(crate) fn revoke(&mut self, token: &str) {
        if let Some(t) = self.tokens.get_mut(token) {
            t.revoked = true;
        }
    }

    /// Issues a new default token and revokes the old one, as regenerating a service user's token
    /// in the console does.
    pub(crate) fn rotate(&mut self) -> String {
        let old = std::mem::take(&mut self.default_token);
        self.revoke(&old);
        let perms = self
            .tokens
            .get(&old)
            .map_or(Permissions::all(), |t| t.perms);
        let fresh = new_token();
        let now = OffsetDateTime::now_utc();
        self.insert(fresh.clone(), perms, now, now + Duration::days(180));
        self.default_token = fresh.clone();
        fresh
    }

    pub(crate) fn get(&self, token: &str) -> Option<&TokenEntry> {
        self.tokens.get(token)
    }

    /// Every token ever issued (revoked ones included): a leak of an old token is still a leak.
    pub(crate) fn all_tokens(&self) -> impl Iterator<Item = &str> {
        self.tokens.keys().map(String::as_str)
    }

    /// Checks an `Authorization` header value. The scheme must be exactly `ApiToken` followed by one
    /// space (API.md §1: our client sends exactly that; other spellings are refused so a client
    /// that drifts is caught here rather than at a customer's console).
    pub(crate) fn authenticate(
        &self,
        header: Option<&str>,
    ) -> Result<(&str, Permissions), AuthFailure> {
        let header = header.ok_or(AuthFailure::Missing)?;
        let token = header
            .strip_prefix("ApiToken ")
            .ok_or(AuthFailure::WrongScheme)?;
        let (key, entry) = self
            .tokens
            .get_key_value(token)
            .ok_or(AuthFailure::Unknown)?;
        if entry.revoked {
            return Err(AuthFailure::Revoked);
        }
        if entry.expires_at <= OffsetDateTime::now_utc() {
            return Err(AuthFailure::Expired);
        }
        Ok((key.as_str(), entry.perms))
    }
}
