//! exec.backup / exec.restore (a command's stdout into the repository, a
//! backup into a command's stdin) and backup.verify.

use serde_json::json;
use tokio_util::io::StreamReader;

use super::container::{check_expect, outputs};
use super::transfer::{Storer, verified_stream};
use super::volume::{backup_id, backup_outputs};
use super::{Ctx, docker};
use crate::docker::ExecSpec;
use crate::engine::{Outputs, StepError};
use crate::repo::{BackupKind, NewBackup, Origin};

fn spec(ctx: &Ctx) -> Result<ExecSpec, StepError> {
    Ok(ExecSpec {
        argv: ctx.args.command()?,
        env: ctx.args.map("env")?,
        user: ctx.args.opt_str("user")?,
        workdir: None,
    })
}

pub async fn exec_backup(ctx: &Ctx) -> Result<Outputs, StepError> {
    let container = ctx.container("container").await?;
    let spec = spec(ctx)?;
    let mut origin = Origin {
        container: Some(container.clone()),
        command: Some(spec.argv.clone()),
        ..Origin::default()
    };
    if let Some(c) = ctx
        .ports
        .docker
        .container(&container)
        .await
        .map_err(docker)?
    {
        origin.image = Some(c.image.clone());
        origin.image_digest = Some(c.image_id.clone());
        origin.compose_project = c.labels.get(crate::model::world::COMPOSE_PROJECT).cloned();
        origin.compose_service = c.labels.get(crate::model::world::COMPOSE_SERVICE).cloned();
    }
    let new = NewBackup {
        source: ctx.args.str("name")?,
        kind: BackupKind::Exec,
        origin,
        tags: ctx.args.strings("tags")?,
        run_id: Some(ctx.call.run_id.clone()),
        facts: ctx.args.facts()?,
    };
    let storer = Storer::start(ctx.ports.repo.clone(), new)?;
    let result = ctx
        .ports
        .docker
        .exec_to_sink(&container, spec, storer.sender())
        .await;
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            storer.abort().await;
            return Err(docker(e));
        }
    };
    // A dump whose command failed is not a backup.
    if let Err(e) = check_expect(None, out.exit_code, "", &out.stderr) {
        storer.abort().await;
        return Err(e);
    }
    let manifest = storer.commit().await?;
    super::volume::verify_written(ctx, &manifest).await?;
    super::push_offsite(ctx, &manifest.id).await?;
    Ok(backup_outputs(&manifest))
}

pub async fn exec_restore(ctx: &Ctx) -> Result<Outputs, StepError> {
    let container = ctx.container("container").await?;
    let spec = spec(ctx)?;
    let source = ctx.args.str("name")?;
    let id = super::volume::restorable_backup(ctx, &source)
        .await
        .map_err(StepError::untouched)?;
    let (manifest, stream) = verified_stream(ctx.ports.repo.clone(), id).await?;
    let stdin = StreamReader::new(Box::pin(stream));
    let out = ctx
        .ports
        .docker
        .exec(&container, spec, Some(Box::new(stdin)))
        .await
        .map_err(docker)?;
    check_expect(None, out.exit_code, &out.stdout, &out.stderr)?;
    Ok(outputs([("backup_id", json!(manifest.id))]))
}

pub async fn verify(ctx: &Ctx) -> Result<Outputs, StepError> {
    let source = match (ctx.optional_volume("volume")?, ctx.args.opt_str("name")?) {
        (Some(v), _) => v,
        (None, Some(n)) => n,
        (None, None) => String::new(),
    };
    let id = backup_id(ctx, &source)?;
    let deep = ctx.args.bool_or("deep", false)?;
    super::ensure_local(ctx, &id).await?;
    let repo = ctx.ports.repo.clone();
    let checked = id.clone();
    let verification = tokio::task::spawn_blocking(move || repo.verify(&checked, deep))
        .await
        .map_err(|e| StepError::fatal(format!("verification crashed: {e}")))?
        .map_err(super::repo)?;
    if !verification.ok {
        return Err(StepError::fatal(format!(
            "backup {id} failed verification: {}",
            verification.detail
        )));
    }
    let manifest = ctx.ports.repo.get(&id).map_err(super::repo)?;
    Ok(outputs([
        ("backup_id", json!(id)),
        ("sha256", json!(manifest.sha256)),
    ]))
}
