//! What the backup and restore kinds share: taking a volume's backup,
//! reading a new backup back, and finding the backup a step reads.

use serde_json::json;

use super::expect::outputs;
use super::transfer;
use super::{Ctx, docker};
use crate::engine::{Outputs, StepError};
use crate::repo::{BackupKind, Manifest, NewBackup, Origin};

/// Reads a new backup back (sha256, decompression, every tar header) before
/// the step succeeds: a destructive step guarded by it starts only after
/// its safety backup is known to be good. The result goes into the manifest.
pub async fn verify_written(ctx: &Ctx, manifest: &Manifest) -> Result<(), StepError> {
    let repo = ctx.ports.repo.clone();
    let id = manifest.id.clone();
    let verification = super::blocking(move || match repo.verify(&id, true) {
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
        facts: ctx.args.facts()?,
    };
    let step = ctx.call.step.clone();
    let events = ctx.events.clone();
    transfer::store_volume(
        &**docker_,
        ctx.ports.repo.clone(),
        volume,
        new,
        move |bytes| {
            let _ = events.send(crate::engine::Event::Progress {
                id: step.clone(),
                bytes,
                total: None,
            });
        },
    )
    .await
}

/// The backup a restore step reads, present locally and taken from `source`:
/// a pinned or explicit id of another source's backup is refused, since
/// restoring Redis's files into PostgreSQL's volume is never what was meant
/// (`from:` says so explicitly for a volume restore).
/// `from_hint`: the kind has `from:` to say so.
pub async fn restorable_backup(
    ctx: &Ctx,
    source: &str,
    from_hint: bool,
) -> Result<String, StepError> {
    // A drill's copy of a volume takes production's backups of it.
    let source = ctx
        .ports
        .restore_from
        .get(source)
        .map_or(source, String::as_str);
    let id = backup_id(ctx, source)?;
    super::ensure_local(ctx, &id).await?;
    let manifest = ctx.ports.repo.get(&id).map_err(super::repo)?;
    if manifest.source != source {
        let hint = if from_hint {
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
