//! Building the engine, the queue and the worker from a deployed function's environment (once per cold start).
//! A variable that is set but malformed stops the start-up with an error naming it and what it must be; an unset
//! optional one keeps its documented default.

use std::time::Duration;

use connector_store::{optional_env, required_env_where, Deployment, StoreError};
use s1_core::retirement::DEFAULT_MAX_RETIRE_PERCENT;
use sentinelone_client::{ClientOptions, UrlPolicy};

use crate::engine::SyncEngine;
use crate::queue::SyncQueue;
use crate::worker::{Worker, DEFAULT_MAX_RECEIVES};

/// `SYNC_SAFETY_MARGIN_SECS` when unset: the worker stops taking pages a minute before its deadline.
pub const DEFAULT_SAFETY_MARGIN: Duration = Duration::from_secs(60);

const QUEUE_URL_RULE: &str =
    "the sync queue's URL (https://sqs.<region>.amazonaws.com/<account>/<queue>)";
const RETIRE_RULE: &str = "a whole number from 0 to 100 (percent of a tenant's active assets)";
// SQS accepts a maxReceiveCount of 1 to 1000; the worker's value must equal the queue's.
const RECEIVES_RULE: &str = "a whole number from 1 to 1000 (the sync queue's maxReceiveCount)";
// Lambda's longest timeout is 900 s, and the margin must leave the run some of it.
const MARGIN_RULE: &str = "a whole number of seconds from 1 to 899, below the function's timeout";

/// The sync queue named by `SYNC_QUEUE_URL` (required, an http(s) URL).
pub fn queue_from_env(sdk: &aws_config::SdkConfig) -> Result<SyncQueue, StoreError> {
    Ok(SyncQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        required_env_where("SYNC_QUEUE_URL", QUEUE_URL_RULE, is_queue_url)?,
    ))
}

/// The engine over this deployment's table and vault, with the console URL policy of `UrlPolicy::from_env` and
/// the retirement limit of `SYNC_MAX_RETIRE_PERCENT` (default 20; 0-100).
pub async fn engine_from_env(sdk: &aws_config::SdkConfig) -> Result<SyncEngine, StoreError> {
    // The cheap checks first: a malformed variable is reported before any network call of the start-up.
    let max_retire_percent = optional_env(
        "SYNC_MAX_RETIRE_PERCENT",
        RETIRE_RULE,
        DEFAULT_MAX_RETIRE_PERCENT,
        parse_percent,
    )?;
    let url_policy = UrlPolicy::from_env().map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    let Deployment { store, vault } = Deployment::from_env(sdk).await?;
    Ok(SyncEngine {
        store,
        vault,
        url_policy,
        client_options: ClientOptions::default(),
        max_retire_percent,
    })
}

/// The worker: the engine and queue above, `SYNC_MAX_RECEIVES` (default 5; 1-1000) and `SYNC_SAFETY_MARGIN_SECS`
/// (default 60; 1-899).
pub async fn worker_from_env(sdk: &aws_config::SdkConfig) -> Result<Worker, StoreError> {
    let max_receives = max_receives_from_env()?;
    let safety_margin = optional_env(
        "SYNC_SAFETY_MARGIN_SECS",
        MARGIN_RULE,
        DEFAULT_SAFETY_MARGIN,
        parse_margin,
    )?;
    let queue = queue_from_env(sdk)?;
    Ok(Worker {
        engine: engine_from_env(sdk).await?,
        queue,
        max_receives,
        safety_margin,
    })
}

/// `SYNC_MAX_RECEIVES` (default 5; 1-1000): the receive on which the worker fails a run instead of retrying it.
pub fn max_receives_from_env() -> Result<u32, StoreError> {
    optional_env(
        "SYNC_MAX_RECEIVES",
        RECEIVES_RULE,
        DEFAULT_MAX_RECEIVES,
        parse_receives,
    )
}

fn is_queue_url(v: &str) -> bool {
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    // A host, then the path of account and queue name.
    rest.and_then(|r| r.split_once('/'))
        .is_some_and(|(host, path)| {
            !host.is_empty() && !path.is_empty() && !v.contains(char::is_whitespace)
        })
}

