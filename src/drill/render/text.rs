//! The report as the terminal shows it at the end of a drill: the verdict and
//! why, RTO and RPO against their objectives, the phases, the checks (failing
//! ones with their output), the backups restored.

use std::fmt::Write as _;

use crate::drill::report::{DrillReport, Rpo, Verdict, printable, seconds};
use crate::model::size::bytes;

/// Lines of a failing check's output shown; the rest is in the JSON and HTML reports.
const OUTPUT_LINES: usize = 20;

pub fn render(r: &DrillReport) -> String {
    let mut out = String::new();
    header(&mut out, r);
    objectives(&mut out, r);
    phases(&mut out, r);
    checks(&mut out, r);
    backups(&mut out, r);
    footer(&mut out, r);
    out
}

fn header(out: &mut String, r: &DrillReport) {
    let _ = writeln!(out, "Drill {} {}: {}", r.drill, r.id, r.verdict.headline());
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "  why:       {}", printable(reason));
    }
    let run = r
        .run_id
        .as_ref()
        .map(|id| format!(" (run {id})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  tested:    backups of {} at restore point {}, through runbook {}{run}",
        r.production_project, r.restore_point, r.runbook
    );
    let _ = writeln!(out, "  project:   {}", r.project);
    let _ = writeln!(
        out,
        "  started:   {}, took {}",
        r.started_at,
        seconds(r.total_seconds())
    );
}

/// `met`, `MISSED`, `no objective` or `not judged` (an objective, but
/// nothing measured: the drill could not run).
pub(crate) fn met_word(objective: Option<f64>, met: Option<bool>) -> &'static str {
    match (objective, met) {
        (_, Some(true)) => "met",
        (_, Some(false)) => "MISSED",
        (None, None) => "no objective",
        (Some(_), None) => "not judged",
    }
}

/// The measurement, or `-` when the drill could not run (nothing was measured).
pub(crate) fn measured(r: &DrillReport, value: f64) -> String {
    if r.verdict == Verdict::CouldNotRun {
        "-".into()
    } else {
        seconds(value)
    }
}

fn objectives(out: &mut String, r: &DrillReport) {
    let _ = writeln!(out, "\nObjectives   measured  objective");
    let _ = writeln!(
        out,
        "  RTO        {:>8}  {:>9}  {}",
        measured(r, r.rto.measured_seconds),
        r.rto.objective_seconds.map_or("-".into(), seconds),
        met_word(r.rto.objective_seconds, r.rto.met)
    );
    let basis = match r.verdict {
        Verdict::CouldNotRun => String::new(),
        _ => format!("  ({})", rpo_basis(&r.rpo)),
    };
    let _ = writeln!(
        out,
        "  RPO        {:>8}  {:>9}  {}{basis}",
        measured(r, r.rpo.measured_seconds),
        r.rpo.objective_seconds.map_or("-".into(), seconds),
        met_word(r.rpo.objective_seconds, r.rpo.met),
    );
}

/// Where the RPO came from, and its worst case.
pub(crate) fn rpo_basis(rpo: &Rpo) -> String {
    let basis = match rpo.basis {
        crate::drill::report::RpoBasis::Sentinel => "from the newest sentinel restored",
        crate::drill::report::RpoBasis::BackupTime => "from the backup's time",
    };
    match rpo.worst_case_seconds {
        Some(w) => format!("{basis}; worst case {}", seconds(w)),
        None => basis.to_string(),
    }
}

fn mark(ok: bool) -> char {
    if ok { '✓' } else { '✗' }
}

fn phases(out: &mut String, r: &DrillReport) {
    if r.phases.is_empty() {
        return;
    }
    let name_w = r.phases.iter().map(|p| p.name.chars().count()).max();
    let subject_w = r
        .phases
        .iter()
        .map(|p| p.subject.as_deref().unwrap_or("").chars().count())
        .max();
    let (name_w, subject_w) = (name_w.unwrap_or(0), subject_w.unwrap_or(0));
    let _ = writeln!(out, "\nPhases");
    for p in &r.phases {
        let line = format!(
            "  {} {:<name_w$}  {:<subject_w$}  {:>7}",
            mark(p.ok),
            p.name,
            p.subject.as_deref().unwrap_or(""),
            seconds(p.seconds),
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn checks(out: &mut String, r: &DrillReport) {
    if r.checks.is_empty() {
        let _ = writeln!(out, "\nChecks: none ran");
        return;
    }
    let passed = r.checks.iter().filter(|c| c.passed).count();
    let _ = writeln!(out, "\nChecks: {passed} of {} passed", r.checks.len());
    let name_w = r
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for c in &r.checks {
        let mut line = format!(
            "  {} {:<name_w$}  {:<11}  {:>6}",
            mark(c.passed),
            c.name,
            c.kind.key(),
            seconds(c.seconds)
        );
        if !c.passed
            && let Some(comparison) = comparison(c.expected.as_deref(), c.actual.as_deref())
        {
            line.push_str("  ");
            line.push_str(&printable(&comparison));
        }
        let _ = writeln!(out, "{line}");
        if !c.passed {
            output_lines(out, &c.output);
        }
    }
}

/// `expected 25000, got 24999`, or whichever half is known.
pub(crate) fn comparison(expected: Option<&str>, actual: Option<&str>) -> Option<String> {
    match (expected, actual) {
        (Some(e), Some(a)) => Some(format!("expected {e}, got {a}")),
        (Some(e), None) => Some(format!("expected {e}")),
        (None, Some(a)) => Some(format!("got {a}")),
        (None, None) => None,
    }
}

fn output_lines(out: &mut String, output: &str) {
    let text = printable(output);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let shown = lines.len().min(OUTPUT_LINES);
    for l in &lines[..shown] {
        let _ = writeln!(out, "      │ {l}");
    }
    if lines.len() > shown {
        let _ = writeln!(
            out,
            "      │ … {} more lines in the JSON and HTML reports",
            lines.len() - shown
        );
    }
}

fn backups(out: &mut String, r: &DrillReport) {
    if r.backups.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nBackups restored");
    for b in &r.backups {
        let _ = writeln!(
            out,
            "  {} ← {}  (of {}, taken {}, {})",
            b.volume,
            b.id,
            b.source,
            b.created_at,
            bytes(b.stored_bytes)
        );
    }
}

fn footer(out: &mut String, r: &DrillReport) {
    if let Some(kept) = &r.kept {
        let _ = writeln!(
            out,
            "\nThe drill's stack was kept for inspection; remove it with:"
        );
        let _ = writeln!(out, "  {kept}");
    }
    let v = &r.versions;
    let _ = writeln!(
        out,
        "\nlifeboat {}, Docker {}, Compose {}",
        v.lifeboat,
        v.docker.as_deref().unwrap_or("unknown"),
        v.compose.as_deref().unwrap_or("unknown")
    );
}
