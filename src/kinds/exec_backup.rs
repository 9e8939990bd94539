//! `exec.backup`: stream a command's stdout into the repository (e.g. pg_dump -Fc).

use super::prelude::*;
use crate::repo::{BackupKind, NewBackup, Origin};
use crate::runtime::exec_spec;

pub struct ExecBackup;

pub static SPEC: KindSpec = KindSpec {
    name: "exec.backup",
    summary: "stream a command's stdout into the repository (e.g. pg_dump -Fc)",
    effect: Some(Effect::Mutate),
    category: Category::Backup,
    args: &[
        req("container", ArgType::Container, "the container target"),
        req("command", ArgType::Command, "the dump command"),
        req("name", ArgType::Str, "the backup source name, e.g. shop-db"),
        opt("env", ArgType::StrMap, "environment variables"),
        opt("user", ArgType::Str, "user to run as"),
        opt("tags", ArgType::StrList, "tags recorded in the manifest"),
        FACTS,
    ],
    outputs: BACKUP_OUTPUTS,
    subject: Some(Subject::Target("container")),
    one_of: &[],
};

impl Kind for ExecBackup {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let container = ctx.container("container").await?;
    let spec = exec_spec(ctx)?;
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
    verify_written(ctx, &manifest).await?;
    push_offsite(ctx, &manifest.id).await?;
    Ok(backup_outputs(&manifest))
}
