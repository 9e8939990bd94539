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
/// `left_by(kind)`: whether a finished step (or undo) of that kind leaves
/// its container running; None when it does not decide (the kinds say).
pub fn expected_containers(
    plan: &Plan,
    records: &[Record],
    left_by: impl Fn(&str) -> Option<bool>,
) -> Vec<(String, bool)> {
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

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use serde_json::json;

    use super::*;

    fn at() -> Timestamp {
        Timestamp::UNIX_EPOCH
    }

    fn started(id: &str) -> Record {
        Record::StepStarted {
            id: id.into(),
            kind: "k".into(),
            attempt: 1,
            at: at(),
            args: json!({}),
        }
    }

    fn finished(id: &str) -> Record {
        Record::StepFinished {
            id: id.into(),
            at: at(),
            duration_ms: 1,
            outputs: json!({ "backup_id": id }),
        }
    }

    fn failed(id: &str, untouched: bool) -> Record {
        Record::StepFailed {
            id: id.into(),
            at: at(),
            duration_ms: 1,
            error: "broke".into(),
            untouched,
        }
    }

    #[test]
    fn the_last_record_of_a_step_is_its_state() {
        // b failed, the run was resumed, b ran again and finished; c was
        // cut off by a kill.
        let records = [
            started("a"),
            finished("a"),
            started("b"),
            failed("b", false),
            started("b"),
            finished("b"),
            started("c"),
        ];
        let seed = seed_from(&records);
        let done: Vec<&str> = seed.done.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(done, ["a", "b"]);
        assert!(seed.failed.is_empty() && seed.rollback.is_none());
        assert_eq!(in_flight(&records), ["c"]);
    }

    #[test]
    fn a_rollback_under_way_keeps_what_failed_and_what_was_undone() {
        let records = [
            started("a"),
            finished("a"),
            started("b"),
            failed("b", false),
            started("c"),
            failed("c", true),
            Record::RollbackStarted {
                at: at(),
                reason: "b: broke".into(),
            },
            Record::UndoStarted {
                id: "a".into(),
                kind: "u".into(),
                at: at(),
                args: json!({}),
            },
            Record::UndoFinished {
                id: "a".into(),
                at: at(),
            },
            Record::UndoStarted {
                id: "b".into(),
                kind: "u".into(),
                at: at(),
                args: json!({}),
            },
        ];
        let seed = seed_from(&records);
        assert_eq!(seed.rollback.as_deref(), Some("b: broke"));
        assert_eq!(seed.failed, ["b"]);
        assert_eq!(seed.refused, ["c"]);
        assert_eq!(seed.undone, ["a"]);
        assert_eq!(undos_in_flight(&records), ["b"]);
    }
}
