//! Runs a plan for real: locks, journal, reporter, Ctrl-C, the engine.
//! Shared by `run`, `apply`, `resume`, `backup` and `demo`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::sync::mpsc::unbounded_channel;
use tokio_util::sync::CancellationToken;

use super::live::Places;
use super::{
    EXIT_FAILED, EXIT_OK, EXIT_ROLLBACK_FAILED, EXIT_UNAVAILABLE, Format, report, usage_error,
};
use crate::docker::Docker;
use crate::engine::journal::{self, Journal, Record};
use crate::engine::render::RunScope;
use crate::engine::runner::Report;
use crate::engine::{Options, Outcome, Seed, lock, run};
use crate::model::effect::Effect;
use crate::plan::Plan;
use crate::repo::LocalRepo;
use crate::steps::{Ports, Real};

pub struct Request {
    pub plan: Plan,
    /// Real param values, secrets included.
    pub params: Vec<(String, minijinja::Value)>,
    /// `--set` pairs to record (secrets left out).
    pub sets: Vec<(String, String)>,
    pub yes: bool,
    pub parallel: usize,
    pub format: Format,
    /// `resume`: the run id and what already happened.
    pub resume: Option<(String, Seed)>,
    /// Where new backups are copied and missing ones fetched from.
    pub remote: Option<crate::s3::S3Store>,
}

pub fn new_run_id() -> String {
    let now = Timestamp::now();
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let seed = format!("{}-{}", now.as_nanosecond(), std::process::id());
    let hash = sha2::Sha256::digest(seed.as_bytes());
    format!("{stamp}-{}", hex::encode(&hash[..3]))
}

use sha2::Digest as _;

