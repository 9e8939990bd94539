//! `lifeboat resume RUN_ID`: carry on a run that was interrupted (killed,
//! machine lost). Finished steps are skipped; steps that were in flight run
//! again (every step kind is safe to repeat); a rollback that was under way
//! is finished. Refuses if the runbook changed since.

use super::Format;
use super::execute::{Launch, env, execute, read_journal};
use super::live::{Places, runtime};
use super::plan::parse_set;
use crate::ops::resume::{check_world, prepare};
use crate::ops::{OpError, RunRequest};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run to resume (see `lifeboat history`).
    pub run_id: String,
    /// Values of secret params, which journals never hold.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Resume even though the world changed since the run stopped (a newer
    /// run touched the same containers or volumes, a container it stopped runs).
    #[arg(long)]
    pub force: bool,
}

pub fn run(places: &Places, args: Args) -> Result<(), OpError> {
    let records = read_journal(places, &args.run_id)?;
    let r = prepare(&args.run_id, &records, &args.sets)?;
    let repo = places.open_repo()?;
    if args.format == Format::Text {
        outln!(
            "Resuming run {}: {} steps done{}{}",
            args.run_id,
            r.seed.done.len(),
            if r.in_flight.is_empty() {
                String::new()
            } else {
                format!(", running again: {}", r.in_flight.join(", "))
            },
            if r.seed.rollback.is_some() {
                ", finishing its rollback"
            } else {
                ""
            }
        );
    }
    runtime().block_on(async {
        let docker = crate::ops::world::connect().await?;
        if !args.force {
            check_world(&places.state_dir, &args.run_id, &r.plan, &records, &docker).await?;
        }
        let remote = places.remote().await?;
        let request = RunRequest {
            sets: r.sets,
            resume: Some((args.run_id.clone(), r.seed)),
            ..RunRequest::new(r.plan, r.params)
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
