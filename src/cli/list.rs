//! `lifeboat list`: the runbooks, what they are for, and their objectives.

use std::path::Path;

use serde::Serialize;

use super::{Format, locate};
use crate::ops::OpError;
use crate::runbook::parse::{parse, read_source};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Serialize)]
struct Entry {
    /// `runbook` or `drill`.
    kind: &'static str,
    name: String,
    path: String,
    description: Option<String>,
    rto: Option<String>,
    rpo: Option<String>,
    steps: usize,
    /// A drill: the restore runbook it exercises.
    #[serde(skip_serializing_if = "Option::is_none")]
    runbook: Option<String>,
}

pub fn run(runbooks: &Path, drills: &Path, args: Args) -> Result<(), OpError> {
    let files = match locate::runbook_files(runbooks) {
        Ok(f) => f,
        Err(e) => {
            return Err(OpError::usage(format!(
                "cannot read runbooks directory {}: {e}",
                runbooks.display()
            )));
        }
    };
    let mut entries = Vec::new();
    let mut broken = Vec::new();
    for file in files {
        // A read error names the file (and the place) itself.
        let parsed = read_source(&file)
            .map_err(|e| e.to_string())
            .and_then(|s| parse(&s).map_err(|d| format!("{}: {}", file.display(), d[0].message)));
        match parsed {
            Ok(p) => {
                let objective = |f: fn(
                    &crate::runbook::raw::RawObjectives,
                ) -> Option<&crate::runbook::raw::Text>| {
                    p.raw.objectives.as_ref().and_then(f).map(|t| t.0.clone())
                };
                entries.push(Entry {
                    kind: "runbook",
                    runbook: None,
                    name: p.raw.runbook.clone(),
                    path: file.display().to_string(),
                    description: p.raw.description.clone(),
                    rto: objective(|o| o.rto.as_ref()),
                    rpo: objective(|o| o.rpo.as_ref()),
                    steps: p.raw.steps.len(),
                })
            }
            Err(e) => broken.push(format!("{e} (run `lifeboat validate`)")),
        }
    }
    drill_entries(drills, &mut entries, &mut broken);
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&entries).unwrap_or_default()
        ),
        Format::Text => {
            let width = entries
                .iter()
                .map(|e| e.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            outln!(
                "{:width$}  {:>5}  {:>5}  {:>5}  DESCRIPTION",
                "NAME",
                "STEPS",
                "RTO",
                "RPO"
            );
            for e in entries.iter().filter(|e| e.kind == "runbook") {
                let dash = || "-".to_string();
                outln!(
                    "{:width$}  {:>5}  {:>5}  {:>5}  {}",
                    e.name,
                    e.steps,
                    e.rto.clone().unwrap_or_else(dash),
                    e.rpo.clone().unwrap_or_else(dash),
                    e.description.as_deref().unwrap_or("")
                );
            }
        }
    }
    if args.format == Format::Text {
        print_drills(&entries);
    }
    for b in &broken {
        errln!("warning: {b}");
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(OpError::InvalidRunbooks {
            invalid: broken.len(),
            unreadable: 0,
        })
    }
}

/// The drills of the drills directory (none when it does not exist).
fn drill_entries(drills: &Path, entries: &mut Vec<Entry>, broken: &mut Vec<String>) {
    let human =
        |d: Option<std::time::Duration>| d.map(|d| crate::model::duration::Human(d).to_string());
    for file in locate::runbook_files(drills).unwrap_or_default() {
        let parsed = read_source(&file).map_err(|e| e.to_string()).and_then(|s| {
            crate::drill::def::parse(&s)
                .map_err(|d| format!("{}: {}", file.display(), d[0].message))
        });
        match parsed {
            Ok(d) => entries.push(Entry {
                kind: "drill",
                name: d.name,
                path: file.display().to_string(),
                description: d.description,
                rto: human(d.rto),
                rpo: human(d.rpo),
                steps: d.checks.len(),
                runbook: Some(d.runbook),
            }),
            Err(e) => broken.push(format!("{e} (run `lifeboat validate`)")),
        }
    }
}

fn print_drills(entries: &[Entry]) {
    let drills: Vec<&Entry> = entries.iter().filter(|e| e.kind == "drill").collect();
    if drills.is_empty() {
        return;
    }
    let width = drills
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    outln!();
    outln!(
        "{:width$}  {:16}  {:>6}  DESCRIPTION",
        "DRILL",
        "RUNBOOK",
        "CHECKS"
    );
    for e in drills {
        outln!(
            "{:width$}  {:16}  {:>6}  {}",
            e.name,
            e.runbook.as_deref().unwrap_or(""),
            e.steps,
            e.description.as_deref().unwrap_or("")
        );
    }
}
