//! Who may do what, checked at the edge before any use case runs: every route needs the caller's tenant (from the
//! JWT authorizer's claims); a route that changes anything also needs the deployment's admin scope; and every
//! request of a tenant takes a token from that tenant's bucket (`connector_store::RateLimit`), so one tenant
//! cannot use up the API for the rest.
//!
//! Where the admin scope is looked for: API Gateway's HTTP API JWT authorizer hands every claim on as a string, and
//! an array claim arrives flattened as `"[a b c]"`. The scope counts when it is one of the space- or
//! comma-separated values (brackets and quotes around the list or a value ignored) of the OAuth `scope` claim, of
//! `scp` (Azure AD, Okta), of the authorizer's own `scopes` list, or of the claim named by `ROLES_CLAIM` (e.g.
//! `cognito:groups` or `roles`, for identity providers that carry roles instead of scopes). It must match a whole
//! value, case-sensitively: `s1-connector:admin-lite` is not `s1-connector:admin`.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use connector_store::{optional_env, Admission, RateLimit, Store, TenantId};

use crate::{caller_tenant, tenant_claim_from, ApiError};

/// The scope a write needs unless the deployment names another (`ADMIN_SCOPE`).
pub const DEFAULT_ADMIN_SCOPE: &str = "s1-connector:admin";
/// The claims that carry OAuth scopes, in the two spellings identity providers use.
pub const SCOPE_CLAIMS: [&str; 2] = ["scope", "scp"];
/// Requests per second a tenant may make on average unless `TENANT_REQUESTS_PER_SECOND` says otherwise.
pub const DEFAULT_TENANT_REQUESTS_PER_SECOND: f64 = 5.0;
/// Requests a tenant may make at once after a quiet spell unless `TENANT_REQUEST_BURST` says otherwise.
pub const DEFAULT_TENANT_REQUEST_BURST: u32 = 20;

/// What a route needs beyond the caller's tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads: tenant membership is enough.
    Read,
    /// Anything that changes the connector, or sends the tenant's token anywhere: the admin scope.
    Write,
}

/// A setting of the edge read from the environment is malformed; the function refuses to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEdgeSetting(pub String);

/// The edge's settings and the request limiter; built once per cold start, cheap to clone.
#[derive(Clone)]
pub struct Edge {
    pub tenant_claim: String,
    pub admin_scope: String,
    /// A claim holding roles or groups that may carry the admin scope's name too (`None`: scopes only).
    pub roles_claim: Option<String>,
    pub limiter: Option<RequestLimiter>,
}

/// Each tenant's request bucket, kept in the connector table.
#[derive(Clone)]
pub struct RequestLimiter {
    pub store: Store,
    pub limit: RateLimit,
}

impl Edge {
    /// The tenant from `tenant_claim`, the default admin scope, no roles claim and no request limit (tests and
    /// local runs add what they exercise).
    pub fn new(tenant_claim: impl Into<String>) -> Self {
        Self {
            tenant_claim: tenant_claim.into(),
            admin_scope: DEFAULT_ADMIN_SCOPE.to_string(),
            roles_claim: None,
            limiter: None,
        }
    }

    /// Limits every tenant's requests to `limit`, counted in `store`'s table.
    pub fn with_limit(mut self, store: Store, limit: RateLimit) -> Self {
        self.limiter = Some(RequestLimiter { store, limit });
        self
    }

