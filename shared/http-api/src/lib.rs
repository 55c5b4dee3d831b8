//! The edge every HTTP handler shares: who the caller is (the tenant, from the JWT authorizer's claims only),
//! strict JSON request bodies with a size limit, and one error shape for every failure (RFC 9457 problem+json)
//! that never carries internals, stack traces or secrets. Domain errors become problems in one place
//! ([`problems`]), so every handler answers the same failure the same way.

mod access;
mod problems;

pub use access::{
    claim_values, Access, Edge, InvalidEdgeSetting, RequestLimiter, DEFAULT_ADMIN_SCOPE,
    DEFAULT_TENANT_REQUESTS_PER_SECOND, DEFAULT_TENANT_REQUEST_BURST, SCOPE_CLAIMS,
};

use lambda_http::http::{header, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use s1_core::{FieldError, LengthLimit, TenantId};

/// Request bodies above this size are refused with 413 (configuration bodies are well under 8 KiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The default JWT claim that names the tenant (override with `TENANT_CLAIM`).
pub const DEFAULT_TENANT_CLAIM: &str = "tenant_id";

/// Every way a request can fail at the edge, each with a stable problem `type`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request carries no tenant: the authorizer's claims must include a tenant id")]
    Unauthenticated,
    /// The caller's tenant is known but its token lacks what the route needs (the admin scope for a write).
    #[error("{0}")]
    Forbidden(String),
    /// The tenant is over its request limit; `retry_after_secs` goes into `Retry-After`.
    #[error("this tenant has made more requests than its limit allows; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("the request body is not valid: {0}")]
    InvalidBody(String),
    #[error("one or more fields are invalid")]
    Validation(Vec<FieldError>),
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    Conflict {
        detail: String,
        extra: Option<serde_json::Value>,
    },
    #[error("{0}")]
    Unprocessable(String),
    /// The connection test run before a save failed; `report` (the per-check results) goes into the problem body
    /// so the form can show which step failed and how to fix it.
    #[error("{detail}")]
    ConnectionTestFailed {
        detail: String,
        report: serde_json::Value,
    },
    /// Something on our side failed; the detail shown to the caller stays generic, the cause goes to the logs.
    #[error("an internal error occurred; the operation can be retried")]
    Internal,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InvalidBody(_) | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) | ApiError::ConnectionTestFailed { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem type: clients switch on this, never on the detail text.
    pub fn problem_type(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "urn:s1-connector:problem:unauthenticated",
            ApiError::Forbidden(_) => "urn:s1-connector:problem:forbidden",
            ApiError::TooManyRequests { .. } => "urn:s1-connector:problem:too-many-requests",
            ApiError::InvalidBody(_) => "urn:s1-connector:problem:invalid-body",
            ApiError::Validation(_) => "urn:s1-connector:problem:validation",
            ApiError::PayloadTooLarge => "urn:s1-connector:problem:payload-too-large",
            ApiError::NotFound(_) => "urn:s1-connector:problem:not-found",
            ApiError::Conflict { .. } => "urn:s1-connector:problem:conflict",
            ApiError::Unprocessable(_) => "urn:s1-connector:problem:unprocessable",
            ApiError::ConnectionTestFailed { .. } => {
                "urn:s1-connector:problem:connection-test-failed"
            }
            ApiError::Internal => "urn:s1-connector:problem:internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "Unauthenticated",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::InvalidBody(_) => "Invalid request body",
            ApiError::Validation(_) => "Validation failed",
            ApiError::PayloadTooLarge => "Request body too large",
            ApiError::NotFound(_) => "Not found",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Unprocessable(_) => "Cannot process the request",
            ApiError::ConnectionTestFailed { .. } => "SentinelOne connection test failed",
            ApiError::Internal => "Internal error",
        }
    }

    /// The problem+json response for this error.
    pub fn into_response(self) -> Response<Body> {
        let mut problem = serde_json::json!({
            "type": self.problem_type(),
            "title": self.title(),
            "status": self.status().as_u16(),
            "detail": self.to_string(),
        });
        if let ApiError::Validation(errors) = &self {
            problem["errors"] = serde_json::to_value(errors).unwrap_or_default();
        }
        if let ApiError::Conflict {
            extra: Some(serde_json::Value::Object(extra)),
            ..
        } = &self
        {
            for (k, v) in extra {
                problem[k.as_str()] = v.clone();
            }
        }
        if let ApiError::ConnectionTestFailed { report, .. } = &self {
            problem["connectionTest"] = report.clone();
        }
        if let ApiError::TooManyRequests { retry_after_secs } = &self {
            problem["retryAfterSeconds"] = (*retry_after_secs).into();
        }
        let mut response = respond(self.status(), "application/problem+json", &problem);
        if let ApiError::TooManyRequests { retry_after_secs } = &self {
            if let Ok(v) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    respond(status, "application/json", body)
}

/// Decodes the `%XX` escapes of a path segment (names may hold spaces); malformed escapes stay as they are. For
/// requests that carry no decoded path parameter (local runs), and for the local server's own routing.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A CSV download (`filename` must be plain ASCII without quotes; callers build it from checked ids).
pub fn csv(filename: &str, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    for (name, value) in [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ),
        (header::CACHE_CONTROL, "no-store".to_string()),
    ] {
        if let Ok(v) = value.parse() {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

fn respond<T: Serialize>(status: StatusCode, content_type: &str, body: &T) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = "no-store".parse() {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// `TENANT_CLAIM` is set but cannot name a JWT claim; the function refuses to start rather than answer every
/// request 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable TENANT_CLAIM must be the name of the JWT claim that holds the tenant id (no spaces, commas or control characters, at most 256 characters), not {value:?}")]
pub struct InvalidTenantClaim {
    pub value: String,
}

/// The claim that names the tenant, from `TENANT_CLAIM` (default `tenant_id` when unset or blank).
pub fn tenant_claim_from_env() -> Result<String, InvalidTenantClaim> {
    match std::env::var("TENANT_CLAIM") {
        Ok(v) => tenant_claim_from(Some(&v)),
        Err(std::env::VarError::NotPresent) => tenant_claim_from(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(InvalidTenantClaim {
            value: v.to_string_lossy().into_owned(),
        }),
    }
}

/// [`tenant_claim_from_env`] on a value already read. Claim names may be URIs or namespaced
/// (`https://example.com/tenant`, `custom:tenant_id`), so only what can never be part of one is refused.
pub fn tenant_claim_from(value: Option<&str>) -> Result<String, InvalidTenantClaim> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_TENANT_CLAIM.to_string()),
        Some(claim)
            if claim.len() <= 256
                && !claim
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == ',') =>
        {
            Ok(claim.to_string())
        }
        Some(other) => Err(InvalidTenantClaim {
            value: other.to_string(),
        }),
    }
}

/// The caller's tenant id, taken only from the JWT authorizer's claims (never from the body or the query).
pub fn tenant_of(request: &Request, claim: &str) -> Result<String, ApiError> {
    let claims = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref())
        }
        _ => None,
    }
    .ok_or(ApiError::Unauthenticated)?;
    claims
        .claims
        .get(claim)
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or(ApiError::Unauthenticated)
}

