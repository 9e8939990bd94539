//! `volume.restore`: verify a backup's sha256, empty the volume, extract the backup into it;
//! with `paths:`, replace only those paths of the volume with the backup's.

use super::prelude::*;
use crate::model::volume_path;

pub struct VolumeRestore;

pub static SPEC: KindSpec = KindSpec {
    name: "volume.restore",
    summary: "verify a backup's sha256, empty the volume, extract the backup into it",
    effect: Some(Effect::Destroy),
    category: Category::Destructive,
    args: &[
        req("volume", ArgType::Volume, "the volume to restore into"),
        req("backup", ArgType::BackupRef, "which backup"),
        opt(
            "from",
            ArgType::Volume,
            "restore another volume's backups (default: this volume's)",
        ),
        opt(
            "paths",
            ArgType::VolumePaths,
            "restore only these paths (relative to the volume's root; each replaced by the \
             backup's, the rest of the volume left as it is)",
        ),
    ],
    outputs: &["backup_id"],
    subject: Some(Subject::Target("volume")),
    one_of: &[],
};

impl Kind for VolumeRestore {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    /// Restores the safety backup that guards it (the whole volume, also
    /// after a restore of some paths).
    fn undo(&self, step: &Step, guards: &[Guard]) -> Result<Option<Undo>, UndoError> {
        Ok(restore_from_guard(
            step,
            guards,
            &["backup", "from", "paths"],
        ))
    }

    fn predict(&self, step: &Step, world: &World, targets: &Targets, _: &Before) -> Prediction {
        super::predict::backup(
            self,
            step,
            world,
            targets,
            Some(
                "; to restore another volume's backup on purpose, name that volume \
                 with `from:`",
            ),
        )
    }

    fn restores_into(&self) -> Option<&'static str> {
        Some("volume")
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let volume = ctx.volume("volume")?;
    let source = ctx
        .optional_volume("from")?
        .unwrap_or_else(|| volume.clone());
    // Verified ahead (runtime/ahead.rs)? Awaited first, so that no fetch of
    // the same backup runs beside it.
    let ahead = match (&ctx.call.backup, ctx.call.undo) {
        (Some(pinned), false) => ctx.ahead.take(&ctx.call.step, pinned).await,
        _ => None,
    };
    let paths = paths(ctx)?;
    let id = prepare_restore(ctx, &volume, &source)
        .await
        .map_err(StepError::untouched)?;
    // Nothing touches the volume before the whole backup verified.
    let step = ctx.call.step.clone();
    let events = ctx.events.clone();
    let progress = move |bytes, total| {
        let _ = events.send(crate::engine::Event::Progress {
            id: step.clone(),
            bytes,
            total: Some(total),
        });
    };
    let (docker_, repo) = (&*ctx.ports.docker, ctx.ports.repo.clone());
    let manifest = match paths {
        Some(paths) => {
            transfer::restore_paths(docker_, repo, &volume, id, ahead, paths, progress).await?
        }
        None => transfer::restore_verified(docker_, repo, &volume, id, ahead, progress).await?,
    };
    // Nothing that uses the volume may run while it is written: a server
    // started in the middle reads half-restored files. The engine settles
    // every step in flight before a rollback, so this only fires when
    // something outside the run started it; say so rather than succeed.
    let started = running_users(ctx, &volume).await?;
    if !started.is_empty() {
        return Err(StepError::fatal(format!(
            "container(s) {} started while {volume} was being restored: they may have read or \
             written half-restored files; the volume is partly written (a rollback, or \
             `lifeboat resume`, puts back its safety backup where the run took one)",
            started.join(", ")
        )));
    }
    let total = manifest.raw_bytes;
    ctx.progress(total, Some(total));
    Ok(outputs([("backup_id", json!(manifest.id))]))
}

/// `paths:`, checked again (a template rendered at run time), or `None`:
/// the whole volume. An undo restores the whole volume.
fn paths(ctx: &Ctx) -> Result<Option<Vec<String>>, StepError> {
    if ctx.call.undo || ctx.args.get("paths").is_none() {
        return Ok(None);
    }
    let paths = ctx
        .args
        .strings("paths")?
        .iter()
        .map(|p| volume_path::relative(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StepError::refused(format!("argument `paths`: {e}")))?;
    if paths.is_empty() {
        return Err(StepError::refused("argument `paths` is empty"));
    }
    if let Some((inner, outer)) = volume_path::overlap(&paths) {
        return Err(StepError::refused(format!(
            "argument `paths`: `{}` is inside `{}`",
            paths[inner], paths[outer]
        )));
    }
    Ok(Some(paths))
}

/// Running containers that mount `volume`.
async fn running_users(ctx: &Ctx, volume: &str) -> Result<Vec<String>, StepError> {
    Ok(ctx
        .ports
        .docker
        .volume_users(volume)
        .await
        .map_err(docker)?
        .into_iter()
        .filter(|(_, running)| *running)
        .map(|(name, _)| name)
        .collect())
}

/// Everything a volume restore checks before it may touch the volume; the
/// backup to restore.
async fn prepare_restore(ctx: &Ctx, volume: &str, source: &str) -> Result<String, StepError> {
    let docker_ = &ctx.ports.docker;
    if !docker_.volume_exists(volume).await.map_err(docker)? {
        return Err(StepError::fatal(format!(
            "volume `{volume}` does not exist; create it first (volume.create)"
        )));
    }
    let running = running_users(ctx, volume).await?;
    if !running.is_empty() {
        if !ctx.call.undo {
            return Err(StepError::fatal(format!(
                "volume `{volume}` is in use by running container(s) {}; stop them first (container.stop)",
                running.join(", ")
            )));
        }
        // A rollback puts data back under a container a later step started:
        // stop it first; the undo of the earlier stop starts it again.
        for name in &running {
            docker_
                .stop(name, Duration::from_secs(30))
                .await
                .map_err(docker)?;
        }
    }
    restorable_backup(ctx, source, true).await
}
