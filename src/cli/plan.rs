//! `lifeboat plan`: what a runbook would do, step by step, without doing it.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::locate;
use crate::compile::params::Missing;
use crate::compile::{Options, compile};
use crate::model::world::World;
use crate::ops::OpError;
use crate::plan::{dot, mermaid, text};
use crate::runbook::parse::read_source;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanFormat {
    #[default]
    Text,
    Json,
    Mermaid,
    Dot,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A runbook name from the runbooks directory, or a path to a runbook file.
    pub runbook: String,
    /// Set a param: `--set project=shop` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    #[arg(long, value_enum, default_value_t)]
    pub format: PlanFormat,
    /// Resolve targets and backups against a recorded world (JSON) instead of
    /// probing: a world file, or a plan saved by `--out` (the world it was made against).
    #[arg(long, value_name = "FILE", conflicts_with = "no_probe")]
    pub world: Option<PathBuf>,
    /// Do not contact Docker or the repository: a plan of the runbook alone.
    #[arg(long)]
    pub no_probe: bool,
    /// Also save the plan as JSON, with the world it saw and its fingerprint.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn parse_set(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

pub fn run(
    runbooks: &Path,
    drills: &Path,
    places: &super::live::Places,
    args: Args,
) -> Result<(), OpError> {
    if names_a_drill(runbooks, drills, &args.runbook) {
        return super::drill::plan(drills, runbooks, &args);
    }
    plan_runbook(runbooks, places, args)
}

/// `lifeboat plan NAME` of a drill: no runbook of that name, but a drill;
/// or a path to a drill file.
fn names_a_drill(runbooks: &Path, drills: &Path, name: &str) -> bool {
    match locate::find(runbooks, name) {
        Ok(path) => std::fs::read_to_string(path).is_ok_and(|t| crate::drill::def::is_drill(&t)),
        Err(_) => locate::find_drill(drills, name).is_ok(),
    }
}

fn plan_runbook(runbooks: &Path, places: &super::live::Places, args: Args) -> Result<(), OpError> {
    let path = locate::find(runbooks, &args.runbook).map_err(OpError::usage)?;
    let source = read_source(&path).map_err(|e| OpError::from_read(&e, None))?;
    let mut world = args
        .world
        .as_deref()
        .map(load_world)
        .transpose()
        .map_err(OpError::usage)?;
    let mut world_name = args
        .world
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if world.is_none() && !args.no_probe {
        match probe(places) {
            Ok(w) => {
                world = Some(w);
                world_name = "live".into();
            }
            Err(e) => {
                errln!("warning: planning without live probes: {e} (--no-probe silences this)")
            }
        }
    }
    let options = Options {
        sets: &args.sets,
        missing: Missing::Refuse,
        world: world.as_ref().map(|w| (w, world_name.as_str())),
    };
    let mut plan = compile(&source, &options).map_err(|f| OpError::from_compile(f, &source))?;
    // The world goes with the plan, so `--world` can plan against it again.
    if let (Some(info), Some(world)) = (plan.world.as_mut(), world) {
        info.recorded = Some(world);
    }
    let json = || serde_json::to_string_pretty(&plan).unwrap_or_default() + "\n";
    if let Some(out) = &args.out
        && let Err(e) = std::fs::write(out, json())
    {
        return Err(OpError::usage(format!(
            "cannot write {}: {e}",
            out.display()
        )));
    }
    let rendered = match args.format {
        PlanFormat::Text => text::render(&plan),
        PlanFormat::Json => json(),
        PlanFormat::Mermaid => mermaid::render(&plan),
        PlanFormat::Dot => dot::render(&plan),
    };
    out!("{rendered}");
    Ok(())
}

/// The live world, read-only: Docker's containers and volumes, the repository's backups.
fn probe(places: &super::live::Places) -> Result<World, String> {
    let repo = crate::repo::LocalRepo::open(places.repo_dir()).map_err(|e| e.to_string())?;
    super::live::runtime().block_on(async {
        let docker = crate::docker::Docker::connect()
            .await
            .map_err(|e| e.to_string())?;
        let remote = places
            .remote()
            .await
            .map_err(|e| format!("the off-site store is unavailable: {e}"))?;
        crate::ops::world::observe(&docker, &repo, remote.as_ref(), crate::docker::Sizes::All).await
    })
}

/// A world file, or a plan saved by `plan --out` (or printed by `plan
/// --format json`): the world it was made against (docs/formats.md).
pub fn load_world(path: &Path) -> Result<World, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read world {}: {e}", path.display()))?;
    let at = |e: serde_json::Error, what: &str| {
        format!(
            "{}:{}:{}: {what}: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    };
    let as_world = serde_json::from_str::<World>(&text);
    let Err(world_error) = as_world else {
        return as_world.map_err(|e| at(e, "invalid world file"));
    };
    if !is_a_plan(&text) {
        return Err(at(world_error, "invalid world file"));
    }
    let plan: crate::plan::Plan =
        serde_json::from_str(&text).map_err(|e| at(e, "invalid plan file"))?;
    plan.world.and_then(|w| w.recorded).ok_or_else(|| {
        format!(
            "{}: this plan does not hold the world it was made against (it was made \
             without one, with --no-probe, or by an older lifeboat); make it again with \
             `lifeboat plan RUNBOOK --out FILE`",
            path.display()
        )
    })
}

/// Whether `text` is a JSON object with a plan's `runbook` and `steps`.
fn is_a_plan(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|v| v.get("runbook").is_some() && v.get("steps").is_some())
}
