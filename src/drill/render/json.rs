//! The report as JSON: pretty, fields in a fixed order, the documented format
//! (docs/drills.md, "Report format"), and reading it back.

use crate::drill::report::{DrillReport, SCHEMA_VERSION};

/// The report, pretty-printed, with a final newline.
pub fn render(r: &DrillReport) -> String {
    // A DrillReport has string keys and finite or plain numbers only:
    // serializing it cannot fail, but a NaN would become `null`.
    let mut text = serde_json::to_string_pretty(r).unwrap_or_default();
    text.push('\n');
    text
}

/// Why a JSON report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not a drill report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a drill report of schema_version {0}; this lifeboat reads version {SCHEMA_VERSION}")]
    Version(u64),
}

/// Reads a JSON report, refusing another `schema_version` by name rather
/// than by the first field that does not fit.
pub fn parse(text: &str) -> Result<DrillReport, ParseError> {
    #[derive(serde::Deserialize)]
    struct Head {
        schema_version: Option<u64>,
    }
    let head: Head = serde_json::from_str(text)?;
    match head.schema_version {
        Some(v) if v != u64::from(SCHEMA_VERSION) => Err(ParseError::Version(v)),
        _ => Ok(serde_json::from_str(text)?),
    }
}
