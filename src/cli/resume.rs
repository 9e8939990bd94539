//! `lifeboat resume RUN_ID`: carry on a run that was interrupted (killed,
//! machine lost). Finished steps are skipped; steps that were in flight run
//! again (every step kind is safe to repeat); a rollback that was under way
//! is finished. Refuses if the runbook changed since.

use std::path::Path;

use super::execute::{Request, execute, read_journal};
use super::live::{Places, connect, runtime};
use super::plan::parse_set;
use super::run::report_failure;
use super::{EXIT_FAILED, EXIT_STALE, Format, usage_error};
use crate::compile::compiler::param_values;
use crate::compile::params::Missing;
use crate::compile::{Options, compile};
use crate::docker::Docker;
use crate::engine::Seed;
use crate::engine::journal::{self, Record};
use crate::plan::Plan;
use crate::runbook::parse::read_source;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run to resume (see `lifeboat history`).
    pub run_id: String,
    /// Values of secret params, which journals never hold.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Resume even though the world changed since the run stopped (a newer
    /// run touched the same containers or volumes, a container it stopped runs).
    #[arg(long)]
    pub force: bool,
}

pub fn run(places: &Places, args: Args) -> u8 {
    let records = match read_journal(places, &args.run_id) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let Some(Record::RunStarted {
        plan,
        sets: recorded,
        ..
    }) = records.first().cloned()
    else {
        return usage_error(&format!(
            "journal of run {} has no start record",
            args.run_id
        ));
    };
    if let Some(Record::RunFinished { outcome, .. }) = records
        .iter()
        .rev()
        .find(|r| matches!(r, Record::RunFinished { .. }))
    {
        usage_error(&format!(
            "run {} already finished ({}); nothing to resume",
            args.run_id,
            outcome.word()
        ));
        return EXIT_FAILED;
    }
    let source = match read_source(Path::new(&plan.source)) {
        Ok(s) => s,
        Err(e) if e.is_invalid() => return super::read_failure(&e),
        Err(e) => return usage_error(&format!("the run's runbook: {e}")),
    };
    let mut sets = recorded;
    for (k, v) in &args.sets {
        sets.retain(|(n, _)| n != k);
        sets.push((k.clone(), v.clone()));
    }
    let now = match compile(
        &source,
        &Options {
            sets: &sets,
            missing: Missing::Refuse,
            world: None,
        },
    ) {
        Ok(p) => p,
        Err(f) => return report_failure(f, &source),
    };
    if now.source_sha256 != plan.source_sha256 {
        usage_error(&format!(
            "refusing to resume: runbook {} changed since run {} started; restore the runbook \
             as it was, or start a new run",
            plan.source, args.run_id
        ));
        return EXIT_STALE;
    }
    let seed = seed_from(&records);
    let params = match param_values(&source, &sets) {
        Ok(p) => p,
        Err(f) => return report_failure(f, &source),
    };
    let repo = match places.open_repo() {
        Ok(r) => r,
        Err(code) => return code,
    };
    if args.format == Format::Text {
        let in_flight = in_flight(&records);
        outln!(
            "Resuming run {}: {} steps done{}{}",
            args.run_id,
            seed.done.len(),
            if in_flight.is_empty() {
                String::new()
            } else {
                format!(", running again: {}", in_flight.join(", "))
            },
            if seed.rollback.is_some() {
                ", finishing its rollback"
            } else {
                ""
            }
        );
    }
    runtime().block_on(async {
        let docker = match connect().await {
            Ok(d) => d,
            Err(code) => return code,
        };
        if !args.force {
            let changes = changed_since(places, &args.run_id, &plan, &records, &docker).await;
            if !changes.is_empty() {
                usage_error(&format!(
                    "refusing to resume run {}: the world changed since it stopped:\n{}\n\
                     Resuming would carry on (or roll back) over those changes and could \
                     overwrite newer data. Nothing was changed. Look at `lifeboat show {}` and \
                     `lifeboat history`; if you are sure, pass --force.",
                    args.run_id,
                    changes
                        .iter()
                        .map(|c| format!("  - {c}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    args.run_id
                ));
                return EXIT_STALE;
            }
        }
        let remote = match places.remote().await {
            Ok(r) => r,
            Err(code) => return code,
        };
        let request = Request {
            plan: *plan,
            params,
            sets,
            yes: args.yes,
            parallel: args.parallel,
            format: args.format,
            resume: Some((args.run_id.clone(), seed)),
            remote,
        };
        execute(docker, repo, places, request).await.0
    })
}

/// What the journal says already happened.
pub fn seed_from(records: &[Record]) -> Seed {
    let mut seed = Seed::default();
    for r in records {
        // One state per step: the last record about it (a step that failed,
        // was resumed and then finished is done, not both).
        if let Record::StepStarted { id, .. } | Record::StepFinished { id, .. } = r {
            seed.failed.retain(|f| f != id);
            seed.refused.retain(|f| f != id);
            seed.skipped.retain(|f| f != id);
        }
        match r {
            Record::StepFinished { id, outputs, .. } => {
                let out = outputs.as_object().cloned().unwrap_or_default();
                seed.done.retain(|(d, _)| d != id);
                seed.done.push((id.clone(), out));
            }
            Record::StepSkipped { id, .. } => seed.skipped.push(id.clone()),
            Record::StepFailed {
                id,
                untouched: false,
                ..
            } => seed.failed.push(id.clone()),
            Record::StepFailed {
                id,
                untouched: true,
                ..
            } => seed.refused.push(id.clone()),
            Record::RollbackStarted { reason, .. } => seed.rollback = Some(reason.clone()),
            Record::UndoFinished { id, .. } => seed.undone.push(id.clone()),
            _ => {}
        }
    }
    // Without a rollback under way, failed steps are tried again.
    if seed.rollback.is_none() {
        seed.failed.clear();
        seed.refused.clear();
        seed.skipped.clear();
    }
    seed
}

/// Steps started but never finished: they may have been cut off mid-way.
fn in_flight(records: &[Record]) -> Vec<String> {
    open_records(records, |r| match r {
        Record::StepStarted { id, .. } => Some((id, true)),
        Record::StepFinished { id, .. } | Record::StepFailed { id, .. } => Some((id, false)),
        _ => None,
    })
}

/// What happened to the run's targets since it stopped: newer runs that
/// changed the same containers or volumes, and containers whose state is not
/// what the journal left them in (stopped by the run but running now, say,
/// after someone recovered by hand or with a new run).
async fn changed_since(
    places: &Places,
    run_id: &str,
    plan: &Plan,
    records: &[Record],
    docker: &Docker,
) -> Vec<String> {
    let mut changes = Vec::new();
    let ours = super::execute::lock_names(plan);
    // Doubt counts as a change: a journal that cannot be read may be the
    // newer run's.
    let ids = match journal::run_ids(&places.state_dir) {
        Ok(ids) => ids,
        Err(e) => {
            changes.push(format!("the other runs' journals cannot be listed: {e}"));
            Vec::new()
        }
    };
    for id in ids.into_iter().filter(|id| id.as_str() > run_id) {
        let path = journal::path_of(&places.state_dir, &id);
        let theirs = match journal::read(&path) {
            Ok(records) => records,
            Err(e) => {
                changes.push(format!("the journal of run {id} cannot be read: {e}"));
                continue;
            }
        };
        let Some(Record::RunStarted { plan: other, .. }) = theirs.first() else {
            continue;
        };
        let shared: Vec<String> = super::execute::lock_names(other)
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
    for (name, running) in expected_containers(plan, records) {
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

/// Whether a step of this kind leaves its containers running or stopped.
fn leaves_running(kind: &str) -> Option<bool> {
    crate::kinds::get(kind)?.leaves_container_running()
}

/// Container name → running, as the journal's finished steps and undos left them.
fn expected_containers(plan: &Plan, records: &[Record]) -> Vec<(String, bool)> {
    let mut expected: Vec<(String, bool)> = Vec::new();
    let mut set = |step: &crate::plan::plan::Step, running: bool| {
        for t in step.touches.iter().filter(|t| t.arg == "container") {
            expected.retain(|(n, _)| n != &t.resolved);
            expected.push((t.resolved.clone(), running));
        }
    };
    let step = |id: &str| plan.steps.iter().find(|s| s.id == id);
    for r in records {
        match r {
            Record::StepFinished { id, .. } => {
                if let Some(s) = step(id)
                    && let Some(running) = leaves_running(&s.kind)
                {
                    set(s, running);
                }
            }
            Record::UndoFinished { id, .. } => {
                if let Some(s) = step(id)
                    && let Some(undo) = &s.undo
                    && let Some(running) = leaves_running(&undo.kind)
                {
                    set(s, running);
                }
            }
            _ => {}
        }
    }
    // A step or undo cut off by the kill may or may not have landed: its
    // containers can be in either state.
    for id in in_flight(records)
        .into_iter()
        .chain(undos_in_flight(records))
    {
        if let Some(s) = step(&id) {
            for t in &s.touches {
                expected.retain(|(n, _)| n != &t.resolved);
            }
        }
    }
    expected
}

/// Undos started but never finished.
fn undos_in_flight(records: &[Record]) -> Vec<String> {
    open_records(records, |r| match r {
        Record::UndoStarted { id, .. } => Some((id, true)),
        Record::UndoFinished { id, .. } | Record::UndoFailed { id, .. } => Some((id, false)),
        _ => None,
    })
}

/// Ids opened (`true`) and not closed (`false`) by the time the records end.
fn open_records<'a>(
    records: &'a [Record],
    what: impl Fn(&'a Record) -> Option<(&'a String, bool)>,
) -> Vec<String> {
    let mut open: Vec<String> = Vec::new();
    for (id, opens) in records.iter().filter_map(what) {
        if opens {
            open.push(id.clone());
        } else {
            open.retain(|o| o != id);
        }
    }
    open
}
