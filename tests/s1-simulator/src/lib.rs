//! A faithful, stateful simulator of the SentinelOne Management API v2.1 endpoints the connector
//! uses (`/web/api/v2.1/{system/info,agents,agents/count,threats,groups,users/api-token-details}`),
//! with a deterministic tenant generator, a mutation API, faults on demand and a request log.
//!
//! Behaviour follows `shared/sentinelone/API.md` (its "Decisions" section is binding). Where the
//! public record is silent the simulator is strict, and each such choice is marked "our decision"
//! where it is made:
//! - an unknown query parameter (or a real one the simulator does not implement) is a 400
//!   Validation Error naming it, as is a repeated or empty parameter;
//! - cursors are opaque base64, valid only if this simulator issued them, bound to the resource,
//!   filters and sort they were issued for, and expire after `SimConfig::cursor_ttl` or
//!   `SimConfig::cursor_max_uses`; every refusal is 400 code 4000010 naming `cursor`;
//! - only `Authorization: ApiToken <token>` is accepted (no other spelling of the scheme);
//! - groups `name` matches exactly and case-insensitively, agents `computerName` likewise;
//! - `skip` and `cursor` cannot be combined.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use s1_simulator::{Simulator, TenantSpec};
//! let sim = Simulator::new(TenantSpec::small()).start().await?;
//! let url = format!("{}/web/api/v2.1/agents?limit=1000", sim.base_url());
//! let auth = format!("ApiToken {}", sim.token());
//! sim.faults().too_many_requests_every(5, None);
//! // ... drive the client against `url` with `auth`, then:
//! assert!(sim.requests().iter().all(|r| !r.token_in_url));
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

#![recursion_limit = "512"]

mod auth;
mod faults;
mod generate;
mod jsonw;
mod query;
mod records;
mod server;
mod tenant;
mod util;

pub use auth::Permissions;
pub use faults::{Fault, FaultCounts, FaultId, FaultPlan, FaultRule, RetryAfter, Trigger};
pub use generate::TenantSpec;
pub use records::RecordError;
pub use server::{LoggedRequest, SimConfig, SimError, SimHandle, Simulator};
