//! What a run did, step by step, collected from its event stream: the typed
//! result of [`super::run::run`] (for the CLI, drills and the scheduler).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value as Json;

use crate::engine::{Event, Outcome, Stamped, Subscriber};

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub runbook: String,
    pub outcome: Outcome,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    #[serde(with = "millis")]
    pub duration: Duration,
    /// Every step this process started, finished, failed or skipped, in the
    /// order they started (skipped ones when they were skipped).
    pub steps: Vec<StepReport>,
    /// The rollback, when there was one.
    pub rollback: Option<RollbackReport>,
    pub errors: Vec<String>,
    /// Outputs of every finished step, real values (secrets not masked):
    /// for the caller, never to be written down as they are.
    #[serde(skip)]
    pub outputs: HashMap<String, Json>,
    pub journal: PathBuf,
    /// What the run created and left in place (compose.up without a compose.down).
    pub left_over: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Running,
    Finished,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub id: String,
    pub kind: String,
    pub status: StepStatus,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Attempts made (retries included); 0 for a skipped step.
    pub attempts: u32,
    /// Outputs, secrets masked (`Null` unless finished).
    pub outputs: Json,
    pub error: Option<String>,
    /// Why it was skipped.
    pub skipped: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub reason: String,
    pub started_at: Timestamp,
    pub undos: Vec<UndoReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UndoReport {
    /// The step undone.
    pub id: String,
    pub kind: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub error: Option<String>,
}

/// What the events said, as they came.
#[derive(Debug, Default)]
pub struct Collected {
    pub steps: Vec<StepReport>,
    pub rollback: Option<RollbackReport>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// The subscriber that collects a report; the run keeps the other handle.
#[derive(Debug, Clone, Default)]
pub struct Collector(pub Arc<Mutex<Collected>>);

impl Collector {
    pub fn take(&self) -> Collected {
        self.0
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

impl Subscriber for Collector {
    fn event(&mut self, e: &Stamped) -> Result<(), String> {
        let mut c = self.0.lock().map_err(|_| "report lock poisoned")?;
        c.take(e);
        Ok(())
    }
}

impl Collected {
    fn step(&mut self, id: &str) -> Option<&mut StepReport> {
        self.steps.iter_mut().rev().find(|s| s.id == id)
    }

    fn undo(&mut self, id: &str) -> Option<&mut UndoReport> {
        let undos = &mut self.rollback.as_mut()?.undos;
        undos.iter_mut().rev().find(|u| u.id == id)
    }

    fn take(&mut self, e: &Stamped) {
        let at = e.at;
        match &e.event {
            Event::RunStarted { .. } => self.started_at = Some(at),
            Event::RunFinished { .. } => self.finished_at = Some(at),
            Event::StepStarted { id, kind, .. } => self.steps.push(StepReport {
                id: id.clone(),
                kind: kind.clone(),
                status: StepStatus::Running,
                started_at: Some(at),
                finished_at: None,
                attempts: 1,
                outputs: Json::Null,
                error: None,
                skipped: None,
            }),
            Event::StepRetrying { id, attempt, .. } => {
                if let Some(s) = self.step(id) {
                    s.attempts = *attempt;
                }
            }
            Event::StepFinished { id, outputs, .. } => {
                if let Some(s) = self.step(id) {
                    s.status = StepStatus::Finished;
                    s.finished_at = Some(at);
                    s.outputs = outputs.clone();
                }
            }
            Event::StepFailed {
                id, kind, error, ..
            } => self.failed(id, kind, error, at),
            Event::StepSkipped { id, reason } => self.steps.push(StepReport {
                id: id.clone(),
                kind: String::new(),
                status: StepStatus::Skipped,
                started_at: None,
                finished_at: None,
                attempts: 0,
                outputs: Json::Null,
                error: None,
                skipped: Some(reason.clone()),
            }),
            _ => self.rollback_event(e),
        }
    }

    /// A step failed; one that failed to start has no started record.
    fn failed(&mut self, id: &str, kind: &str, error: &str, at: Timestamp) {
        if self
            .step(id)
            .is_none_or(|s| s.status != StepStatus::Running)
        {
            self.steps.push(StepReport {
                id: id.to_string(),
                kind: kind.to_string(),
                status: StepStatus::Running,
                started_at: None,
                finished_at: None,
                attempts: 0,
                outputs: Json::Null,
                error: None,
                skipped: None,
            });
        }
        if let Some(s) = self.step(id) {
            s.status = StepStatus::Failed;
            s.finished_at = Some(at);
            s.error = Some(error.to_string());
        }
    }

    fn rollback_event(&mut self, e: &Stamped) {
        match &e.event {
            Event::RollbackStarted { reason, .. } => {
                self.rollback = Some(RollbackReport {
                    reason: reason.clone(),
                    started_at: e.at,
                    undos: Vec::new(),
                })
            }
            Event::UndoStarted { id, kind, .. } => {
                if let Some(r) = self.rollback.as_mut() {
                    r.undos.push(UndoReport {
                        id: id.clone(),
                        kind: kind.clone(),
                        started_at: e.at,
                        finished_at: None,
                        error: None,
                    })
                }
            }
            Event::UndoFinished { id, .. } => {
                if let Some(u) = self.undo(id) {
                    u.finished_at = Some(e.at);
                }
            }
            Event::UndoFailed {
                id, kind, error, ..
            } => {
                // An undo whose arguments could not be filled never started.
                if self.undo(id).is_none_or(|u| u.finished_at.is_some())
                    && let Some(r) = self.rollback.as_mut()
                {
                    r.undos.push(UndoReport {
                        id: id.clone(),
                        kind: kind.clone(),
                        started_at: e.at,
                        finished_at: None,
                        error: None,
                    });
                }
                if let Some(u) = self.undo(id) {
                    u.finished_at = Some(e.at);
                    u.error = Some(error.clone());
                }
            }
            _ => {}
        }
    }
}

/// A duration as whole milliseconds.
mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }
}