    /// `TENANT_CLAIM`, `ADMIN_SCOPE`, `ROLES_CLAIM`, `TENANT_REQUESTS_PER_SECOND` and `TENANT_REQUEST_BURST`, with
    /// the buckets in `store`'s table. A malformed value stops the cold start with a message naming it.
    pub fn from_env(store: &Store) -> Result<Self, InvalidEdgeSetting> {
        let tenant_claim =
            crate::tenant_claim_from_env().map_err(|e| InvalidEdgeSetting(e.to_string()))?;
        let admin_scope =
            claim_value_from_env("ADMIN_SCOPE")?.unwrap_or_else(|| DEFAULT_ADMIN_SCOPE.to_string());
        let roles_claim = claim_value_from_env("ROLES_CLAIM")?;
        let setting = |e: connector_store::StoreError| InvalidEdgeSetting(e.to_string());
        let per_second = optional_env(
            "TENANT_REQUESTS_PER_SECOND",
            "a number of requests per second above 0",
            DEFAULT_TENANT_REQUESTS_PER_SECOND,
            |v| v.parse::<f64>().ok().filter(|r| r.is_finite() && *r > 0.0),
        )
        .map_err(setting)?;
        let burst = optional_env(
            "TENANT_REQUEST_BURST",
            "a whole number of requests of at least 1",
            DEFAULT_TENANT_REQUEST_BURST,
            |v| v.parse::<u32>().ok().filter(|b| *b >= 1),
        )
        .map_err(setting)?;
        let limit = RateLimit::new(per_second, burst).map_err(setting)?;
        Ok(Self {
            tenant_claim,
            admin_scope,
            roles_claim,
            limiter: None,
        }
        .with_limit(store.clone(), limit))
    }

    /// The caller's tenant when the request may go ahead: 401 without a tenant, 403 for a write without the admin
    /// scope, 429 (with the wait) when the tenant is over its request limit.
    pub async fn admit(&self, request: &Request, access: Access) -> Result<TenantId, ApiError> {
        let tenant = caller_tenant(request, &self.tenant_claim)?;
        if access == Access::Write && !self.holds_admin_scope(request) {
            tracing::info!(tenant = %tenant, "write refused: the caller lacks the admin scope");
            return Err(ApiError::Forbidden(format!(
                "this route changes the SentinelOne connection or its data: the caller's token needs the \"{}\" scope (or role); reading needs no more than the tenant",
                self.admin_scope
            )));
        }
        if let Some(limiter) = &self.limiter {
            match limiter.store.admit_request(&tenant, &limiter.limit).await {
                Ok(Admission::Allowed) => {}
                Ok(Admission::Limited { retry_after }) => {
                    tracing::info!(tenant = %tenant, retry_after_ms = retry_after.as_millis() as u64, "request limit reached");
                    // Retry-After counts whole seconds; rounding up never invites a request that would be refused.
                    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                    return Err(ApiError::TooManyRequests {
                        retry_after_secs: secs.max(1),
                    });
                }
                // The limit shares the tenant's fate with the table: when the bucket cannot be read, the request
                // goes ahead (and its own DynamoDB calls meet the same trouble) rather than failing for the limit.
                Err(e) => {
                    tracing::error!(tenant = %tenant, error = %e, "request limit could not be checked; request admitted")
                }
            }
        }
        Ok(tenant)
    }

    /// Whether any scope-carrying claim, the authorizer's scope list or the roles claim names the admin scope.
    pub fn holds_admin_scope(&self, request: &Request) -> bool {
        let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
            return false;
        };
        let Some(jwt) = ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()) else {
            return false;
        };
        let wanted = self.admin_scope.as_str();
        let in_claims = SCOPE_CLAIMS
            .iter()
            .copied()
            .chain(self.roles_claim.as_deref())
            .filter_map(|name| jwt.claims.get(name))
            .any(|raw| claim_values(raw).any(|v| v == wanted));
        in_claims
            || jwt
                .scopes
                .iter()
                .flatten()
                .any(|s| claim_values(s).any(|v| v == wanted))
    }
}

/// The values of a claim as API Gateway passes it: `"a b"`, `"a,b"`, `"[a b]"` or `"[\"a\",\"b\"]"`.
pub fn claim_values(raw: &str) -> impl Iterator<Item = &str> {
    let raw = raw.trim();
    let inner = raw
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(raw);
    inner
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|v| v.trim_matches(|c| c == '"' || c == '\''))
        .filter(|v| !v.is_empty())
}

