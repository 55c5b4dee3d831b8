//! One-off backfill of `facet_sk` on the findings and assets a table held before the facet indexes existed (see
//! the store's `records::facets`). Run once after deploying the version that added them; safe to run again, and to
//! stop and resume: every write is conditional, and the cursor of the last page is printed.
//!
//! `backfill-facets <table> [--segment N --segments M] [--resume <pk> <sk>]` with the AWS environment of the
//! account (region, credentials; `AWS_ENDPOINT_URL` for the local stack).

use std::process::ExitCode;

use connector_store::{BackfillCursor, PageTokenKey, Store};

struct Args {
    table: String,
    segment: i32,
    segments: i32,
    resume: Option<BackfillCursor>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let table = args
        .next()
        .ok_or("usage: backfill-facets <table> [--segment N --segments M] [--resume <pk> <sk>]")?;
    let mut parsed = Args {
        table,
        segment: 0,
        segments: 1,
        resume: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--segment" => {
                parsed.segment = value()?.parse().map_err(|_| "--segment is a number")?
            }
            "--segments" => {
                parsed.segments = value()?.parse().map_err(|_| "--segments is a number")?
            }
            "--resume" => {
                let pk = value()?;
                let sk = value()?;
                parsed.resume = Some(BackfillCursor { pk, sk });
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if parsed.segments < 1 || !(0..parsed.segments).contains(&parsed.segment) {
        return Err("--segment must be from 0 to --segments - 1".into());
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("backfill-facets: {e}");
            return ExitCode::from(2);
        }
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // The backfill signs no page token: a throwaway key.
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &args.table,
        PageTokenKey::random(),
    );
    let mut cursor = args.resume;
    let mut total = 0u64;
    loop {
        match store
            .backfill_facets_page(args.segment, args.segments, cursor.clone())
            .await
        {
            Ok((n, next)) => {
                total += n;
                match next {
                    Some(c) => {
                        println!(
                            "set {total} so far; resume with: --resume {} {}",
                            c.pk, c.sk
                        );
                        cursor = Some(c);
                    }
                    None => {
                        println!(
                            "done: set facet_sk on {total} items (segment {} of {})",
                            args.segment, args.segments
                        );
                        return ExitCode::SUCCESS;
                    }
                }
            }
            Err(e) => {
                eprintln!(
                    "backfill-facets: {e}; nothing is lost, resume from the last printed cursor"
                );
                return ExitCode::FAILURE;
            }
        }
    }
}
