//! volume.create / remove / backup / restore.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::container::outputs;
use super::transfer;
use super::{Ctx, docker};
use crate::engine::{Outputs, StepError};
use crate::repo::{BackupKind, Manifest, NewBackup, Origin};

pub async fn create(ctx: &Ctx) -> Result<Outputs, StepError> {
    let volume = ctx.volume("volume")?;
    let labels: BTreeMap<String, String> = ctx.args.map("labels")?.into_iter().collect();
    let created = ctx
        .ports
        .docker
        .create_volume(&volume, &labels)
        .await
        .map_err(docker)?;
    // An existing volume is left alone, and so is its undo.
    Ok(outputs([("changed", json!(created))]))
}

pub async fn remove(ctx: &Ctx) -> Result<Outputs, StepError> {
    let volume = ctx.volume("volume")?;
    if !ctx
        .ports
        .docker
        .volume_exists(&volume)
        .await
        .map_err(docker)?
    {
        return Ok(outputs([("changed", json!(false))]));
    }
    ctx.ports
        .docker
        .remove_volume(&volume)
        .await
        .map_err(docker)?;
    Ok(outputs([("changed", json!(true))]))
}

pub async fn backup(ctx: &Ctx) -> Result<Outputs, StepError> {
    let volume = ctx.volume("volume")?;
    let manifest = backup_volume(ctx, &volume, ctx.args.strings("tags")?).await?;
    verify_written(ctx, &manifest).await?;
    super::push_offsite(ctx, &manifest.id).await?;
    Ok(backup_outputs(&manifest))
}

/// Reads a new backup back (sha256, decompression, every tar header) before
/// the step succeeds: a destructive step guarded by it starts only after
/// its safety backup is known to be good. The result goes into the manifest.
pub async fn verify_written(ctx: &Ctx, manifest: &Manifest) -> Result<(), StepError> {
    let repo = ctx.ports.repo.clone();
    let id = manifest.id.clone();
    let verification = tokio::task::spawn_blocking(move || match repo.verify(&id, true) {
        // Encrypted to recipients whose private key is elsewhere: the
        // writer scanned the tar on the way in; check the stored bytes.
        Err(e @ crate::repo::RepoError::NoKey { .. }) => {
            tracing::warn!("{e}; checking its sha256 only");
            repo.verify(&id, false)
        }
        other => other,
    })
    .await
    .map_err(|e| StepError::fatal(format!("verification crashed: {e}")))?
    .map_err(super::repo)?;
    if verification.ok {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "backup {} was written but does not verify: {}",
            manifest.id, verification.detail
        )))
    }
}

pub fn backup_outputs(m: &Manifest) -> Outputs {
    outputs([
        ("backup_id", json!(m.id)),
        ("sha256", json!(m.sha256)),
        ("bytes", json!(m.stored_bytes)),
    ])
}

/// Volume → Docker archive stream → zstd → sha256 → repository.
pub async fn backup_volume(
    ctx: &Ctx,
    volume: &str,
    tags: Vec<String>,
) -> Result<Manifest, StepError> {
    let docker_ = &ctx.ports.docker;
    if !docker_.volume_exists(volume).await.map_err(docker)? {
        return Err(StepError::fatal(format!(
            "volume `{volume}` does not exist"
        )));
    }
    let mut origin = Origin {
        volume: Some(volume.to_string()),
        ..Origin::default()
    };
    let users = docker_.volume_users(volume).await.map_err(docker)?;
    if let Some((name, running)) = users.first() {
        if *running {
            tracing::warn!(
                "volume {volume} is backed up while {name} runs: the copy is only crash-consistent"
            );
        }
        if let Some(c) = docker_.container(name).await.map_err(docker)? {
            origin.container = Some(c.name.clone());
            origin.image = Some(c.image.clone());
            origin.image_digest = Some(c.image_id.clone());
            origin.compose_project = c.labels.get(crate::model::world::COMPOSE_PROJECT).cloned();
            origin.compose_service = c.labels.get(crate::model::world::COMPOSE_SERVICE).cloned();
        }
    }
    let new = NewBackup {
        source: volume.to_string(),
        kind: BackupKind::Volume,
        origin,
        tags,
        run_id: Some(ctx.call.run_id.clone()),
    };
    let step = ctx.call.step.clone();
    let events = ctx.events.clone();
    transfer::store_volume(docker_, ctx.ports.repo.clone(), volume, new, move |bytes| {
        let _ = events.send(crate::engine::Event::Progress {
            id: step.clone(),
            bytes,
            total: None,
        });
    })
    .await
}

pub async fn restore(ctx: &Ctx) -> Result<Outputs, StepError> {
    let volume = ctx.volume("volume")?;
    let source = ctx
        .optional_volume("from")?
        .unwrap_or_else(|| volume.clone());
    // Verified ahead (steps/ahead.rs)? Awaited first, so that no fetch of
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
        &ctx.ports.docker,
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
    restorable_backup(ctx, source).await
}

/// The backup a restore step reads, present locally and taken from `source`:
/// a pinned or explicit id of another source's backup is refused, since
/// restoring Redis's files into PostgreSQL's volume is never what was meant
/// (`from:` says so explicitly for a volume restore).
pub async fn restorable_backup(ctx: &Ctx, source: &str) -> Result<String, StepError> {
    let id = backup_id(ctx, source)?;
    super::ensure_local(ctx, &id).await?;
    let manifest = ctx.ports.repo.get(&id).map_err(super::repo)?;
    if manifest.source != source {
        let hint = if ctx.call.kind == "volume.restore" {
            format!(
                "; to restore another source's backup on purpose, say so with `from:` \
                 (a volume target whose backups these are, here `{}`)",
                manifest.source
            )
        } else {
            String::new()
        };
        return Err(StepError::fatal(format!(
            "backup {id} is a backup of `{}`, not of `{source}`{hint}",
            manifest.source
        )));
    }
    Ok(id)
}

/// The backup a step reads: the one the plan pinned, else `backup:` resolved
/// now — `latest` never means a backup this run wrote.
pub fn backup_id(ctx: &Ctx, source: &str) -> Result<String, StepError> {
    if let Some(id) = &ctx.call.backup {
        return Ok(id.clone());
    }
    let reference = ctx.args.str("backup")?;
    if source.is_empty() {
        // backup.verify of an id, without saying whose.
        return ctx
            .ports
            .repo
            .get(&reference)
            .map(|m| m.id)
            .map_err(super::repo);
    }
    let exclude = matches!(reference.as_str(), "latest" | "latest-verified")
        .then_some(ctx.call.run_id.as_str());
    ctx.ports
        .repo
        .resolve(source, &reference, exclude)
        .map(|m| m.id)
        .map_err(super::repo)
}
