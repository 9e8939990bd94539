//! Drills: scheduled restore tests (docs/architecture.md §8).

pub mod def;
pub mod compose;
pub mod report;
pub mod plan_text;
pub mod files;
pub mod history;
pub mod render;
