//! Drills: restore tests on a throwaway copy of the stack
//! (docs/architecture.md §8): their definitions (`def`), the rewritten
//! compose file of the copy (`compose`), the plan shown before one runs
//! (`plan_text`), and what a drill leaves behind — the report (`report`),
//! its renderings for people and CI (`render`) and the history of past
//! drills (`history`). The drill itself runs in `ops::drill`.
//! The report format is in docs/drills.md.
//!
//! Pure, except `files` (writing report files, for `render::write_reports`
//! and `history::store`) and `history` reading the directory of past reports.

pub mod compose;
pub mod def;
pub mod files;
pub mod history;
pub mod metrics;
pub mod plan_text;
pub mod render;
pub mod report;
