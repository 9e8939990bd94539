//! `lifeboat resume RUN_ID`: carry on a run that was interrupted (killed,
//! machine lost). Finished steps are skipped; steps that were in flight run
//! again (every step kind is safe to repeat); a rollback that was under way
//! is finished. Refuses if the runbook changed since.

use std::path::Path;

use super::execute::{Request, execute, read_journal};
use super::live::{Places, connect, runtime};
use super::plan::parse_set;
use super::run::report_failure;
use super::{EXIT_FAILED, Format, usage_error};
use crate::compile::compiler::param_values;
use crate::compile::params::Missing;
use crate::compile::{Options, compile};
use crate::engine::Seed;
use crate::engine::journal::Record;
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
        return EXIT_FAILED;
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
        match r {
            Record::StepFinished { id, outputs, .. } => {
                let out = outputs.as_object().cloned().unwrap_or_default();
                seed.done.retain(|(d, _)| d != id);
                seed.done.push((id.clone(), out));
            }
            Record::StepSkipped { id, .. } => seed.skipped.push(id.clone()),
            Record::StepFailed { id, .. } => seed.failed.push(id.clone()),
            Record::RollbackStarted { reason, .. } => seed.rollback = Some(reason.clone()),
            Record::UndoFinished { id, .. } => seed.undone.push(id.clone()),
            _ => {}
        }
    }
    // Without a rollback under way, failed steps are tried again.
    if seed.rollback.is_none() {
        seed.failed.clear();
        seed.skipped.clear();
    }
    seed
}

/// Steps started but never finished: they may have been cut off mid-way.
fn in_flight(records: &[Record]) -> Vec<String> {
    let mut open: Vec<String> = Vec::new();
    for r in records {
        match r {
            Record::StepStarted { id, .. } => open.push(id.clone()),
            Record::StepFinished { id, .. } | Record::StepFailed { id, .. } => {
                open.retain(|o| o != id)
            }
            _ => {}
        }
    }
    open
}
