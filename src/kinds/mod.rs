//! Every step kind, one module each, behind one trait (docs/architecture.md
//! §5): what the kind takes (its spec), what it does as a function of its
//! arguments, what its safety backup must cover, its undo, what a plan can
//! predict about it, and its run. [`all`] and [`get`] are the registry that
//! the compiler, the schema, `lifeboat kinds` and the executor read; nothing
//! outside this folder compares kind names.

mod args;
pub mod predict;
mod prelude;
pub mod undo;

mod backup_prune;
mod backup_verify;
mod compose_down;
mod compose_up;
mod container_exec;
mod container_recreate;
mod container_restart;
mod container_start;
mod container_stop;
mod exec_backup;
mod exec_restore;
mod gate_confirm;
mod http_backup;
mod http_request;
mod http_restore;
mod notify_webhook;
mod volume_backup;
mod volume_create;
mod volume_remove;
mod volume_restore;
mod volume_run;

use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::engine::{Outputs, StepError};
use crate::model::kind_spec::{ArgType, Category, Effect, KindSpec, Subject};
use crate::model::target::{TargetKind, Targets};
use crate::model::world::World;
use crate::plan::plan::{Step, Undo};
use crate::runtime::Ctx;
use crate::runtime::compose::Created;

pub use predict::{Before, Prediction};
pub use undo::{Guard, UndoError};

/// A step's checked arguments, as the plan holds them.
pub type ArgMap = IndexMap<String, Json>;

/// What a backup protects or a destructive step destroys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A target, by its name in the runbook.
    Target(String),
    /// A backup source name (`http.*`).
    Source(String),
}

impl Key {
    pub fn describe(&self) -> String {
        match self {
            Key::Target(t) => format!("target `{t}`"),
            Key::Source(s) => format!("backup source `{s}`"),
        }
    }
}

/// One step kind.
pub trait Kind: Send + Sync {
    /// Its arguments, outputs, base effect and subject.
    fn spec(&self) -> &'static KindSpec;

    /// Carries a step out.
    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>>;

    /// What a step of this kind does with these arguments; `readonly` is
    /// the step's own declaration (kinds without a fixed effect).
    fn effect(&self, args: &ArgMap, readonly: Option<bool>) -> (Effect, Category) {
        let _ = args;
        declared_effect(self.spec(), readonly)
    }

    /// For a destructive step: what its safety backup must cover; `None`
    /// when the arguments do not say (already reported).
    fn destroys(&self, args: &ArgMap, targets: &Targets) -> Option<Vec<Key>> {
        subject_keys(self.spec(), args, targets)
    }

    /// For a backup step: what it protects.
    fn protects(&self, args: &ArgMap, targets: &Targets) -> Option<Vec<Key>> {
        if !self.spec().is_backup() {
            return None;
        }
        subject_keys(self.spec(), args, targets)
    }

    /// Also guarded, instead of by a backup of its subject, by backups of
    /// every volume its container target declares (`exec.restore`).
    fn also_guarded_by_container_volumes(&self) -> bool {
        false
    }

    /// The built-in undo, given the backups that guard the step (nearest
    /// first). `Ok(None)`: none.
    fn undo(&self, step: &Step, guards: &[Guard]) -> Result<Option<Undo>, UndoError> {
        let _ = (step, guards);
        Ok(None)
    }

    /// Why a destructive kind has no built-in undo.
    fn no_undo(&self) -> Option<&'static str> {
        None
    }

    /// Whether a finished step's built-in undo has anything to undo.
    fn builtin_undo_needed(&self, outputs: &Outputs) -> bool {
        let _ = outputs;
        true
    }

    /// What the plan can say about the step in a world: the backup it
    /// would read, what it observed, the failures it can already see.
    /// `before`: what the steps it needs leave behind.
    fn predict(
        &self,
        step: &Step,
        world: &World,
        targets: &Targets,
        before: &Before,
    ) -> Prediction {
        let _ = before;
        predict::backup(self, step, world, targets, None)
    }

    /// Whether the step leaves the containers it names running (`Some(true)`)
    /// or stopped (`Some(false)`) when it finishes.
    fn leaves_container_running(&self) -> Option<bool> {
        None
    }

    /// The argument naming a volume the step fills with data.
    fn restores_into(&self) -> Option<&'static str> {
        None
    }

    /// A resumed run: what a finished step of this kind did that the
    /// executor must know again.
    fn on_resume(&self, created: &Created, id: &str, outputs: &Outputs) {
        let _ = (created, id, outputs);
    }
}

