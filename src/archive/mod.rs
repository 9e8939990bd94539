//! Streaming validation of tar archives (as Docker's archive API writes them).
//!
//! [`Scanner`] is pure: it is fed bytes and never does I/O or buffers entry data.

mod error;
mod header;
mod path;
mod pax;
mod scanner;
mod select;
#[cfg(test)]
mod tests;
mod tree;

pub use error::ArchiveError;
pub use scanner::Scanner;
pub use select::Select;

use serde::{Deserialize, Serialize};

/// What a scanned archive may contain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// `Some("data")`: every entry must be `data`, `data/` or under `data/`.
    pub root: Option<String>,
}

/// Counts of what a scan has seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub file_bytes: u64,
}
