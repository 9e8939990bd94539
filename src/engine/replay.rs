//! Reading a journal back (docs/architecture.md §4): what an interrupted
//! run already did, as the [`Seed`] a resume starts from, and what it may
//! have left half-done.

use super::journal::Record;
use super::runner::Seed;
use crate::plan::Plan;
use crate::plan::plan::Step;

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
pub fn in_flight(records: &[Record]) -> Vec<String> {
    open_records(records, |r| match r {
        Record::StepStarted { id, .. } => Some((id, true)),
        Record::StepFinished { id, .. } | Record::StepFailed { id, .. } => Some((id, false)),
        _ => None,
    })
}

/// Undos started but never finished.
pub fn undos_in_flight(records: &[Record]) -> Vec<String> {
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

/// Container name → running, as the journal's finished steps and undos left
/// them. Containers a step or undo cut off by the kill touched are left out:
/// it may or may not have landed.
pub fn expected_containers(plan: &Plan, records: &[Record]) -> Vec<(String, bool)> {
    let mut expected: Vec<(String, bool)> = Vec::new();
    let mut set = |step: &Step, running: bool| {
        for t in step.touches.iter().filter(|t| t.arg == "container") {
            expected.retain(|(n, _)| n != &t.resolved);
            expected.push((t.resolved.clone(), running));
        }
    };
    let step = |id: &str| plan.steps.iter().find(|s| s.id == id);
    for r in records {
        let left = match r {
            Record::StepFinished { id, .. } => step(id).and_then(|s| Some((s, left_by(&s.kind)?))),
            Record::UndoFinished { id, .. } => step(id)
                .and_then(|s| Some((s, left_by(s.undo.as_ref().map(|u| u.kind.as_str())?)?))),
            _ => None,
        };
        if let Some((s, running)) = left {
            set(s, running);
        }
    }
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

/// Whether a finished step (or undo) of this kind leaves its container
/// running; None: it does not decide. A recreate ends with the new
/// container started and waited for.
fn left_by(kind: &str) -> Option<bool> {
    match kind {
        "container.stop" => Some(false),
        "container.start" | "container.restart" | "container.recreate" => Some(true),
        _ => None,
    }
}
