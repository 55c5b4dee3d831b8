//! The crate's one error type. How each failure reaches the caller (status, problem type) is decided at the edge,
//! in `http-api`, next to every other domain error's mapping.

use connector_store::StoreError;
use s1_core::FieldError;

use crate::view::ConnectionTestView;

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
