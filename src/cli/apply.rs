//! `lifeboat apply plan.json`: run a plan saved by `plan --out`, exactly as
//! reviewed, and only if the world still matches what the plan saw.

use std::path::{Path, PathBuf};

use super::Format;
use super::execute::{Launch, confirm_destructive, env, execute};
use super::live::{Places, connect_and_observe, runtime};
use super::plan::parse_set;
use super::run::compile_live;
use crate::compile::compiler::param_values;
use crate::ops::apply::{check_fresh, load_plan, sets_of, world_of};
use crate::ops::checks::refuse_predicted_failures;
use crate::ops::{OpError, RunRequest};
use crate::runbook::parse::read_source;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plan saved with `lifeboat plan RUNBOOK --out plan.json`.
    pub plan: PathBuf,
    /// Values of secret params (plans never hold them): `--set token=...`.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// Do not ask before destructive steps and gates.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Run even though the plan predicts that a step will fail.
    #[arg(long)]
    pub force: bool,
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(places: &Places, args: Args) -> Result<(), OpError> {
    let saved = load_plan(&args.plan)?;
    let source = read_source(Path::new(&saved.source))
        .map_err(|e| OpError::from_read(&e, Some("the plan's runbook")))?;
    let sets = sets_of(&saved, &args.sets);
    world_of(&saved)?;
    let repo = places.open_repo()?;
    runtime().block_on(async {
        let (docker, remote, world) = connect_and_observe(places, &repo).await?;
        let now = compile_live(&source, &sets, &world)?;
        check_fresh(&saved, &now)?;
        refuse_predicted_failures(&saved, args.force)?;
        confirm_destructive(&saved, args.yes)?;
        let params = param_values(&source, &sets).map_err(|f| OpError::from_compile(f, &source))?;
        let request = RunRequest {
            sets,
            ..RunRequest::new(saved, params)
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
