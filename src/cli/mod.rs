//! The command line: clap definitions and one module per subcommand.
//! Commands parse arguments, call an operation (`ops`), write results to
//! stdout and return its `OpError`, which [`fail`] renders on stderr and
//! turns into the exit code (`demo`, `kinds` and `schema` still return
//! theirs): 0 ok, 1 invalid runbook, 2 usage error or unreadable input,
//! 3 a run failed (and was rolled back), 4 a rollback did not complete,
//! 5 Docker, a lock or the repository was unavailable, 6 a saved plan or an
//! interrupted run is stale (its runbook or world changed): nothing was done.

/// `println!` to stdout whose errors are ignored (see `output`).
macro_rules! outln {
    () => { $crate::cli::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` to stdout whose errors are ignored.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::stdout(format_args!($($arg)*)) };
}

/// `eprintln!` whose errors are ignored.
macro_rules! errln {
    () => { $crate::cli::output::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` whose errors are ignored.
macro_rules! err {
    ($($arg:tt)*) => { $crate::cli::output::stderr(format_args!($($arg)*)) };
}

mod apply;
mod backup;
mod backups;
mod config;
mod demo;
mod execute;
mod history;
mod kinds;
mod list;
mod live;
mod locate;
mod output;
mod plan;
mod report;
mod resume;
mod run;
mod schema;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::ops::OpError;

pub const EXIT_OK: u8 = 0;
pub const EXIT_INVALID: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_FAILED: u8 = 3;
pub const EXIT_ROLLBACK_FAILED: u8 = 4;
pub const EXIT_UNAVAILABLE: u8 = 5;
/// Refused because what a saved plan or an interrupted run was made for has
/// changed since (the runbook, or the world): nothing was done.
pub const EXIT_STALE: u8 = 6;

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Disaster-recovery runbooks for Docker stacks, as code",
    long_about = "lifeboat compiles YAML runbooks (runbooks/*.yaml) into a DAG of typed steps: stop a \
container, take a safety backup, restore a volume, verify, restart. Review exactly what a runbook \
would do with `lifeboat plan` before an incident.",
    after_help = "Examples:
  lifeboat demo                              the whole story on a throwaway stack
  lifeboat validate                          check every runbook in ./runbooks
  lifeboat list                              what runbooks there are
  lifeboat plan full-data-loss --set project=shop   what a run would do, probed live
  lifeboat run full-data-loss --set project=shop    do it (asks before destroying)
  lifeboat backup --volume shop_pg-data      an ad-hoc backup
  lifeboat history                           past runs; `show ID`, `resume ID`
  lifeboat plan upgrade-rollback --format mermaid > plan.md

Exit status: 0 ok, 1 invalid runbook, 2 usage, 3 run failed (rolled back),
4 rollback incomplete, 5 Docker/lock/repository unavailable, 6 apply/resume
refused: the runbook or the world changed since the plan or the run.

Environment: DOCKER_HOST, LIFEBOAT_CONFIG, LIFEBOAT_RUNBOOKS, LIFEBOAT_STATE,
LIFEBOAT_REPO, LIFEBOAT_OFFSITE, LIFEBOAT_AGE_IDENTITY, LIFEBOAT_LOCK_DIR,
AWS_ENDPOINT_URL and the AWS credential chain, LIFEBOAT_S3_READ_TIMEOUT (15s),
LIFEBOAT_S3_ATTEMPT_TIMEOUT (5m), LIFEBOAT_S3_CONNECT_TIMEOUT (3s),
LIFEBOAT_S3_MAX_ATTEMPTS (5), RUST_LOG (log filter), NO_COLOR.
Config file: ./lifeboat.yaml when present (docs/config.md)."
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
    #[command(flatten)]
    pub places: live::Places,
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
    /// Run a runbook against the live Docker engine; roll back on failure.
    #[command(after_help = "Examples:
  lifeboat run full-data-loss --set project=shop
  lifeboat run full-data-loss --dry-run          the plan, probed live; changes nothing
  lifeboat run upgrade-rollback --set image=app:2 --yes --format json

Before anything destructive lifeboat asks (or needs --yes). A destructive step starts only
after its safety backup verified. If a step fails, every completed step is undone in reverse
order and what was running is started again. The run's journal is in <state-dir>/runs/.
Ctrl-C stops and rolls back.")]
    Run(run::Args),
    /// Run a plan saved with `plan --out`, if the world still matches it.
    Apply(apply::Args),
    /// Back up Docker volumes into the repository now.
    Backup(backup::Args),
    /// The backup repository: list, show, verify, delete, pin, unpin, prune.
    #[command(after_help = "Examples:
  lifeboat backups list --source shop_pg-data --since 7d
  lifeboat backups show 20261121T020000Z-a1b2c3
  lifeboat backups verify --all --deep
  lifeboat backups pin 20261121T020000Z-a1b2c3
  lifeboat backups prune --keep-daily 7 --keep-weekly 4 --dry-run
  lifeboat backups delete 20261121T020000Z-a1b2c3

The repository is --repo / LIFEBOAT_REPO (default <state-dir>/repo).")]
    Backups(backups::Args),
    /// Past runs, newest first.
    History(history::HistoryArgs),
    /// One run's journal: every step, output, error and undo.
    Show(history::ShowArgs),
    /// Carry on an interrupted run: finished steps are skipped, in-flight ones run again.
    Resume(resume::Args),
    /// The main job end to end on a throwaway stack: build images, seed, back up,
    /// lose everything, run full-data-loss, verify.
    Demo(demo::Args),
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

pub fn run(mut cli: Cli) -> u8 {
    if let Err(e) = cli.places.settle() {
        return fail(e);
    }
    match cli.command {
        Command::Validate(args) => done(validate::run(&cli.runbooks, args)),
        Command::List(args) => done(list::run(&cli.runbooks, args)),
        Command::Plan(args) => done(plan::run(&cli.runbooks, &cli.places, args)),
        Command::Run(args) => done(run::run(&cli.runbooks, &cli.places, args)),
        Command::Apply(args) => done(apply::run(&cli.places, args)),
        Command::Backup(args) => done(backup::run(&cli.places, args)),
        Command::Backups(args) => backups::run(&cli.places, args),
        Command::History(args) => done(history::history(&cli.places, args)),
        Command::Show(args) => done(history::show(&cli.places, args)),
        Command::Resume(args) => done(resume::run(&cli.places, args)),
        Command::Demo(args) => demo::run(&cli.runbooks, &cli.places, args),
        Command::Schema(args) => schema::run(args),
        Command::Kinds(args) => kinds::run(args),
    }
}

/// The exit code of a command that returns an operation's result.
pub(crate) fn done(result: Result<(), OpError>) -> u8 {
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => fail(e),
    }
}

/// Renders an operation's error on stderr and returns its exit code
/// (docs/architecture.md §2): the one place errors become exit codes.
pub fn fail(e: OpError) -> u8 {
    match e {
        OpError::Invalid {
            diagnostics,
            runbook,
        } => {
            print_diagnostics(&diagnostics, &runbook);
            EXIT_INVALID
        }
        OpError::InvalidRunbooks { unreadable, .. } if unreadable > 0 => EXIT_USAGE,
        OpError::InvalidRunbooks { .. } => EXIT_INVALID,
        OpError::Usage(problems) => {
            for p in &problems {
                usage_error(p);
            }
            EXIT_USAGE
        }
        OpError::Refused(m) => usage_error(&m),
        OpError::NotConfirmed => {
            errln!("Not confirmed; nothing was done.");
            EXIT_FAILED
        }
        OpError::Stale(m) => {
            usage_error(&m);
            EXIT_STALE
        }
        OpError::Unavailable(m) => {
            usage_error(&m);
            EXIT_UNAVAILABLE
        }
        OpError::PartlyDone(problems) => {
            for p in &problems {
                usage_error(p);
            }
            EXIT_UNAVAILABLE
        }
        // The command has shown which backups.
        OpError::Unverified { .. } => EXIT_FAILED,
        OpError::Unchecked(_) => EXIT_UNAVAILABLE,
        OpError::Finished(m) => {
            usage_error(&m);
            EXIT_FAILED
        }
        // The reporter has said what failed.
        OpError::Failed { .. } => EXIT_FAILED,
        OpError::RollbackIncomplete { .. } => EXIT_ROLLBACK_FAILED,
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