/// An optional claim or scope name from the environment, with the tenant claim's rules (no spaces, commas or
/// control characters).
fn claim_value_from_env(name: &str) -> Result<Option<String>, InvalidEdgeSetting> {
    let value = match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        Ok(_) | Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(InvalidEdgeSetting(format!(
                "environment variable {name} must be UTF-8 text"
            )))
        }
    };
    tenant_claim_from(Some(&value))
        .map(Some)
        .map_err(|_| InvalidEdgeSetting(format!(
            "environment variable {name} must be one name (no spaces, commas or control characters, at most 256 characters), not {value:?}"
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(claims: &str, scopes: &str) -> Request {
        let event = format!(
            r#"{{"version":"2.0","routeKey":"PUT /x","rawPath":"/x","rawQueryString":"","headers":{{}},
            "requestContext":{{"accountId":"1","apiId":"a","domainName":"d","domainPrefix":"d",
              "http":{{"method":"PUT","path":"/x","protocol":"HTTP/1.1","sourceIp":"1.2.3.4","userAgent":"t"}},
              "requestId":"r","routeKey":"PUT /x","stage":"$default","time":"t","timeEpoch":0,
              "authorizer":{{"jwt":{{"claims":{claims},"scopes":{scopes}}}}}}},
            "isBase64Encoded":false}}"#
        );
        lambda_http::request::from_str(&event).expect("valid API Gateway v2 event")
    }

    #[test]
    fn claim_values_read_every_shape_api_gateway_passes_on() {
        let all = |raw| claim_values(raw).collect::<Vec<_>>();
        assert_eq!(all("a b"), ["a", "b"]);
        assert_eq!(all("[a b]"), ["a", "b"]);
        assert_eq!(all(r#"["a","b"]"#), ["a", "b"]);
        assert_eq!(all(" a,b "), ["a", "b"]);
        assert!(all("[]").is_empty());
    }

    #[test]
    fn the_admin_scope_counts_only_as_a_whole_value_of_a_scope_or_the_roles_claim() {
        let edge = Edge::new("tenant_id");
        let holds = |claims: &str| edge.holds_admin_scope(&request(claims, "null"));
        assert!(holds(
            r#"{"tenant_id":"t","scope":"openid s1-connector:admin"}"#
        ));
        assert!(holds(
            r#"{"tenant_id":"t","scp":"[s1-connector:admin other]"}"#
        ));
        assert!(!holds(
            r#"{"tenant_id":"t","scope":"s1-connector:admin-lite"}"#
        ));
        assert!(!holds(r#"{"tenant_id":"t","scope":"S1-CONNECTOR:ADMIN"}"#));
        assert!(!holds(r#"{"tenant_id":"t","sub":"s1-connector:admin"}"#));
        // A roles claim counts only when the deployment names it.
        let roles = r#"{"tenant_id":"t","cognito:groups":"[readers s1-connector:admin]"}"#;
        assert!(!holds(roles));
        let with_roles = Edge {
            roles_claim: Some("cognito:groups".into()),
            ..Edge::new("tenant_id")
        };
        assert!(with_roles.holds_admin_scope(&request(roles, "null")));
        // The authorizer's own scope list.
        assert!(edge.holds_admin_scope(&request(
            r#"{"tenant_id":"t"}"#,
            r#"["s1-connector:admin"]"#
        )));
        // Another deployment's name for the scope.
        let named = Edge {
            admin_scope: "connector.write".into(),
            ..Edge::new("tenant_id")
        };
        assert!(named.holds_admin_scope(&request(
            r#"{"tenant_id":"t","scope":"connector.write"}"#,
            "null"
        )));
        assert!(!named.holds_admin_scope(&request(
            r#"{"tenant_id":"t","scope":"s1-connector:admin"}"#,
            "null"
        )));
    }

    #[tokio::test]
    async fn a_write_without_the_scope_is_403_and_a_read_goes_ahead() {
        let edge = Edge::new("tenant_id");
        let reader = request(r#"{"tenant_id":"t","scope":"openid"}"#, "null");
        let err = edge
            .admit(&reader, Access::Write)
            .await
            .expect_err("refused");
        assert!(matches!(err, ApiError::Forbidden(_)));
        let response = err.into_response();
        assert_eq!(response.status(), 403);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(
            edge.admit(&reader, Access::Read)
                .await
                .expect("read")
                .as_str(),
            "t"
        );
        // No tenant stays 401 whatever the scope.
        let anonymous = request(r#"{"scope":"s1-connector:admin"}"#, "null");
        assert!(matches!(
            edge.admit(&anonymous, Access::Write).await,
            Err(ApiError::Unauthenticated)
        ));
    }
}
