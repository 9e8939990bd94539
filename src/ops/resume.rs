//! Resuming an interrupted run (docs/architecture.md §4): finished steps
//! are skipped, steps in flight run again, a rollback under way is finished.
//! Refused when the runbook changed, and when the world changed since the
//! run stopped (unless forced).

use std::path::Path;

use super::error::OpError;
use super::run::lock_names;
use crate::compile::params::Missing;
use crate::compile::{Document, Options};
use crate::docker::Docker;
use crate::engine::Seed;
use crate::engine::journal::{self, Record};
use crate::engine::replay::{expected_containers, in_flight, seed_from};
use crate::plan::Plan;
use crate::runbook::parse::read_source;

/// What a resume starts from.
pub struct Resumption {
    pub plan: Plan,
    pub seed: Seed,
    /// Real param values (the recorded `--set`s, then the new ones).
    pub params: Vec<(String, minijinja::Value)>,
    pub sets: Vec<(String, String)>,
    /// Steps started and never finished: they run again.
    pub in_flight: Vec<String>,
}

/// The journal records of run `run_id`; an unknown run is a usage error
/// with a suggestion.
pub fn read_journal(state_dir: &Path, run_id: &str) -> Result<Vec<Record>, OpError> {
    let path = journal::path_of(state_dir, run_id);
    if !path.exists() {
        let known = journal::run_ids(state_dir).unwrap_or_default();
        let hint = crate::runbook::diagnostic::suggestion(run_id, known.iter().map(String::as_str))
            .map(|s| format!(" ({s})"))
            .unwrap_or_else(|| " (see `lifeboat history`)".into());
        return Err(OpError::usage(format!(
            "no run `{run_id}` in {}{hint}",
            journal::runs_dir(state_dir).display()
        )));
    }
    journal::read(&path).map_err(|e| OpError::usage(e.to_string()))
}

/// Reads what run `run_id` did from its journal `records` and checks that
/// its runbook is unchanged. `extra` are `--set` pairs (secrets, which
/// journals never hold).
pub fn prepare(
    run_id: &str,
    records: &[Record],
    extra: &[(String, String)],
) -> Result<Resumption, OpError> {
    let Some(Record::RunStarted {
        plan,
        sets: recorded,
        ..
    }) = records.first().cloned()
    else {
        return Err(OpError::usage(format!(
            "journal of run {run_id} has no start record"
        )));
    };
    if let Some(Record::RunFinished { outcome, .. }) = records
        .iter()
        .rev()
        .find(|r| matches!(r, Record::RunFinished { .. }))
    {
        return Err(OpError::Finished(format!(
            "run {run_id} already finished ({}); nothing to resume",
            outcome.word()
        )));
    }
    let source = read_source(Path::new(&plan.source))
        .map_err(|e| OpError::from_read(&e, Some("the run's runbook")))?;
    let mut sets = recorded;
    for (k, v) in extra {
        sets.retain(|(n, _)| n != k);
        sets.push((k.clone(), v.clone()));
    }
    let offline = Options {
        sets: &sets,
        missing: Missing::Refuse,
        world: None,
    };
    let invalid = |f| OpError::from_compile(f, &source);
    let document = Document::parse(&source).map_err(invalid)?;
    let now = document.compile(&offline).map_err(invalid)?.plan;
    if now.source_sha256 != plan.source_sha256 {
        return Err(OpError::Stale(format!(
            "refusing to resume: runbook {} changed since run {run_id} started; restore the \
             runbook as it was, or start a new run",
            plan.source
        )));
    }
    let params = document.param_values(&sets).map_err(invalid)?;
    Ok(Resumption {
        plan: *plan,
        seed: seed_from(records),
        params,
        sets,
        in_flight: in_flight(records),
    })
}

/// Refuses (stale) when the world changed since the run stopped.
pub async fn check_world(
    state_dir: &Path,
    run_id: &str,
    plan: &Plan,
    records: &[Record],
    docker: &Docker,
) -> Result<(), OpError> {
    let mut changes = newer_runs(state_dir, run_id, plan);
    changes.extend(moved_containers(plan, records, docker).await);
    if changes.is_empty() {
        return Ok(());
    }
    Err(OpError::Stale(format!(
        "refusing to resume run {run_id}: the world changed since it stopped:\n{}\n\
         Resuming would carry on (or roll back) over those changes and could \
         overwrite newer data. Nothing was changed. Look at `lifeboat show {run_id}` and \
         `lifeboat history`; if you are sure, pass --force.",
        changes
            .iter()
            .map(|c| format!("  - {c}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )))
}

/// Newer runs that changed the same containers or volumes. Doubt counts as
/// a change: a journal that cannot be read may be the newer run's.
fn newer_runs(state_dir: &Path, run_id: &str, plan: &Plan) -> Vec<String> {
    let mut changes = Vec::new();
    let ours = lock_names(plan);
    let ids = match journal::run_ids(state_dir) {
        Ok(ids) => ids,
        Err(e) => {
            changes.push(format!("the other runs' journals cannot be listed: {e}"));
            Vec::new()
        }
    };
    for id in ids.into_iter().filter(|id| id.as_str() > run_id) {
        let theirs = match journal::read(&journal::path_of(state_dir, &id)) {
            Ok(records) => records,
            Err(e) => {
                changes.push(format!("the journal of run {id} cannot be read: {e}"));
                continue;
            }
        };
        let Some(Record::RunStarted { plan: other, .. }) = theirs.first() else {
            continue;
        };
        let shared: Vec<String> = lock_names(other)
            .into_iter()
            .filter(|n| ours.contains(n))
            .collect();
        if !shared.is_empty() {
            changes.push(format!(
                "run {id} ({}) started after it and changed {}",
                other.runbook,
                shared.join(", ")
            ));
        }
    }
    changes
}

/// Containers whose state is not what the journal left them in (stopped by
/// the run but running now, say, after someone recovered by hand).
async fn moved_containers(plan: &Plan, records: &[Record], docker: &Docker) -> Vec<String> {
    let mut changes = Vec::new();
    for (name, running) in expected_containers(plan, records, |kind| {
        crate::kinds::get(kind)?.leaves_container_running()
    }) {
        let now = match docker.container(&name).await {
            Ok(Some(c)) => Some(c.running),
            Ok(None) => None,
            Err(e) => {
                changes.push(format!("container {name} cannot be inspected: {e}"));
                continue;
            }
        };
        let word = |r: bool| if r { "running" } else { "stopped" };
        match now {
            Some(now) if now == running => {}
            Some(now) => changes.push(format!(
                "container {name}: the run left it {}, it is {} now",
                word(running),
                word(now)
            )),
            None => changes.push(format!("container {name} is gone")),
        }
    }
    changes
}