fn parse_percent(v: &str) -> Option<u8> {
    v.parse::<u8>().ok().filter(|p| *p <= 100)
}

fn parse_receives(v: &str) -> Option<u32> {
    v.parse::<u32>().ok().filter(|n| (1..=1000).contains(n))
}

fn parse_margin(v: &str) -> Option<Duration> {
    v.parse::<u64>()
        .ok()
        .filter(|s| (1..=899).contains(s))
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_store::parse_optional_env;

    fn read<T>(
        name: &str,
        value: Option<&str>,
        rule: &str,
        default: T,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, String> {
        parse_optional_env(name, value, rule, default, parse).map_err(|e| e.to_string())
    }

    #[test]
    fn the_retire_limit_defaults_and_refuses_nonsense() {
        let limit = |v| {
            read(
                "SYNC_MAX_RETIRE_PERCENT",
                v,
                RETIRE_RULE,
                DEFAULT_MAX_RETIRE_PERCENT,
                parse_percent,
            )
        };
        assert_eq!(limit(None), Ok(DEFAULT_MAX_RETIRE_PERCENT));
        assert_eq!(limit(Some("35")), Ok(35));
        assert_eq!(limit(Some("0")), Ok(0));
        assert!(limit(Some("101")).is_err());
        assert_eq!(
            limit(Some("twenty")),
            Err("environment variable SYNC_MAX_RETIRE_PERCENT must be a whole number from 0 to 100 (percent of a \
                 tenant's active assets), not \"twenty\""
                .into())
        );
    }

    #[test]
    fn max_receives_defaults_to_five_and_must_be_a_valid_receive_count() {
        let receives = |v| {
            read(
                "SYNC_MAX_RECEIVES",
                v,
                RECEIVES_RULE,
                DEFAULT_MAX_RECEIVES,
                parse_receives,
            )
        };
        assert_eq!(receives(None), Ok(5));
        assert_eq!(receives(Some("")), Ok(5));
        assert_eq!(receives(Some(" 3 ")), Ok(3));
        assert_eq!(receives(Some("1000")), Ok(1000));
        for bad in ["0", "1001", "-1", "five", "5.0", "99999999999"] {
            let err = receives(Some(bad)).expect_err(bad);
            assert!(
                err.starts_with(
                    "environment variable SYNC_MAX_RECEIVES must be a whole number from 1 to 1000"
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn the_safety_margin_defaults_to_a_minute_and_must_fit_a_lambda_timeout() {
        let margin = |v| {
            read(
                "SYNC_SAFETY_MARGIN_SECS",
                v,
                MARGIN_RULE,
                DEFAULT_SAFETY_MARGIN,
                parse_margin,
            )
        };
        assert_eq!(margin(None), Ok(Duration::from_secs(60)));
        assert_eq!(margin(Some("120")), Ok(Duration::from_secs(120)));
        for bad in ["0", "900", "60s", "1m", "-5", "sixty"] {
            let err = margin(Some(bad)).expect_err(bad);
            assert!(
                err.contains(
                    "SYNC_SAFETY_MARGIN_SECS must be a whole number of seconds from 1 to 899"
                ),
                "{err}"
            );
            assert!(err.ends_with(&format!("not {bad:?}")), "{err}");
        }
    }

    #[test]
    fn the_queue_url_must_be_an_http_url_with_a_path() {
        assert!(is_queue_url(
            "https://sqs.eu-west-1.amazonaws.com/123456789012/s1-sync"
        ));
        assert!(is_queue_url("http://127.0.0.1:5000/123456789012/sync"));
        assert!(!is_queue_url("s1-sync"));
        assert!(!is_queue_url("arn:aws:sqs:eu-west-1:123456789012:s1-sync"));
        assert!(!is_queue_url("https://sqs.eu-west-1.amazonaws.com"));
        assert!(!is_queue_url("https://sqs.eu-west-1.amazonaws.com/1/a b"));
    }
}
