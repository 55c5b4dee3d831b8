//! The crate's one error type.

use std::time::Duration;

/// Why a storage operation failed. Display is a sentence for a log or an operator; it never contains a token
/// value (tokens are wrapped in `ApiToken` and never formatted here) nor item contents. The SDK error stays typed
/// in `source`, so callers can match e.g. `ConditionalCheckFailedException`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the DynamoDB request {operation} failed; retry later, and check the table name and permissions if it persists")]
    DynamoDb {
        operation: &'static str,
        #[source]
        source: Box<aws_sdk_dynamodb::Error>,
    },
    #[error("the Secrets Manager request {operation} failed; retry later, and check the secret prefix and permissions if it persists")]
    SecretsManager {
        operation: &'static str,
        #[source]
        source: Box<aws_sdk_secretsmanager::Error>,
    },
    #[error("a stored {what} item could not be read or written in its expected shape")]
    Item {
        what: &'static str,
        #[source]
        source: serde_dynamo::Error,
    },
    #[error("a stored {what} item is malformed: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("the tenant id is invalid: it must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    InvalidTenantId,
    #[error("the page token is invalid, expired or belongs to another listing; start again from the first page")]
    InvalidPageToken,
    #[error("the configuration was changed by someone else (expected version {expected}, found {found}); reload it and save again")]
    VersionConflict { expected: u64, found: u64 },
    #[error(
        "no SentinelOne API token is stored for this tenant; provide one with the configuration"
    )]
    TokenRequired,
    #[error(
        "another change to this configuration is being saved right now; reload it and try again"
    )]
    SaveInProgress,
    #[error("the stored SentinelOne API token is not usable; save the configuration again with a valid token")]
    StoredTokenInvalid,
    #[error("this tenant's sync lease is held by another worker or has been taken over")]
    LeaseLost,
    #[error("a custom field named \"{name}\" already exists; choose another name")]
    DuplicateCustomField { name: String },
    #[error("this tenant already has {limit} custom fields, the most it can have; delete one before adding another")]
    CustomFieldLimit { limit: usize },
    #[error("DynamoDB kept {remaining} items unprocessed after retrying for {waited:?}; the table is throttled, retry later")]
    Unprocessed { remaining: usize, waited: Duration },
    #[error("{0}")]
    InvalidInput(String),
    /// The stored token was saved for another console than the configured one: it is not sent there.
    #[error("the stored SentinelOne API token was saved for another console than the configured one and is not sent to this one; save the configuration again with this console's token")]
    TokenConsoleMismatch,
    /// A paged listing was asked of a store built without the page-token key: a function that serves no list view.
    #[error("this function holds no page-token key, so it cannot serve a paged listing")]
    NoPageTokenKey,
    /// A write to a run that has already finished (succeeded, partial or failed) was refused: its outcome stays.
    #[error("the sync run {run_id} has already finished; its outcome is kept and this update was not written")]
    RunAlreadyFinished { run_id: String },
}

impl StoreError {
    pub(crate) fn dynamo<E, R>(
        operation: &'static str,
        err: aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> Self
    where
        aws_sdk_dynamodb::Error: From<aws_sdk_dynamodb::error::SdkError<E, R>>,
    {
        Self::DynamoDb {
            operation,
            source: Box::new(err.into()),
        }
    }

    /// The outcome of a conditional write: `Ok(true)` when it was written, `Ok(false)` when its condition did not
    /// hold, any other failure as an error.
    pub(crate) fn condition_held<T, E, R>(
        operation: &'static str,
        res: std::result::Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
    ) -> Result<bool, StoreError>
    where
        aws_sdk_dynamodb::Error: From<aws_sdk_dynamodb::error::SdkError<E, R>>,
    {
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = StoreError::dynamo(operation, e);
                if err.is_conditional_check_failed() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    pub(crate) fn secrets<E, R>(
        operation: &'static str,
        err: aws_sdk_secretsmanager::error::SdkError<E, R>,
    ) -> Self
    where
        aws_sdk_secretsmanager::Error: From<aws_sdk_secretsmanager::error::SdkError<E, R>>,
    {
        Self::SecretsManager {
            operation,
            source: Box::new(err.into()),
        }
    }

    pub(crate) fn item(what: &'static str) -> impl FnOnce(serde_dynamo::Error) -> Self {
        move |source| Self::Item { what, source }
    }

    /// True when DynamoDB refused a write because its condition did not hold.
    pub fn is_conditional_check_failed(&self) -> bool {
        matches!(
            self,
            Self::DynamoDb { source, .. }
                if matches!(**source, aws_sdk_dynamodb::Error::ConditionalCheckFailedException(_))
        )
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<s1_core::InvalidTenantId> for StoreError {
    fn from(_: s1_core::InvalidTenantId) -> Self {
        StoreError::InvalidTenantId
    }
}
