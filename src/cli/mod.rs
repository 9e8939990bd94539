//! The command line: clap definitions and one module per subcommand.
//! Commands write results to stdout and problems to stderr, and return the
//! exit code: 0 ok, 1 invalid runbook, 2 usage error or unreadable input.

mod kinds;
mod list;
mod locate;
mod plan;
mod schema;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub const EXIT_OK: u8 = 0;
pub const EXIT_INVALID: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Disaster-recovery runbooks for Docker stacks, as code",
    long_about = "lifeboat compiles YAML runbooks (runbooks/*.yaml) into a DAG of typed steps: stop a \
container, take a safety backup, restore a volume, verify, restart. Review exactly what a runbook \
would do with `lifeboat plan` before an incident.",
    after_help = "Examples:
  lifeboat validate                          check every runbook in ./runbooks
  lifeboat list                              what runbooks there are
  lifeboat plan full-data-loss --set project=shop --world fixtures/worlds/demo.json
  lifeboat plan upgrade-rollback --format mermaid > plan.md
  lifeboat schema > runbook.schema.json      for editor completion

Environment: LIFEBOAT_RUNBOOKS (runbooks directory), RUST_LOG (log filter), NO_COLOR."
)]
pub struct Cli {
    /// Directory holding the runbooks.
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_RUNBOOKS",
        default_value = "runbooks",
        value_name = "DIR"
    )]
    pub runbooks: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbooks and report every error with its file:line:col.
    #[command(after_help = "Examples:
  lifeboat validate                    every runbook in the runbooks directory
  lifeboat validate my-runbook.yaml    one file
  lifeboat validate --format json dir/ for scripts and CI

Exit status: 0 all valid, 1 some invalid, 2 a path could not be read.")]
    Validate(validate::Args),
    /// List the runbooks with their description and objectives.
    List(list::Args),
    /// Show exactly what a runbook would do, step by step, without doing it.
    #[command(after_help = "Examples:
  lifeboat plan full-data-loss
  lifeboat plan full-data-loss --set project=shop --world fixtures/worlds/demo.json
  lifeboat plan upgrade-rollback --set image=redis:7.2 --format json
  lifeboat plan full-data-loss --format dot | dot -Tsvg > plan.svg
  lifeboat plan full-data-loss --world world.json --out plan.json

Symbols: ■ stop  ▶ start  + backup  ! destructive  ✓ check  ~ other change  ? gate  ✉ notify.
Steps of one wave may run in parallel; a wave starts when the steps it needs are done.")]
    Plan(plan::Args),
    /// Print the JSON Schema of the runbook format.
    Schema(schema::Args),
    /// List the step kinds and their arguments.
    Kinds(kinds::Args),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Validate(args) => validate::run(&cli.runbooks, args),
        Command::List(args) => list::run(&cli.runbooks, args),
        Command::Plan(args) => plan::run(&cli.runbooks, args),
        Command::Schema(args) => schema::run(args),
        Command::Kinds(args) => kinds::run(args),
    }
}

/// Prints a usage problem to stderr and returns the usage exit code.
pub fn usage_error(message: &str) -> u8 {
    use std::io::Write as _;
    let mut err = anstream::stderr();
    let red = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    let _ = writeln!(
        err,
        "{}error{}: {message}",
        red.render(),
        red.render_reset()
    );
    EXIT_USAGE
}

/// Writes rendered diagnostics to stderr (colored on a terminal unless NO_COLOR).
pub fn print_diagnostics(
    diagnostics: &[crate::runbook::diagnostic::Diagnostic],
    source: &crate::runbook::source::Source,
) {
    use std::io::Write as _;
    let text = crate::runbook::diagnostic::render(diagnostics, source, true);
    let _ = write!(anstream::stderr(), "{text}");
}
