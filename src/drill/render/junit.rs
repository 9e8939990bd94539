//! The report as JUnit XML, so CI systems show a drill as tests: one
//! `testsuite` per drill, a `testcase` for the restore itself, one per check
//! and one per objective; failures carry a message and the output.

use std::fmt::Write as _;

use crate::drill::report::{CheckResult, DrillReport, Verdict, printable, seconds};

/// One testcase before it is written.
struct Case {
    name: String,
    classname: String,
    seconds: f64,
    outcome: Outcome,
    /// `system-out`, when there is something to show.
    out: Option<String>,
}

enum Outcome {
    Passed,
    /// `failure`: a test that ran and found a problem.
    Failure {
        kind: &'static str,
        message: String,
        text: String,
    },
    /// `error`: the test could not run.
    Error {
        message: String,
    },
    Skipped {
        message: String,
    },
}

pub fn render(r: &DrillReport) -> String {
    let cases = cases(r);
    let count = |f: fn(&Outcome) -> bool| cases.iter().filter(|c| f(&c.outcome)).count();
    let failures = count(|o| matches!(o, Outcome::Failure { .. }));
    let errors = count(|o| matches!(o, Outcome::Error { .. }));
    let skipped = count(|o| matches!(o, Outcome::Skipped { .. }));
    let time = format!("{:.3}", r.total_seconds());
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let totals = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\"",
        cases.len()
    );
    let _ = writeln!(x, "<testsuites name=\"lifeboat drills\" {totals}>");
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" id=\"{}\" {totals} timestamp=\"{}\">",
        attr(&format!("drill {}", r.drill)),
        attr(&r.id),
        r.started_at.strftime("%Y-%m-%dT%H:%M:%S")
    );
    properties(&mut x, r);
    for case in &cases {
        testcase(&mut x, case);
    }
    let _ = writeln!(x, "  </testsuite>\n</testsuites>");
    x
}

fn properties(x: &mut String, r: &DrillReport) {
    let mut props: Vec<(String, String)> = vec![
        ("drill_id".into(), r.id.clone()),
        ("verdict".into(), r.verdict.key().into()),
        ("project".into(), r.project.clone()),
        ("production_project".into(), r.production_project.clone()),
        ("runbook".into(), r.runbook.clone()),
        ("restore_point".into(), r.restore_point.clone()),
    ];
    if let Some(run) = &r.run_id {
        props.push(("run_id".into(), run.clone()));
    }
    for b in &r.backups {
        props.push((format!("backup:{}", b.volume), b.id.clone()));
    }
    props.push(("lifeboat_version".into(), r.versions.lifeboat.clone()));
    for (name, v) in [
        ("docker_version", &r.versions.docker),
        ("compose_version", &r.versions.compose),
    ] {
        if let Some(v) = v {
            props.push((name.into(), v.clone()));
        }
    }
    let _ = writeln!(x, "    <properties>");
    for (name, value) in props {
        let _ = writeln!(
            x,
            "      <property name=\"{}\" value=\"{}\"/>",
            attr(&name),
            attr(&value)
        );
    }
    let _ = writeln!(x, "    </properties>");
}

fn testcase(x: &mut String, c: &Case) {
    let _ = write!(
        x,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
        attr(&c.name),
        attr(&c.classname),
        if c.seconds.is_finite() {
            c.seconds.max(0.0)
        } else {
            0.0
        }
    );
    if matches!(c.outcome, Outcome::Passed) && c.out.is_none() {
        let _ = writeln!(x, "/>");
        return;
    }
    let _ = writeln!(x, ">");
    match &c.outcome {
        Outcome::Passed => {}
        Outcome::Failure {
            kind,
            message,
            text: body,
        } => {
            let _ = writeln!(
                x,
                "      <failure message=\"{}\" type=\"{kind}\">{}</failure>",
                attr(message),
                text(body)
            );
        }
        Outcome::Error { message } => {
            let _ = writeln!(
                x,
                "      <error message=\"{}\" type=\"could_not_run\">{}</error>",
                attr(message),
                text(message)
            );
        }
        Outcome::Skipped { message } => {
            let _ = writeln!(x, "      <skipped message=\"{}\"/>", attr(message));
        }
    }
    if let Some(out) = &c.out {
        let _ = writeln!(x, "      <system-out>{}</system-out>", text(out));
    }
    let _ = writeln!(x, "    </testcase>");
}

