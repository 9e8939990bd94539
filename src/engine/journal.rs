//! The run journal: `<state>/runs/<run-id>.jsonl`, one record per line.
//! `step_started` and `undo_started` are fsynced before the side effect, so
//! after a crash the journal says what may have been in flight. The first
//! record (`run_started` or `resumed`) is written when the journal is opened;
//! every other record is written from the engine's events: the journal is a
//! subscriber (docs/architecture.md §4). `replay` reads it back.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::event::{Event, Outcome, Stamped};
use super::subscriber::Subscriber;
use crate::plan::Plan;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    RunStarted {
        run_id: String,
        at: Timestamp,
        runbook: String,
        /// The runbook file; `resume` refuses when its sha256 changed.
        source: String,
        source_sha256: String,
        /// `--set` pairs, secrets left out (`resume` asks for them again).
        sets: Vec<(String, String)>,
        pid: u32,
        plan: Box<Plan>,
    },
    Resumed {
        at: Timestamp,
        pid: u32,
    },
    StepStarted {
        id: String,
        kind: String,
        attempt: u32,
        at: Timestamp,
        /// Arguments as run, secrets masked.
        args: Json,
    },
    StepFinished {
        id: String,
        at: Timestamp,
        duration_ms: u64,
        outputs: Json,
    },
    StepFailed {
        id: String,
        at: Timestamp,
        duration_ms: u64,
        error: String,
        /// It refused before changing anything: nothing to undo.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        untouched: bool,
    },
    StepSkipped {
        id: String,
        reason: String,
    },
    RollbackStarted {
        at: Timestamp,
        reason: String,
    },
    UndoStarted {
        id: String,
        kind: String,
        at: Timestamp,
        args: Json,
    },
    UndoFinished {
        id: String,
        at: Timestamp,
    },
    UndoFailed {
        id: String,
        at: Timestamp,
        error: String,
    },
    RunFinished {
        at: Timestamp,
        outcome: Outcome,
        duration_ms: u64,
        errors: Vec<String>,
    },
}

impl Record {
    /// The record of an event, if the journal keeps it (not progress,
    /// retries, Ctrl-C, nor the start: the journal's first record is written
    /// when it is opened).
    pub fn of(stamped: &Stamped) -> Option<Record> {
        let at = stamped.at;
        Some(match stamped.event.clone() {
            Event::StepStarted {
                id,
                kind,
                attempt,
                args,
            } => Record::StepStarted {
                id,
                kind,
                attempt,
                at,
                args,
            },
            Event::StepFinished {
                id,
                duration_ms,
                outputs,
                ..
            } => Record::StepFinished {
                id,
                at,
                duration_ms,
                outputs,
            },
            Event::StepFailed {
                id,
                duration_ms,
                error,
                untouched,
                ..
            } => Record::StepFailed {
                id,
                at,
                duration_ms,
                error,
                untouched,
            },
            Event::StepSkipped { id, reason } => Record::StepSkipped { id, reason },
            Event::RollbackStarted { reason, .. } => Record::RollbackStarted { at, reason },
            Event::UndoStarted { id, kind, args } => Record::UndoStarted { id, kind, at, args },
            Event::UndoFinished { id, .. } => Record::UndoFinished { id, at },
            Event::UndoFailed { id, error, .. } => Record::UndoFailed { id, at, error },
            Event::RunFinished {
                outcome,
                duration_ms,
                errors,
                ..
            } => Record::RunFinished {
                at,
                outcome,
                duration_ms,
                errors,
            },
            Event::RunStarted { .. }
            | Event::Progress { .. }
            | Event::StepRetrying { .. }
            | Event::Interrupted { .. } => return None,
        })
    }

    /// Records written before a side effect: they must reach the disk first.
    fn must_sync(&self) -> bool {
        matches!(
            self,
            Record::RunStarted { .. } | Record::StepStarted { .. } | Record::UndoStarted { .. }
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path}:{line}: {message}")]
    Bad {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("no run `{0}` in the journal directory")]
    NoRun(String),
}

pub fn runs_dir(state: &Path) -> PathBuf {
    state.join("runs")
}

pub fn path_of(state: &Path, run_id: &str) -> PathBuf {
    runs_dir(state).join(format!("{run_id}.jsonl"))
}

pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// A new journal; fails if the run id is taken.
    pub fn create(state: &Path, run_id: &str) -> Result<Self, JournalError> {
        let dir = runs_dir(state);
        let io = |source| JournalError::Io {
            path: dir.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io)?;
        let path = path_of(state, run_id);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        // The new name must survive a crash too.
        File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(Self { path, file })
    }

    /// An existing journal, to append to (resume).
    pub fn reopen(state: &Path, run_id: &str) -> Result<Self, JournalError> {
        let path = path_of(state, run_id);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => JournalError::NoRun(run_id.to_string()),
                _ => JournalError::Io {
                    path: path.clone(),
                    source,
                },
            })?;
        Ok(Self { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| io(e.into()))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(io)?;
        if record.must_sync() {
            self.file.sync_data().map_err(io)?;
        }
        Ok(())
    }
}

/// The journal writes what the engine reports.
impl Subscriber for Journal {
    fn event(&mut self, event: &Stamped) -> Result<(), String> {
        match Record::of(event) {
            Some(record) => self.append(&record).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}

/// Reads a journal. A torn last line (the process died while writing it) is
/// ignored; a bad line anywhere else is an error.
pub fn read(path: &Path) -> Result<Vec<Record>, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io)?;
    let mut records = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(r) => records.push(r),
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => {
                return Err(JournalError::Bad {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(records)
}

/// Run ids in the journal directory, newest first (ids start with a UTC timestamp).
pub fn run_ids(state: &Path) -> Result<Vec<String>, JournalError> {
    let dir = runs_dir(state);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(JournalError::Io { path: dir, source }),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".jsonl"))
                .map(str::to_string)
        })
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_ignored_but_a_bad_middle_line_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path(), "r1").unwrap();
        let rec = Record::StepSkipped {
            id: "a".into(),
            reason: "when".into(),
        };
        j.append(&rec).unwrap();
        let path = j.path().to_path_buf();
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("{\"record\":\"step_fin");
        fs::write(&path, &text).unwrap();
        assert_eq!(read(&path).unwrap(), vec![rec.clone()]);
        fs::write(&path, format!("garbage\n{text}")).unwrap();
        assert!(matches!(
            read(&path),
            Err(JournalError::Bad { line: 1, .. })
        ));
        assert!(
            Journal::create(dir.path(), "r1").is_err(),
            "run ids are unique"
        );
        assert_eq!(run_ids(dir.path()).unwrap(), vec!["r1".to_string()]);
    }
}
