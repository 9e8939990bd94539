//! Running a plan from the command line: the confirmation, Ctrl-C and
//! hang-ups, the reporter, and `ops::run` (which does the work). Shared by
//! `run`, `apply`, `resume` and `backup`.

use std::io::{BufRead, IsTerminal, Write};

use tokio::sync::mpsc::unbounded_channel;
use tokio_util::sync::CancellationToken;

use super::live::Places;
use super::{Format, report};
use crate::engine::Subscribers;
use crate::ops::checks::destructive_steps;
use crate::ops::{Env, OpError, RunOptions, RunReport, RunRequest};
use crate::plan::Plan;

/// Asks before destroying anything, unless `--yes`. Refuses without a terminal.
pub fn confirm_destructive(plan: &Plan, yes: bool) -> Result<(), OpError> {
    let destructive = destructive_steps(plan);
    if yes || destructive.is_empty() {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(OpError::Refused(format!(
            "this run has destructive steps ({}) and stdin is not a terminal: \
             review it with `lifeboat plan`, then pass --yes",
            destructive.join(", ")
        )));
    }
    err!(
        "{}\nRun it? Destructive steps: {}. Type yes to go on: ",
        plan.summary,
        destructive.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(OpError::NotConfirmed)
    }
}

/// How the command line runs a plan.
pub struct Launch {
    pub parallel: usize,
    pub yes: bool,
    pub format: Format,
    pub remote: Option<crate::s3::S3Store>,
}

/// Runs `request` with a reporter on stdout, Ctrl-C wired to a rollback,
/// then says what the run left in place and where its journal is. Ok: the
/// run succeeded.
pub async fn execute(env: &Env, request: RunRequest, launch: Launch) -> Result<RunReport, OpError> {
    ignore_hangups();
    let plan = request.plan.clone();
    let options = RunOptions {
        parallel: launch.parallel,
        yes: launch.yes,
        remote: launch.remote,
        ..RunOptions::default()
    };
    on_ctrl_c(options.cancel.clone(), options.abort.clone());
    let (tx, rx) = unbounded_channel();
    let reporter = tokio::spawn(report::report(plan, launch.format, rx));
    let report = crate::ops::run(env, request, options, Subscribers::new().with(tx)).await;
    let _ = reporter.await;
    let report = report?;
    if !report.left_over.is_empty() {
        errln!(
            "Left in place by this run (created by it, not taken down; remove what is no \
             longer needed):"
        );
        for l in &report.left_over {
            errln!("  {l}");
        }
    }
    if launch.format == Format::Text {
        outln!("Journal: {}", report.journal.display());
    }
    report.check()
}

/// The first Ctrl-C stops starting steps and rolls back; a second cuts off
/// the steps in flight.
pub(crate) fn on_ctrl_c(cancel: CancellationToken, abort: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            errln!(
                "\nInterrupted: no new step starts; steps in flight that change something are \
                 finished, then what was done is rolled back (Ctrl-C again cuts them off)…"
            );
            cancel.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            errln!(
                "\nInterrupted again: cutting off the steps in flight; the rollback undoes what they did part-way…"
            );
            abort.cancel();
        }
    });
}

/// A hang-up (the SSH session or terminal went away) must not kill a run
/// half-way: SIGHUP is noted and the run goes on. Its output is lost (writes
/// to the dead terminal fail and are ignored); the journal is the record.
fn ignore_hangups() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                tokio::spawn(async move {
                    while hangups.recv().await.is_some() {
                        tracing::info!("hang-up ignored: the run goes on; see its journal");
                    }
                });
            }
            Err(e) => tracing::warn!("cannot catch SIGHUP; a hang-up would stop the run: {e}"),
        }
    }
}

/// The environment of a run from the command line's places.
pub fn env(
    places: &Places,
    docker: crate::docker::Docker,
    repo: std::sync::Arc<crate::repo::LocalRepo>,
) -> Env {
    Env {
        retention: places.retention.clone(),
        ..Env::new(docker, repo, places.state_dir.clone())
    }
}
