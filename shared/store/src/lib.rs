//! Everything the handlers and the sync engine persist: one DynamoDB table (single-table design, key patterns in
//! [`keys`]) for configuration, assets, findings, custom fields, sync runs and sync state, and the Secrets
//! Manager [`Vault`] that holds each tenant's SentinelOne API token (never the table).

pub mod batch;
pub mod clock;
mod config;
mod custom_fields;
mod deployment;
mod error;
pub mod keys;
mod layout;
mod migration;
mod page_token;
mod rate_limit;
mod records;
mod runs;
mod store;
mod sync_state;
mod vault;
mod views;

pub use batch::{BatchApi, RetryPolicy, SdkBatch, UnprocessedInjector};
pub use config::{disconnect, save_configuration, SourceStatus, TenantConfig, AUTO_SYNC_DAYS};
pub use custom_fields::MAX_CUSTOM_FIELDS;
pub use deployment::{
    malformed_env, optional_env, parse_optional_env, required_env, required_env_where, Deployment,
};
pub use error::{Result, StoreError};
pub use keys::{RecordLayout, TenantId, RECORD_SHARDS};
pub use migration::{MigrationReport, MIGRATION_RUN_ID};
pub use page_token::PageTokenKey;
pub use rate_limit::{Admission, RateLimit};
pub use records::{
    new_asset_item, new_finding_item, new_finding_item_in, AssetDigests, AssetFilter,
    BackfillCursor, ClosePlan, FindingFilter, RegistrationOutcome, RetirementCounts,
    RetirementPlan, StoredAsset, StoredAssets, UnattachedCursor,
};
pub use records::{
    new_vulnerability_item, new_vulnerability_item_in, AnyKindFilter, FindingKind, SeverityCounts,
    SharedState, StoredFinding, StoredVulnerability, VulnerabilityFilter,
};
pub use records::{
    unmatched_agents_csv, AssetIdentifiers, PossibleMatch, UnmatchedAgent, MAX_UNMATCHED_PER_RUN,
    UNMATCHED_CSV_HEADER, UNMATCHED_TTL_DAYS,
};
pub use records::{vulnerability_fingerprint, SeenVulnerabilities, VULNERABILITY_SHARDS};
pub use records::{
    AssetDirectory, FixCandidate, FixPlan, PlacedVulnerability, VulnerabilityWrites,
};
pub use runs::{
    new_run_id, ClaimError, DryRunReport, RunCounters, RunStatus, SyncRun, Tally, Trigger,
    VulnerabilityRun, WriteCounts, DRY_RUN_NAMES,
};
pub use store::{Page, Store};
pub use sync_state::{
    AgentWalkTally, Checkpoint, Lease, PinnedVerdicts, SyncState, VulnerabilityWalk,
    DEFAULT_FULL_THREAT_WALK_DAYS, DEFAULT_FULL_VULNERABILITY_WALK_DAYS,
};
pub use vault::{StoredToken, Vault};
pub use views::MAX_PAGE_SIZE;
