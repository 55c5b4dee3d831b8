//! The tenant's custom field definitions (filled from SentinelOne tags by the sync): `GET /v1/custom-fields`,
//! `POST /v1/custom-fields` (name rules of `s1_core::custom_fields::CustomFieldName`; a name already defined in any
//! case is refused with 409, and so is one more than `connector_store::MAX_CUSTOM_FIELDS`) and
//! `DELETE /v1/custom-fields/{name}`.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;

use connector_store::Store;
use http_api::{
    json, json_body, path_param, percent_decode, Access, ApiError, Edge, FieldError, LengthLimit,
};
use s1_core::custom_fields::{CustomFieldDefinition, CustomFieldName};

const COLLECTION: &str = "/v1/custom-fields";

/// A name in the path can be no longer than a name can be defined (the core's rule); checked before it becomes part
/// of a key.
const NAME_LIMIT: LengthLimit = LengthLimit {
    max_chars: CustomFieldName::MAX_CHARS,
    max_bytes: CustomFieldName::MAX_CHARS * 4,
};

/// Built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    /// Tenant, admin scope for writes and the tenant's request limit.
    pub edge: Edge,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewField {
    name: serde_json::Value,
}

/// Lists, adds or removes a definition, by method and path; anything else is a 404 problem.
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(deps, &request)
        .await
        .unwrap_or_else(ApiError::into_response))
}

async fn respond(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path().trim_end_matches('/');
    let method = request.method();
    // Listing is a read; adding and removing definitions are writes.
    let access = if method == Method::GET {
        Access::Read
    } else {
        Access::Write
    };
    let tenant = deps.edge.admit(request, access).await?;
    if path == COLLECTION && method == Method::GET {
        let items = deps.store.list_custom_fields(&tenant).await?;
        return Ok(json(StatusCode::OK, &serde_json::json!({ "items": items })));
    }
    if path == COLLECTION && method == Method::POST {
        let body: NewField = json_body(request)?;
        let name = match &body.name {
            serde_json::Value::String(s) => CustomFieldName::parse(s)
                .map_err(|e| ApiError::Validation(vec![FieldError::new("name", e.to_string())]))?,
            _ => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "name",
                    "must be a string",
                )]))
            }
        };
        let saved = deps
            .store
            .put_custom_field(&tenant, &CustomFieldDefinition::from(name))
            .await?;
        return Ok(json(StatusCode::CREATED, &saved));
    }
    if method == Method::DELETE {
        if let Some(raw) = path
            .strip_prefix(COLLECTION)
            .and_then(|r| r.strip_prefix('/'))
        {
            let name = path_param(request, "name").unwrap_or_else(|| percent_decode(raw));
            NAME_LIMIT
                .check("name", name.trim())
                .map_err(|e| ApiError::Validation(vec![e]))?;
            return if deps.store.delete_custom_field(&tenant, &name).await? {
                let mut response = Response::new(Body::Empty);
                *response.status_mut() = StatusCode::NO_CONTENT;
                Ok(response)
            } else {
                Err(ApiError::NotFound(format!(
                    "no custom field named \"{}\" exists",
                    name.trim()
                )))
            };
        }
    }
    Err(ApiError::NotFound(
        "no such route: check the method and path against the API document".into(),
    ))
}
