//! The crate's one error type and how each failure reaches the caller as problem+json.

use connector_store::StoreError;
use http_api::{ApiError, FieldError};

use crate::view::ConnectionTestView;

/// What a save or disconnect that lost the race for the tenant's configuration lock is told.
const BUSY: &str = "another save or disconnect of this SentinelOne configuration is in progress; wait for it to finish, reload the configuration and try again";

/// What a save that started from an outdated version of the configuration is told.
const CHANGED_MEANWHILE: &str =
    "the configuration was changed by someone else in the meantime; reload it and save again";

/// Why a configuration use case did not complete. Display is a sentence for the caller; store causes stay in
/// `source` for the logs.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("one or more fields are invalid")]
    Invalid(Vec<FieldError>),
    #[error("SentinelOne is not configured for this tenant; save a configuration first")]
    NotConfigured,
    #[error("{detail}")]
    ConnectionTestFailed {
        detail: String,
        report: Box<ConnectionTestView>,
    },
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl ConfigError {
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid(errors) => ApiError::Validation(errors),
            ConfigError::NotConfigured => {
                ApiError::NotFound(ConfigError::NotConfigured.to_string())
            }
            ConfigError::ConnectionTestFailed { detail, report } => {
                ApiError::ConnectionTestFailed {
                    detail,
                    report: serde_json::to_value(&*report).unwrap_or_default(),
                }
            }
            // Saves and disconnects of a tenant run one at a time (the store's configuration lock): the loser of a
            // race is told to retry, never given a 500.
            ConfigError::Store(StoreError::SaveInProgress) => ApiError::Conflict {
                detail: BUSY.into(),
                extra: None,
            },
            ConfigError::Store(StoreError::VersionConflict { .. }) => ApiError::Conflict {
                detail: CHANGED_MEANWHILE.into(),
                extra: None,
            },
            ConfigError::Store(StoreError::TokenRequired) => {
                ApiError::Validation(vec![FieldError::new(
                    "apiToken",
                    StoreError::TokenRequired.to_string(),
                )])
            }
            ConfigError::Store(StoreError::StoredTokenInvalid) => {
                ApiError::Unprocessable(StoreError::StoredTokenInvalid.to_string())
            }
            ConfigError::Store(err) => {
                // The cause goes to the log (its Display and source never hold a token); the caller gets a generic
                // problem without internal names.
                tracing::error!(error = %err, source = ?std::error::Error::source(&err).map(|s| s.to_string()), "configuration storage failed");
                ApiError::Internal
            }
        }
    }
}
