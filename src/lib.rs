//! lifeboat: a workflow-as-code disaster-recovery orchestrator for Docker stacks.
//!
//! Stages: `runbook` (load, parse) → `compile` (analyze, DAG, safety) → `plan`
//! (the reviewable result and its renderers). The CLI in `cli` sits on top.

pub mod cli;
pub mod compile;
pub mod plan;
pub mod runbook;
