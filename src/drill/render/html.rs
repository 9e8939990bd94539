//! The report as one self-contained HTML page (templates/report.html, inline
//! CSS, no scripts, no external assets): the verdict, objectives against what
//! was measured, the phases as a timeline, every check with its output, the
//! backups restored and the versions. Everything from the report is escaped
//! by the template engine (autoescape, by the template's `.html` name).

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::drill::report::{DrillReport, Objective, Verdict, printable, seconds};
use crate::model::size::bytes;

const TEMPLATE: &str = include_str!("../templates/report.html");

/// The template failed: a bug in lifeboat, not in the report.
#[derive(Debug, thiserror::Error)]
#[error("the HTML report template failed: {0}")]
pub struct HtmlError(#[from] minijinja::Error);

pub fn render(r: &DrillReport) -> Result<String, HtmlError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template("report.html", TEMPLATE)?;
    let view = View::of(r);
    Ok(env
        .get_template("report.html")?
        .render(minijinja::value::Serde(&view))?)
}

/// What the template shows, formatted: the template only lays it out.
#[derive(Serialize)]
struct View {
    drill: String,
    id: String,
    passed: bool,
    headline: &'static str,
    verdict: &'static str,
    reason: Option<String>,
    project: String,
    production_project: String,
    runbook: String,
    run_id: Option<String>,
    restore_point: String,
    started_at: String,
    finished_at: String,
    took: String,
    objectives: Vec<ObjectiveView>,
    rpo_basis: String,
    phases: Vec<PhaseView>,
    checks_passed: usize,
    checks: Vec<CheckView>,
    backups: Vec<BackupView>,
    kept: Option<String>,
    lifeboat: String,
    docker: String,
    compose: String,
}

#[derive(Serialize)]
struct ObjectiveView {
    name: &'static str,
    measured: String,
    objective: String,
    /// `met`, `missed` or `none`.
    state: &'static str,
    /// `met`, `MISSED` or `no objective`.
    word: &'static str,
    /// Bar lengths, in percent of the larger of the two.
    measured_pct: String,
    objective_pct: Option<String>,
}

#[derive(Serialize)]
struct PhaseView {
    name: String,
    subject: Option<String>,
    ok: bool,
    seconds: String,
    /// Start and length on the timeline, in percent of the drill.
    offset_pct: String,
    width_pct: String,
}

#[derive(Serialize)]
struct CheckView {
    name: String,
    kind: &'static str,
    passed: bool,
    comparison: Option<String>,
    output: String,
    seconds: String,
}

#[derive(Serialize)]
struct BackupView {
    volume: String,
    source: String,
    id: String,
    created_at: String,
    size: String,
    facts: Vec<(String, String)>,
}

/// A percentage for a CSS length: two decimals, within 0-100.
fn pct(part: f64, whole: f64) -> String {
    let p = if whole > 0.0 && part.is_finite() {
        (part / whole * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    };
    format!("{p:.2}")
}

fn objective(r: &DrillReport, name: &'static str, o: &Objective) -> ObjectiveView {
    let scale = o.objective_seconds.unwrap_or(0.0).max(o.measured_seconds);
    ObjectiveView {
        name,
        measured: super::text::measured(r, o.measured_seconds),
        objective: o.objective_seconds.map_or("none".into(), seconds),
        state: match o.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "none",
        },
        word: super::text::met_word(o.objective_seconds, o.met),
        measured_pct: match r.verdict {
            Verdict::CouldNotRun => pct(0.0, scale),
            _ => pct(o.measured_seconds, scale),
        },
        objective_pct: o.objective_seconds.map(|s| pct(s, scale)),
    }
}

