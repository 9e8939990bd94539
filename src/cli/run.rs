//! `lifeboat run`: compile a runbook against the live world and run it.

use std::path::Path;

use super::execute::{Launch, confirm_destructive, env, execute};
use super::live::{Places, connect_and_observe, runtime};
use super::plan::parse_set;
use super::{Format, locate};
use crate::compile::params::Missing;
use crate::compile::{Document, Options};
use crate::ops::checks::refuse_predicted_failures;
use crate::ops::dry_run::{DryEnv, dry_run};
use crate::ops::{OpError, RunRequest};
use crate::runbook::parse::read_source;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A runbook name from the runbooks directory, or a path to a runbook file.
    pub runbook: String,
    /// Set a param: `--set project=shop` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// Do not ask: confirm destructive steps and every `gate.confirm` in advance.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the plan made against the live world (read-only probes), then run
    /// the real step code against a dry-run engine that answers from that
    /// world and records what each step would change; changes nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run even though the plan predicts that a step will fail.
    #[arg(long)]
    pub force: bool,
    /// How many independent steps may run at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel: usize,
    /// `json`: one engine event per line on stdout, for scripts.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(runbooks: &Path, places: &Places, args: Args) -> Result<(), OpError> {
    let path = locate::find(runbooks, &args.runbook).map_err(OpError::usage)?;
    let source = read_source(&path).map_err(|e| OpError::from_read(&e, None))?;
    // Parsed and compiled once; invalid runbooks fail before anything is
    // contacted, and the live world only adds what it shows (probes).
    let invalid = |f| OpError::from_compile(f, &source);
    let document = Document::parse(&source).map_err(invalid)?;
    let offline = Options {
        sets: &args.sets,
        missing: Missing::Refuse,
        world: None,
    };
    let compiled = document.compile(&offline).map_err(invalid)?;
    let volumes = super::live::plan_volumes(&compiled.plan);
    let repo = if args.dry_run {
        places.open_repo_unswept()?
    } else {
        places.open_repo()?
    };
    runtime().block_on(async {
        let (docker, remote, world) = connect_and_observe(places, &repo, &volumes).await?;
        let plan = compiled.probe(&world, "live");
        if args.dry_run {
            let params = document.param_values(&args.sets).map_err(invalid)?;
            let env = env(places, docker, repo);
            let dry_env = DryEnv {
                world,
                repo: env.repo,
                remote: remote.map(|s| s.url()),
                workdir: env.workdir,
                retention: env.retention,
                restore_from: Default::default(),
            };
            let report = dry_run(dry_env, &plan, params, args.parallel).await?;
            return super::dry_run::render(&plan, &report, args.format);
        }
        for w in &plan.warnings {
            errln!("warning: {w}");
        }
        refuse_predicted_failures(&plan, args.force)?;
        confirm_destructive(&plan, args.yes)?;
        let params = document.param_values(&args.sets).map_err(invalid)?;
        let request = RunRequest {
            sets: args.sets.clone(),
            ..RunRequest::new(plan, params)
        };
        let launch = Launch {
            parallel: args.parallel,
            yes: args.yes,
            format: args.format,
            remote,
        };
        execute(&env(places, docker, repo), request, launch).await?;
        Ok(())
    })
}
