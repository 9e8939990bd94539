//! `lifeboat run --dry-run`: the plan, then what the real step code did
//! against the dry-run ports (`ops::dry_run`).

use super::Format;
use crate::ops::OpError;
use crate::ops::StepStatus;
use crate::ops::dry_run::DryReport;
use crate::plan::{Plan, text};

/// Prints the plan and the dry run; a dry run that failed is refused
/// (exit 2): the real run would fail there too.
pub fn render(plan: &Plan, report: &DryReport, format: Format) -> Result<(), OpError> {
    match format {
        Format::Text => {
            out!("{}", text::render(plan));
            out!("{}", lines(report));
        }
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "plan": plan,
                "dry_run": report,
            }))
            .unwrap_or_default()
        ),
    }
    match report.steps.iter().find(|s| s.status == StepStatus::Failed) {
        None if report.outcome == crate::engine::Outcome::Succeeded => Ok(()),
        failed => Err(OpError::Refused(format!(
            "the dry run failed{}; a real run would stop there and roll back",
            failed
                .map(|s| format!(" at step `{}`: {}", s.id, s.error.as_deref().unwrap_or("")))
                .unwrap_or_default()
        ))),
    }
}

/// The text of a dry run: each step and what it would do, then the rollback.
pub fn lines(report: &DryReport) -> String {
    let mut text = String::from(
        "\nDry run (the real step code; probes answered from the world above, nothing changed):\n",
    );
    for step in &report.steps {
        let mark = match step.status {
            StepStatus::Finished => "✓",
            StepStatus::Failed => "✗",
            StepStatus::Skipped => "-",
            StepStatus::Running => "…",
        };
        text.push_str(&format!("  {mark} {} ({})\n", step.id, step.kind));
        for action in report.would_of(&step.id) {
            text.push_str(&format!("      would {action}\n"));
        }
        if let Some(e) = &step.error {
            text.push_str(&format!("      fails: {e}\n"));
        }
        if let Some(why) = &step.skipped {
            text.push_str(&format!("      skipped: {why}\n"));
        }
    }
    if let Some(rollback) = &report.rollback {
        text.push_str(&format!("  Rolling back: {}\n", rollback.reason));
        for undo in &rollback.undos {
            text.push_str(&format!("  ↩ {} ({})\n", undo.id, undo.kind));
            for action in report.would_of(&format!("{} (undo)", undo.id)) {
                text.push_str(&format!("      would {action}\n"));
            }
            if let Some(e) = &undo.error {
                text.push_str(&format!("      fails: {e}\n"));
            }
        }
        let after = report.would_of(crate::steps::AFTER_ROLLBACK);
        if !after.is_empty() {
            text.push_str("  then, for what was running before:\n");
        }
        for action in after {
            text.push_str(&format!("      would {action}\n"));
        }
    }
    let changes = report.would.len();
    let verdict = match report.outcome {
        crate::engine::Outcome::Succeeded => "would succeed",
        _ => "would FAIL",
    };
    text.push_str(&format!(
        "Dry run: {} step(s), {changes} change(s) recorded; the run {verdict}.\n",
        report.steps.len()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::dry_run::DryReport;
    use crate::ops::{RollbackReport, StepReport, UndoReport};
    use crate::runtime::ports::dry::Would;

    fn step(id: &str, kind: &str, status: StepStatus, error: Option<&str>) -> StepReport {
        StepReport {
            id: id.into(),
            kind: kind.into(),
            status,
            started_at: None,
            finished_at: None,
            attempts: 1,
            outputs: serde_json::Value::Null,
            error: error.map(String::from),
            skipped: None,
        }
    }

    fn would(step: &str, action: &str) -> Would {
        Would {
            step: step.into(),
            action: action.into(),
        }
    }

    #[test]
    fn a_dry_run_that_fails_shows_each_step_the_failure_and_the_rollback() {
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let report = DryReport {
            runbook: "restore".into(),
            outcome: crate::engine::Outcome::RolledBack,
            steps: vec![
                step("stop", "container.stop", StepStatus::Finished, None),
                step(
                    "restore",
                    "volume.restore",
                    StepStatus::Failed,
                    Some("backup b1 does not verify: sha256 mismatch"),
                ),
            ],
            rollback: Some(RollbackReport {
                reason: "step `restore` failed".into(),
                started_at: at,
                undos: vec![UndoReport {
                    id: "stop".into(),
                    kind: "container.stop".into(),
                    started_at: at,
                    finished_at: Some(at),
                    error: None,
                }],
            }),
            would: vec![
                would(
                    "stop",
                    "stop container `shop-redis-1` (SIGTERM, SIGKILL after 30s)",
                ),
                would("stop (undo)", "start container `shop-redis-1`"),
                would(
                    "after rollback",
                    "wait until `shop-redis-1` is healthy (at most 120s)",
                ),
            ],
            errors: vec!["restore: backup b1 does not verify".into()],
        };
        insta::assert_snapshot!(lines(&report));
    }
}
