//! A faithful, stateful simulator of the SentinelOne Management API v2.1 endpoints the connector
//! uses (`/web/api/v2.1/{system/info,agents,agents/count,threats,groups,users/api-token-details,
//! application-management/risks}`),
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
//! Live consoles also misbehave while answering 200. Each of these is off until a test (or the
//! binary's `SIM_*` environment variables) switches it on:
//! - `lastActiveDate` churn ([`SimHandle::set_last_active_churn`]): online agents report
//!   `lastActiveDate` = now on every read, with `updatedAt` unchanged;
//! - an empty page that still carries a cursor ([`Fault::EmptyPageWithCursor`],
//!   [`FaultPlan::empty_page_with_cursor`]): the cursor resumes where the request started;
//! - a `totalItems` that disagrees with the data ([`SimHandle::set_total_items_offset`],
//!   [`SimHandle::set_agents_total_items_offset`], which also moves `agents/count`);
//! - records deleted from the console ([`SimHandle::delete_threat`],
//!   [`SimHandle::remove_agent`]);
//! - records filled from the API documentation's example ([`SimHandle::add_placeholder_threats`]
//!   with a [`PlaceholderAgent`], [`SimHandle::add_placeholder_agents`]);
//! - a 429 storm that starts late and never ends ([`Trigger::From`], [`Trigger::AfterDelay`],
//!   [`FaultPlan::too_many_requests_from`], [`FaultPlan::too_many_requests_after_delay`]).
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
mod risks;
mod server;
mod tenant;
mod util;

pub use auth::Permissions;
pub use faults::{Fault, FaultCounts, FaultId, FaultPlan, FaultRule, RetryAfter, Trigger};
pub use generate::TenantSpec;
pub use records::RecordError;
pub use risks::RiskTier;
pub use server::{ListEndpoint, LoggedRequest, SimConfig, SimError, SimHandle, Simulator};
pub use tenant::PlaceholderAgent;
