//! The command line: clap definitions and one module per subcommand.
//! Commands parse arguments, call an operation (`ops`), write results to
//! stdout and return its `OpError`, which [`fail`] renders on stderr and
//! turns into the exit code (docs/architecture.md §2): 0 ok, 1 invalid
//! runbook or drill, 2 usage error or unreadable input, 3 a run failed (and
//! was rolled back), 4 a rollback did not complete, 5 Docker, a lock or the
//! repository was unavailable, 6 a saved plan or an interrupted run is stale
//! (its runbook or world changed): nothing was done; a drill's verdict: 10 a
//! check failed, 11 an objective was missed, 12 it could not run.

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
mod drill;
mod drills;
mod dry_run;
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
mod schedule;
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
/// A drill restored, but a check failed (the data is not what was backed up).
pub const EXIT_CHECK_FAILED: u8 = 10;
/// A drill passed its checks but missed its RTO or RPO objective.
pub const EXIT_OBJECTIVE_MISSED: u8 = 11;
/// A drill could not restore or check at all.
pub const EXIT_COULD_NOT_RUN: u8 = 12;

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
  lifeboat drills history                    past drills: RTO/RPO against objectives, trend
  lifeboat schedule --explain                the scheduled jobs (lifeboat.yaml) and their next runs
  lifeboat plan upgrade-rollback --format mermaid > plan.md

Exit status: 0 ok, 1 invalid runbook, 2 usage, 3 run failed (rolled back),
4 rollback incomplete, 5 Docker/lock/repository unavailable, 6 apply/resume
refused: the runbook or the world changed since the plan or the run.
`lifeboat drill`: 10 a check failed, 11 an objective was missed, 12 could not run.

Environment: DOCKER_HOST, LIFEBOAT_CONFIG, LIFEBOAT_RUNBOOKS, LIFEBOAT_DRILLS, LIFEBOAT_STATE,
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
    /// Directory holding the drill definitions (restore tests).
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_DRILLS",
        default_value = "drills",
        value_name = "DIR"
    )]
    pub drills: PathBuf,
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
    /// Past drills (`history [NAME]`) and what killed drills left (`gc`).
    #[command(after_help = "Examples:
  lifeboat drills history                     every drill, newest first
  lifeboat drills history nightly --limit 5   one drill's last five runs
  lifeboat drills history --format json       for scripts (docs/drills.md)
  lifeboat drills gc                          remove leftovers of killed drills

Reports are kept in <state-dir>/drills/<id>.json. A drill's own exit status:
0 passed, 10 a check failed, 11 an objective was missed, 12 could not run.
`drills gc` exits 5 if Docker is unavailable or something could not be removed.")]
    Drills(drills::Args),
    /// One run's journal: every step, output, error and undo.
    Show(history::ShowArgs),
    /// Carry on an interrupted run: finished steps are skipped, in-flight ones run again.
    Resume(resume::Args),
    /// The main job end to end on a throwaway stack: build images, seed, back up,
    /// lose everything, run full-data-loss, verify.
    Demo(demo::Args),
    /// Restore test: restore production's backups into a throwaway copy of the
    /// stack through the real restore runbook, check the data, measure RTO/RPO.
    #[command(after_help = "Examples:
  lifeboat drill shop-restore                       the drills/shop-restore.yaml drill
  lifeboat drill shop-restore --set point=random:7d a random backup run of the last week
  lifeboat drill shop-restore --report out/ --format json   JSON, HTML and JUnit reports
  lifeboat plan shop-restore                        what the drill would do
  lifeboat drills history shop-restore              past drills and the RTO trend
  lifeboat drills gc                                remove what killed drills left

The copy is compose project lifeboat-drill-<name>-<id>: every container, volume and
network labelled lifeboat.drill.id, networks internal, no published ports; a compose
file with fixed container names, external or named volumes/networks or writable bind
mounts is refused. Production is only read (its backups). The copy is always removed,
also on failure and Ctrl-C, unless --keep-on-failure.