/// Asks before destroying anything, unless `--yes`. Refuses without a terminal.
pub fn confirm_destructive(plan: &Plan, yes: bool) -> Result<(), u8> {
    let destructive: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.effect == Effect::Destroy)
        .map(|s| s.id.as_str())
        .collect();
    if yes || destructive.is_empty() {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage_error(&format!(
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
        errln!("Not confirmed; nothing was done.");
        Err(EXIT_FAILED)
    }
}

/// Refuses a plan that already says a step will fail, unless `--force`:
/// starting it would stop services and take safety backups for nothing, and
/// then roll back.
pub fn refuse_predicted_failures(plan: &Plan, force: bool) -> Result<(), u8> {
    if force || plan.predicted_failures.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = plan
        .predicted_failures
        .iter()
        .map(|f| format!("  ✗ {f}"))
        .collect();
    Err(usage_error(&format!(
        "refusing to run {}: its plan says {} will fail:\n{}\nNothing was changed. Fix the \
         cause (see `lifeboat plan {}`), or pass --force to run it anyway.",
        plan.runbook,
        if lines.len() == 1 {
            "this step"
        } else {
            "these steps"
        },
        lines.join("\n"),
        plan.runbook
    )))
}

/// The Docker objects a plan touches, as lock names.
pub(crate) fn lock_names(plan: &Plan) -> Vec<String> {
    let kind_of = |target: &str| {
        plan.targets
            .iter()
            .find(|t| t.name == target)
            .map_or("container", |t| {
                if t.kind == crate::model::target::TargetKind::Volume {
                    "volume"
                } else {
                    "container"
                }
            })
    };
    plan.steps
        .iter()
        .filter(|s| s.effect != Effect::Read)
        .flat_map(|s| s.touches.iter())
        .map(|t| format!("{} {}", kind_of(&t.target), t.resolved))
        .collect()
}

pub async fn execute(
    docker: Docker,
    repo: Arc<LocalRepo>,
    places: &Places,
    req: Request,
) -> (u8, Option<Report>) {
    ignore_hangups();
    let (run_id, seed) = match req.resume {
        Some((id, seed)) => (id, Some(seed)),
        None => (new_run_id(), None),
    };
    let holder = format!(
        "run {run_id} ({}, pid {})",
        req.plan.runbook,
        std::process::id()
    );
    // The run's own lock tells other processes it is running (their repository
    // sweep leaves its partial backups alone); then what it touches.
    let mut names = lock_names(&req.plan);
    names.push(lock::run_lock(&run_id));
    let _locks = match lock::acquire(&lock::default_dir(), &names, &holder) {
        Ok(l) => l,
        Err(e) => {
            usage_error(&e.to_string());
            return (EXIT_UNAVAILABLE, None);
        }
    };
    let opened = match &seed {
        None => Journal::create(&places.state_dir, &run_id),
        Some(_) => Journal::reopen(&places.state_dir, &run_id),
    };
    let mut journal = match opened {
        Ok(j) => j,
        Err(e) => {
            usage_error(&e.to_string());
            return (EXIT_UNAVAILABLE, None);
        }
    };
    let first = match &seed {
        None => Record::RunStarted {
            run_id: run_id.clone(),
            at: Timestamp::now(),
            runbook: req.plan.runbook.clone(),
            source: req.plan.source.clone(),
            source_sha256: req.plan.source_sha256.clone(),
            sets: req.sets.clone(),
            pid: std::process::id(),
            plan: Box::new(req.plan.clone()),
        },
        Some(_) => Record::Resumed {
            at: Timestamp::now(),
            pid: std::process::id(),
        },
    };
    if let Err(e) = journal.append(&first) {
        usage_error(&e.to_string());
        return (EXIT_UNAVAILABLE, None);
    }
    let journal_path = journal.path().display().to_string();
    let secrets: Vec<String> = req
        .plan
        .params
        .iter()
        .filter(|p| p.secret)
        .filter_map(|p| req.params.iter().find(|(n, _)| n == &p.name))
        .map(|(_, v)| v.to_string())
        .collect();
    let scope = RunScope::new(
        req.params,
        &req.plan.targets,
        &run_id,
        &Timestamp::now().to_string(),
    );
    let ports = Ports {
        retention: places.retention.clone(),
        docker,
        repo,
        http: http_client(),
        yes: req.yes,
        remote: req.remote,
        workdir: std::env::current_dir().unwrap_or_default(),
    };
    let mut real = Real::new(ports, &req.plan);
    if let Some(seed) = &seed {
        real = real.resumed(&req.plan, &seed.done);
    }
    let executor = Arc::new(real);
    let cancel = CancellationToken::new();
    let abort = CancellationToken::new();
    let (on_signal, on_second) = (cancel.clone(), abort.clone());
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            errln!(
                "\nInterrupted: no new step starts; steps in flight that change something are \
                 finished, then what was done is rolled back (Ctrl-C again cuts them off)…"
            );
            on_signal.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            errln!(
                "\nInterrupted again: cutting off the steps in flight; the rollback undoes what they did part-way…"
            );
            on_second.cancel();
        }
    });
    let (tx, rx) = unbounded_channel();
    let reporter = tokio::spawn(report::report(req.plan.clone(), req.format, rx));
    let options = Options {
        run_id: run_id.clone(),
        parallel: req.parallel,
        cancel,
        abort,
        secrets,
    };
    let report = run(
        &req.plan,
        &scope,
        executor.clone(),
        Some(Arc::new(Mutex::new(journal))),
        tx,
        &options,
        seed.unwrap_or_default(),
    )
    .await;
    let _ = reporter.await;
    // Finished (its journal says so): its run lock file can go.
    lock::forget_run(&lock::default_dir(), &run_id);
    let left_over = executor.left_over().await;
    if !left_over.is_empty() {
        errln!(
            "Left in place by this run (created by it, not taken down; remove what is no \
             longer needed):"
        );
        for l in &left_over {
            errln!("  {l}");
        }
    }
    if req.format == Format::Text {
        outln!("Journal: {journal_path}");
    }
    let code = match report.outcome {
        Outcome::Succeeded => EXIT_OK,
        Outcome::RollbackFailed => EXIT_ROLLBACK_FAILED,
        _ => EXIT_FAILED,
    };
    (code, Some(report))
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

/// Journal records of a run, or a usage error.
pub fn read_journal(places: &Places, run_id: &str) -> Result<Vec<Record>, u8> {
    let path = journal::path_of(&places.state_dir, run_id);
    if !path.exists() {
        let known = journal::run_ids(&places.state_dir).unwrap_or_default();
        let hint = crate::runbook::diagnostic::suggestion(run_id, known.iter().map(String::as_str))
            .map(|s| format!(" ({s})"))
            .unwrap_or_else(|| " (see `lifeboat history`)".into());
        return Err(usage_error(&format!(
            "no run `{run_id}` in {}{hint}",
            journal::runs_dir(&places.state_dir).display()
        )));
    }
    journal::read(&path).map_err(|e| usage_error(&e.to_string()))
}

/// The client of every HTTP step: a dead host fails in seconds, not at the
/// OS's TCP timeout; each step sets its own overall limit, if any.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
