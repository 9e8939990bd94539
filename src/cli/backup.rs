//! `lifeboat backup --volume V`: an ad-hoc backup, run through the engine
//! like any one-step runbook (journal, lock, events).

use super::execute::{Request, execute};
use super::live::{Places, connect_and_observe, runtime};
use super::run::{compile_live, report_failure};
use super::{Format, usage_error};
use crate::compile::compiler::param_values;
use crate::runbook::source::Source;

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

/// A runbook with one backup step per volume.
fn runbook(volumes: &[String], tags: &[String]) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut text =
        String::from("runbook: backup\ndescription: ad-hoc backup (lifeboat backup)\ntargets:\n");
    for (i, v) in volumes.iter().enumerate() {
        text.push_str(&format!("  v{i}: {{ volume: {} }}\n", quote(v)));
    }
    text.push_str("steps:\n");
    let tags: Vec<String> = tags.iter().map(|t| quote(t)).collect();
    for i in 0..volumes.len() {
        text.push_str(&format!(
            "  - {{ id: backup-{i}, uses: volume.backup, with: {{ volume: v{i}, tags: [{}] }} }}\n",
            tags.join(", ")
        ));
    }
    text
}

pub fn run(places: &Places, args: Args) -> u8 {
    let source = Source::new("(lifeboat backup)", runbook(&args.volume, &args.tags));
    let repo = match places.open_repo() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime().block_on(async {
        let (docker, remote, world) = match connect_and_observe(places, &repo, &args.volume).await {
            Ok(live) => live,
            Err(code) => return code,
        };
        for v in &args.volume {
            if world.volume(v).is_none() {
                return usage_error(&format!(
                    "no volume `{v}` on this Docker host (see `docker volume ls`)"
                ));
            }
        }
        let plan = match compile_live(&source, &[], &world) {
            Ok(p) => p,
            Err(code) => return code,
        };
        let params = match param_values(&source, &[]) {
            Ok(p) => p,
            Err(f) => return report_failure(f, &source),
        };
        let request = Request {
            plan,
            params,
            sets: Vec::new(),
            yes: true,
            parallel: 4,
            format: args.format,
            resume: None,
            remote,
        };
        execute(docker, repo, places, request).await.0
    })
}
