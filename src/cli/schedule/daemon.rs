//! The long-running scheduler: sleeps until the next job's time, starts it
//! as a child process, records what ended, tells the webhook, saves the
//! state and the metrics. SIGTERM or Ctrl-C: no new job starts, running
//! children get SIGINT (they finish or roll back), the scheduler waits for
//! them, saves and exits 0.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::{Id, JoinError, JoinSet};

use super::child::{self, Setup, now};
use super::{files, notify, serve};
use crate::schedule::metrics::{self, JobView};
use crate::schedule::{Decision, Finished, Job, Planner, SkipReason, State};

/// The longest sleep: the clock is looked at again at least this often
/// (a suspended machine, a clock set by hand) and the metrics' heartbeat moves.
const TICK: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub state_dir: PathBuf,
    pub metrics_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub setup: Setup,
}

/// Children running, the webhooks in flight, and everything they change.
pub struct Runner {
    pub state: State,
    children: JoinSet<Finished>,
    names: HashMap<Id, String>,
    pids: HashMap<String, u32>,
    hooks: JoinSet<()>,
    client: reqwest::Client,
    options: Options,
    metrics: serve::Shared,
    /// What the state file holds: it is rewritten only when this changes.
    saved: Vec<u8>,
}

impl Runner {
    pub fn new(state: State, options: Options) -> Self {
        Self {
            state,
            children: JoinSet::new(),
            names: HashMap::new(),
            pids: HashMap::new(),
            hooks: JoinSet::new(),
            client: notify::client(),
            options,
            metrics: serve::Shared::default(),
            saved: Vec::new(),
        }
    }

    pub fn is_running(&self) -> bool {
        !self.children.is_empty()
    }

    /// Starts `job`; a child that cannot be started is a failed run.
    pub fn start(&mut self, job: &Job, catch_up: bool) -> bool {
        let at = Timestamp::now();
        self.state.record_start(&job.name, at);
        let why = if catch_up {
            " (catch-up for missed times)"
        } else {
            ""
        };
        outln!("{} {}: starting: {}{why}", now(), job.name, job.describe());
        match child::spawn(job, &self.options.setup) {
            Ok(started) => {
                let handle = self
                    .children
                    .spawn(async move { started.done.await.unwrap_or_else(|_| unreachable_run()) });
                self.names.insert(handle.id(), job.name.clone());
                if let Some(pid) = started.pid {
                    self.pids.insert(job.name.clone(), pid);
                }
                true
            }
            Err(e) => {
                errln!("{} {}: cannot start the run: {e}", now(), job.name);
                let f = Finished::new(&job.name, None, at, Timestamp::now(), None);
                self.record(job, &f);
                false
            }
        }
    }

    /// Waits for the next child to end; its job's name and how it ended.
    pub async fn next_finished(&mut self) -> Option<(String, Result<Finished, JoinError>)> {
        let joined = self.children.join_next_with_id().await?;
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        let name = self.names.remove(&id).unwrap_or_default();
        self.pids.remove(&name);
        Some((name, joined.map(|(_, f)| f)))
    }

    /// Records a run that ended, logs it and tells the webhook if it should.
    pub fn record(&mut self, job: &Job, f: &Finished) {
        let took = f.finished_at.duration_since(f.started_at).as_secs_f64();
        let run = f
            .run_id
            .as_deref()
            .map(|r| format!(", run {r}"))
            .unwrap_or_default();
        match f.exit_code {
            Some(0) => outln!("{} {}: succeeded in {took:.1}s{run}", now(), job.name),
            Some(code) => outln!(
                "{} {}: FAILED (exit {code}) after {took:.1}s{run}",
                now(),
                job.name
            ),
            None => outln!(
                "{} {}: FAILED (killed by a signal) after {took:.1}s{run}",
                now(),
                job.name
            ),
        }
        let notice = self.state.record_finish(f);
        if let (Some(notice), Some(url)) = (notice, &job.webhook) {
            let body = serde_json::to_value(notify::Payload::new(f, notice)).unwrap_or_default();
            let (client, url) = (self.client.clone(), url.clone());
            self.hooks.spawn(notify::post(client, url, body));
        }
    }

