//! `lifeboat drill NAME`: one restore test on a throwaway copy of the stack
//! (docs/architecture.md §8). Progress on stderr, the report on stdout, the
//! verdict as the exit code (`OpError::Drill`, mapped by `cli::fail`).

use std::path::{Path, PathBuf};

use tokio::sync::mpsc::unbounded_channel;
use tokio_util::sync::CancellationToken;

use super::live::{Places, runtime};
use super::plan::parse_set;
use super::{Format, locate, print_error};
use crate::compile::Document;
use crate::drill::def::{self, Drill};
use crate::drill::report::{DrillReport, Verdict};
use crate::drill::{history, render};
use crate::engine::Event;
use crate::ops::OpError;
use crate::ops::drill::{DrillRequest, Progress};
use crate::runbook::parse::read_source;
use crate::runbook::source::Source;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A drill name from the drills directory, or a path to a drill file.
    pub drill: String,
    /// Set a param of the restore runbook; `point=` sets the restore point
    /// (`latest`, `latest-verified`, `run:<id>`, an id, `random:7d`) and
    /// `production=` the compose project whose backups are tested.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// Keep a failed drill's stack to look at; prints how to remove it.
    #[arg(long)]
    pub keep_on_failure: bool,
    /// `json`: the report as JSON on stdout (docs/drills.md).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Also write the report as JSON, HTML and JUnit XML into DIR.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// How many independent steps of the restore may run at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel: usize,
}

/// A drill definition and the restore runbook it names, both checked.
pub struct Loaded {
    pub drill: Drill,
    pub runbook: Source,
}

/// Reads and checks the drill and its runbook.
pub fn load(drills: &Path, runbooks: &Path, name: &str) -> Result<Loaded, OpError> {
    let path = locate::find_drill(drills, name).map_err(OpError::usage)?;
    let source = read_source(&path).map_err(|e| OpError::from_read(&e, None))?;
    let drill = match def::parse(&source) {
        Ok(drill) => drill,
        Err(diagnostics) => {
            return Err(OpError::Invalid {
                diagnostics,
                runbook: Box::new(source),
            });
        }
    };
    let runbook_path = locate::find(runbooks, &drill.runbook)
        .map_err(|e| OpError::usage(format!("drill {}: restore.runbook: {e}", drill.name)))?;
    let runbook = read_source(&runbook_path).map_err(|e| OpError::from_read(&e, None))?;
    Ok(Loaded { drill, runbook })
}

/// `point=` and `production=` on the command line override the drill's
/// restore point and production project; the other pairs go to the runbook.
fn apply_overrides(drill: &mut Drill, sets: &mut Vec<(String, String)>) -> Result<(), OpError> {
    let mut overrides = String::new();
    sets.retain(|(k, v)| match k.as_str() {
        "point" => {
            overrides.push_str(&format!("  point: {v:?}\n"));
            false
        }
        "production" => {
            drill.production = v.clone();
            false
        }
        _ => true,
    });
    let text = format!(
        "drill: x\nstack: {{ production: {:?} }}\nrestore:\n  runbook: x\n{overrides}",
        drill.production
    );
    match def::parse(&Source::new("--set", text)) {
        Ok(d) => {
            if !overrides.is_empty() {
                drill.point = d.point;
            }
            Ok(())
        }
        Err(d) => Err(OpError::usage(format!(
            "--set: {}{}",
            d.first().map(|d| d.message.as_str()).unwrap_or(""),
            d.first()
                .and_then(|d| d.hint.as_deref())
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        ))),
    }
}

pub fn run(drills: &Path, runbooks: &Path, places: &Places, mut args: Args) -> Result<(), OpError> {
    let Loaded {
        mut drill, runbook, ..
    } = load(drills, runbooks, &args.drill)?;
    apply_overrides(&mut drill, &mut args.sets)?;
    // Parsed once: the preview compiles it, the drill's run compiles it
    // again with the copy's project and takes its param values.
    let document = Document::parse(&runbook)
        .and_then(|d| crate::ops::drill::plan::preview(&drill, &d, &args.sets).map(|_| d))
        .map_err(|f| OpError::from_compile(f, &runbook))?;
    let repo = places.open_repo()?;
    runtime().block_on(async {
        let docker = crate::ops::world::connect().await?;
        let remote = places.remote().await?;
        let env = super::execute::env(places, docker, repo);
        let (cancel, abort) = (CancellationToken::new(), CancellationToken::new());
        super::execute::on_ctrl_c(cancel.clone(), abort.clone());
        let request = DrillRequest {
            drill,
            runbook: document,
            sets: args.sets,
            keep_on_failure: args.keep_on_failure,
            parallel: args.parallel,
            cancel,
            abort,
        };
        let (tx, mut rx) = unbounded_channel();
        let printer = tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                print_progress(&p);
            }
        });
        let report = crate::ops::drill::drill(&env, remote, request, tx).await;
        let _ = printer.await;
        finish(places, &report, args.format, args.report.as_deref())
    })
}

fn print_progress(p: &Progress) {
    match p {
        Progress::Phase(name) => errln!("drill: {name}"),
        Progress::Note(note) => errln!("drill: {note}"),
        Progress::Run(Event::StepFinished {
            id, duration_ms, ..
        }) => {
            errln!("  ✓ {id} ({:.1}s)", *duration_ms as f64 / 1000.0)
        }
        Progress::Run(Event::StepFailed { id, error, .. }) => errln!("  ✗ {id}: {error}"),
        Progress::Run(Event::UndoFinished { id, .. }) => errln!("  ↺ undid {id}"),
        Progress::Run(_) => {}
    }
}

