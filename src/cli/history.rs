//! `lifeboat history` and `lifeboat show RUN_ID`: what ran, from the journals.

use serde::Serialize;

use super::execute::read_journal;
use super::live::Places;
use super::{EXIT_OK, Format, usage_error};
use crate::engine::journal::{self, Record};

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Show at most this many runs, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    pub run_id: String,
    /// `json`: the journal records as a JSON array.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Serialize)]
struct RunSummary {
    run_id: String,
    runbook: String,
    started_at: String,
    /// `succeeded`, `rolled_back`, … or `unfinished` (see `lifeboat resume`).
    outcome: String,
    duration_ms: Option<u64>,
    steps_finished: usize,
    steps_failed: usize,
}

fn summarize(run_id: &str, records: &[Record]) -> RunSummary {
    let (runbook, started_at) = match records.first() {
        Some(Record::RunStarted { runbook, at, .. }) => (runbook.clone(), at.to_string()),
        _ => ("?".into(), "?".into()),
    };
    let finished = records.iter().rev().find_map(|r| match r {
        Record::RunFinished {
            outcome,
            duration_ms,
            ..
        } => Some((*outcome, *duration_ms)),
        _ => None,
    });
    RunSummary {
        run_id: run_id.to_string(),
        runbook,
        started_at,
        outcome: finished.map_or("unfinished".into(), |(o, _)| {
            serde_json::to_value(o)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        }),
        duration_ms: finished.map(|(_, d)| d),
        steps_finished: records
            .iter()
            .filter(|r| matches!(r, Record::StepFinished { .. }))
            .count(),
        steps_failed: records
            .iter()
            .filter(|r| matches!(r, Record::StepFailed { .. }))
            .count(),
    }
}

pub fn history(places: &Places, args: HistoryArgs) -> u8 {
    let ids = match journal::run_ids(&places.state_dir) {
        Ok(ids) => ids,
        Err(e) => return usage_error(&e.to_string()),
    };
    let runs: Vec<RunSummary> = ids
        .iter()
        .take(args.limit)
        .filter_map(|id| {
            let records = journal::read(&journal::path_of(&places.state_dir, id)).ok()?;
            Some(summarize(id, &records))
        })
        .collect();
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&runs).unwrap_or_default()
        ),
        Format::Text => {
            if runs.is_empty() {
                outln!(
                    "No runs yet in {}.",
                    journal::runs_dir(&places.state_dir).display()
                );
            }
            for r in &runs {
                let took = r
                    .duration_ms
                    .map(|d| {
                        crate::model::duration::Human(std::time::Duration::from_millis(d))
                            .to_string()
                    })
                    .unwrap_or_else(|| "-".into());
                let hint = if r.outcome == "unfinished" {
                    "  (lifeboat resume)"
                } else {
                    ""
                };
                outln!(
                    "{:<26} {:<24} {:<16} {:>8}  {} done, {} failed{hint}",
                    r.run_id,
                    r.runbook,
                    r.outcome,
                    took,
                    r.steps_finished,
                    r.steps_failed
                );
            }
        }
    }
    EXIT_OK
}

pub fn show(places: &Places, args: ShowArgs) -> u8 {
    let records = match read_journal(places, &args.run_id) {
        Ok(r) => r,
        Err(e) => return super::fail(e),
    };
    if args.format == Format::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&records).unwrap_or_default()
        );
        return EXIT_OK;
    }
    let s = summarize(&args.run_id, &records);
    outln!(
        "Run {} of {}: {} (started {})",
        s.run_id,
        s.runbook,
        s.outcome,
        s.started_at
    );
    for r in &records {
        let line = match r {
            Record::RunStarted { source, sets, .. } => {
                let sets: Vec<String> = sets.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("started from {source} {}", sets.join(" "))
            }
            Record::Resumed { at, pid } => format!("resumed at {at} by pid {pid}"),
            Record::StepStarted {
                id, kind, attempt, ..
            } => format!("▸ {id} ({kind}) attempt {attempt}"),
            Record::StepFinished {
                id,
                duration_ms,
                outputs,
                ..
            } => {
                format!("✓ {id} in {duration_ms} ms {}", compact(outputs))
            }
            Record::StepFailed { id, error, .. } => format!("✗ {id}: {error}"),
            Record::StepSkipped { id, reason } => format!("- {id} skipped: {reason}"),
            Record::RollbackStarted { reason, .. } => format!("rollback: {reason}"),
            Record::UndoStarted { id, kind, .. } => format!("▸ undo {id} ({kind})"),
            Record::UndoFinished { id, .. } => format!("↶ undo {id} done"),
            Record::UndoFailed { id, error, .. } => format!("✗ undo {id}: {error}"),
            Record::RunFinished {
                outcome,
                duration_ms,
                ..
            } => {
                format!("finished: {} in {duration_ms} ms", outcome.word())
            }
        };
        outln!("  {line}");
    }
    EXIT_OK
}

fn compact(outputs: &serde_json::Value) -> String {
    let Some(map) = outputs.as_object() else {
        return String::new();
    };
    map.iter()
        .filter(|(k, _)| k.as_str() != "stderr")
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.trim().chars().take(40).collect(),
                other => other.to_string(),
            };
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
