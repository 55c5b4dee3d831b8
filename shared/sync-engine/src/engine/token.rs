//! Every run reads the API token's expiry once the console has accepted the token (the same call the connection
//! test makes, after the agent walk): within
//! `TOKEN_EXPIRY_WARNING_DAYS` the run carries a warning, past it the run fails with a message that says to
//! generate a new token, and the expiry is kept in the sync state for the configuration view.

use s1_core::secret::TokenExpiry;
use sentinelone_client::S1Client;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::{RunContext, RunFailure, Stop, SyncEngine};

impl SyncEngine {
    pub(super) async fn watch_token_expiry(
        &self,
        ctx: &mut RunContext,
        client: &S1Client,
        recorded: Option<&str>,
    ) -> Result<(), Stop> {
        let details = match client.token_details().await {
            Ok(d) => d,
            // Out of time: the continuation asks again.
            Err(e) if e.is_deadline() => return Err(Stop::OutOfTime),
            // As in the connection test, a failure of this call alone does not fail anything: the walks that
            // follow report a token SentinelOne refuses.
            Err(e) => {
                info!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, error = %e, "the API token's expiry could not be read");
                return Ok(());
            }
        };
        let expires_at = details.expires_at.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
        // Recorded when it differs from what the sync state held when this invocation started: most runs find
        // the same date and write nothing.
        if expires_at.as_deref() != recorded {
            self.store
                .record_token_expiry(&ctx.tenant, expires_at.as_deref())
                .await?;
        }
        let Some(at) = details.expires_at else {
            return Ok(());
        };
        let expiry = TokenExpiry::of(at, OffsetDateTime::now_utc());
        match (expiry, expiry.message()) {
            (TokenExpiry::Expired { .. }, Some(m)) => Err(Stop::Failed(RunFailure(m))),
            (_, Some(m)) => {
                warn!(tenant = %ctx.tenant.as_str(), run = %ctx.run.id, expires_at = ?expires_at, "the API token expires soon");
                ctx.run.record_warning(m);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