    /// Passes a SIGINT to every running child.
    pub fn interrupt_all(&self) {
        for pid in self.pids.values() {
            child::interrupt(*pid);
        }
    }

    /// Waits for the webhooks in flight, at most `limit`.
    pub async fn drain_hooks(&mut self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            while self.hooks.join_next().await.is_some() {}
        })
        .await;
    }

    /// Saves the state and writes the metrics (file and `/metrics`).
    pub fn publish(&mut self, views: &[JobView]) {
        while self.hooks.try_join_next().is_some() {}
        let path = files::state_path(&self.options.state_dir);
        match files::save_state(&path, &self.state, &self.saved) {
            Ok(bytes) => self.saved = bytes,
            Err(e) => errln!("{} warning: saving the scheduler state: {e}", now()),
        }
        let mut text = metrics::render(views, &self.state, Timestamp::now());
        text.push_str(&drill_metrics(&self.options.state_dir));
        if let Some(file) = &self.options.metrics_file
            && let Err(e) = files::write(file, text.as_bytes())
        {
            errln!("{} warning: writing the metrics file: {e}", now());
        }
        if let Ok(mut shared) = self.metrics.lock() {
            *shared = text;
        }
    }

    /// Serves `/metrics` on `--listen`, if given.
    pub async fn listen(&self) -> Result<(), String> {
        let Some(addr) = self.options.listen else {
            return Ok(());
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        outln!("{} metrics on http://{addr}/metrics", now());
        tokio::spawn(serve::serve(listener, self.metrics.clone()));
        Ok(())
    }
}

/// A waiting task that panicked; never expected (the task has no panics).
fn unreachable_run() -> Finished {
    Finished::new("?", None, Timestamp::now(), Timestamp::now(), None)
}

/// The metrics' view of every job of the planner.
fn views<'a>(planner: &'a Planner, running: &[String]) -> Vec<JobView<'a>> {
    planner
        .upcoming()
        .map(|(job, next)| JobView {
            job,
            next,
            interval: job.interval_after(Timestamp::now()),
            running: running.contains(&job.name),
        })
        .collect()
}

/// Signals that stop the scheduler.
struct Stops {
    term: Signal,
    int: Signal,
}

