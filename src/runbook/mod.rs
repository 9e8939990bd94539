//! Runbook files: source text and positions, raw serde model, parsing, errors.

pub mod diagnostic;
pub mod parse;
pub mod position_index;
pub mod raw;
pub mod source;
