//! Moves one tenant's findings and vulnerabilities from the legacy partition (`T#<tenant>`) to 16 record shards
//! (see the store's `keys` and `migration`). Resumable and idempotent: stop it anywhere and run it again; it holds
//! the tenant's run slot and sync lease meanwhile, so no sync writes while it runs (a sync asked for is refused as
//! already running, a scheduled one deferred).
//!
//! `migrate-record-shards <table> <tenant>` with the AWS environment of the account (region, credentials;
//! `AWS_ENDPOINT_URL` for the local stack).

use std::process::ExitCode;

use connector_store::{Store, TenantId};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [table, tenant] = args.as_slice() else {
        eprintln!("usage: migrate-record-shards <table> <tenant>");
        return ExitCode::from(2);
    };
    let Ok(tenant) = TenantId::new(tenant.clone()) else {
        eprintln!("migrate-record-shards: the tenant id is invalid");
        return ExitCode::from(2);
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // No page token is signed: a store without the key.
    let store = Store::without_page_tokens(aws_sdk_dynamodb::Client::new(&sdk), table);
    let outcome = store
        .migrate_record_shards(&tenant, |r| {
            println!("copied {}, deleted {} so far", r.copied, r.deleted)
        })
        .await;
    match outcome {
        Ok(r) if r.already_spread => {
            println!(
                "already spread; deleted {} legacy copies left by an earlier run",
                r.deleted
            );
            ExitCode::SUCCESS
        }
        Ok(r) => {
            println!(
                "done: copied {} records to 16 shards, deleted {} legacy copies",
                r.copied, r.deleted
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migrate-record-shards: {e}; nothing is lost, run it again");
            ExitCode::FAILURE
        }
    }
}
