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
    /// Resolve targets and backups against a recorded world (JSON) instead of probing.
    #[arg(long, value_name = "FILE", conflicts_with = "no_probe")]
    pub world: Option<PathBuf>,
    /// Do not contact Docker or the repository: a plan of the runbook alone.
    #[arg(long)]
    pub no_probe: bool,
    /// Also save the plan as JSON, with the fingerprint of the world it saw.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn parse_set(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

pub fn run(runbooks: &Path, drills: &Path, places: &super::live::Places, args: Args) -> u8 {
    if names_a_drill(runbooks, drills, &args.runbook) {
        return super::drill::plan(drills, runbooks, &args);
    }
    super::done(plan_runbook(runbooks, places, args))
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
    let plan = compile(&source, &options).map_err(|f| OpError::from_compile(f, &source))?;
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
        let remote = places.remote().await.map_err(|e| {
            super::fail(e);
            "the off-site store is unavailable".to_string()
        })?;
        crate::ops::world::observe(&docker, &repo, remote.as_ref(), crate::docker::Sizes::All).await
    })
}

pub fn load_world(path: &Path) -> Result<World, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read world {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: invalid world file: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}
