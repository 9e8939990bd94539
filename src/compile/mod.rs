//! Analysis and compilation: runbook → checked DAG → plan.

pub mod args;
pub mod compiler;
pub mod graph;
pub mod params;
pub mod probe;
pub mod schema;
pub mod targets;

pub use compiler::{Compiled, Document, Failure, Options, compile};