/// The caller's tenant, from the authorizer's claims only; a claim that is not a usable tenant id is refused like a
/// missing one.
pub fn caller_tenant(request: &Request, claim: &str) -> Result<TenantId, ApiError> {
    TenantId::new(tenant_of(request, claim)?).map_err(|_| ApiError::Unauthenticated)
}

/// Parses a JSON body into `T` (whose serde attributes should deny unknown fields), refusing oversize bodies.
/// An empty body parses as `{}` so that "all fields optional" bodies may be omitted.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    // serde_json's message names the field/line/column, never echoes a value.
    serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidBody(e.to_string()))
}

/// A query-string parameter, trimmed; empty counts as absent.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A path parameter as API Gateway extracted it from the route template.
pub fn path_param(request: &Request, name: &str) -> Option<String> {
    request
        .path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_claim_defaults_when_unset_and_refuses_what_cannot_be_a_claim() {
        assert_eq!(tenant_claim_from(None).as_deref(), Ok("tenant_id"));
        assert_eq!(tenant_claim_from(Some("  ")).as_deref(), Ok("tenant_id"));
        assert_eq!(tenant_claim_from(Some(" org ")).as_deref(), Ok("org"));
        assert_eq!(
            tenant_claim_from(Some("custom:tenant_id")).as_deref(),
            Ok("custom:tenant_id")
        );
        assert_eq!(
            tenant_claim_from(Some("https://example.com/tenant")).as_deref(),
            Ok("https://example.com/tenant")
        );
        for bad in ["tenant id", "tenant_id,org", "tenant\u{0}id"] {
            let err = tenant_claim_from(Some(bad)).expect_err(bad).to_string();
            assert!(
                err.starts_with(
                    "environment variable TENANT_CLAIM must be the name of the JWT claim"
                ),
                "{err}"
            );
        }
        assert!(tenant_claim_from(Some(&"a".repeat(257))).is_err());
    }

    fn request(claims: &str, body: &str) -> Request {
        let event = format!(
            r#"{{"version":"2.0","routeKey":"POST /x","rawPath":"/x","rawQueryString":"limit=500",
            "headers":{{"content-type":"application/json"}},
            "queryStringParameters":{{"limit":"500"}},
            "requestContext":{{"accountId":"1","apiId":"a","domainName":"d","domainPrefix":"d",
              "http":{{"method":"POST","path":"/x","protocol":"HTTP/1.1","sourceIp":"1.2.3.4","userAgent":"t"}},
              "requestId":"r","routeKey":"POST /x","stage":"$default","time":"t","timeEpoch":0,
              "authorizer":{{"jwt":{{"claims":{claims},"scopes":null}}}}}},
            "body":{body},"isBase64Encoded":false}}"#
        );
        lambda_http::request::from_str(&event).expect("valid API Gateway v2 event")
    }

    #[test]
    fn tenant_comes_from_the_configured_claim_only() {
        let r = request(
            r#"{"tenant_id":"acme","sub":"u1"}"#,
            r#""{\"tenant_id\":\"evil\"}""#,
        );
        assert_eq!(tenant_of(&r, "tenant_id").expect("tenant"), "acme");
        assert!(matches!(
            tenant_of(&r, "org"),
            Err(ApiError::Unauthenticated)
        ));
        let blank = request(r#"{"tenant_id":"  "}"#, "null");
        assert!(matches!(
            tenant_of(&blank, "tenant_id"),
            Err(ApiError::Unauthenticated)
        ));
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body1 {
        #[allow(dead_code)]
        a: Option<u32>,
    }

    #[test]
    fn bodies_are_strict_and_bounded() {
        let ok = request(r#"{"tenant_id":"t"}"#, r#""{\"a\":1}""#);
        assert!(json_body::<Body1>(&ok).is_ok());
        let unknown = request(r#"{"tenant_id":"t"}"#, r#""{\"b\":1}""#);
        assert!(
            matches!(json_body::<Body1>(&unknown), Err(ApiError::InvalidBody(m)) if m.contains("unknown field"))
        );
        let big = format!("\"{}\"", "x".repeat(MAX_BODY_BYTES + 1));
        let r = request(r#"{"tenant_id":"t"}"#, &big);
        assert!(matches!(
            json_body::<Body1>(&r),
            Err(ApiError::PayloadTooLarge)
        ));
    }

    #[test]
    fn problem_json_carries_type_status_and_field_errors() {
        let resp = ApiError::Validation(vec![FieldError::new("consoleUrl", "must use https")])
            .into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let v: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).expect("json");
        assert_eq!(v["type"], "urn:s1-connector:problem:validation");
        assert_eq!(v["status"], 400);
        assert_eq!(v["errors"][0]["field"], "consoleUrl");
    }

    #[test]
    fn a_failed_connection_test_is_422_with_its_report() {
        let resp = ApiError::ConnectionTestFailed {
            detail: "the configuration was not saved: the token was rejected".into(),
            report: serde_json::json!({"passed": false, "checks": [{"check": "token_accepted", "status": "failed"}]}),
        }
        .into_response();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).expect("json");
        assert_eq!(v["type"], "urn:s1-connector:problem:connection-test-failed");
        assert_eq!(v["connectionTest"]["checks"][0]["check"], "token_accepted");
        assert!(v["detail"].as_str().is_some_and(|d| d.contains("rejected")));
    }
}

#[cfg(test)]
mod percent_decode_tests {
    use super::percent_decode;

    #[test]
    fn path_segments_are_decoded() {
        assert_eq!(percent_decode("Cost%20center"), "Cost center");
        assert_eq!(percent_decode("bad%2"), "bad%2");
        assert_eq!(percent_decode("a%zz"), "a%zz");
    }
}
