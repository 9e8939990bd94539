//! Refusals before a run changes anything: what a plan says about itself.

use super::error::OpError;
use crate::model::effect::Effect;
use crate::plan::Plan;

/// Refuses a plan that already says a step will fail, unless `force`:
/// starting it would stop services and take safety backups for nothing, and
/// then roll back.
pub fn refuse_predicted_failures(plan: &Plan, force: bool) -> Result<(), OpError> {
    if force || plan.predicted_failures.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = plan
        .predicted_failures
        .iter()
        .map(|f| format!("  ✗ {f}"))
        .collect();
    Err(OpError::Refused(format!(
        "refusing to run {}: its plan says {} will fail:\n{}\nNothing was changed. Fix the \
         cause (see `lifeboat plan {}`), or pass --force to run it anyway.",
        plan.runbook,
        if lines.len() == 1 {
            "this step"
        } else {
            "these steps"
        },
        lines.join("\n"),
        plan.runbook
    )))
}

/// The ids of the steps that destroy something.
pub fn destructive_steps(plan: &Plan) -> Vec<&str> {
    plan.steps
        .iter()
        .filter(|s| s.effect == Effect::Destroy)
        .map(|s| s.id.as_str())
        .collect()
}
