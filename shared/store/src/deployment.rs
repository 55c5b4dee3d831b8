//! What a deployed function reads from its environment to reach its data: built once per cold start, failing
//! fast with a message that names the missing variable. The SAM template sets every variable read here.

use crate::{PageTokenKey, Store, StoreError, Vault};

/// The table and the token vault of this deployment.
#[derive(Clone)]
pub struct Deployment {
    pub store: Store,
    pub vault: Vault,
}

/// Reads a required environment variable.
pub fn required_env(name: &str) -> Result<String, StoreError> {
    env_value(name)?
        .ok_or_else(|| StoreError::InvalidInput(format!("environment variable {name} is not set")))
}

/// Reads a required environment variable that must also pass `valid` (described by `rule`, e.g. "a DynamoDB table
/// name"), so a typo stops the cold start instead of failing the first request.
pub fn required_env_where(
    name: &str,
    rule: &str,
    valid: impl FnOnce(&str) -> bool,
) -> Result<String, StoreError> {
    let value = required_env(name)?;
    if valid(&value) {
        Ok(value)
    } else {
        Err(malformed_env(name, rule, &value))
    }
}

/// Reads an optional environment variable: unset (or blank) keeps `default`; a value `parse` refuses is a
/// deployment error naming the variable and what it must be, never a silent fall-back to the default.
pub fn optional_env<T>(
    name: &str,
    rule: &str,
    default: T,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse_optional_env(name, env_value(name)?.as_deref(), rule, default, parse)
}

/// [`optional_env`] on a value already read (for tests and callers holding it).
pub fn parse_optional_env<T>(
    name: &str,
    value: Option<&str>,
    rule: &str,
    default: T,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => parse(v).ok_or_else(|| malformed_env(name, rule, v)),
    }
}

/// The error of a variable that is set but malformed: "environment variable X must be <rule>, not "<value>"".
pub fn malformed_env(name: &str, rule: &str, value: &str) -> StoreError {
    StoreError::InvalidInput(format!(
        "environment variable {name} must be {rule}, not {value:?}"
    ))
}

/// The trimmed value, `None` when unset or blank; a value that is not UTF-8 is malformed rather than unset.
fn env_value(name: &str) -> Result<Option<String>, StoreError> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v.trim().to_string()).filter(|v| !v.is_empty())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(StoreError::InvalidInput(format!(
            "environment variable {name} must be UTF-8 text"
        ))),
    }
}

/// DynamoDB's table-name rule: 3-255 characters of A-Z, a-z, 0-9, '_', '-' and '.'.
fn is_table_name(v: &str) -> bool {
    (3..=255).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Secrets Manager's secret-name characters: A-Z, a-z, 0-9 and `/_+=.@-`.
fn is_secret_prefix(v: &str) -> bool {
    v.len() <= 256
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

impl Deployment {
    /// `TABLE_NAME` and `SECRET_PREFIX` (and `TOKEN_KMS_KEY_ID`, the key new tenant secrets are encrypted with, when
    /// set). The store holds no page-token key: only the function serving list views loads one
    /// ([`Deployment::page_token_key_from_env`]), so no other function's role needs to read it.
    pub async fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, StoreError> {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        Ok(Self {
            store: Store::without_page_tokens(
                dynamodb,
                required_env_where(
                    "TABLE_NAME",
                    "a DynamoDB table name (3-255 characters of A-Z, a-z, 0-9, '_', '-', '.')",
                    is_table_name,
                )?,
            ),
            vault: {
                let vault = Vault::new(
                    secrets,
                    required_env_where(
                        "SECRET_PREFIX",
                        "a Secrets Manager name prefix (A-Z, a-z, 0-9 and /_+=.@-)",
                        is_secret_prefix,
                    )?,
                );
                match env_value("TOKEN_KMS_KEY_ID")? {
                    Some(key) => vault.with_kms_key(key),
                    None => vault,
                }
            },
        })
    }

    /// The key that signs list page tokens: from the secret named by `PAGE_TOKEN_SECRET_ARN` or, for local runs
    /// without that secret, `PAGE_TOKEN_KEY` itself. Read once per cold start by the read function only.
    pub async fn page_token_key_from_env(
        sdk: &aws_config::SdkConfig,
    ) -> Result<PageTokenKey, StoreError> {
        match env_value("PAGE_TOKEN_SECRET_ARN")? {
            Some(arn) => {
                let out = aws_sdk_secretsmanager::Client::new(sdk)
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| StoreError::secrets("GetSecretValue", e))?;
                PageTokenKey::new(out.secret_string().unwrap_or_default().as_bytes().to_vec())
            }
            None => PageTokenKey::new(required_env("PAGE_TOKEN_KEY")?.into_bytes()).map_err(|_| {
                StoreError::InvalidInput(format!(
                    "environment variable PAGE_TOKEN_KEY must be at least {} bytes",
                    PageTokenKey::MIN_LEN
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(value: Option<&str>) -> Result<u8, StoreError> {
        parse_optional_env(
            "X_PERCENT",
            value,
            "a whole number from 0 to 100",
            20,
            |v| v.parse().ok().filter(|p| *p <= 100),
        )
    }

    #[test]
    fn an_unset_or_blank_optional_variable_keeps_its_default() {
        assert_eq!(percent(None).ok(), Some(20));
        assert_eq!(percent(Some("  ")).ok(), Some(20));
        assert_eq!(percent(Some(" 35 ")).ok(), Some(35));
    }

    #[test]
    fn a_malformed_optional_variable_is_refused_with_its_name_and_rule() {
        let err = percent(Some("twenty")).expect_err("refused").to_string();
        assert_eq!(
            err,
            "environment variable X_PERCENT must be a whole number from 0 to 100, not \"twenty\""
        );
        assert!(percent(Some("101")).is_err());
    }

    #[test]
    fn table_names_and_secret_prefixes_follow_the_services_rules() {
        assert!(is_table_name("s1-connector-prod"));
        assert!(is_table_name("a.b_c"));
        assert!(!is_table_name("ab"));
        assert!(!is_table_name("arn:aws:dynamodb:us-east-1:1:table/x"));
        assert!(!is_table_name("my table"));
        assert!(is_secret_prefix("s1-connector/prod/"));
        assert!(!is_secret_prefix("s1 connector"));
        assert!(!is_secret_prefix("prefix#1"));
    }
}
