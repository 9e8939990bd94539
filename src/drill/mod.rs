//! Drills: restore tests on a throwaway copy of the stack, and what they
//! leave behind — the report (`report`), its renderings for people and CI
//! (`render`) and the history of past drills (`history`).
//! docs/architecture.md §8; the report format is in docs/drills.md.
//!
//! Pure, except `files` (writing report files, for `render::write_reports`
//! and `history::store`) and `history` reading the directory of past reports.

pub mod files;
pub mod history;
pub mod render;
pub mod report;
