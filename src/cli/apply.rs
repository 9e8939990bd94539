//! `lifeboat apply plan.json`: run a plan saved by `plan --out`, exactly as
//! reviewed, and only if the world still matches what the plan saw.

use std::path::{Path, PathBuf};

use super::execute::{Request, confirm_destructive, execute, refuse_predicted_failures};
use super::live::{Places, connect_and_observe, plan_volumes, runtime};
use super::plan::parse_set;
use super::run::{compile_live, recordable_sets, report_failure};
use super::{EXIT_STALE, Format, usage_error};
use crate::compile::compiler::param_values;
use crate::plan::Plan;
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

pub fn load_plan(path: &Path) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read plan {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: not a lifeboat plan: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

pub fn run(places: &Places, args: Args) -> u8 {
    let saved = match load_plan(&args.plan) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let source = match read_source(Path::new(&saved.source)) {
        Ok(s) => s,
        Err(e) if e.is_invalid() => return super::read_failure(&e),
        Err(e) => return usage_error(&format!("the plan's runbook: {e}")),
    };
    // The plan's own values, then any --set (secrets) on top.
    let mut sets: Vec<(String, String)> = saved
        .params
        .iter()
        .filter(|p| p.origin == "set" && !p.secret)
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect();
    for (k, v) in &args.sets {
        sets.retain(|(n, _)| n != k);
        sets.push((k.clone(), v.clone()));
    }
    let Some(saw) = saved.world.clone() else {
        return usage_error(
            "this plan was made without a world, so there is nothing to check it against; \
             make it with live probes: `lifeboat plan RUNBOOK --out plan.json`",
        );
    };
    let repo = match places.open_repo() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime().block_on(async {
        let (docker, remote, world) = match connect_and_observe(places, &repo, &plan_volumes(&saved)).await {
            Ok(live) => live,
            Err(code) => return code,
        };
        let now = match compile_live(&source, &sets, &world) {
            Ok(p) => p,
            Err(code) => return code,
        };
        if now.source_sha256 != saved.source_sha256 {
            usage_error(&format!(
                "refusing to apply: runbook {} changed since the plan was made; make a new plan",
                saved.source
            ));
            return EXIT_STALE;
        }
        let sees = now.world.clone().unwrap_or_else(|| saw.clone());
        if sees.fingerprint != saw.fingerprint {
            let mut lines = Vec::new();
            for o in &saw.observed {
                match sees.observed.iter().find(|n| n.subject == o.subject) {
                    Some(n) if n.state != o.state => lines.push(format!(
                        "  {}: was `{}`, now `{}`",
                        o.subject, o.state, n.state
                    )),
                    None => lines.push(format!("  {}: was `{}`, now gone", o.subject, o.state)),
                    _ => {}
                }
            }
            for n in &sees.observed {
                if !saw.observed.iter().any(|o| o.subject == n.subject) {
                    lines.push(format!("  {}: new, `{}`", n.subject, n.state));
                }
            }
            usage_error(&format!(
                "refusing to apply: the world changed since the plan was made ({}):\n{}\n  make a new plan and review it again",
                saw.taken_at,
                lines.join("\n")
            ));
            return EXIT_STALE;
        }
        if let Err(code) = refuse_predicted_failures(&saved, args.force) {
            return code;
        }
        if let Err(code) = confirm_destructive(&saved, args.yes) {
            return code;
        }
        let params = match param_values(&source, &sets) {
            Ok(p) => p,
            Err(f) => return report_failure(f, &source),
        };
        let request = Request {
            sets: recordable_sets(&saved, &sets),
            plan: saved,
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
