//! `ops::run`: runs a compiled plan for real — locks, journal, the real
//! executor, the engine — and returns what happened as a [`RunReport`].
//! Shared by `lifeboat run`, `apply`, `resume`, `backup`, the demo and
//! drills. It prints nothing and needs no terminal: progress goes to the
//! caller's subscribers, Ctrl-C arrives through `options.cancel`.
//!
//! ```text
//! pub async fn run(
//!     env: &Env,                 // Docker, the repository, state and lock directories
//!     request: RunRequest,       // the compiled Plan, param values, --set pairs, resume
//!     options: RunOptions,       // parallel, yes, remote store, cancel/abort tokens
//!     subscribers: Subscribers,  // who sees the event stream (besides the journal)
//! ) -> Result<RunReport, OpError>
//! ```
//!
//! `Ok` whenever the run ran, whatever its outcome (`report.outcome`;
//! `report.check()` turns a failed one into `OpError::Failed` /
//! `RollbackIncomplete`); `Err` when it could not start (a lock is held,
//! the journal cannot be written: `OpError::Unavailable`).
//!
//! ```ignore
//! use lifeboat::engine::{Event, Subscribers};
//! use lifeboat::ops::run::{Env, RunOptions, RunRequest, run};
//! use lifeboat::ops::world::{compile_live, observe};
//!
//! let world = observe(&docker, &repo, None).await?;             // or a recorded World
//! let plan = compile_live(&source, &sets, &world)?;            // OpError::Invalid / Usage
//! lifeboat::ops::checks::refuse_predicted_failures(&plan, false)?;
//! let params = lifeboat::compile::compiler::param_values(&source, &sets)?;
//! let env = Env::new(docker, repo, state_dir);                 // lock_dir, retention: pub fields
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
//! let options = RunOptions { yes: true, ..RunOptions::default() };
//! let report = run(&env, RunRequest::new(plan, params), options, Subscribers::new().with(tx)).await?;
//! // rx holds every event; report.steps has each step's start/finish time,
//! // outputs and error; report.rollback the undos.
//! assert_eq!(report.outcome, lifeboat::engine::Outcome::Succeeded);
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use sha2::Digest as _;
use tokio_util::sync::CancellationToken;

use super::error::OpError;
use super::report::{Collector, RunReport};
use crate::docker::Docker;
use crate::engine::journal::{Journal, Record};
use crate::engine::render::RunScope;
use crate::engine::{Options, Outcome, Seed, Subscribers, lock};
use crate::model::effect::Effect;
use crate::plan::Plan;
use crate::repo::{LocalRepo, Policy};
use crate::runtime::ports::Offsite;
use crate::runtime::ports::real::{Reqwest, S3Offsite};
use crate::s3::S3Store;
use crate::steps::{Ports, Real};

/// What runs act on and where they keep their state.
#[derive(Clone)]
pub struct Env {
    pub docker: Docker,
    pub repo: Arc<LocalRepo>,
    /// Journals go to `<state_dir>/runs/`.
    pub state_dir: PathBuf,
    /// Where per-target locks are taken.
    pub lock_dir: PathBuf,
    /// The config file's retention policy: `backup.prune` without keep_* uses it.
    pub retention: Policy,
    /// Where relative compose files are found.
    pub workdir: PathBuf,
}

impl Env {
    /// The default lock directory and retention, the current directory.
    pub fn new(docker: Docker, repo: Arc<LocalRepo>, state_dir: PathBuf) -> Self {
        Self {
            docker,
            repo,
            state_dir,
            lock_dir: lock::default_dir(),
            retention: Policy::default(),
            workdir: std::env::current_dir().unwrap_or_default(),
        }
    }
}

/// What to run.
pub struct RunRequest {
    pub plan: Plan,
    /// Real param values, secrets included (`compile::compiler::param_values`).
    pub params: Vec<(String, minijinja::Value)>,
    /// `--set` pairs to record in the journal; secret params are left out here.
    pub sets: Vec<(String, String)>,
    /// `resume`: the run id and what the journal says already happened.
    pub resume: Option<(String, Seed)>,
}

impl RunRequest {
    pub fn new(plan: Plan, params: Vec<(String, minijinja::Value)>) -> Self {
        Self {
            plan,
            params,
            sets: Vec::new(),
            resume: None,
        }
    }
}

/// How to run it.
pub struct RunOptions {
    /// How many independent steps may run at once.
    pub parallel: usize,
    /// Gates pass without asking.
    pub yes: bool,
    /// Off-site store: new backups are copied there, missing ones fetched.
    pub remote: Option<S3Store>,
    /// Stop starting steps, cut off checks, wait for changes in flight, roll back.
    pub cancel: CancellationToken,
    /// After `cancel`: cut off the changes in flight too.
    pub abort: CancellationToken,
    /// Volumes restored from another volume's backups (a drill's copy of
    /// production): volume → the source whose backups it takes.
    pub restore_from: std::collections::BTreeMap<String, String>,
    /// Copy new backups off-site (a drill's safety backups stay local).
    pub push_new: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            parallel: 4,
            yes: false,
            remote: None,
            cancel: CancellationToken::new(),
            abort: CancellationToken::new(),
            restore_from: Default::default(),
            push_new: true,
        }
    }
}