Exit status: 0 passed, 10 a check failed, 11 an objective (RTO/RPO) was missed,
12 the drill could not run (no backup, the restore failed, Docker unavailable),
1 invalid drill or runbook, 2 usage.")]
    Drill(drill::Args),
    /// Run runbooks and drills on cron times (the `schedule:` jobs of the config file).
    #[command(after_help = "Jobs are declared in lifeboat.yaml (docs/schedule.md):

  schedule:
    time_zone: Europe/Berlin               # default UTC
    notify: { webhook: https://alerts.example/hook }   # on failure and on recovery
    jobs:
      nightly: { run: nightly-backup, cron: \"0 2 * * *\", set: { project: shop }, jitter: 10m }
      weekly-drill: { drill: shop-restore, cron: \"0 4 * * SUN\", missed: once }

Cron: 5 fields (minute hour day month weekday) or 6 (a second first), or @daily etc., read
in the job's time zone. A job runs as `lifeboat run RUNBOOK --yes --set k=v...` (or
`lifeboat drill NAME`); one at a time: a job still running at its next time is skipped and
counted. jitter: a fixed delay in [0, jitter) per job name. missed: skip (default) or once:
one catch-up run at start-up for times passed while the scheduler was down, never more.
timeout: a run still going after it gets SIGINT (it rolls back).
State: <state-dir>/schedule/state.json. SIGTERM or Ctrl-C: no new job starts, running jobs
get SIGINT (they finish or roll back), then the scheduler exits 0.

Examples:
  lifeboat schedule --explain                      the next 5 runs of every job, local and UTC
  lifeboat schedule --explain --count 3 --from 2026-03-28T00:00:00Z
  lifeboat schedule --metrics-file /var/lib/node_exporter/textfile/lifeboat.prom
  lifeboat schedule --listen 9464                  Prometheus: http://127.0.0.1:9464/metrics
  lifeboat schedule --once nightly                 run one job now, as the scheduler would

Exit status: 0 stopped by SIGTERM or Ctrl-C after the running jobs finished or rolled back
(--explain: printed); 1 a job's runbook is invalid; 2 usage: a bad schedule in the config
file, an unknown job or runbook, no jobs; 5 another scheduler uses the state directory, or
--listen cannot bind. With --once: the run's exit code (0 ok, 3 failed and rolled back,
4 rollback incomplete, 5 Docker/lock/repository unavailable; a drill job: 10, 11, 12),
3 if the run was killed by a signal or could not start.")]
    Schedule(schedule::Args),
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
    let (runbooks, drills, places) = (&cli.runbooks, &cli.drills, &cli.places);
    done(match cli.command {
        Command::Validate(args) => validate::run(runbooks, drills, args),
        Command::List(args) => list::run(runbooks, drills, args),
        Command::Plan(args) => plan::run(runbooks, drills, places, args),
        Command::Drill(args) => drill::run(drills, runbooks, places, args),
        Command::Run(args) => run::run(runbooks, places, args),
        Command::Apply(args) => apply::run(places, args),
        Command::Backup(args) => backup::run(places, args),
        Command::Backups(args) => backups::run(places, args),
        Command::History(args) => history::history(places, args),
        Command::Drills(args) => drills::run(places, args),
        Command::Show(args) => history::show(places, args),
        Command::Resume(args) => resume::run(places, args),
        Command::Demo(args) => demo::run(runbooks, places, args),
        Command::Schedule(args) => schedule::run(runbooks, drills, places, args),
        Command::Schema(args) => schema::run(args),
        Command::Kinds(args) => kinds::run(args),
    })
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
    render(&e);
    exit_code(&e)
}

/// What `fail` prints for an error: nothing for those whose command has
/// already said what went wrong (the run's reporter, the verification
/// report, the drill's report, the scheduled run's own stderr).
fn render(e: &OpError) {
    match e {
        OpError::Invalid {
            diagnostics,
            runbook,
        } => print_diagnostics(diagnostics, runbook),
        OpError::Usage(problems) | OpError::PartlyDone(problems) => {
            for p in problems {
                print_error(p);
            }
        }
        OpError::NotConfirmed => errln!("Not confirmed; nothing was done."),
        OpError::Refused(m)
        | OpError::Stale(m)
        | OpError::Unavailable(m)
        | OpError::Finished(m)
        | OpError::Demo(m) => print_error(m),
        // Each runbook was reported as it was found.
        OpError::InvalidRunbooks { .. }
        // The command has shown which backups.
        | OpError::Unverified { .. }
        | OpError::Unchecked(_)
        // The reporter has said what failed.
        | OpError::Failed { .. }
        | OpError::RollbackIncomplete { .. }
        // The drill's report says why.
        | OpError::Drill { .. }
        // The job's run has said why, and the scheduler that it failed.
        | OpError::JobFailed { .. } => {}
    }
}

/// An error's exit code (docs/architecture.md §2).
fn exit_code(e: &OpError) -> u8 {
    use crate::drill::report::Verdict;
    match e {
        OpError::Invalid { .. } => EXIT_INVALID,
        OpError::InvalidRunbooks { unreadable, .. } if *unreadable > 0 => EXIT_USAGE,
        OpError::InvalidRunbooks { .. } => EXIT_INVALID,
        OpError::Usage(_) | OpError::Refused(_) => EXIT_USAGE,
        OpError::NotConfirmed
        | OpError::Unverified { .. }
        | OpError::Finished(_)
        | OpError::Demo(_)
        | OpError::Failed { .. } => EXIT_FAILED,
        OpError::RollbackIncomplete { .. } => EXIT_ROLLBACK_FAILED,
        OpError::Unavailable(_) | OpError::PartlyDone(_) | OpError::Unchecked(_) => {
            EXIT_UNAVAILABLE
        }
        OpError::Stale(_) => EXIT_STALE,
        OpError::Drill { verdict } => match verdict {
            Verdict::CheckFailed => EXIT_CHECK_FAILED,
            Verdict::ObjectiveMissed => EXIT_OBJECTIVE_MISSED,
            Verdict::CouldNotRun => EXIT_COULD_NOT_RUN,
            // Not an error; never made (see `OpError::Drill`).
            Verdict::Passed => EXIT_FAILED,
        },
        // The child's own code; 0 would say it succeeded.
        OpError::JobFailed { exit_code, .. } => exit_code
            .and_then(|c| u8::try_from(c).ok())
            .filter(|&c| c != EXIT_OK)
            .unwrap_or(EXIT_FAILED),
    }
}

