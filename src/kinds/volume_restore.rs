//! `volume.restore`: verify a backup's sha256, empty the volume, extract the backup into it.

use super::prelude::*;

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

    /// Restores the safety backup that guards it.
    fn undo(&self, step: &Step, guards: &[Guard]) -> Result<Option<Undo>, UndoError> {
        Ok(restore_from_guard(step, guards, &["backup", "from"]))
    }

    fn predict(&self, step: &Step, world: &World, targets: &Targets) -> Prediction {
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
    let id = prepare_restore(ctx, &volume, &source)
        .await
        .map_err(StepError::untouched)?;
    // Nothing touches the volume before the whole backup verified.
    let step = ctx.call.step.clone();
    let events = ctx.events.clone();
    let manifest = transfer::restore_verified(
        &*ctx.ports.docker,
        ctx.ports.repo.clone(),
        &volume,
        id,
        ahead,
        move |bytes, total| {
            let _ = events.send(crate::engine::Event::Progress {
                id: step.clone(),
                bytes,
                total: Some(total),
            });
        },
    )
    .await?;
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
