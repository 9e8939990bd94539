//! `lifeboat plan`: what a runbook would do, step by step, without doing it.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::{EXIT_INVALID, EXIT_OK, EXIT_USAGE, locate, print_diagnostics, usage_error};
use crate::compile::params::Missing;
use crate::compile::{Failure, Options, compile};
use crate::model::world::World;
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

pub fn run(runbooks: &Path, places: &super::live::Places, args: Args) -> u8 {
    let path = match locate::find(runbooks, &args.runbook) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let source = match read_source(&path) {
        Ok(s) => s,
        Err(e) => return super::read_failure(&e),
    };
    let mut world = match args.world.as_deref().map(load_world).transpose() {
        Ok(w) => w,
        Err(e) => return usage_error(&e),
    };
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
    let plan = match compile(&source, &options) {
        Ok(plan) => plan,
        Err(Failure::Invalid(diagnostics)) => {
            print_diagnostics(&diagnostics, &source);
            return EXIT_INVALID;
        }
        Err(Failure::Usage(problems)) => {
            for p in &problems {
                usage_error(p);
            }
            return EXIT_USAGE;
        }
    };
    let json = || serde_json::to_string_pretty(&plan).unwrap_or_default() + "\n";
    if let Some(out) = &args.out
        && let Err(e) = std::fs::write(out, json())
    {
        return usage_error(&format!("cannot write {}: {e}", out.display()));
    }
    let rendered = match args.format {
        PlanFormat::Text => text::render(&plan),
        PlanFormat::Json => json(),
        PlanFormat::Mermaid => mermaid::render(&plan),
        PlanFormat::Dot => dot::render(&plan),
    };
    out!("{rendered}");
    EXIT_OK
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
            .map_err(|_| "the off-site store is unavailable".to_string())?;
        super::live::observe(&docker, &repo, remote.as_ref(), crate::docker::Sizes::All).await
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
