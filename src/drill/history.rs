//! Past drills: every drill's JSON report is kept in `<state>/drills/<id>.json`;
//! `lifeboat drills history` reads them back, newest first, with the RTO
//! trend of each drill against the median of its previous runs.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use super::files::{WriteError, check_name, make_dir, write_atomic};
use super::render::json;
use super::report::{DrillReport, RpoBasis, Verdict};

/// How many earlier drills of the same name the trend compares with.
pub const TREND_WINDOW: usize = 5;

/// `<state>/drills`.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("drills")
}

/// Keeps `report` as `<state>/drills/<id>.json` (atomically); returns the path.
pub fn store(state_dir: &Path, report: &DrillReport) -> Result<PathBuf, WriteError> {
    check_name(&report.id)?;
    let dir = dir(state_dir);
    make_dir(&dir)?;
    let path = dir.join(format!("{}.json", report.id));
    write_atomic(&path, json::render(report).as_bytes())?;
    Ok(path)
}

/// A report read back, and where from.
#[derive(Debug, Clone)]
pub struct Stored {
    pub path: PathBuf,
    pub report: DrillReport,
}

/// The reports of a state directory, and the files that were not reports.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Newest first.
    pub reports: Vec<Stored>,
    /// Files skipped, with why (not JSON, another schema version, unreadable).
    pub skipped: Vec<(PathBuf, String)>,
}

/// The directory of past drills could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the drill history in {path}: {source}")]
pub struct LoadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Reads every `*.json` in `<state>/drills`; no such directory is no drills.
pub fn load(state_dir: &Path) -> Result<Loaded, LoadError> {
    let dir = dir(state_dir);
    let fail = |source| LoadError {
        path: dir.clone(),
        source,
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(e) => return Err(fail(e)),
    };
    let mut loaded = Loaded::default();
    for entry in entries {
        let path = entry.map_err(fail)?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let report = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| json::parse(&text).map_err(|e| e.to_string()));
        match report {
            Ok(report) => loaded.reports.push(Stored { path, report }),
            Err(why) => loaded.skipped.push((path, why)),
        }
    }
    loaded
        .reports
        .sort_by(|a, b| newest_first(&a.report, &b.report));
    loaded.skipped.sort();
    Ok(loaded)
}

fn newest_first(a: &DrillReport, b: &DrillReport) -> std::cmp::Ordering {
    b.started_at
        .cmp(&a.started_at)
        .then_with(|| b.id.cmp(&a.id))
}

/// One line of the history, as `drills history --format json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub drill: String,
    pub id: String,
    pub started_at: Timestamp,
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub rto_seconds: f64,
    pub rto_objective_seconds: Option<f64>,
    pub rto_met: Option<bool>,
    pub rpo_seconds: f64,
    pub rpo_basis: RpoBasis,
    pub rpo_objective_seconds: Option<f64>,
    pub rpo_met: Option<bool>,
    /// The median RTO of this drill's previous runs (up to [`TREND_WINDOW`]
    /// of them that could run); None for its first run.
    pub rto_median_previous_seconds: Option<f64>,
    /// RTO against that median, in percent, one decimal: `12.5` is 12.5% slower.
    pub rto_change_percent: Option<f64>,
    /// The stored JSON report.
    pub report: PathBuf,
}

/// The history lines of `reports` (newest first, as [`load`] returns
/// them), each with its RTO trend.
pub fn entries(reports: &[Stored]) -> Vec<Entry> {
    reports
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let r = &s.report;
            // Older runs of the same drill that measured a restore.
            let previous: Vec<f64> = reports[i + 1..]
                .iter()
                .map(|o| &o.report)
                .filter(|o| o.drill == r.drill && o.verdict != Verdict::CouldNotRun)
                .take(TREND_WINDOW)
                .map(|o| o.rto.measured_seconds)
                .collect();
            let median = median(previous);
            let change = match (median, r.verdict) {
                (_, Verdict::CouldNotRun) => None,
                (Some(m), _) if m > 0.0 => {
                    Some(((r.rto.measured_seconds - m) / m * 1000.0).round() / 10.0)
                }
                _ => None,
            };
            Entry {
                drill: r.drill.clone(),
                id: r.id.clone(),
                started_at: r.started_at,
                verdict: r.verdict,
                reason: r.reason.clone(),
                rto_seconds: r.rto.measured_seconds,
                rto_objective_seconds: r.rto.objective_seconds,
                rto_met: r.rto.met,
                rpo_seconds: r.rpo.measured_seconds,
                rpo_basis: r.rpo.basis,
                rpo_objective_seconds: r.rpo.objective_seconds,
                rpo_met: r.rpo.met,
                rto_median_previous_seconds: median,
                rto_change_percent: change,
                report: s.path.clone(),
            }
        })
        .collect()
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![f64::NAN]), None);
    }
}
