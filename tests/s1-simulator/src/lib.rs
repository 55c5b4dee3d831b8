//! A faithful, stateful simulator of the SentinelOne Management API v2.1 endpoints the connector
//! uses (`/web/api/v2.1/{system/info,agents,agents/count,threats,groups,users/api-token-details}`),
//! with a deterministic tenant generator, a mutation API, faults on demand and a request log.
//!
//! Behaviour follows `shared/sentinelone/API.md` (its "Decisions" section is binding). Where the
//! public record is silent the simulator is strict and says so where the choice is made: unknown
//! query parameters are a 400 Validation Error naming the parameter (our decision, unverified),
//! cursors are bound to their filter set and expire, and only `Authorization: ApiToken <token>` is
//! accepted.

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
