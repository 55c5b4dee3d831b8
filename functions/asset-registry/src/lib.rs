//! Assets the platform registers itself, so that with auto-onboard off SentinelOne's agents and threats have
//! machines to attach to: `PUT …/assets/{computerName}` registers one (source `manual`) and
//! `POST …/asset-imports` registers up to 10,000 from JSON lines or CSV (source `import`), with a report of every
//! refused row. Both are idempotent, write only the registration's side of an asset (never SentinelOne's), and take
//! the tenant from the authorizer's claims only.

pub mod import;

use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde::Serialize;

use connector_store::{RegistrationOutcome, Store, StoreError};
use http_api::{json, path_param, percent_decode, Access, ApiError, Edge, FieldError};
use s1_core::registry::{AssetRegistration, MAX_IMPORT_ROWS};
use s1_core::AssetSource;

use crate::import::{Format, ImportError, RejectedRow};

const ASSETS: &str = "/v1/integrations/sentinelone/assets/";
const IMPORTS: &str = "/v1/integrations/sentinelone/asset-imports";

/// A single registration's body is small; anything larger is not a registration.
const MAX_REGISTRATION_BYTES: usize = 16 * 1024;
/// An import body: 10,000 rows of a few hundred bytes each fit well inside; Lambda refuses requests over 6 MB.
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;

/// Built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    /// Tenant, admin scope for writes and the tenant's request limit.
    pub edge: Edge,
}

/// Registers one asset or imports many, by method and path; anything else is a 404 problem.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(|e| e.into_response()))
}

/// The edge's errors plus a 413 whose detail names this handler's own limits.
enum Failure {
    Api(ApiError),
    TooLarge(String),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl Failure {
    fn into_response(self) -> Response<Body> {
        match self {
            Failure::Api(e) => e.into_response(),
            Failure::TooLarge(detail) => {
                let mut r = json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &serde_json::json!({
                        "type": ApiError::PayloadTooLarge.problem_type(),
                        "title": "Request body too large",
                        "status": 413,
                        "detail": detail,
                    }),
                );
                if let Ok(v) = "application/problem+json".parse() {
                    r.headers_mut().insert(header::CONTENT_TYPE, v);
                }
                r
            }
        }
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::InvalidInput(m) => ApiError::Validation(vec![FieldError::new("body", m)]),
        other => other.into(),
    }
}

/// The answer of a single registration.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Registered {
    computer_name: String,
    asset_key: String,
    outcome: RegistrationOutcome,
}

/// The answer of an import: counts, and every refused row with its number and reason.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub rows: usize,
    pub accepted: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<RejectedRow>,
}

async fn respond(deps: &Deps, request: &Request) -> Result<Response<Body>, Failure> {
    // Both routes register assets: writes.
    let tenant = deps.edge.admit(request, Access::Write).await?;
    let path = request.uri().path().trim_end_matches('/');
    let method = request.method();
    if path == IMPORTS && method == Method::POST {
        return import(deps, request, &tenant).await;
    }
    if method == Method::PUT {
        if let Some(raw) = path.strip_prefix(ASSETS).filter(|r| !r.contains('/')) {
            let name = path_param(request, "computerName").unwrap_or_else(|| percent_decode(raw));
            return register_one(deps, request, &tenant, &name).await;
        }
    }
    Err(ApiError::NotFound(
        "no such route: check the method and path against the API document".into(),
    )
    .into())
}

async fn register_one(
    deps: &Deps,
    request: &Request,
    tenant: &connector_store::TenantId,
    name: &str,
) -> Result<Response<Body>, Failure> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_REGISTRATION_BYTES {
        return Err(Failure::TooLarge(format!(
            "a registration body is at most {MAX_REGISTRATION_BYTES} bytes"
        )));
    }
    let body: AssetRegistration = if bytes.iter().all(u8::is_ascii_whitespace) {
        AssetRegistration::default()
    } else {
        serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidBody(e.to_string()))?
    };
    let asset = body
        .check(Some(name))
        .map_err(|e| ApiError::Validation(vec![FieldError::new(field_of(&e), e.to_string())]))?;
    let outcome = deps
        .store
        .register_platform_assets(tenant, std::slice::from_ref(&asset), AssetSource::Manual)
        .await
        .map_err(store_error)?
        .pop()
        .unwrap_or(RegistrationOutcome::Unchanged);
    let status = if outcome == RegistrationOutcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(
        status,
        &Registered {
            computer_name: asset.name.clone(),
            asset_key: asset.key.as_str().to_string(),
            outcome,
        },
    ))
}

fn field_of(e: &s1_core::registry::RegistrationError) -> &'static str {
    use s1_core::registry::RegistrationError as R;
    match e {
        R::MissingName | R::NameTooLong | R::NameMismatch => "computerName",
        R::TextTooLong { field } | R::TooManyAddresses { field } => field,
        R::BadMac(_) => "macAddresses",
        R::BadIp(_) => "ipAddresses",
    }
}

async fn import(
    deps: &Deps,
    request: &Request,
    tenant: &connector_store::TenantId,
) -> Result<Response<Body>, Failure> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = Format::from_content_type(content_type).ok_or_else(|| {
        ApiError::Validation(vec![FieldError::new(
            "Content-Type",
            "must be text/csv (with a header row) or application/x-ndjson (one JSON object per line)",
        )])
    })?;
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(Failure::TooLarge(format!(
            "the import is larger than {MAX_IMPORT_BYTES} bytes; split it into requests of at most {MAX_IMPORT_ROWS} rows"
        )));
    }
    let parsed = match import::parse(bytes, format) {
        Ok(p) => p,
        Err(ImportError::TooManyRows) => {
            return Err(Failure::TooLarge(ImportError::TooManyRows.to_string()))
        }
        Err(e) => {
            return Err(ApiError::Validation(vec![FieldError::new("body", e.to_string())]).into())
        }
    };
    let assets: Vec<_> = parsed.accepted.iter().map(|(_, a)| a.clone()).collect();
    let outcomes = deps
        .store
        .register_platform_assets(tenant, &assets, AssetSource::Import)
        .await
        .map_err(store_error)?;
    let count = |o: RegistrationOutcome| outcomes.iter().filter(|x| **x == o).count();
    let report = ImportReport {
        rows: parsed.accepted.len() + parsed.rejected.len(),
        accepted: parsed.accepted.len(),
        created: count(RegistrationOutcome::Created),
        updated: count(RegistrationOutcome::Updated),
        unchanged: count(RegistrationOutcome::Unchanged),
        rejected: parsed.rejected,
    };
    tracing::info!(tenant = %tenant, rows = report.rows, accepted = report.accepted, rejected = report.rejected.len(), "asset import applied");
    Ok(json(StatusCode::OK, &report))
}
