//! Plans: the compiled, reviewable form of a runbook, and its renderers.

pub mod dot;
pub mod mermaid;
#[allow(clippy::module_inception)]
pub mod plan;
pub mod text;

pub use plan::Plan;