impl Stops {
    fn new() -> Result<Self, String> {
        let open = |kind| signal(kind).map_err(|e| format!("cannot catch signals: {e}"));
        Ok(Self {
            term: open(SignalKind::terminate())?,
            int: open(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Runs until SIGTERM or Ctrl-C. Err: why it could not start.
pub async fn run(jobs: Vec<Job>, mut runner: Runner) -> Result<(), String> {
    let mut stops = Stops::new()?;
    runner.listen().await?;
    let count = jobs.len();
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    runner.state.retain(&names);
    let (mut planner, first) = Planner::start(jobs, &mut runner.state, Timestamp::now());
    let mut running: Vec<String> = Vec::new();
    outln!(
        "{} scheduler started: {} job{}",
        now(),
        count,
        if count == 1 { "" } else { "s" }
    );
    for (job, next) in planner.upcoming() {
        if let Some(t) = next {
            outln!(
                "{} {}: next run {}",
                now(),
                job.name,
                t.strftime("%Y-%m-%dT%H:%M:%SZ")
            );
        }
    }
    apply(&mut planner, &mut runner, &mut running, first);
    runner.publish(&views(&planner, &running));
    let stopped_by = loop {
        let wait = planner
            .next_wake()
            .map(|t| Duration::try_from(t.duration_since(Timestamp::now())).unwrap_or_default())
            .unwrap_or(TICK)
            .min(TICK);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                let due = planner.due(&mut runner.state, Timestamp::now());
                apply(&mut planner, &mut runner, &mut running, due);
            }
            Some((name, ended)) = runner.next_finished() => {
                ended_run(&mut planner, &mut runner, &mut running, name, ended);
            }
            how = stops.next() => break how,
        }
        runner.publish(&views(&planner, &running));
    };
    shut_down(
        stopped_by,
        &mut planner,
        &mut runner,
        &mut running,
        &mut stops,
    )
    .await;
    Ok(())
}

/// Carries out the planner's decisions.
fn apply(
    planner: &mut Planner,
    runner: &mut Runner,
    running: &mut Vec<String>,
    decisions: Vec<Decision>,
) {
    for d in decisions {
        match d {
            Decision::Start { job, catch_up, .. } => {
                let Some(j) = planner.job(&job).cloned() else {
                    continue;
                };
                if runner.start(&j, catch_up) {
                    running.push(job);
                } else {
                    // Recorded as a failed run: the job may start at its next time.
                    planner.finished(&job);
                }
            }
            Decision::Skip { job, reason, count } => {
                let why = match reason {
                    SkipReason::Overlap => "the previous run is still running",
                    SkipReason::Missed => "the time passed while the scheduler was not running",
                };
                let times = if count == 1 {
                    "time".to_string()
                } else {
                    format!("{count} times")
                };
                outln!("{} {job}: skipped {times}: {why}", now());
            }
        }
    }
}

fn ended_run(
    planner: &mut Planner,
    runner: &mut Runner,
    running: &mut Vec<String>,
    name: String,
    ended: Result<Finished, JoinError>,
) {
    planner.finished(&name);
    running.retain(|n| *n != name);
    let Some(job) = planner.job(&name).cloned() else {
        return;
    };
    match ended {
        Ok(f) => runner.record(&job, &f),
        Err(e) => errln!("{} {name}: lost track of the run: {e}", now()),
    }
}

/// No new job starts; running children get SIGINT (again on every further
/// signal: `lifeboat run` then cuts off the steps in flight) and are waited for.
async fn shut_down(
    how: &str,
    planner: &mut Planner,
    runner: &mut Runner,
    running: &mut Vec<String>,
    stops: &mut Stops,
) {
    if runner.is_running() {
        outln!(
            "{} {how}: no new job starts; waiting for {} to finish or roll back (sent SIGINT; \
             another signal cuts off their steps in flight)",
            now(),
            running.join(", ")
        );
        runner.interrupt_all();
    } else {
        outln!("{} {how}: stopping", now());
    }
    while runner.is_running() {
        tokio::select! {
            Some((name, ended)) = runner.next_finished() => {
                ended_run(planner, runner, running, name, ended);
                runner.publish(&views(planner, running));
            }
            how = stops.next() => {
                outln!("{} {how} again: passing it on to {}", now(), running.join(", "));
                runner.interrupt_all();
            }
        }
    }
    runner.drain_hooks(Duration::from_secs(20)).await;
    runner.publish(&views(planner, running));
    outln!("{} scheduler stopped; state saved", now());
}

/// `--once JOB`: the job now, through the same path; its exit code.
pub async fn once(job: &Job, all: &[Job], mut runner: Runner) -> Result<Option<i32>, String> {
    let mut stops = Stops::new()?;
    let views_of = || -> Vec<JobView> {
        let at = Timestamp::now();
        all.iter()
            .map(|j| JobView {
                job: j,
                next: j.slot_after(at).map(|s| j.start_of(s)),
                interval: j.interval_after(at),
                running: false,
            })
            .collect()
    };
    if !runner.start(job, false) {
        runner.drain_hooks(Duration::from_secs(20)).await;
        runner.publish(&views_of());
        return Ok(None);
    }
    let code = loop {
        tokio::select! {
            Some((_, ended)) = runner.next_finished() => {
                match ended {
                    Ok(f) => {
                        runner.record(job, &f);
                        break f.exit_code;
                    }
                    Err(e) => return Err(format!("lost track of the run: {e}")),
                }
            }
            how = stops.next() => {
                outln!("{} {how}: passing it on to {}", now(), job.name);
                runner.interrupt_all();
            }
        }
    };
    runner.drain_hooks(Duration::from_secs(20)).await;
    runner.publish(&views_of());
    Ok(code)
}

/// The latest drill of each name, from the drill history (none: nothing).
fn drill_metrics(state_dir: &std::path::Path) -> String {
    match crate::drill::history::load(state_dir) {
        Ok(loaded) => {
            let reports: Vec<&crate::drill::report::DrillReport> =
                loaded.reports.iter().map(|s| &s.report).collect();
            crate::drill::metrics::render(&reports)
        }
        Err(e) => {
            errln!(
                "{} warning: reading the drill history for metrics: {e}",
                now()
            );
            String::new()
        }
    }
}
