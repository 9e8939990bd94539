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
