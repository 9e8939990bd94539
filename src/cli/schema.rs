//! `lifeboat schema`: the JSON Schema of runbooks (or of drills).

use crate::compile::schema::runbook_schema_text;
use crate::ops::OpError;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Editors that use yaml-language-server pick it up from a first line like
  # yaml-language-server: $schema=../schema/runbook.schema.json
and, in drill files, $schema=../schema/drill.schema.json (lifeboat schema --drill)."
)]
pub struct Args {
    /// The schema of drill definitions instead of runbooks.
    #[arg(long)]
    pub drill: bool,
}

pub fn run(args: Args) -> Result<(), OpError> {
    if args.drill {
        out!("{}", crate::drill::def::schema_text());
    } else {
        out!("{}", runbook_schema_text());
    }
    Ok(())
}
