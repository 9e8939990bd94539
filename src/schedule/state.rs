//! What the scheduler remembers across restarts (`<state_dir>/schedule/
//! state.json`): per job, the newest cron time it dealt with (to tell
//! missed runs after downtime), the last run and the counters the metrics
//! export. Plain data; the file is written by `cli/schedule`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub jobs: BTreeMap<String, JobState>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobState {
    /// The newest cron time that was run, skipped or counted as missed.
    pub last_slot: Option<Timestamp>,
    pub last_started: Option<Timestamp>,
    pub last_finished: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub last_exit_code: Option<i32>,
    pub last_duration_seconds: Option<f64>,
    pub last_run_id: Option<String>,
    /// The last run failed: the next success is a recovery.
    pub failing: bool,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped_overlap: u64,
    pub skipped_missed: u64,
}

/// A finished child process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finished {
    pub job: String,
    /// `succeeded` or `failed`.
    pub outcome: &'static str,
    /// None: killed by a signal.
    pub exit_code: Option<i32>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl Finished {
    pub fn new(
        job: &str,
        exit_code: Option<i32>,
        started_at: Timestamp,
        finished_at: Timestamp,
        run_id: Option<String>,
    ) -> Self {
        Self {
            job: job.to_string(),
            outcome: if exit_code == Some(0) {
                "succeeded"
            } else {
                "failed"
            },
            exit_code,
            started_at,
            finished_at,
            run_id,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// What a finished run is worth telling the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Every failed run.
    Failure,
    /// The first success after a failure.
    Recovery,
}

impl State {
    pub fn job(&mut self, name: &str) -> &mut JobState {
        self.jobs.entry(name.to_string()).or_default()
    }

    pub fn record_start(&mut self, name: &str, at: Timestamp) {
        self.job(name).last_started = Some(at);
    }

    /// Records a finished run; says whether the webhook should hear of it.
    pub fn record_finish(&mut self, f: &Finished) -> Option<Notice> {
        let j = self.job(&f.job);
        j.last_finished = Some(f.finished_at);
        j.last_exit_code = f.exit_code;
        j.last_run_id = f.run_id.clone();
        j.last_duration_seconds = Some(
            f.finished_at
                .duration_since(f.started_at)
                .as_secs_f64()
                .max(0.0),
        );
        if f.succeeded() {
            j.succeeded += 1;
            j.last_success = Some(f.finished_at);
            std::mem::replace(&mut j.failing, false).then_some(Notice::Recovery)
        } else {
            j.failed += 1;
            j.failing = true;
            Some(Notice::Failure)
        }
    }

    /// Drops jobs no longer in the config, so metrics do not show them.
    pub fn retain(&mut self, names: &[&str]) {
        self.jobs.retain(|n, _| names.contains(&n.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(code: Option<i32>) -> Finished {
        Finished::new(
            "nightly",
            code,
            "2026-01-01T02:00:00Z".parse().unwrap(),
            "2026-01-01T02:00:30Z".parse().unwrap(),
            Some("r1".into()),
        )
    }

    #[test]
    fn failures_are_told_every_time_and_a_recovery_once() {
        let mut s = State::default();
        assert_eq!(s.record_finish(&finished(Some(0))), None);
        assert_eq!(s.record_finish(&finished(Some(3))), Some(Notice::Failure));
        assert_eq!(s.record_finish(&finished(None)), Some(Notice::Failure));
        assert_eq!(s.record_finish(&finished(Some(0))), Some(Notice::Recovery));
        assert_eq!(s.record_finish(&finished(Some(0))), None);
        let j = &s.jobs["nightly"];
        assert_eq!((j.succeeded, j.failed), (3, 2));
        assert_eq!(j.last_duration_seconds, Some(30.0));
        assert_eq!(j.last_exit_code, Some(0));
    }

    #[test]
    fn the_state_survives_a_round_trip_and_old_files_load() {
        let mut s = State::default();
        s.record_finish(&finished(Some(3)));
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&text).unwrap(), s);
        let old: State = serde_json::from_str(r#"{"jobs":{"a":{"failed":2}}}"#).unwrap();
        assert_eq!(old.jobs["a"].failed, 2);
        assert!(!old.jobs["a"].failing);
    }
}