fn cases(r: &DrillReport) -> Vec<Case> {
    let class = format!("lifeboat.drill.{}", r.drill);
    let mut cases = vec![Case {
        name: format!("restore through runbook {}", r.runbook),
        classname: class.clone(),
        seconds: r.rto.measured_seconds,
        outcome: match r.verdict {
            Verdict::CouldNotRun => Outcome::Error {
                message: r
                    .reason
                    .clone()
                    .unwrap_or_else(|| "the drill could not run".into()),
            },
            _ => Outcome::Passed,
        },
        out: None,
    }];
    let checks = format!("{class}.checks");
    cases.extend(r.checks.iter().map(|c| check_case(&checks, c)));
    let objectives = format!("{class}.objectives");
    let ran = r.verdict != Verdict::CouldNotRun;
    cases.push(objective_case(
        &objectives,
        "RTO",
        r.rto.measured_seconds,
        r.rto.objective_seconds,
        r.rto.met,
        ran,
    ));
    cases.push(objective_case(
        &objectives,
        "RPO",
        r.rpo.measured_seconds,
        r.rpo.objective_seconds,
        r.rpo.met,
        ran,
    ));
    cases
}

fn check_case(classname: &str, c: &CheckResult) -> Case {
    let comparison = super::text::comparison(c.expected.as_deref(), c.actual.as_deref());
    let outcome = if c.passed {
        Outcome::Passed
    } else {
        Outcome::Failure {
            kind: c.kind.key(),
            message: comparison.unwrap_or_else(|| format!("the {} check failed", c.kind.key())),
            text: c.output.clone(),
        }
    };
    Case {
        name: format!("check {}", c.name),
        classname: classname.to_string(),
        seconds: c.seconds,
        out: (c.passed && !c.output.is_empty()).then(|| c.output.clone()),
        outcome,
    }
}

fn objective_case(
    classname: &str,
    name: &str,
    measured: f64,
    objective: Option<f64>,
    met: Option<bool>,
    ran: bool,
) -> Case {
    let said = format!(
        "{name} measured {}, objective {}",
        seconds(measured),
        objective.map_or("none".into(), seconds)
    );
    let outcome = match (ran, met) {
        (false, _) => Outcome::Skipped {
            message: "the drill could not run: nothing was measured".into(),
        },
        (true, None) => Outcome::Skipped {
            message: format!("no {name} objective is set"),
        },
        (true, Some(true)) => Outcome::Passed,
        (true, Some(false)) => Outcome::Failure {
            kind: "objective",
            message: format!("{said}: missed"),
            text: said.clone(),
        },
    };
    Case {
        name: format!("objective {name}"),
        classname: classname.to_string(),
        seconds: 0.0,
        out: ran.then_some(said),
        outcome,
    }
}

/// Escapes `s` for XML character data. Characters XML 1.0 cannot hold at
/// all (most control characters, U+FFFE, U+FFFF) are written as `\u{…}`.
fn text(s: &str) -> String {
    escape(s, false)
}

/// Escapes `s` for a double-quoted attribute; newlines and tabs are kept
/// as character references (a parser would turn them into spaces).
fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in printable(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_characters_xml_cannot_hold() {
        assert_eq!(
            text("a<b>&\"c\"\u{1}\u{FFFF}\n"),
            "a&lt;b&gt;&amp;\"c\"\\u{1}\\u{ffff}\n"
        );
        assert_eq!(attr("x\"y\nz"), "x&quot;y&#10;z");
    }
}
