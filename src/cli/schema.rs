//! `lifeboat schema`: the JSON Schema of runbooks.

use super::EXIT_OK;
use crate::compile::schema::runbook_schema_text;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Editors that use yaml-language-server pick it up from a first line like
  # yaml-language-server: $schema=../schema/runbook.schema.json"
)]
pub struct Args {}

pub fn run(_: Args) -> u8 {
    out!("{}", runbook_schema_text());
    EXIT_OK
}
