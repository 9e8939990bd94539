//! What a plan can predict about a step in a world (docs/architecture.md
//! §3): the backup `backup:` resolves to, and the failures already visible
//! (no such backup, a backup of another source).

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value as Json;

use super::Kind;
use crate::model::size::{age, bytes};
use crate::model::target::Targets;
use crate::model::world::{Backup, RUN_PREFIX, Unresolved, World};
use crate::plan::plan::{BackupChoice, Observation, PredictedFailure, Step};
use crate::template::is_template;

/// What the steps a step needs (directly or not) leave behind, as far as
/// the plan can tell from their kinds.
#[derive(Debug, Default, Clone)]
pub struct Before {
    /// Containers (as the world names them) an earlier step stops and no
    /// later one of them starts again.
    pub stopped: BTreeSet<String>,
}

/// What the plan learns about one step.
#[derive(Debug, Default)]
pub struct Prediction {
    pub backup: Option<BackupChoice>,
    pub failures: Vec<PredictedFailure>,
    /// What was looked at, for the plan's fingerprint.
    pub observed: Vec<Observation>,
}

/// The backup a step with a `backup:` argument reads; `other_source_hint`
/// is added to the refusal of a backup of another source.
pub fn backup<K: Kind + ?Sized>(
    _kind: &K,
    step: &Step,
    world: &World,
    targets: &Targets,
    other_source_hint: Option<&str>,
) -> Prediction {
    let mut p = Prediction::default();
    let Some(reference) = step.args.get("backup").and_then(Json::as_str) else {
        return p;
    };
    let reference = reference.to_string();
    let Some(source) = backup_source(step, targets) else {
        return p;
    };
    if step.templates.contains_key("backup") || is_template(&reference) {
        p.backup = Some(BackupChoice {
            reference,
            source,
            resolved: None,
            probe: Some("decided at run time".into()),
        });
        return p;
    }
    let found = world.resolve_backup(&source, &reference);
    p.observed.push(Observation {
        subject: format!("backup {reference} of {source}"),
        state: found
            .as_ref()
            .map_or_else(|_| "none".to_string(), |b| b.id.clone()),
    });
    let (resolved, probe) = match found {
        Ok(b) => (Some(b.id.clone()), describe_backup(b, world.taken_at)),
        Err(Unresolved::OtherSource(b)) => {
            let mut reason = format!(
                "backup {} is a backup of `{}`, not of `{source}`; restoring it here \
                 is refused",
                b.id, b.source
            );
            if let Some(run) = &b.run_id {
                reason.push_str(&format!(
                    " (to restore each volume's backup from the run that took it, \
                     use `{RUN_PREFIX}{run}`)"
                ));
            }
            reason.push_str(other_source_hint.unwrap_or_default());
            p.failures.push(PredictedFailure {
                step: step.id.clone(),
                reason,
            });
            (None, format!("a backup of `{}`", b.source))
        }
        // Nothing of this source matches: no such id, the run took none,
        // only safety or unverified ones.
        Err(_) => {
            p.failures.push(PredictedFailure {
                step: step.id.clone(),
                reason: format!("the repository has no `{reference}` backup of `{source}`"),
            });
            (None, "no such backup in the repository".into())
        }
    };
    p.backup = Some(BackupChoice {
        reference,
        source,
        resolved,
        probe: Some(probe),
    });
    p
}

/// Whose backups a step's `backup:` refers to: the volume named by `from`,
/// else by `volume`, else the source `name`.
pub fn backup_source(step: &Step, targets: &Targets) -> Option<String> {
    let target_name = |arg: &str| {
        let name = step.args.get(arg)?.as_str()?;
        Some(targets.get(name)?.name.clone())
    };
    let name = || {
        step.args
            .get("name")
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    target_name("from")
        .or_else(|| target_name("volume"))
        .or_else(name)
}

/// `2026-11-21 02:00 UTC (7h ago), 11.8 MiB, verified`.
fn describe_backup(b: &Backup, now: Timestamp) -> String {
    let when = b.created_at.strftime("%Y-%m-%d %H:%M UTC");
    let verified = if b.verified_at.is_some() {
        "verified"
    } else {
        "NOT verified"
    };
    format!(
        "{when} ({} ago), {}, {verified}",
        age(now, b.created_at),
        bytes(b.stored_bytes)
    )
}

/// Running containers that mount `volume` in the world and that no earlier
/// step stops: a step that needs the volume to itself will be refused.
pub fn running_users(world: &World, volume: &str, before: &Before) -> Vec<String> {
    world
        .containers
        .iter()
        .filter(|c| c.state == "running" && c.mounts.iter().any(|m| m.volume == volume))
        .filter(|c| !before.stopped.contains(&c.name))
        .map(|c| c.name.clone())
        .collect()
}
