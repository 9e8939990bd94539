//! The restore runbook compiled for a drill: `project` set to the drill's
//! throwaway project, the restore point turned into the runbook's `backup`
//! param, and the backups it will restore (docs/architecture.md §8).

use std::collections::BTreeSet;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::DrillRequest;
use crate::compile::params::Missing;
use crate::compile::{Document, Failure, Options};
use crate::drill::def::{Drill, RestorePoint};
use crate::drill::report::BackupUsed;
use crate::model::world::{RUN_PREFIX, SAFETY_TAG, World};
use crate::plan::Plan;

/// The param a restore runbook takes its restore point in.
pub const BACKUP_PARAM: &str = "backup";

/// The project name a drill plan shows before a drill has an id.
pub fn placeholder_project(name: &str) -> String {
    format!("lifeboat-drill-{name}-ID")
}

/// The runbook's `--set` pairs for this drill: its `set:`, the command
/// line's, then `project` (always the drill's own).
pub fn base_sets(drill: &Drill, cli: &[(String, String)], project: &str) -> Vec<(String, String)> {
    let mut sets: Vec<(String, String)> = drill.set.clone();
    sets.extend(cli.iter().filter(|(k, _)| k != "project").cloned());
    sets.push(("project".into(), project.into()));
    sets
}

/// Whether the runbook has a `backup` param (then the restore point goes there).
fn takes_backup(runbook: &Document) -> bool {
    runbook.parsed.raw.params.contains_key(BACKUP_PARAM)
}

/// The plan a drill shows before it runs: compiled without a world.
pub fn preview(
    drill: &Drill,
    runbook: &Document,
    cli: &[(String, String)],
) -> Result<Plan, Failure> {
    let mut sets = base_sets(drill, cli, &placeholder_project(&drill.name));
    if takes_backup(runbook)
        && let RestorePoint::Reference(r) = &drill.point
    {
        sets.push((BACKUP_PARAM.into(), r.clone()));
    }
    let options = Options {
        sets: &sets,
        missing: Missing::Refuse,
        world: None,
    };
    Ok(runbook.compile(&options)?.plan)
}

/// The sets a drill's run is compiled and run with.
pub fn sets(request: &DrillRequest, project: &str, point: Option<&str>) -> Vec<(String, String)> {
    let mut sets = base_sets(&request.drill, &request.sets, project);
    if let Some(p) = point {
        sets.retain(|(k, _)| k != BACKUP_PARAM);
        sets.push((BACKUP_PARAM.into(), p.into()));
    }
    sets
}

/// The restore point as the runbook's `backup` param; `None` when the
/// runbook has none and the point is `latest` (its own default).
pub fn point_param(
    request: &DrillRequest,
    world: &World,
    drill_id: &str,
) -> Result<Option<String>, String> {
    let drill = &request.drill;
    let value = match &drill.point {
        RestorePoint::Reference(r) => r.clone(),
        RestorePoint::RandomWithin(window) => random_run(world, drill, *window, drill_id)?,
    };
    if takes_backup(&request.runbook) {
        Ok(Some(value))
    } else if value == "latest" {
        Ok(None)
    } else {
        Err(format!(
            "the restore point is `{}`, but runbook {} has no `{BACKUP_PARAM}` param to take it",
            drill.point, drill.runbook
        ))
    }
}

/// `run:<id>` of a backup run within the window that backed up every
/// production source the drill restores, picked by the drill id (random,
/// and the same when the report is read again).
fn random_run(
    world: &World,
    drill: &Drill,
    window: std::time::Duration,
    drill_id: &str,
) -> Result<String, String> {
    let sources: BTreeSet<&String> = world.restore_from.values().collect();
    let since = world
        .taken_at
        .checked_sub(jiff::SignedDuration::try_from(window).map_err(|e| e.to_string())?)
        .unwrap_or(Timestamp::MIN);
    let mut runs: Vec<&str> = world
        .backups
        .iter()
        .filter(|b| b.created_at >= since && !b.tags.iter().any(|t| t == SAFETY_TAG))
        .filter_map(|b| b.run_id.as_deref())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|run| {
            sources.iter().all(|s| {
                world
                    .backups
                    .iter()
                    .any(|b| &&b.source == s && b.run_id.as_deref() == Some(run))
            })
        })
        .collect();
    runs.sort_unstable();
    if runs.is_empty() {
        return Err(format!(
            "no backup run within the last {} backed up all of {} (restore point `{}`)",
            crate::model::duration::Human(window),
            sources
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            drill.point
        ));
    }
    let hash = Sha256::digest(drill_id.as_bytes());
    let pick = usize::from(hash[0]) << 8 | usize::from(hash[1]);
    Ok(format!("{RUN_PREFIX}{}", runs[pick % runs.len()]))
}

/// Compiles the runbook against the live world; a predicted failure (no
/// such backup) means the drill cannot run.
pub fn live(
    request: &DrillRequest,
    project: &str,
    world: &World,
    point: Option<&str>,
) -> Result<Plan, String> {
    let sets = sets(request, project, point);
    let options = Options {
        sets: &sets,
        missing: Missing::Refuse,
        world: None,
    };
    let compiled = request.runbook.compile(&options).map_err(|f| match f {
        Failure::Invalid(d) => format!(
            "runbook {} is invalid: {}",
            request.drill.runbook,
            d.iter()
                .map(|d| d.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Failure::Usage(p) => p.join("; "),
    })?;
    let plan = compiled.probe(world, "live");
    if !plan.predicted_failures.is_empty() {
        let reasons: Vec<String> = plan
            .predicted_failures
            .iter()
            .map(|f| f.to_string())
            .collect();
        return Err(format!(
            "its plan says it will fail: {}",
            reasons.join("; ")
        ));
    }
    Ok(plan)
}

/// The backups the plan restores, one per restoring step.
pub fn backups_used(plan: &Plan, world: &World) -> Vec<BackupUsed> {
    plan.steps
        .iter()
        .filter(|s| s.effect == crate::model::effect::Effect::Destroy)
        .filter_map(|s| {
            let choice = s.backup.as_ref()?;
            let id = choice.resolved.as_ref()?;
            let b = world.backups.iter().find(|b| &b.id == id)?;
            Some(BackupUsed {
                volume: choice.source.clone(),
                source: b.source.clone(),
                id: id.clone(),
                created_at: b.created_at,
                stored_bytes: b.stored_bytes,
                facts: Default::default(),
            })
        })
        .collect()
}