/// Prints `error: MESSAGE` to stderr (the word in bold red on a terminal).
pub fn print_error(message: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::report::Verdict;
    use crate::engine::Outcome;
    use crate::runbook::source::Source;

    /// The variant's name; a match with no wildcard, so that a new variant
    /// does not compile until it is pinned below.
    fn variant(e: &OpError) -> &'static str {
        match e {
            OpError::Invalid { .. } => "Invalid",
            OpError::InvalidRunbooks { .. } => "InvalidRunbooks",
            OpError::Usage(_) => "Usage",
            OpError::Refused(_) => "Refused",
            OpError::NotConfirmed => "NotConfirmed",
            OpError::Stale(_) => "Stale",
            OpError::Unavailable(_) => "Unavailable",
            OpError::PartlyDone(_) => "PartlyDone",
            OpError::Unverified { .. } => "Unverified",
            OpError::Unchecked(_) => "Unchecked",
            OpError::Finished(_) => "Finished",
            OpError::Demo(_) => "Demo",
            OpError::Failed { .. } => "Failed",
            OpError::RollbackIncomplete { .. } => "RollbackIncomplete",
            OpError::Drill { .. } => "Drill",
            OpError::JobFailed { .. } => "JobFailed",
        }
    }

    /// `fail`'s exit code for every `OpError` variant (docs/architecture.md
    /// §2, README "Exit status").
    #[test]
    fn fail_maps_every_variant_to_its_exit_code() {
        let m = || "m".to_string();
        let run_id = || "20260101T000000Z-abcdef".to_string();
        let job = |exit_code| OpError::JobFailed {
            job: "nightly".into(),
            exit_code,
        };
        let pinned: Vec<(OpError, u8)> = vec![
            (
                OpError::Invalid {
                    diagnostics: vec![],
                    runbook: Box::new(Source::new("r.yaml", "")),
                },
                1,
            ),
            (
                OpError::InvalidRunbooks {
                    invalid: 2,
                    unreadable: 0,
                },
                1,
            ),
            (
                OpError::InvalidRunbooks {
                    invalid: 2,
                    unreadable: 1,
                },
                2,
            ),
            (OpError::Usage(vec![m(), m()]), 2),
            (OpError::Refused(m()), 2),
            (OpError::NotConfirmed, 3),
            (OpError::Stale(m()), 6),
            (OpError::Unavailable(m()), 5),
            (OpError::PartlyDone(vec![m()]), 5),
            (OpError::Unverified { failed: 1 }, 3),
            (OpError::Unchecked(1), 5),
            (OpError::Finished(m()), 3),
            (OpError::Demo(m()), 3),
            (
                OpError::Failed {
                    run_id: run_id(),
                    outcome: Outcome::RolledBack,
                },
                3,
            ),
            (
                OpError::Failed {
                    run_id: run_id(),
                    outcome: Outcome::Cancelled,
                },
                3,
            ),
            (OpError::RollbackIncomplete { run_id: run_id() }, 4),
            (
                OpError::Drill {
                    verdict: Verdict::CheckFailed,
                },
                10,
            ),
            (
                OpError::Drill {
                    verdict: Verdict::ObjectiveMissed,
                },
                11,
            ),
            (
                OpError::Drill {
                    verdict: Verdict::CouldNotRun,
                },
                12,
            ),
            // A contradiction nothing makes: still not success.
            (
                OpError::Drill {
                    verdict: Verdict::Passed,
                },
                3,
            ),
            (job(Some(3)), 3),
            (job(Some(4)), 4),
            (job(Some(5)), 5),
            (job(Some(11)), 11),
            (job(Some(12)), 12),
            // Killed by a signal or never started: failed.
            (job(None), 3),
            // Codes no exit status holds, and 0, are not passed on.
            (job(Some(0)), 3),
            (job(Some(-1)), 3),
            (job(Some(300)), 3),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (e, code) in pinned {
            seen.insert(variant(&e));
            let shown = format!("{e:?}");
            assert_eq!(fail(e), code, "{shown}");
        }
        assert_eq!(seen.len(), 16, "every variant is pinned: {seen:?}");
    }

    #[test]
    fn drill_codes_are_distinct_and_clear_of_lifeboats_own() {
        let own = [
            EXIT_OK,
            EXIT_INVALID,
            EXIT_USAGE,
            EXIT_FAILED,
            EXIT_ROLLBACK_FAILED,
            EXIT_UNAVAILABLE,
            EXIT_STALE,
        ];
        assert_eq!(own, [0, 1, 2, 3, 4, 5, 6]);
        let drill = [EXIT_CHECK_FAILED, EXIT_OBJECTIVE_MISSED, EXIT_COULD_NOT_RUN];
        assert_eq!(drill, [10, 11, 12]);
    }
}
