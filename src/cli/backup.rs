//! `lifeboat backup --volume V`: an ad-hoc backup (`ops::backup`), run
//! through the engine like any one-step runbook (journal, lock, events).

use super::Format;
use super::execute::{Launch, env, execute};
use super::live::{Places, connect_and_observe, runtime};
use crate::ops::{OpError, RunRequest};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Docker volume to back up (repeatable: several run in parallel).
    #[arg(long, required = true, value_name = "VOLUME")]
    pub volume: Vec<String>,
    /// Tags recorded in the manifest (repeatable), e.g. `--tag pre-upgrade`.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(places: &Places, args: Args) -> Result<(), OpError> {
    let repo = places.open_repo()?;
    runtime().block_on(async {
        let (docker, remote, world) = connect_and_observe(places, &repo, &args.volume).await?;
        let (plan, params) = crate::ops::backup::plan(&args.volume, &args.tags, &world)?;
        let launch = Launch {
            parallel: 4,
            yes: true,
            format: args.format,
            remote,
        };
        execute(
            &env(places, docker, repo),
            RunRequest::new(plan, params),
            launch,
        )
        .await?;
        Ok(())
    })
}
