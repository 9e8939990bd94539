//! The plan as a Mermaid flowchart, for docs and pull requests.

use std::fmt::Write as _;

use super::plan::Plan;
use crate::model::effect::Effect;

pub fn render(plan: &Plan) -> String {
    let mut out = String::from("flowchart TD\n");
    for (i, step) in plan.steps.iter().enumerate() {
        let label = format!("{} {}<br/>{}", step.category.symbol(), step.id, step.kind)
            .replace('"', "#quot;");
        let _ = writeln!(out, "    s{i}[\"{label}\"]");
        if step.effect == Effect::Destroy {
            let _ = writeln!(out, "    class s{i} destructive");
        }
    }
    let position: std::collections::HashMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    for (i, step) in plan.steps.iter().enumerate() {
        for need in &step.needs {
            if let Some(j) = position.get(need.as_str()) {
                let _ = writeln!(out, "    s{j} --> s{i}");
            }
        }
    }
    out.push_str("    classDef destructive fill:#fdd,stroke:#c00,stroke-width:2px\n");
    out
}
