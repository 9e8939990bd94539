//! The scheduler's logic, without I/O (docs/architecture.md §8): jobs and
//! their cron times in a time zone, jitter, what happens when a time comes
//! (start, or skip an overlap), missed runs after downtime, the state kept
//! across restarts, the metrics text and the `--explain` listing. The clock
//! is a parameter everywhere, so all of it is tested on a fake one;
//! `cli/schedule/` runs the processes, timers, files and sockets.

pub mod explain;
pub mod jitter;
pub mod job;
pub mod metrics;
pub mod planner;
pub mod state;

pub use job::{Action, Job, Missed};
pub use planner::{Decision, Planner, SkipReason};
pub use state::{Finished, Notice, State};