impl View {
    fn of(r: &DrillReport) -> View {
        let total = r.total_seconds();
        let rpo = Objective {
            measured_seconds: r.rpo.measured_seconds,
            objective_seconds: r.rpo.objective_seconds,
            met: r.rpo.met,
        };
        View {
            drill: r.drill.clone(),
            id: r.id.clone(),
            passed: r.verdict == Verdict::Passed,
            headline: r.verdict.headline(),
            verdict: r.verdict.key(),
            reason: r.reason.as_deref().map(printable),
            project: r.project.clone(),
            production_project: r.production_project.clone(),
            runbook: r.runbook.clone(),
            run_id: r.run_id.clone(),
            restore_point: r.restore_point.clone(),
            started_at: r.started_at.to_string(),
            finished_at: r.finished_at.to_string(),
            took: seconds(total),
            objectives: vec![objective(r, "RTO", &r.rto), objective(r, "RPO", &rpo)],
            rpo_basis: super::text::rpo_basis(&r.rpo),
            phases: r.phases.iter().map(|p| phase(r, p, total)).collect(),
            checks_passed: r.checks.iter().filter(|c| c.passed).count(),
            checks: r.checks.iter().map(check).collect(),
            backups: r.backups.iter().map(backup).collect(),
            kept: r.kept.clone(),
            lifeboat: r.versions.lifeboat.clone(),
            docker: r.versions.docker.clone().unwrap_or("unknown".into()),
            compose: r.versions.compose.clone().unwrap_or("unknown".into()),
        }
    }
}

fn phase(r: &DrillReport, p: &crate::drill::report::Phase, total: f64) -> PhaseView {
    let offset = p.started_at.duration_since(r.started_at).as_secs_f64();
    // A phase shorter than a pixel still gets a visible sliver.
    let width = pct(p.seconds, total).parse::<f64>().unwrap_or(0.0).max(0.4);
    PhaseView {
        name: p.name.clone(),
        subject: p.subject.clone(),
        ok: p.ok,
        seconds: seconds(p.seconds),
        offset_pct: pct(offset, total),
        width_pct: format!("{width:.2}"),
    }
}

fn check(c: &crate::drill::report::CheckResult) -> CheckView {
    CheckView {
        name: c.name.clone(),
        kind: c.kind.key(),
        passed: c.passed,
        comparison: super::text::comparison(c.expected.as_deref(), c.actual.as_deref())
            .map(|s| printable(&s)),
        output: printable(&c.output),
        seconds: seconds(c.seconds),
    }
}

fn backup(b: &crate::drill::report::BackupUsed) -> BackupView {
    BackupView {
        volume: b.volume.clone(),
        source: b.source.clone(),
        id: b.id.clone(),
        created_at: b.created_at.to_string(),
        size: bytes(b.stored_bytes),
        facts: b
            .facts
            .iter()
            .map(|(k, v)| (k.clone(), printable(v)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_stay_within_the_bar() {
        assert_eq!(pct(15.0, 150.0), "10.00");
        assert_eq!(pct(200.0, 150.0), "100.00");
        assert_eq!(pct(-3.0, 150.0), "0.00");
        assert_eq!(pct(5.0, 0.0), "0.00");
        assert_eq!(pct(f64::NAN, 10.0), "0.00");
    }

    #[test]
    fn a_phase_sits_on_the_timeline_where_and_as_long_as_it_ran() {
        let text = include_str!("../../../fixtures/drills/check-failed.json");
        let r = crate::drill::render::json::parse(text).unwrap();
        let view = View::of(&r);
        // The drill took 151s; `start` began at 59s and ran 64.3s.
        let start = &view.phases[6];
        assert_eq!(start.name, "start");
        assert_eq!(start.offset_pct, "39.07");
        assert_eq!(start.width_pct, "42.58");
        // A 0.0s phase still shows as a sliver.
        let mut r = r;
        r.phases[0].seconds = 0.0;
        assert_eq!(View::of(&r).phases[0].width_pct, "0.40");
        // RTO 134s of an objective of 600s: the objective is the full bar.
        assert_eq!(view.objectives[0].measured_pct, "22.33");
        assert_eq!(view.objectives[0].objective_pct.as_deref(), Some("100.00"));
    }
}
