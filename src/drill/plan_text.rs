//! `lifeboat plan DRILL`: what a drill would do, for review before it is
//! scheduled — the isolated stack, which backups go where, the checks, the
//! objectives, and the restore runbook's own plan.

use std::fmt::Write as _;
use std::time::Duration;

use super::def::Drill;
use crate::model::duration::{Human, Written};
use crate::model::target::TargetKind;
use crate::plan::{Plan, text};

/// The objectives a drill is held to: its own, else its runbook's.
pub fn objectives(drill: &Drill, plan: &Plan) -> (Option<Duration>, Option<Duration>) {
    let from_plan = |o: &Option<Written>| o.as_ref().map(Written::value);
    (
        drill.rto.or_else(|| from_plan(&plan.objectives.rto)),
        drill.rpo.or_else(|| from_plan(&plan.objectives.rpo)),
    )
}

/// The drill's plan as text; `project` is the drill's project (or a placeholder).
pub fn render(drill: &Drill, plan: &Plan, project: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Drill {}{}",
        drill.name,
        drill
            .description
            .as_deref()
            .map(|d| format!(": {}", d.trim()))
            .unwrap_or_default()
    );
    let mut row = |label: &str, value: String| {
        let _ = writeln!(out, "  {label:<11}{value}");
    };
    row(
        "stack",
        format!(
            "{} as compose project {project} (everything labelled lifeboat.drill.id, \
             networks internal, no published ports)",
            drill.compose
        ),
    );
    row(
        "tests",
        format!("the backups of production project `{}`", drill.production),
    );
    row(
        "restore",
        format!("runbook {}, restore point {}", drill.runbook, drill.point),
    );
    let prefix = format!("{project}_");
    for t in plan.targets.iter().filter(|t| t.kind == TargetKind::Volume) {
        if let Some(key) = t.object.strip_prefix(&prefix) {
            row(
                "volume",
                format!("{} ← backups of {}_{key}", t.object, drill.production),
            );
        }
    }
    if drill.healthchecks {
        row("check", "every compose healthcheck is healthy".into());
    }
    for c in &drill.checks {
        let mut want = Vec::new();
        if let Some(f) = &c.expect.fact {
            want.push(format!("= fact `{f}` recorded at backup time"));
        }
        if let Some(s) = &c.expect.stdout {
            want.push(format!("= `{s}`"));
        }
        if let Some(r) = &c.expect.stdout_matches {
            want.push(format!("matches /{r}/"));
        }
        if c.expect.exit_code != 0 {
            want.push(format!("exits {}", c.expect.exit_code));
        }
        row(
            "check",
            format!(
                "{}: `{}` in {} {}",
                c.name,
                c.exec.command.join(" "),
                c.exec.service,
                if want.is_empty() {
                    "exits 0".to_string()
                } else {
                    want.join(", ")
                }
            ),
        );
    }
    row(
        "rpo from",
        match &drill.sentinel {
            Some(s) => format!(
                "the newest write restored: `{}` in {}",
                s.command.join(" "),
                s.service
            ),
            None => "the restored backups' time".into(),
        },
    );
    let (rto, rpo) = objectives(drill, plan);
    let show = |d: Option<Duration>| d.map_or("none".to_string(), |d| Human(d).to_string());
    row(
        "objectives",
        format!("RTO {}, RPO {}", show(rto), show(rpo)),
    );
    row(
        "teardown",
        "always, also on failure and Ctrl-C (--keep-on-failure keeps a failed stack)".into(),
    );
    let _ = writeln!(
        out,
        "\nThe restore runbook's plan, in the drill's project:\n"
    );
    out.push_str(&text::render(plan));
    out
}
