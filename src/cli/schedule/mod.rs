//! `lifeboat schedule`: runs runbooks and drills on cron times, one instance
//! per job, with jitter, a missed-run policy, webhooks on failure and
//! recovery, and Prometheus metrics (docs/schedule.md). The logic is in
//! `schedule/`; this is the command: arguments, checks, processes, files.

pub mod child;
pub mod config;
mod daemon;
mod files;
mod notify;
mod serve;

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::live::{Places, runtime};
use super::locate;
use crate::compile::params::Missing;
use crate::compile::{Options as CompileOptions, compile};
use crate::ops::OpError;
use crate::runbook::diagnostic::suggestion;
use crate::runbook::parse::read_source;
use crate::schedule::{Action, Job, explain};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the next runs of every job, in its time zone and in UTC, and exit.
    #[arg(long)]
    pub explain: bool,
    /// With --explain: how many runs of each job.
    #[arg(long, default_value_t = 5, value_name = "N", requires = "explain")]
    pub count: usize,
    /// With --explain: list the runs after this time instead of now
    /// (RFC 3339, e.g. 2026-03-28T00:00:00Z).
    #[arg(long, value_name = "TIME", requires = "explain")]
    pub from: Option<Timestamp>,
    /// Run JOB once now, the way the scheduler runs it (state, metrics,
    /// webhook), and exit with the run's exit code.
    #[arg(long, value_name = "JOB", conflicts_with = "explain")]
    pub once: Option<String>,
    /// Write the metrics to FILE after every run, atomically (node_exporter's
    /// textfile collector: a `.prom` file in its directory).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Serve the metrics on http://ADDR/metrics. A bare port listens on
    /// loopback only (9464 is 127.0.0.1:9464); give 0.0.0.0:9464 to be reached
    /// from elsewhere.
    #[arg(long, value_name = "ADDR", value_parser = serve::parse_listen)]
    pub listen: Option<std::net::SocketAddr>,
}

pub fn run(runbooks: &Path, drills: &Path, places: &Places, args: Args) -> Result<(), OpError> {
    let jobs = &places.jobs;
    if args.explain {
        let now = args.from.unwrap_or_else(Timestamp::now);
        out!("{}", explain::render(jobs, now, args.count.max(1)));
        return check_jobs(runbooks, drills, jobs);
    }
    if jobs.is_empty() {
        return Err(OpError::usage(
            "no jobs to schedule: add them under `schedule: jobs:` in the config file \
             (lifeboat.yaml, or --config FILE); see docs/schedule.md",
        ));
    }
    check_jobs(runbooks, drills, jobs)?;
    let once = args
        .once
        .as_deref()
        .map(|name| find_job(jobs, name))
        .transpose()?;
    // Held until the process ends: one scheduler per state directory.
    let _lock = files::lock(&places.state_dir).map_err(OpError::Unavailable)?;
    let state =
        files::load_state(&files::state_path(&places.state_dir)).map_err(OpError::Unavailable)?;
    let options = daemon::Options {
        state_dir: places.state_dir.clone(),
        metrics_file: args.metrics_file,
        listen: args.listen,
        setup: child::Setup {
            env: child_env(runbooks, drills, places),
        },
    };
    let runner = daemon::Runner::new(state, options);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        // The multi-thread runtime says why it cannot start, and exits.
        Err(_) => runtime(),
    };
    rt.block_on(async {
        match once {
            // The run's own exit code: the child said why it failed.
            Some(job) => match daemon::once(job, jobs, runner)
                .await
                .map_err(OpError::Unavailable)?
            {
                Some(0) => Ok(()),
                exit_code => Err(OpError::JobFailed {
                    job: job.name.clone(),
                    exit_code,
                }),
            },
            None => daemon::run(jobs.clone(), runner)
                .await
                .map_err(OpError::Unavailable),
        }
    })
}

fn find_job<'a>(jobs: &'a [Job], name: &str) -> Result<&'a Job, OpError> {
    jobs.iter().find(|j| j.name == name).ok_or_else(|| {
        let hint = suggestion(name, jobs.iter().map(|j| j.name.as_str()))
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        OpError::usage(format!(
            "no job `{name}` in the schedule{hint}; jobs: {}",
            names.join(", ")
        ))
    })
}

/// Every `run:` job's runbook exists and compiles with the job's `--set`s,
/// and every `drill:` job's drill and its runbook are valid, so a typo
/// fails now, not at 02:00.
fn check_jobs(runbooks: &Path, drills: &Path, jobs: &[Job]) -> Result<(), OpError> {
    for job in jobs {
        let name = match &job.action {
            Action::Run(name) => name,
            Action::Drill(drill) => {
                if let Err(e) = super::drill::load(drills, runbooks, drill) {
                    errln!("job `{}` (drill {drill}) is not valid:", job.name);
                    return Err(e);
                }
                continue;
            }
        };
        let path = locate::find(runbooks, name)
            .map_err(|e| OpError::usage(format!("job `{}`: {e}", job.name)))?;
        let source = read_source(&path).map_err(|e| OpError::from_read(&e, None))?;
        let options = CompileOptions {
            sets: &job.sets,
            missing: Missing::Refuse,
            world: None,
        };
        if let Err(f) = compile(&source, &options) {
            errln!("job `{}` (runbook {}):", job.name, path.display());
            return Err(OpError::from_compile(f, &source));
        }
    }
    Ok(())
}

/// The places this process was given, for its children.
fn child_env(
    runbooks: &Path,
    drills: &Path,
    places: &Places,
) -> Vec<(&'static str, std::ffi::OsString)> {
    let mut env = places.child_env();
    env.push(("LIFEBOAT_RUNBOOKS", runbooks.as_os_str().to_owned()));
    env.push(("LIFEBOAT_DRILLS", drills.as_os_str().to_owned()));
    env
}
