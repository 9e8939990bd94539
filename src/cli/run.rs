//! `lifeboat run`: compile a runbook against the live world and run it.

use std::path::Path;

use super::execute::{Request, confirm_destructive, execute, refuse_predicted_failures};
use super::live::{Places, connect_and_observe, plan_volumes, runtime};
use super::plan::parse_set;
use super::{EXIT_INVALID, EXIT_OK, EXIT_USAGE, Format, locate, print_diagnostics, usage_error};
use crate::compile::params::Missing;
use crate::compile::{Failure, Options, compile, compiler::param_values};
use crate::plan::{Plan, text};
use crate::runbook::parse::read_source;
use crate::runbook::source::Source;

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
    /// Print the plan made against the live world (read-only probes) and change nothing.
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

/// A plan made against what Docker and the repository hold now.
pub fn compile_live(
    source: &Source,
    sets: &[(String, String)],
    world: &crate::model::world::World,
) -> Result<Plan, u8> {
    let options = Options {
        sets,
        missing: Missing::Refuse,
        world: Some((world, "live")),
    };
    compile(source, &options).map_err(|f| report_failure(f, source))
}

pub fn report_failure(failure: Failure, source: &Source) -> u8 {
    match failure {
        Failure::Invalid(diagnostics) => {
            print_diagnostics(&diagnostics, source);
            EXIT_INVALID
        }
        Failure::Usage(problems) => {
            for p in &problems {
                usage_error(p);
            }
            EXIT_USAGE
        }
    }
}

/// `--set` pairs that may be written down: secrets are left out.
pub fn recordable_sets(plan: &Plan, sets: &[(String, String)]) -> Vec<(String, String)> {
    sets.iter()
        .filter(|(n, _)| !plan.params.iter().any(|p| &p.name == n && p.secret))
        .cloned()
        .collect()
}

pub fn run(runbooks: &Path, places: &Places, args: Args) -> u8 {
    let path = match locate::find(runbooks, &args.runbook) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let source = match read_source(&path) {
        Ok(s) => s,
        Err(e) => return super::read_failure(&e),
    };
    // Invalid runbooks fail before anything is contacted.
    let volumes = match compile(
        &source,
        &Options {
            sets: &args.sets,
            missing: Missing::Refuse,
            world: None,
        },
    ) {
        Ok(offline) => plan_volumes(&offline),
        Err(f) => return report_failure(f, &source),
    };
    let opened = if args.dry_run {
        places.open_repo_unswept()
    } else {
        places.open_repo()
    };
    let repo = match opened {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime().block_on(async {
        let (docker, remote, world) = match connect_and_observe(places, &repo, &volumes).await {
            Ok(live) => live,
            Err(code) => return code,
        };
        let plan = match compile_live(&source, &args.sets, &world) {
            Ok(p) => p,
            Err(code) => return code,
        };
        if args.dry_run {
            match args.format {
                Format::Text => out!("{}", text::render(&plan)),
                Format::Json => outln!(
                    "{}",
                    serde_json::to_string_pretty(&plan).unwrap_or_default()
                ),
            }
            return EXIT_OK;
        }
        for w in &plan.warnings {
            errln!("warning: {w}");
        }
        if let Err(code) = refuse_predicted_failures(&plan, args.force) {
            return code;
        }
        if let Err(code) = confirm_destructive(&plan, args.yes) {
            return code;
        }
        let params = match param_values(&source, &args.sets) {
            Ok(p) => p,
            Err(f) => return report_failure(f, &source),
        };
        let request = Request {
            sets: recordable_sets(&plan, &args.sets),
            plan,
            params,
            yes: args.yes,
            parallel: args.parallel,
            format: args.format,
            resume: None,
            remote,
        };
        execute(docker, repo, places, request).await.0
    })
}
