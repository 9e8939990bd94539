//! The drill report: what one drill did and found, as plain data. Its JSON
//! form is a documented format that programs parse (docs/drills.md, "Report
//! format"); add fields, never rename or retype one without a new
//! `schema_version`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The `schema_version` this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// One drill: which backups were restored through which runbook, how long
/// each phase took, what the checks found, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The drill's name, as defined.
    pub drill: String,
    /// This drill's id, e.g. `20261130T101500Z-3fa2c1`.
    pub id: String,
    /// The throwaway compose project: `lifeboat-drill-<name>-<id>`.
    pub project: String,
    /// The production project whose backups were tested.
    pub production_project: String,
    /// The restore runbook exercised.
    pub runbook: String,
    /// The journal id of the runbook's run (`lifeboat show RUN_ID`).
    pub run_id: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub verdict: Verdict,
    /// One line: why it did not pass.
    pub reason: Option<String>,
    pub versions: Versions,
    /// As asked: `latest`, `latest-verified`, a backup id, or e.g. `random within 7d`.
    pub restore_point: String,
    pub backups: Vec<BackupUsed>,
    /// In the order they started.
    pub phases: Vec<Phase>,
    pub rto: Objective,
    pub rpo: Rpo,
    pub checks: Vec<CheckResult>,
    /// With `--keep-on-failure`: the command that removes the kept stack.
    pub kept: Option<String>,
}

/// How a drill ended. Its exit code is `cli::fail`'s (`OpError::Drill`,
/// docs/architecture.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Restored, every check passed, every objective held.
    Passed,
    /// Restored, but a check failed (the data is not what was backed up).
    CheckFailed,
    /// Every check passed, but RTO or RPO exceeded its objective.
    ObjectiveMissed,
    /// The drill could not restore or check at all (no backup, Docker
    /// unavailable, a name collision, the restore failed).
    CouldNotRun,
}

impl Verdict {
    /// As the JSON spells it: `passed`, `check_failed`, ….
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::CheckFailed => "check_failed",
            Verdict::ObjectiveMissed => "objective_missed",
            Verdict::CouldNotRun => "could_not_run",
        }
    }

    /// As a person reads it: `PASSED`, `FAILED: a check failed`, ….
    pub fn headline(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::CheckFailed => "FAILED: a check failed",
            Verdict::ObjectiveMissed => "FAILED: an objective was missed",
            Verdict::CouldNotRun => "FAILED: the drill could not run",
        }
    }

    /// The verdict of a drill that ran: a failed check outweighs a missed
    /// objective (wrong data is worse than slow data).
    pub fn judge(checks: &[CheckResult], rto: &Objective, rpo: &Rpo) -> Verdict {
        if checks.iter().any(|c| !c.passed) {
            Verdict::CheckFailed
        } else if rto.met == Some(false) || rpo.met == Some(false) {
            Verdict::ObjectiveMissed
        } else {
            Verdict::Passed
        }
    }
}

/// The versions of what took part, so two reports can be compared fairly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    pub lifeboat: String,
    /// The Docker engine's version, when it answered.
    pub docker: Option<String>,
    /// Docker Compose's version, when it answered.
    pub compose: Option<String>,
}

/// A backup the drill restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupUsed {
    /// The drill's volume it was restored into.
    pub volume: String,
    /// The production source it was taken of.
    pub source: String,
    /// The backup id in the repository.
    pub id: String,
    pub created_at: Timestamp,
    pub stored_bytes: u64,
    /// What the backup step recorded about the data (row counts, digests,
    /// sentinel times), as stored in the manifest.
    #[serde(default)]
    pub facts: BTreeMap<String, String>,
}

/// One timed phase of the drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// `setup`, `fetch`, `verify`, `safety`, `restore`, `start`, `checks`
    /// or `teardown`.
    pub name: String,
    /// What it worked on, e.g. the volume of a `restore`.
    pub subject: Option<String>,
    pub started_at: Timestamp,
    pub seconds: f64,
    pub ok: bool,
}

/// A measured time against its objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub measured_seconds: f64,
    /// None: no objective was set.
    pub objective_seconds: Option<f64>,
    /// None: no objective was set.
    pub met: Option<bool>,
}

impl Objective {
    /// `measured` judged against `objective`: met when not longer.
    pub fn judged(measured_seconds: f64, objective_seconds: Option<f64>) -> Objective {
        Objective {
            measured_seconds,
            objective_seconds,
            met: objective_seconds.map(|o| measured_seconds <= o),
        }
    }
}

