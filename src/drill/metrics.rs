//! The latest drill of each name as Prometheus series, appended by the
//! scheduler to its exposition (docs/architecture.md §8): timestamps, not
//! ages; seconds in names; labels `drill` and `objective` only.

use std::fmt::Write as _;

use super::report::{DrillReport, Verdict};
use crate::schedule::metrics::{escape, family, number};

type Value = fn(&DrillReport) -> Option<f64>;

const GAUGES: &[(&str, &str, Value)] = &[
    (
        "lifeboat_drill_last_run_timestamp_seconds",
        "When the drill last finished (Unix time).",
        |r| Some(r.finished_at.as_millisecond() as f64 / 1000.0),
    ),
    (
        "lifeboat_drill_passed",
        "1 if the drill's last run passed, 0 if not.",
        |r| {
            Some(if r.verdict == Verdict::Passed {
                1.0
            } else {
                0.0
            })
        },
    ),
    (
        "lifeboat_drill_rto_seconds",
        "Recovery time measured by the drill's last run that restored.",
        |r| (r.verdict != Verdict::CouldNotRun).then_some(r.rto.measured_seconds),
    ),
    (
        "lifeboat_drill_rpo_seconds",
        "Recovery point (age of the restored data) measured by the drill's last run that restored.",
        |r| (r.verdict != Verdict::CouldNotRun).then_some(r.rpo.measured_seconds),
    ),
];

/// `reports`: newest first; one series set per drill name (its newest report).
pub fn render(reports: &[&DrillReport]) -> String {
    let mut latest: Vec<&DrillReport> = Vec::new();
    for r in reports {
        if !latest.iter().any(|l| l.drill == r.drill) {
            latest.push(r);
        }
    }
    let mut out = String::new();
    if latest.is_empty() {
        return out;
    }
    for (name, help, value) in GAUGES {
        family(&mut out, name, "gauge", help);
        for r in &latest {
            if let Some(x) = value(r) {
                let _ = writeln!(
                    out,
                    "{name}{{drill=\"{}\"}} {}",
                    escape(&r.drill),
                    number(x)
                );
            }
        }
    }
    let name = "lifeboat_drill_objective_met";
    family(
        &mut out,
        name,
        "gauge",
        "1 if the drill's last run held the objective (rto, rpo), 0 if it missed it.",
    );
    for r in &latest {
        for (objective, met) in [("rto", r.rto.met), ("rpo", r.rpo.met)] {
            if let Some(met) = met.filter(|_| r.verdict != Verdict::CouldNotRun) {
                let _ = writeln!(
                    out,
                    "{name}{{drill=\"{}\",objective=\"{objective}\"}} {}",
                    escape(&r.drill),
                    u8::from(met)
                );
            }
        }
    }
    out
}