/// Every kind, in the order `lifeboat kinds` lists them.
static ALL: &[&dyn Kind] = &[
    &container_stop::ContainerStop,
    &container_start::ContainerStart,
    &container_restart::ContainerRestart,
    &container_exec::ContainerExec,
    &container_recreate::ContainerRecreate,
    &volume_create::VolumeCreate,
    &volume_remove::VolumeRemove,
    &volume_backup::VolumeBackup,
    &volume_restore::VolumeRestore,
    &volume_run::VolumeRun,
    &exec_backup::ExecBackup,
    &exec_restore::ExecRestore,
    &http_request::HttpRequest,
    &http_backup::HttpBackup,
    &http_restore::HttpRestore,
    &backup_verify::BackupVerify,
    &backup_prune::BackupPrune,
    &compose_up::ComposeUp,
    &compose_down::ComposeDown,
    &gate_confirm::GateConfirm,
    &notify_webhook::NotifyWebhook,
];

pub fn all() -> &'static [&'static dyn Kind] {
    ALL
}

pub fn get(name: &str) -> Option<&'static dyn Kind> {
    ALL.iter().copied().find(|k| k.spec().name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|k| k.spec().name)
}

/// Kinds whose effect the step declares (`readonly: true`).
pub fn declaring_kinds() -> Vec<&'static str> {
    ALL.iter()
        .filter(|k| k.spec().effect.is_none())
        .map(|k| k.spec().name)
        .collect()
}

/// The backup kind that guards a key: of a volume target, of another
/// target (a container: a dump), or of a backup source.
pub fn backup_kind_for(key: &Key, targets: &Targets) -> &'static str {
    let volume = matches!(key, Key::Target(t) if targets.get(t).is_some_and(|t| t.kind == TargetKind::Volume));
    ALL.iter()
        .map(|k| k.spec())
        .find(|s| {
            s.is_backup()
                && match (key, s.subject) {
                    (Key::Source(_), Some(Subject::Source(_))) => true,
                    (Key::Target(_), Some(Subject::Target(arg))) => s
                        .arg(arg)
                        .is_some_and(|a| (a.ty == ArgType::Volume) == volume),
                    _ => false,
                }
        })
        .map_or("a backup", |s| s.name)
}

/// The kind that backs up a volume's files (`volume.backup`).
pub fn volume_backup_kind() -> &'static str {
    ALL.iter()
        .map(|k| k.spec())
        .find(|s| s.backs_up_volumes())
        .map_or("a volume backup", |s| s.name)
}

/// The effect a kind declares, or the step's `readonly`.
pub fn declared_effect(spec: &KindSpec, readonly: Option<bool>) -> (Effect, Category) {
    if let Some(effect) = spec.effect {
        return (effect, spec.category);
    }
    match readonly {
        Some(true) => (Effect::Read, Category::Check),
        _ => (Effect::Mutate, Category::Change),
    }
}

/// What the kind's subject argument names, as keys.
fn subject_keys(spec: &KindSpec, args: &ArgMap, targets: &Targets) -> Option<Vec<Key>> {
    match spec.subject? {
        Subject::Target(arg) => {
            let name = args.get(arg)?.as_str()?;
            let (name, _) = targets.get_key_value(name)?;
            Some(vec![Key::Target(name.clone())])
        }
        Subject::ContainerData(arg) => {
            let name = args.get(arg)?.as_str()?;
            let (name, target) = targets.get_key_value(name)?;
            if target.volumes.is_empty() {
                return Some(vec![Key::Target(name.clone())]);
            }
            Some(target.volumes.iter().cloned().map(Key::Target).collect())
        }
        Subject::Volumes(arg) => Some(
            args.get(arg)?
                .as_object()?
                .keys()
                .filter_map(|name| targets.get_key_value(name))
                .map(|(name, _)| Key::Target(name.clone()))
                .collect(),
        ),
        Subject::Source(arg) => Some(vec![Key::Source(args.get(arg)?.as_str()?.to_string())]),
        Subject::ComposeVolumes(arg) => {
            // Compose names a project's volumes `<project>_<name>`, with the
            // project name normalised; a runbook may write either (a stand-in
            // for a missing param is only ever written as is).
            let project = args.get(arg)?.as_str()?;
            let prefixes = [
                format!("{project}_"),
                format!("{}_", crate::model::world::compose_project_name(project)),
            ];
            Some(
                targets
                    .iter()
                    .filter(|(_, t)| {
                        t.kind == TargetKind::Volume
                            && prefixes.iter().any(|p| t.name.starts_with(p.as_str()))
                    })
                    .map(|(name, _)| Key::Target(name.clone()))
                    .collect(),
            )
        }
    }
}

/// The volume targets a container argument's target declares (`volumes: [..]`).
pub fn container_volumes(args: &ArgMap, targets: &Targets) -> Vec<String> {
    args.get("container")
        .and_then(Json::as_str)
        .and_then(|name| targets.get(name))
        .map(|t| t.volumes.clone())
        .unwrap_or_default()
}
