//! `volume.run`: a one-off container from an image already on this host
//! (never pulled) with volumes mounted, e.g. `redis-check-aof --fix` on a
//! stopped Redis's volume. It has no network unless asked, is labelled as
//! lifeboat's and is removed afterwards (also when the step fails or times
//! out). `readonly: true` mounts the volumes read-only and makes it a
//! check; otherwise it is destructive on its volumes, guarded by their
//! safety backups.

use super::predict::running_users;
use super::prelude::*;
use crate::docker::{OneOff, missing_image};
use crate::model::volume_path;
use crate::plan::plan::PredictedFailure;

pub struct VolumeRun;

pub static SPEC: KindSpec = KindSpec {
    name: "volume.run",
    summary: "run a one-off container from a local image (never pulled) on volumes; \
              `readonly: true` mounts them read-only and declares it a check",
    effect: None,
    category: Category::Change,
    args: &[
        req(
            "image",
            ArgType::Str,
            "an image on this host, e.g. lifeboat-test/stack:local (never pulled)",
        ),
        req(
            "volumes",
            ArgType::VolumeMounts,
            "volume target → where it is mounted, e.g. { redis-data: /data }",
        ),
        req(
            "command",
            ArgType::Command,
            "argv, e.g. [redis-check-aof, --fix, /data/appendonly.aof]",
        ),
        def(
            "shell",
            ArgType::Bool,
            "false",
            "run `command` (one string) with sh -c",
        ),
        opt("env", ArgType::StrMap, "environment variables"),
        opt("user", ArgType::Str, "user[:group] to run as"),
        opt("workdir", ArgType::Str, "working directory"),
        opt(
            "network",
            ArgType::Str,
            "a network to join (default: none at all)",
        ),
        opt(
            "expect",
            EXEC_EXPECT,
            "conditions on exit code and output (default: exit code 0)",
        ),
    ],
    outputs: &["stdout", "stderr", "exit_code"],
    subject: Some(Subject::Volumes("volumes")),
    one_of: &[],
};

impl Kind for VolumeRun {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    /// A check with `readonly: true` (its volumes mounted read-only);
    /// otherwise it may change anything in its volumes: destructive.
    fn effect(&self, _args: &ArgMap, readonly: Option<bool>) -> (Effect, Category) {
        match readonly {
            Some(true) => (Effect::Read, Category::Check),
            _ => (Effect::Destroy, Category::Destructive),
        }
    }

    /// On one volume: its safety backup is restored. On several, the
    /// runbook says how (`undo:`): one built-in undo restores one volume.
    fn undo(&self, step: &Step, guards: &[Guard]) -> Result<Option<Undo>, UndoError> {
        if step.effect != Effect::Destroy {
            return Ok(None);
        }
        let volumes: Vec<&String> = step
            .args
            .get("volumes")
            .and_then(Json::as_object)
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        let ([volume], Some(guard)) = (volumes.as_slice(), guards.first()) else {
            if volumes.len() > 1 && guards.len() > 1 {
                return Err(UndoError {
                    message: format!(
                        "`{}` runs on {} volumes and has no built-in undo for more than one",
                        step.id,
                        volumes.len()
                    ),
                    hint: "write its `undo:` (e.g. a step that restores each safety backup), or \
                           run one `volume.run` per volume"
                        .into(),
                });
            }
            return Ok(None);
        };
        Ok(Some(builtin(
            "volume.restore",
            vec![
                ("volume", Json::from(volume.as_str())),
                ("backup", Json::from(placeholder(guard.id))),
            ],
            vec![(
                "backup",
                format!("{{{{ steps['{}'].backup_id }}}}", guard.id),
            )],
        )))
    }

    /// Refused when a running container mounts one of its volumes and no
    /// step before it stops that container.
    fn predict(
        &self,
        step: &Step,
        world: &World,
        targets: &Targets,
        before: &Before,
    ) -> Prediction {
        let mut p = Prediction::default();
        let volumes = step.args.get("volumes").and_then(Json::as_object);
        for name in volumes.into_iter().flat_map(|m| m.keys()) {
            let Some(target) = targets.get(name) else {
                continue;
            };
            let users = running_users(world, &target.name, before);
            if !users.is_empty() {
                p.failures.push(PredictedFailure {
                    step: step.id.clone(),
                    reason: format!(
                        "volume `{}` is mounted by running container(s) {}, which no step \
                         before it stops; stop them first (container.stop)",
                        target.name,
                        users.join(", ")
                    ),
                });
            }
        }
        p
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let image = ctx.args.str("image")?;
    let mounts = mounts(ctx)?;
    let docker_ = &ctx.ports.docker;
    // Refusals first: nothing has been changed yet.
    if !docker_.image_exists(&image).await.map_err(docker)? {
        return Err(StepError::refused(missing_image(&image)));
    }
    for (volume, _) in &mounts {
        if !docker_.volume_exists(volume).await.map_err(docker)? {
            return Err(StepError::refused(format!(
                "volume `{volume}` does not exist; create it first (volume.create): a \
                 container would create an empty one"
            )));
        }
        let running: Vec<String> = docker_
            .volume_users(volume)
            .await
            .map_err(docker)?
            .into_iter()
            .filter(|(_, running)| *running)
            .map(|(name, _)| name)
            .collect();
        if !running.is_empty() {
            return Err(StepError::refused(format!(
                "volume `{volume}` is in use by running container(s) {}; stop them first \
                 (container.stop)",
                running.join(", ")
            )));
        }
    }
    let spec = OneOff {
        image,
        argv: ctx.args.command()?,
        env: ctx.args.map("env")?,
        user: ctx.args.opt_str("user")?,
        workdir: ctx.args.opt_str("workdir")?,
        mounts,
        read_only: ctx.readonly,
        network: ctx.args.opt_str("network")?,
        step: ctx.call.step.clone(),
    };
    let out = docker_.run_oneoff(spec).await.map_err(docker)?;
    command_outputs(ctx, &out)
}

/// (volume name, mount point) of each entry of `volumes`, checked again (a
/// mount point rendered at run time).
fn mounts(ctx: &Ctx) -> Result<Vec<(String, String)>, StepError> {
    let Some(Json::Object(map)) = ctx.args.get("volumes") else {
        return Err(StepError::fatal("argument `volumes` is missing"));
    };
    let mut out = Vec::new();
    for (target, at) in map {
        let at = at
            .as_str()
            .ok_or_else(|| StepError::fatal(format!("`volumes.{target}` must be a path")))?;
        let at = volume_path::mount_point(at)
            .map_err(|e| StepError::refused(format!("`volumes.{target}`: {e}")))?;
        let volume = ctx
            .targets
            .get(target)
            .map(|t| t.object.clone())
            .ok_or_else(|| StepError::fatal(format!("unknown target `{target}`")))?;
        out.push((volume, at));
    }
    Ok(out)
}