/// Runs `request`; see the module documentation.
pub async fn run(
    env: &Env,
    request: RunRequest,
    options: RunOptions,
    mut subscribers: Subscribers,
) -> Result<RunReport, OpError> {
    let RunRequest {
        plan,
        params,
        sets,
        resume,
    } = request;
    let (run_id, seed) = match resume {
        Some((id, seed)) => (id, Some(seed)),
        None => (new_run_id(), None),
    };
    let _locks = take_locks(env, &plan, &run_id)?;
    let journal = open_journal(env, &plan, &run_id, &sets, seed.is_some())?;
    let journal_path = journal.path().to_path_buf();
    let secrets = secrets_of(&plan, &params);
    let scope = RunScope::new(
        params,
        &plan.targets,
        &run_id,
        &Timestamp::now().to_string(),
    );
    let remote = options.remote.map(|store| {
        Arc::new(S3Offsite {
            store,
            repo: env.repo.clone(),
        }) as Arc<dyn Offsite>
    });
    let ports = Ports {
        retention: env.retention.clone(),
        docker: Arc::new(env.docker.clone()),
        repo: env.repo.clone(),
        http: Arc::new(Reqwest::new()),
        yes: options.yes,
        remote,
        workdir: env.workdir.clone(),
        restore_from: options.restore_from,
        push_new: options.push_new,
        dry: None,
    };
    let mut real = Real::new(ports, &plan);
    if let Some(seed) = &seed {
        real = real.resumed(&plan, &seed.done);
    }
    let executor = Arc::new(real);
    let collector = Collector::default();
    subscribers.add(journal);
    subscribers.add(collector.clone());
    let engine_options = Options {
        run_id: run_id.clone(),
        parallel: options.parallel,
        cancel: options.cancel,
        abort: options.abort,
        secrets,
    };
    let report = crate::engine::run(
        &plan,
        &scope,
        executor.clone(),
        subscribers,
        &engine_options,
        seed.unwrap_or_default(),
    )
    .await;
    // Finished (its journal says so): its run lock file can go.
    lock::forget_run(&env.lock_dir, &run_id);
    let collected = collector.take();
    let now = Timestamp::now();
    Ok(RunReport {
        run_id,
        runbook: plan.runbook.clone(),
        outcome: report.outcome,
        started_at: collected.started_at.unwrap_or(now),
        finished_at: collected.finished_at.unwrap_or(now),
        duration: report.duration,
        steps: collected.steps,
        rollback: collected.rollback,
        errors: report.errors,
        outputs: report.outputs,
        journal: journal_path,
        left_over: executor.left_over().await,
    })
}

impl RunReport {
    /// Ok when the run succeeded; else the error its outcome means.
    pub fn check(self) -> Result<RunReport, OpError> {
        match self.outcome {
            Outcome::Succeeded => Ok(self),
            Outcome::RollbackFailed => Err(OpError::RollbackIncomplete {
                run_id: self.run_id,
            }),
            outcome => Err(OpError::Failed {
                run_id: self.run_id,
                outcome,
            }),
        }
    }
}

pub fn new_run_id() -> String {
    let now = Timestamp::now();
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let seed = format!("{}-{}", now.as_nanosecond(), std::process::id());
    let hash = sha2::Sha256::digest(seed.as_bytes());
    format!("{stamp}-{}", hex::encode(&hash[..3]))
}

/// The run's own lock tells other processes it is running (their
/// repository sweep leaves its partial backups alone); then one per
/// container and volume it changes.
fn take_locks(env: &Env, plan: &Plan, run_id: &str) -> Result<lock::Locks, OpError> {
    let holder = format!(
        "run {run_id} ({}, pid {})",
        plan.runbook,
        std::process::id()
    );
    let mut names = lock_names(plan);
    names.push(lock::run_lock(run_id));
    lock::acquire(&env.lock_dir, &names, &holder).map_err(|e| OpError::Unavailable(e.to_string()))
}

/// A new journal with the run's start, or the interrupted run's journal
/// with a `resumed` record.
fn open_journal(
    env: &Env,
    plan: &Plan,
    run_id: &str,
    sets: &[(String, String)],
    resumed: bool,
) -> Result<Journal, OpError> {
    let unavailable = |e: crate::engine::journal::JournalError| OpError::Unavailable(e.to_string());
    let (mut journal, first) = if resumed {
        let first = Record::Resumed {
            at: Timestamp::now(),
            pid: std::process::id(),
        };
        (
            Journal::reopen(&env.state_dir, run_id).map_err(unavailable)?,
            first,
        )
    } else {
        let first = Record::RunStarted {
            run_id: run_id.to_string(),
            at: Timestamp::now(),
            runbook: plan.runbook.clone(),
            source: plan.source.clone(),
            source_sha256: plan.source_sha256.clone(),
            sets: recordable_sets(plan, sets),
            pid: std::process::id(),
            plan: Box::new(plan.clone()),
        };
        (
            Journal::create(&env.state_dir, run_id).map_err(unavailable)?,
            first,
        )
    };
    journal.append(&first).map_err(unavailable)?;
    Ok(journal)
}

/// The Docker objects a plan changes, as lock names.
pub fn lock_names(plan: &Plan) -> Vec<String> {
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

/// `--set` pairs that may be written down: secrets are left out.
pub fn recordable_sets(plan: &Plan, sets: &[(String, String)]) -> Vec<(String, String)> {
    sets.iter()
        .filter(|(n, _)| !plan.params.iter().any(|p| &p.name == n && p.secret))
        .cloned()
        .collect()
}

/// Real values of secret params: masked in the journal and the events.
pub fn secrets_of(plan: &Plan, params: &[(String, minijinja::Value)]) -> Vec<String> {
    plan.params
        .iter()
        .filter(|p| p.secret)
        .filter_map(|p| params.iter().find(|(n, _)| n == &p.name))
        .map(|(_, v)| v.to_string())
        .collect()
}
