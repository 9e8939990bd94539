//! Applying a saved plan (`plan --out`): it runs exactly as reviewed, and
//! only if its runbook and the world it saw are unchanged
//! (docs/architecture.md §3).

use std::path::Path;

use super::checks::refuse_predicted_failures;
use super::error::OpError;
use super::run::RunRequest;
use crate::compile::params::Missing;
use crate::compile::{Document, Options};
use crate::model::world::World;
use crate::plan::Plan;
use crate::plan::plan::{Observation, WorldInfo};
use crate::runbook::source::Source;

/// The request that runs `saved` as it was reviewed: refused when its
/// runbook (`source`) or `world` changed since it was made, and when it
/// predicts a failure (unless `force`). `sets`: see [`sets_of`].
pub fn prepare(
    saved: Plan,
    source: &Source,
    sets: Vec<(String, String)>,
    world: &World,
    force: bool,
) -> Result<RunRequest, OpError> {
    let mut saved = saved;
    // Parsed and compiled once: the plan to compare, then the param values.
    let invalid = |f| OpError::from_compile(f, source);
    let document = Document::parse(source).map_err(invalid)?;
    let options = Options {
        sets: &sets,
        missing: Missing::Refuse,
        world: None,
    };
    let now = document
        .compile(&options)
        .map_err(invalid)?
        .probe(world, "live");
    check_fresh(&saved, &now)?;
    // What the plan saw is checked; the journal keeps its fingerprint, not a copy of it.
    if let Some(info) = saved.world.as_mut() {
        info.recorded = None;
    }
    refuse_predicted_failures(&saved, force)?;
    let params = document.param_values(&sets).map_err(invalid)?;
    Ok(RunRequest {
        sets,
        ..RunRequest::new(saved, params)
    })
}

/// A plan saved by `plan --out`.
pub fn load_plan(path: &Path) -> Result<Plan, OpError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| OpError::usage(format!("cannot read plan {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        OpError::usage(format!(
            "{}:{}:{}: not a lifeboat plan: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

/// The plan's own `--set` values, then `extra` (secrets) on top.
pub fn sets_of(saved: &Plan, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut sets: Vec<(String, String)> = saved
        .params
        .iter()
        .filter(|p| p.origin == "set" && !p.secret)
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect();
    for (k, v) in extra {
        sets.retain(|(n, _)| n != k);
        sets.push((k.clone(), v.clone()));
    }
    sets
}

/// What the saved plan saw; a plan made offline cannot be checked.
pub fn world_of(saved: &Plan) -> Result<&WorldInfo, OpError> {
    saved.world.as_ref().ok_or_else(|| {
        OpError::usage(
            "this plan was made without a world, so there is nothing to check it against; \
             make it with live probes: `lifeboat plan RUNBOOK --out plan.json`",
        )
    })
}

/// Refuses (stale) when the runbook or the world changed between the saved
/// plan and `now`, the same runbook compiled against the live world.
pub fn check_fresh(saved: &Plan, now: &Plan) -> Result<(), OpError> {
    if now.source_sha256 != saved.source_sha256 {
        return Err(OpError::Stale(format!(
            "refusing to apply: runbook {} changed since the plan was made; make a new plan",
            saved.source
        )));
    }
    let saw = world_of(saved)?;
    let sees = now.world.as_ref().unwrap_or(saw);
    if sees.fingerprint == saw.fingerprint {
        return Ok(());
    }
    Err(OpError::Stale(format!(
        "refusing to apply: the world changed since the plan was made ({}):\n{}\n  make a new plan and review it again",
        saw.taken_at,
        changes(&saw.observed, &sees.observed).join("\n")
    )))
}

/// One line per subject whose observed state differs.
fn changes(saw: &[Observation], sees: &[Observation]) -> Vec<String> {
    let mut lines = Vec::new();
    for o in saw {
        match sees.iter().find(|n| n.subject == o.subject) {
            Some(n) if n.state != o.state => lines.push(format!(
                "  {}: was `{}`, now `{}`",
                o.subject, o.state, n.state
            )),
            None => lines.push(format!("  {}: was `{}`, now gone", o.subject, o.state)),
            _ => {}
        }
    }
    for n in sees {
        if !saw.iter().any(|o| o.subject == n.subject) {
            lines.push(format!("  {}: new, `{}`", n.subject, n.state));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(pairs: &[(&str, &str)]) -> Vec<Observation> {
        pairs
            .iter()
            .map(|(subject, state)| Observation {
                subject: subject.to_string(),
                state: state.to_string(),
            })
            .collect()
    }

    #[test]
    fn every_changed_gone_and_new_subject_is_named() {
        let saw = seen(&[
            ("container redis", "running, healthy"),
            ("volume data", "present"),
            ("backup latest of data", "B1"),
        ]);
        let sees = seen(&[
            ("container redis", "exited"),
            ("backup latest of data", "B1"),
            ("volume extra", "present"),
        ]);
        assert_eq!(
            changes(&saw, &sees),
            [
                "  container redis: was `running, healthy`, now `exited`",
                "  volume data: was `present`, now gone",
                "  volume extra: new, `present`",
            ]
        );
        assert!(changes(&saw, &saw).is_empty());
    }
}
