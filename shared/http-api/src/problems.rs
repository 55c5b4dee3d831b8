//! The one place a domain error becomes a problem: every handler turns a use case's error into an [`ApiError`]
//! with `?`, so the same failure gets the same status and problem type from every route. Expected failures (a
//! lock held by a concurrent save, a stale version, a full custom-field list) are 4xx the caller can act on; only
//! failures on our side are a 500, with the cause logged and never shown.

use connector_store::StoreError;
use read_views::ViewError;
use s1_core::FieldError;
use sync_engine::StartError;
use tenant_config::ConfigError;

use crate::ApiError;

/// What a save or disconnect that lost the race for the tenant's configuration lock is told.
const BUSY: &str = "another save or disconnect of this SentinelOne configuration is in progress; wait for it to finish, reload the configuration and try again";

/// What a save that started from an outdated version of the configuration is told.
const CHANGED_MEANWHILE: &str =
    "the configuration was changed by someone else in the meantime; reload it and save again";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Saves and disconnects of a tenant run one at a time (the store's configuration lock): the loser of a
            // race is told to retry, never given a 500.
            StoreError::SaveInProgress => ApiError::Conflict {
                detail: BUSY.into(),
                extra: None,
            },
            StoreError::VersionConflict { .. } => ApiError::Conflict {
                detail: CHANGED_MEANWHILE.into(),
                extra: None,
            },
            StoreError::DuplicateCustomField { .. } | StoreError::RunAlreadyFinished { .. } => {
                ApiError::Conflict {
                    detail: e.to_string(),
                    extra: None,
                }
            }
            StoreError::CustomFieldLimit { limit } => ApiError::Conflict {
                detail: e.to_string(),
                extra: Some(serde_json::json!({ "limit": limit })),
            },
            StoreError::TokenRequired => {
                ApiError::Validation(vec![FieldError::new("apiToken", e.to_string())])
            }
            StoreError::StoredTokenInvalid | StoreError::TokenConsoleMismatch => {
                ApiError::Unprocessable(e.to_string())
            }
            StoreError::InvalidPageToken => {
                ApiError::Validation(vec![FieldError::new("pageToken", e.to_string())])
            }
            // The message names what was refused (a custom field name, a filter); never a stored value.
            StoreError::InvalidInput(message) => {
                ApiError::Validation(vec![FieldError::new("request", message)])
            }
            // The edge checks the tenant before any use case runs; one refused further in is refused the same way.
            StoreError::InvalidTenantId => ApiError::Unauthenticated,
            StoreError::DynamoDb { .. }
            | StoreError::SecretsManager { .. }
            | StoreError::Item { .. }
            | StoreError::Malformed { .. }
            | StoreError::LeaseLost
            | StoreError::NoPageTokenKey
            | StoreError::Unprocessed { .. } => internal(&e, "storage failed"),
        }
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid(errors) => ApiError::Validation(errors),
            ConfigError::NotConfigured => ApiError::NotFound(e.to_string()),
            ConfigError::ConnectionTestFailed { detail, report } => {
                ApiError::ConnectionTestFailed {
                    detail,
                    report: serde_json::to_value(&*report).unwrap_or_default(),
                }
            }
            ConfigError::Store(e) => e.into(),
        }
    }
}

impl From<ViewError> for ApiError {
    fn from(e: ViewError) -> Self {
        match e {
            ViewError::Invalid(errors) => ApiError::Validation(errors),
            ViewError::RunNotFound(_) | ViewError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ViewError::Store(e) => e.into(),
        }
    }
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::NotConfigured => ApiError::NotFound(e.to_string()),
            StartError::AlreadyRunning { ref run_id } => ApiError::Conflict {
                extra: Some(serde_json::json!({ "runningRunId": run_id })),
                detail: e.to_string(),
            },
            StartError::Store(e) => e.into(),
            StartError::Queue(_) => internal(&e, "could not start the sync"),
        }
    }
}

/// Logs the cause (Display and source never hold a token or a body) and answers a generic problem.
fn internal(err: &dyn std::error::Error, what: &'static str) -> ApiError {
    tracing::error!(error = %err, source = ?err.source().map(|s| s.to_string()), "{what}");
    ApiError::Internal
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::StatusCode;

    fn status_and_type(e: impl Into<ApiError>) -> (StatusCode, &'static str) {
        let e = e.into();
        let t = e.problem_type();
        (e.into_response().status(), t)
    }

    #[test]
    fn expected_store_failures_are_4xx_the_caller_can_act_on() {
        let conflict = (StatusCode::CONFLICT, "urn:s1-connector:problem:conflict");
        assert_eq!(status_and_type(StoreError::SaveInProgress), conflict);
        assert_eq!(
            status_and_type(ConfigError::Store(StoreError::SaveInProgress)),
            conflict
        );
        assert_eq!(
            status_and_type(StoreError::VersionConflict {
                expected: 1,
                found: 2
            }),
            conflict
        );
        assert_eq!(
            status_and_type(StoreError::DuplicateCustomField { name: "x".into() }),
            conflict
        );
        assert_eq!(
            status_and_type(StoreError::CustomFieldLimit { limit: 50 }),
            conflict
        );
        assert_eq!(
            status_and_type(StoreError::TokenRequired).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_and_type(StoreError::InvalidPageToken).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_and_type(StoreError::StoredTokenInvalid).0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status_and_type(StartError::AlreadyRunning { run_id: "r".into() }),
            conflict
        );
        assert_eq!(
            status_and_type(StartError::NotConfigured).0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_and_type(ViewError::RunNotFound("r".into())).0,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn failures_on_our_side_are_a_generic_500() {
        let e = StoreError::Malformed {
            what: "config",
            detail: "secret detail".into(),
        };
        let response = ApiError::from(e).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        assert!(!body.contains("secret detail"), "{body}");
    }

    #[test]
    fn the_busy_lock_problem_says_to_retry() {
        let response = ApiError::from(StoreError::SaveInProgress).into_response();
        let v: serde_json::Value = serde_json::from_slice(response.body().as_ref()).expect("json");
        assert!(v["detail"]
            .as_str()
            .is_some_and(|d| d.contains("try again")));
    }
}
