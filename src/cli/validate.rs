//! `lifeboat validate`: compile runbooks and report every error.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Format, locate, print_diagnostics, print_error};
use crate::compile::{Failure, Options, compile};
use crate::ops::OpError;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::parse::read_source;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files or directories (default: the runbooks directory).
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Serialize)]
struct Report {
    path: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    runbook: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drill: Option<String>,
    errors: Vec<Diagnostic>,
}

pub fn run(runbooks: &Path, drills: &Path, args: Args) -> Result<(), OpError> {
    let paths = if args.paths.is_empty() {
        let mut both = vec![runbooks.to_path_buf()];
        if drills.is_dir() {
            both.push(drills.to_path_buf());
        }
        both
    } else {
        args.paths
    };
    let mut files = Vec::new();
    for path in &paths {
        if path.is_dir() {
            match locate::runbook_files(path) {
                Ok(found) => files.extend(found),
                Err(e) => {
                    return Err(OpError::usage(format!(
                        "cannot read {}: {e}",
                        path.display()
                    )));
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        return Err(OpError::usage(format!(
            "no runbooks found in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut reports = Vec::new();
    let mut unreadable = 0;
    for file in &files {
        let source = match read_source(file) {
            Ok(s) => s,
            Err(e) => {
                let diagnostic = match e.diagnostic() {
                    Some((source, diagnostic)) => {
                        if args.format == Format::Text {
                            print_diagnostics(std::slice::from_ref(&diagnostic), &source);
                        }
                        diagnostic
                    }
                    None => {
                        unreadable += 1;
                        if args.format == Format::Text {
                            print_error(&e.to_string());
                        }
                        Diagnostic::new(e.to_string())
                    }
                };
                reports.push(Report {
                    path: file.display().to_string(),
                    valid: false,
                    runbook: None,
                    drill: None,
                    errors: vec![diagnostic],
                });
                continue;
            }
        };
        if crate::drill::def::is_drill(&source.text) {
            reports.push(drill_report(&source, runbooks, args.format));
            continue;
        }
        let report = match compile(&source, &Options::default()) {
            Ok(plan) => {
                if args.format == Format::Text {
                    outln!(
                        "ok  {} ({}, {} steps)",
                        source.name,
                        plan.runbook,
                        plan.steps.len()
                    );
                }
                Report {
                    path: source.name.clone(),
                    valid: true,
                    runbook: Some(plan.runbook),
                    drill: None,
                    errors: vec![],
                }
            }
            Err(Failure::Invalid(diagnostics)) => {
                if args.format == Format::Text {
                    print_diagnostics(&diagnostics, &source);
                }
                Report {
                    path: source.name.clone(),
                    valid: false,
                    runbook: None,
                    drill: None,
                    errors: diagnostics,
                }
            }
            Err(Failure::Usage(problems)) => {
                let errors: Vec<Diagnostic> = problems.into_iter().map(Diagnostic::new).collect();
                Report {
                    path: source.name.clone(),
                    valid: false,
                    runbook: None,
                    drill: None,
                    errors,
                }
            }
        };
        reports.push(report);
    }
    let invalid = reports.iter().filter(|r| !r.valid).count();
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        ),
        Format::Text => {
            let what = counted(&reports);
            if invalid == 0 {
                outln!("{what} valid");
            } else {
                errln!("{invalid} of {what} invalid");
            }
        }
    }
    if invalid > 0 {
        return Err(OpError::InvalidRunbooks {
            invalid,
            unreadable,
        });
    }
    Ok(())
}

/// `9 runbooks`, `9 runbooks and 1 drill`.
fn counted(reports: &[Report]) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let drills = reports.iter().filter(|r| r.drill.is_some()).count();
    let runbooks = reports.len() - drills;
    if drills == 0 {
        plural(runbooks, "runbook")
    } else if runbooks == 0 {
        plural(drills, "drill")
    } else {
        format!(
            "{} and {}",
            plural(runbooks, "runbook"),
            plural(drills, "drill")
        )
    }
}

fn drill_report(
    source: &crate::runbook::source::Source,
    runbooks: &Path,
    format: Format,
) -> Report {
    match super::drill::validate(source, runbooks) {
        Ok(name) => {
            if format == Format::Text {
                outln!("ok  {} (drill {name})", source.name);
            }
            Report {
                path: source.name.clone(),
                valid: true,
                runbook: None,
                drill: Some(name),
                errors: vec![],
            }
        }
        Err(diagnostics) => {
            if format == Format::Text {
                print_diagnostics(&diagnostics, source);
            }
            Report {
                path: source.name.clone(),
                valid: false,
                runbook: None,
                // A drill, even though its name could not be read.
                drill: Some(String::new()),
                errors: diagnostics,
            }
        }
    }
}
