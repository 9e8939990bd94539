//! The plan as a reviewer reads it: waves in execution order, a symbol per
//! step, resolved arguments, probes, guards and undos, then the summary.

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::plan::{Plan, Step};
use crate::model::effect::Effect;

pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Runbook {} ({})", plan.runbook, plan.source);
    if let Some(d) = &plan.description {
        let _ = writeln!(out, "  {d}");
    }
    if !plan.params.is_empty() {
        let params: Vec<String> = plan
            .params
            .iter()
            .map(|p| format!("{}={} ({})", p.name, p.value, p.origin))
            .collect();
        let _ = writeln!(out, "  params:     {}", params.join(", "));
    }
    let objectives: Vec<String> = [("rto", &plan.objectives.rto), ("rpo", &plan.objectives.rpo)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
        .collect();
    if !objectives.is_empty() {
        let _ = writeln!(out, "  objectives: {}", objectives.join(", "));
    }
    let on_failure = match plan.on_failure {
        crate::runbook::raw::OnFailure::Rollback => {
            "rollback (undo completed steps in reverse order)"
        }
        crate::runbook::raw::OnFailure::Stop => "stop (leave everything as it is)",
        crate::runbook::raw::OnFailure::Continue => {
            "continue (run what does not depend on the failure)"
        }
    };
    let _ = writeln!(out, "  on failure: {on_failure}");
    match &plan.world {
        Some(w) => {
            let _ = writeln!(
                out,
                "  world:      {} (observed {}, fingerprint {})",
                w.source,
                w.taken_at,
                &w.fingerprint[..12]
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  world:      not probed (give --world FILE to resolve targets and backups)"
            );
        }
    }
    if !plan.targets.is_empty() {
        let _ = writeln!(out, "\nTargets");
        let width = plan.targets.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for t in &plan.targets {
            let mut line = format!("  {:width$}  {}", t.name, t.selector);
            if let Some(r) = &t.resolved
                && !t.selector.ends_with(&format!(" {r}"))
            {
                let _ = write!(line, " → {r}");
            }
            if let Some(p) = &t.probe {
                let _ = write!(line, ": {p}");
            }
            let _ = writeln!(out, "{line}");
        }
    }
    let mut per_wave = std::collections::HashMap::new();
    for step in &plan.steps {
        *per_wave.entry(step.wave).or_insert(0usize) += 1;
    }
    let mut wave = 0;
    for step in &plan.steps {
        if step.wave != wave {
            wave = step.wave;
            let count = per_wave[&wave];
            let parallel = if count > 1 {
                format!(" — {count} steps in parallel")
            } else {
                String::new()
            };
            let _ = writeln!(out, "\nWave {wave}{parallel}");
        }
        render_step(&mut out, step);
    }
    if !plan.predicted_failures.is_empty() {
        let _ = writeln!(
            out,
            "\nPredicted failures (`run` refuses this plan; --force runs it anyway)"
        );
        for f in &plan.predicted_failures {
            let _ = writeln!(out, "  ✗ {f}");
        }
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings");
        for w in &plan.warnings {
            let _ = writeln!(out, "  ⚠ {w}");
        }
    }
    let _ = writeln!(out, "\n{}", plan.summary);
    out
}

fn render_step(out: &mut String, step: &Step) {
    let mut head = format!("  {} {}  {}", step.category.symbol(), step.id, step.kind);
    if step.effect == Effect::Destroy {
        match (&step.unsafe_reason, step.guarded_by.is_empty()) {
            (Some(reason), true) => {
                let _ = write!(head, "  DESTRUCTIVE, UNSAFE: {reason}");
            }
            (Some(reason), false) => {
                let _ = write!(
                    head,
                    "  DESTRUCTIVE, guarded by {} (marked unsafe: {reason}",
                    step.guarded_by.join(", ")
                );
                if !step.unguarded.is_empty() {
                    let _ = write!(head, "; no backup of {}", step.unguarded.join(", "));
                }
                head.push(')');
            }
            (None, false) => {
                let _ = write!(
                    head,
                    "  DESTRUCTIVE, guarded by {}",
                    step.guarded_by.join(", ")
                );
            }
            (None, true) => head.push_str("  DESTRUCTIVE"),
        }
    }
    let _ = writeln!(out, "{head}");
    let width = step.args.keys().map(String::len).max().unwrap_or(0).max(10);
    // Continuation lines (a multi-line script) line up under the value.
    let hang = format!("\n{:width$}", "", width = 6 + width + 1);
    let mut field = |name: &str, value: String| {
        let value = value.trim_end_matches('\n').replace('\n', &hang);
        let _ = writeln!(out, "      {name:<width$} {value}");
    };
    if let Some(d) = &step.description {
        field("about", d.clone());
    }
    if !step.needs.is_empty() {
        field("after", step.needs.join(", "));
    }
    if let Some(when) = &step.when {
        let verdict = match when.value {
            Some(true) => "true now",
            Some(false) => "false now: SKIPPED with its dependants",
            None => "decided at run time",
        };
        field("when", format!("{} ({verdict})", when.expr));
    }
    for (name, value) in &step.args {
        // An unset flag is noise; an unset value is worth seeing.
        if step.defaulted.contains(name) && value == &Json::Bool(false) {
            continue;
        }
        let mut text = show(value);
        // An argument naming several targets (a mapping of volumes) shows each.
        let touched: Vec<String> = step
            .touches
            .iter()
            .filter(|t| &t.arg == name)
            .map(|touch| match &touch.probe {
                Some(p) => format!("{} ({p})", touch.resolved),
                None => touch.resolved.clone(),
            })
            .collect();
        if !touched.is_empty() {
            text = format!("{text} → {}", touched.join(", "));
        }
        if name == "backup"
            && let Some(choice) = &step.backup
        {
            if let Some(id) = &choice.resolved {
                text = format!("{text} → {id}");
            }
            if let Some(p) = &choice.probe {
                text = format!("{text} ({p})");
            }
        }
        if step.defaulted.contains(name) {
            text.push_str(" (default)");
        }
        field(name, text);
    }
    if let Some(r) = &step.retry {
        let max = r
            .max
            .as_ref()
            .map(|m| format!(", at most {m} apart"))
            .unwrap_or_default();
        field(
            "retry",
            format!(
                "{} attempts, {} backoff ×{}{max}",
                r.attempts, r.backoff, r.factor
            ),
        );
    }
    if let Some(t) = &step.timeout {
        field("timeout", format!("{t} per attempt"));
    }
    if let Some(d) = &step.deadline {
        field("deadline", format!("{d} for all attempts"));
    }
    if let Some(undo) = &step.undo {
        let args: Vec<String> = undo
            .args
            .iter()
            .map(|(k, v)| {
                let text = show(v);
                // A long script the step itself shows is not printed twice.
                if text.contains('\n') && step.args.get(k) == Some(v) {
                    format!("{k}=(as above)")
                } else {
                    format!("{k}={text}")
                }
            })
            .collect();
        let origin = if undo.builtin { " (built in)" } else { "" };
        field("undo", format!("{} {}{origin}", undo.kind, args.join(" ")));
    }
}

/// A JSON value the way a person writes it: no quotes around plain strings.
pub fn show(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        Json::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{k}: {}", show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}
