//! Runs a compiled plan: a tokio scheduler over the DAG with retries,
//! timeouts, `when`, rollback, a journal and per-target locks. Steps act on
//! the world only through an [`Executor`]; the real one lives in `steps`.

pub mod event;
pub mod journal;
pub mod lock;
pub mod render;
pub mod runner;

pub use event::{Event, Outcome};
pub use runner::{Call, Executor, Options, Outputs, Seed, StepError, pinned_backup, run};
