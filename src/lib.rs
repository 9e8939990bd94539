//! lifeboat: a workflow-as-code disaster-recovery orchestrator for Docker stacks.
//!
//! Stages: `runbook` (load, parse) → `compile` (analyze, DAG, safety) → `plan`
//! (the reviewable result and its renderers) → `engine` (runs a plan through
//! the `docker` adapter and the backup `repo`). The operations (`ops`: run,
//! apply, resume, backup) sit above the steps; the CLI in `cli` on top;
//! `model` is the shared vocabulary at the bottom. Each folder imports only
//! folders below it (docs/architecture.md §1, tests/architecture.rs).

pub mod archive;
pub mod cli;
pub mod compile;
pub mod docker;
pub mod drill;
pub mod engine;
pub mod kinds;
pub mod model;
pub mod ops;
pub mod plan;
pub mod repo;
pub mod runbook;
pub mod runtime;
pub mod s3;
pub mod schedule;
pub mod steps;
pub mod template;