/// The recovery point: how old the restored data was when the drill started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rpo {
    pub measured_seconds: f64,
    pub basis: RpoBasis,
    /// The backup's age plus the backup schedule's interval: the most data
    /// an incident at the worst moment would lose.
    pub worst_case_seconds: Option<f64>,
    pub objective_seconds: Option<f64>,
    pub met: Option<bool>,
}

/// What the RPO was measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RpoBasis {
    /// The newest sentinel write found in the restored data.
    Sentinel,
    /// The backup's creation time (no sentinel declared).
    BackupTime,
}

impl RpoBasis {
    pub fn key(self) -> &'static str {
        match self {
            RpoBasis::Sentinel => "sentinel",
            RpoBasis::BackupTime => "backup_time",
        }
    }
}

/// One check run against the restored stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub kind: CheckKind,
    pub passed: bool,
    /// What was expected (e.g. a fact recorded at backup time).
    pub expected: Option<String>,
    /// What the restored stack answered.
    pub actual: Option<String>,
    /// The check's output (command output, response body, error).
    pub output: String,
    pub seconds: f64,
}

/// How a check looked at the restored stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A read-only command in a container.
    Exec,
    /// An HTTP request.
    Http,
    /// A compose healthcheck.
    Healthcheck,
    /// A comparison with a fact recorded at backup time.
    Fact,
}

impl CheckKind {
    pub fn key(self) -> &'static str {
        match self {
            CheckKind::Exec => "exec",
            CheckKind::Http => "http",
            CheckKind::Healthcheck => "healthcheck",
            CheckKind::Fact => "fact",
        }
    }
}

impl DrillReport {
    /// `<drill>-<id>`: the stem of the report files.
    pub fn file_stem(&self) -> String {
        format!("{}-{}", self.drill, self.id)
    }

    /// The checks that failed, in order.
    pub fn failed_checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// Wall-clock seconds from start to finish.
    pub fn total_seconds(&self) -> f64 {
        let span = self.finished_at.duration_since(self.started_at);
        span.as_secs_f64().max(0.0)
    }
}

/// Seconds as people read them, the way objectives are written: `0.4s`,
/// `12.3s`, `2m14s`, `10m`, `6h12m`, `24h`, `30h12m`, `3d4h` (days from 48h on).
pub fn seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "-".into();
    }
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let w = s.round() as u64;
    let (big, big_unit, small, small_unit) = match w {
        w if w < 3600 => (w / 60, "m", w % 60, "s"),
        w if w < 2 * 86_400 => (w / 3600, "h", (w % 3600) / 60, "m"),
        w => (w / 86_400, "d", (w % 86_400) / 3600, "h"),
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{small}{small_unit}")
    }
}

/// `text` safe to print or embed: control characters other than newline and
/// tab (terminal escapes, NULs from binary output) become `\u{1b}`-style
/// escapes, so a check's output cannot repaint the terminal or break XML.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_outweighs_a_missed_objective() {
        let check = |passed| CheckResult {
            name: "rows".into(),
            kind: CheckKind::Fact,
            passed,
            expected: None,
            actual: None,
            output: String::new(),
            seconds: 0.1,
        };
        let slow = Objective::judged(20.0, Some(10.0));
        let fast = Objective::judged(5.0, Some(10.0));
        let rpo = Rpo {
            measured_seconds: 60.0,
            basis: RpoBasis::BackupTime,
            worst_case_seconds: None,
            objective_seconds: None,
            met: None,
        };
        assert_eq!(slow.met, Some(false));
        assert_eq!(Objective::judged(5.0, None).met, None);
        assert_eq!(
            Verdict::judge(&[check(false)], &slow, &rpo),
            Verdict::CheckFailed
        );
        assert_eq!(
            Verdict::judge(&[check(true)], &slow, &rpo),
            Verdict::ObjectiveMissed
        );
        assert_eq!(Verdict::judge(&[check(true)], &fast, &rpo), Verdict::Passed);
    }

    #[test]
    fn seconds_read_well() {
        let cases = [
            (0.42, "0.4s"),
            (12.34, "12.3s"),
            (59.96, "60.0s"),
            (134.0, "2m14s"),
            (600.0, "10m"),
            (3605.0, "1h"),
            (22_320.0, "6h12m"),
            (86_400.0, "24h"),
            (108_720.0, "30h12m"),
            (183_600.0, "2d3h"),
            (259_200.0, "3d"),
            (-1.0, "-"),
            (f64::NAN, "-"),
        ];
        for (s, want) in cases {
            assert_eq!(seconds(s), want, "{s}");
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            printable("a\u{1b}[31mred\0\n\tb"),
            "a\\u{1b}[31mred\\u{0}\n\tb"
        );
    }
}
