//! What the engine reports while it runs: one stream of timestamped events
//! (docs/architecture.md §4). Subscribers render it for people (a line per
//! step), for scripts (`--format json`, one event per line), write the
//! journal from it, or collect a report.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// An event and when it happened. A line of `--format json` (docs/formats.md);
/// `Deserialize` is for programs that read those lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    pub at: Timestamp,
    #[serde(flatten)]
    pub event: Event,
}

impl Stamped {
    pub fn now(event: Event) -> Self {
        Self {
            at: Timestamp::now(),
            event,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        steps: usize,
    },
    StepStarted {
        id: String,
        kind: String,
        attempt: u32,
        /// Arguments as run, secrets masked (journaled, not in `--format json`).
        #[serde(skip)]
        args: Json,
    },
    /// Bytes moved so far by a long transfer (backup, restore).
    Progress {
        id: String,
        bytes: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
    },
    StepRetrying {
        id: String,
        attempt: u32,
        error: String,
        delay_ms: u64,
    },
    StepFinished {
        id: String,
        kind: String,
        duration_ms: u64,
        outputs: Json,
    },
    StepFailed {
        id: String,
        kind: String,
        duration_ms: u64,
        error: String,
        /// It refused before changing anything: nothing to undo.
        #[serde(skip)]
        untouched: bool,
    },
    StepSkipped {
        id: String,
        reason: String,
    },
    /// Ctrl-C: no new step starts; these steps in flight change the world
    /// and are waited for before the rollback (checks are cut off).
    Interrupted {
        waiting_for: Vec<String>,
    },
    RollbackStarted {
        reason: String,
        undos: usize,
    },
    UndoStarted {
        id: String,
        kind: String,
        /// Arguments as run, secrets masked (journaled, not in `--format json`).
        #[serde(skip)]
        args: Json,
    },
    UndoFinished {
        id: String,
        kind: String,
        duration_ms: u64,
    },
    UndoFailed {
        id: String,
        kind: String,
        duration_ms: u64,
        error: String,
    },
    RunFinished {
        run_id: String,
        outcome: Outcome,
        duration_ms: u64,
        errors: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step finished or was skipped by its `when`.
    Succeeded,
    /// A step failed and every undo succeeded: the world is as before the run.
    RolledBack,
    /// A step failed and at least one undo failed too: needs a person.
    RollbackFailed,
    /// A step failed; `on_failure` was `stop` or `continue`.
    Failed,
    /// Interrupted (Ctrl-C) and rolled back.
    Cancelled,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::RolledBack => "failed, rolled back",
            Outcome::RollbackFailed => "failed, ROLLBACK INCOMPLETE",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled, rolled back",
        }
    }
}
