//! The main job: one tenant's sync from SentinelOne into the store (resolve groups, walk agents, walk threats
//! incrementally, finalize), resumable across Lambda invocations through checkpoints, and the SQS messages and
//! use cases (sync now, scheduled fan-out, worker, dead letters) that drive it. Handlers only call into this crate.

pub mod engine;
pub mod environment;
pub mod message;
pub mod on_demand;
pub mod queue;
pub mod schedule;
pub mod scope;
pub mod tally;
pub mod worker;

pub use engine::{Budget, EngineError, Outcome, SyncEngine};
pub use message::SyncMessage;
pub use on_demand::{
    reserve_deferred_run, reserve_run, start_deferred_scheduled_run, start_dry_run,
    start_pending_reevaluation, start_run, start_sync, Reevaluation, ReservedRun, StartError,
};
pub use queue::SyncQueue;
pub use s1_core::retirement::DEFAULT_MAX_RETIRE_PERCENT;
pub use schedule::{schedule_due_syncs, ScheduleReport};
pub use worker::{DeadLetters, Disposition, QueuedMessage, Worker};
