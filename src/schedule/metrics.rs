//! The Prometheus exposition of the scheduler (text format 0.0.4): served on
//! `/metrics` and written as a node_exporter textfile. Timestamps, not ages;
//! units in names; labels `job`, `outcome`, `reason` only; every series of a
//! configured job exported from the start, zeros included.

use std::fmt::Write as _;
use std::time::Duration;

use jiff::Timestamp;

use super::job::Job;
use super::state::{JobState, State};

/// One job as the metrics see it.
pub struct JobView<'a> {
    pub job: &'a Job,
    /// When its next run starts, jitter included.
    pub next: Option<Timestamp>,
    pub interval: Option<Duration>,
    pub running: bool,
}

type Value = fn(&JobView, &JobState) -> Option<f64>;

/// (name, type, help, value) of the per-job series without extra labels.
const GAUGES: &[(&str, &str, &str, Value)] = &[
    (
        "lifeboat_job_last_success_timestamp_seconds",
        "gauge",
        "When the job's last successful run finished (Unix time; 0: never).",
        |_, s| Some(seconds(s.last_success)),
    ),
    (
        "lifeboat_job_last_run_timestamp_seconds",
        "gauge",
        "When the job's last run finished, successful or not (Unix time; 0: never).",
        |_, s| Some(seconds(s.last_finished)),
    ),
    (
        "lifeboat_job_last_exit_code",
        "gauge",
        "Exit code of the job's last run (0 ok; -1 killed by a signal); absent before the first run.",
        |_, s| {
            s.last_finished
                .map(|_| f64::from(s.last_exit_code.unwrap_or(-1)))
        },
    ),
    (
        "lifeboat_job_duration_seconds",
        "gauge",
        "How long the job's last run took; absent before the first run.",
        |_, s| s.last_duration_seconds,
    ),
    (
        "lifeboat_job_running",
        "gauge",
        "1 while a run of the job is in progress.",
        |v, _| Some(if v.running { 1.0 } else { 0.0 }),
    ),
    (
        "lifeboat_schedule_next_run_timestamp_seconds",
        "gauge",
        "When the job's next run starts, jitter included (Unix time).",
        |v, _| v.next.map(|t| seconds(Some(t))),
    ),
    (
        "lifeboat_schedule_expected_interval_seconds",
        "gauge",
        "The time between the job's next two cron times.",
        |v, _| v.interval.map(|d| d.as_secs_f64()),
    ),
];

/// A counter family: name, help, label, and the label's values with where
/// each count comes from.
type Counter = (
    &'static str,
    &'static str,
    &'static str,
    [(&'static str, fn(&JobState) -> u64); 2],
);

const COUNTERS: [Counter; 2] = [
    (
        "lifeboat_job_runs_total",
        "Finished runs of the job, by outcome.",
        "outcome",
        [("succeeded", |s| s.succeeded), ("failed", |s| s.failed)],
    ),
    (
        "lifeboat_job_skipped_total",
        "Cron times of the job that passed without a run: `overlap`, it was still \
         running; `missed`, the scheduler was down or stalled.",
        "reason",
        [
            ("overlap", |s| s.skipped_overlap),
            ("missed", |s| s.skipped_missed),
        ],
    ),
];

/// The whole exposition. `now` is the scheduler's heartbeat: a textfile
/// whose heartbeat stops moving belongs to a scheduler that stopped.
pub fn render(views: &[JobView], state: &State, now: Timestamp) -> String {
    let empty = JobState::default();
    let of = |v: &JobView| state.jobs.get(&v.job.name).unwrap_or(&empty).clone();
    let mut out = String::new();
    family(
        &mut out,
        "lifeboat_schedule_heartbeat_timestamp_seconds",
        "gauge",
        "When the scheduler last wrote these metrics (Unix time).",
    );
    let _ = writeln!(
        out,
        "lifeboat_schedule_heartbeat_timestamp_seconds {}",
        number(seconds(Some(now)))
    );
    for (name, kind, help, value) in GAUGES {
        family(&mut out, name, kind, help);
        for v in views {
            if let Some(x) = value(v, &of(v)) {
                let _ = writeln!(
                    out,
                    "{name}{{job=\"{}\"}} {}",
                    escape(&v.job.name),
                    number(x)
                );
            }
        }
    }
    for (name, help, label, values) in COUNTERS {
        family(&mut out, name, "counter", help);
        for v in views {
            let s = of(v);
            for (value, get) in values {
                let _ = writeln!(
                    out,
                    "{name}{{job=\"{}\",{label}=\"{value}\"}} {}",
                    escape(&v.job.name),
                    get(&s)
                );
            }
        }
    }
    out
}

pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn seconds(t: Option<Timestamp>) -> f64 {
    t.map(|t| t.as_millisecond() as f64 / 1000.0).unwrap_or(0.0)
}

/// Whole numbers without a fraction, others to the millisecond.
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.3}")
    }
}

/// A label value: backslash, double quote and newline escaped.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::job::tests::{at, job};
    use super::super::state::Finished;
    use super::*;

    #[test]
    fn every_series_is_there_from_the_start_and_then_follows_the_runs() {
        let nightly = job("nightly", "0 2 * * *", "Europe/Berlin");
        let fast = job("fast", "*/2 * * * * *", "UTC");
        let mut state = State::default();
        state.record_finish(&Finished::new(
            "nightly",
            Some(3),
            at("2026-01-02T01:00:00Z"),
            at("2026-01-02T01:00:42.5Z"),
            None,
        ));
        state.job("fast").skipped_overlap = 2;
        let now = at("2026-01-02T12:00:00Z");
        let views: Vec<JobView> = [&nightly, &fast]
            .into_iter()
            .map(|j| JobView {
                job: j,
                next: j.slot_after(now),
                interval: j.interval_after(now),
                running: j.name == "fast",
            })
            .collect();
        insta::assert_snapshot!(render(&views, &state, now));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(1767225600.0), "1767225600");
        assert_eq!(number(42.5), "42.500");
    }
}