/// Stores the report in the history, writes the report files, prints it.
/// Err: the verdict, unless it passed (`OpError::Drill`); a passed drill
/// whose report files could not be written is a usage error (exit 2).
fn finish(
    places: &Places,
    report: &DrillReport,
    format: Format,
    dir: Option<&Path>,
) -> Result<(), OpError> {
    let mut result = match report.verdict {
        Verdict::Passed => Ok(()),
        verdict => Err(OpError::Drill { verdict }),
    };
    if let Err(e) = history::store(&places.state_dir, report) {
        errln!("warning: the drill's report could not be kept in the history: {e}");
    }
    if let Some(dir) = dir {
        match render::write_reports(dir, report) {
            Ok(files) => {
                for f in files {
                    errln!("report: {}", f.display());
                }
            }
            Err(e) => {
                let problem = format!("writing the reports into {}: {e}", dir.display());
                match result {
                    // The verdict's code stands; the problem is said here.
                    Err(_) => print_error(&problem),
                    Ok(()) => result = Err(OpError::usage(problem)),
                }
            }
        }
    }
    match format {
        Format::Text => out!("{}", render::text::render(report)),
        Format::Json => outln!("{}", render::json::render(report)),
    }
    if let Some(kept) = &report.kept {
        errln!("The drill's stack was kept; remove it with:\n  {kept}");
    }
    result
}

/// `lifeboat validate` of a drill file: the drill itself, the restore
/// runbook it names (found, and valid with the drill's params). Ok: its name.
pub fn validate(
    source: &Source,
    runbooks: &Path,
) -> Result<String, Vec<crate::runbook::diagnostic::Diagnostic>> {
    use crate::runbook::diagnostic::Diagnostic;
    let drill = def::parse(source)?;
    let at = def::runbook_span(source);
    let path =
        locate::find(runbooks, &drill.runbook).map_err(|e| vec![Diagnostic::new(e).at(at)])?;
    let runbook = read_source(&path).map_err(|e| vec![Diagnostic::new(e.to_string()).at(at)])?;
    match Document::parse(&runbook).and_then(|d| crate::ops::drill::plan::preview(&drill, &d, &[]))
    {
        Ok(_) => Ok(drill.name),
        Err(crate::compile::Failure::Invalid(d)) => Err(vec![
            Diagnostic::new(format!(
                "restore runbook `{}` is invalid: {}",
                drill.runbook,
                d.first().map(|d| d.message.as_str()).unwrap_or("")
            ))
            .at(at)
            .hint(format!("run `lifeboat validate {}`", path.display())),
        ]),
        Err(crate::compile::Failure::Usage(problems)) => Err(vec![
            Diagnostic::new(format!(
                "restore runbook `{}` cannot run for this drill: {}",
                drill.runbook,
                problems.join("; ")
            ))
            .at(at)
            .hint("set its params under `restore.set:`"),
        ]),
    }
}

/// `lifeboat plan DRILL`: the drill's plan, made without probing (its
/// stack does not exist before it runs).
pub fn plan(drills: &Path, runbooks: &Path, args: &super::plan::Args) -> Result<(), OpError> {
    use super::plan::PlanFormat;
    let Loaded {
        mut drill, runbook, ..
    } = load(drills, runbooks, &args.runbook)?;
    let mut sets = args.sets.clone();
    apply_overrides(&mut drill, &mut sets)?;
    let plan = Document::parse(&runbook)
        .and_then(|d| crate::ops::drill::plan::preview(&drill, &d, &sets))
        .map_err(|f| OpError::from_compile(f, &runbook))?;
    let project = crate::ops::drill::plan::placeholder_project(&drill.name);
    match args.format {
        PlanFormat::Text => out!(
            "{}",
            crate::drill::plan_text::render(&drill, &plan, &project)
        ),
        PlanFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "drill": drill, "plan": plan }))
                .unwrap_or_default()
        ),
        PlanFormat::Mermaid => out!("{}", crate::plan::mermaid::render(&plan)),
        PlanFormat::Dot => out!("{}", crate::plan::dot::render(&plan)),
    }
    Ok(())
}

/// `lifeboat drills gc`: removes the leftovers of killed drills. What it
/// could not remove makes it `OpError::PartlyDone` (exit 5), one line each.
pub fn gc() -> Result<(), OpError> {
    runtime().block_on(async {
        let docker = crate::ops::world::connect().await?;
        let locks = crate::engine::lock::default_dir();
        let c = crate::ops::drill::stack::gc(&docker, &locks)
            .await
            .map_err(OpError::Unavailable)?;
        if c.drills.is_empty() {
            outln!("Nothing to remove: no drill left anything behind.");
        } else {
            outln!(
                "Removed what {} killed drill(s) left: {} container(s), {} volume(s), {} network(s) ({}).",
                c.drills.len(),
                c.removed.containers.len(),
                c.removed.volumes.len(),
                c.removed.networks.len(),
                c.drills.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if c.failed.is_empty() {
            Ok(())
        } else {
            Err(OpError::PartlyDone(
                c.failed
                    .iter()
                    .map(|f| format!("could not remove {f}"))
                    .collect(),
            ))
        }
    })
}
