//! Runs a compiled plan: a tokio scheduler over the DAG with retries,
//! timeouts, `when`, rollback and per-target locks. It publishes one event
//! stream to its subscribers; the journal is one, and `replay` reads it
//! back for a resume. Steps act on the world only through an [`Executor`];
//! the real one lives in `steps`.

pub mod event;
pub mod journal;
pub mod lock;
pub mod render;
pub mod replay;
pub mod runner;
pub mod subscriber;

pub use event::{Event, Outcome, Stamped};
pub use runner::{Call, Executor, Options, Outputs, Report, Seed, StepError, pinned_backup, run};
pub use subscriber::{Subscriber, Subscribers};
