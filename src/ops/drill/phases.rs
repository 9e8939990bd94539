//! The restore run's steps as the drill's phases: what an incident's
//! recovery time is made of (docs/architecture.md §8).

use std::collections::HashMap;

use crate::drill::report::Phase;
use crate::model::effect::Category;
use crate::ops::report::{RunReport, StepStatus};

/// The phase a step of `category` belongs to.
pub fn phase_name(category: Category) -> &'static str {
    match category {
        Category::Stop => "stop",
        Category::Backup => "safety",
        Category::Destructive => "restore",
        Category::Start => "start",
        Category::Check => "verify",
        Category::Change => "change",
        Category::Gate => "gate",
        Category::Notify => "notify",
    }
}

/// One phase per step the run started, named by its category, the step id
/// as its subject, in the order the steps started.
pub fn of_run(report: &RunReport, categories: &HashMap<String, Category>) -> Vec<Phase> {
    report
        .steps
        .iter()
        .filter_map(|s| {
            let started_at = s.started_at?;
            let finished_at = s.finished_at.unwrap_or(report.finished_at);
            let category = categories.get(&s.id).copied().unwrap_or(Category::Change);
            Some(Phase {
                name: phase_name(category).into(),
                subject: Some(s.id.clone()),
                started_at,
                seconds: finished_at
                    .duration_since(started_at)
                    .as_secs_f64()
                    .max(0.0),
                ok: s.status == StepStatus::Finished,
            })
        })
        .collect()
}
