//! The operations lifeboat offers, as functions that return typed results
//! and a typed [`OpError`] (docs/architecture.md §1): run, apply, resume,
//! backup, and on the catalog verify (with restore tests), delete and
//! prune. They print nothing and ask nothing; the CLI parses arguments,
//! calls one, renders the result and maps the error to an exit code. Drills
//! and the scheduler call the same functions.

pub mod apply;
pub mod backup;
pub mod backups;
pub mod catalog;
pub mod checks;
pub mod drill;
pub mod dry_run;
pub mod error;
pub mod report;
pub mod restore_test;
pub mod resume;
pub mod run;
pub mod world;

pub use error::OpError;
pub use report::{RollbackReport, RunReport, StepReport, StepStatus, UndoReport};
pub use run::{Env, RunOptions, RunRequest, run};
