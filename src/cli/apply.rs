//! `lifeboat apply plan.json`: run a plan saved by `plan --out`, exactly as
//! reviewed, and only if the world still matches what the plan saw.

use std::path::{Path, PathBuf};

use super::Format;
use super::execute::{Launch, confirm_destructive, env, execute};
use super::live::{Places, connect_and_observe, runtime};
use super::plan::parse_set;
use crate::ops::OpError;
use crate::ops::apply::{load_plan, prepare, sets_of, world_of};
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
        let (docker, remote, world) =
            connect_and_observe(places, &repo, &super::live::plan_volumes(&saved)).await?;
        let request = prepare(saved, &source, sets, &world, args.force)?;
        confirm_destructive(&request.plan, args.yes)?;
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
