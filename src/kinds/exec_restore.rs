//! `exec.restore`: stream a backup into a command's stdin (e.g. pg_restore).

use tokio_util::io::StreamReader;

use super::prelude::*;
use crate::runtime::exec_spec;

pub struct ExecRestore;

pub static SPEC: KindSpec = KindSpec {
    name: "exec.restore",
    summary: "stream a backup into a command's stdin (e.g. pg_restore)",
    effect: Some(Effect::Destroy),
    category: Category::Destructive,
    args: &[
        req("container", ArgType::Container, "the container target"),
        req("command", ArgType::Command, "the restore command"),
        req("name", ArgType::Str, "the backup source name"),
        req("backup", ArgType::BackupRef, "which backup"),
        opt("env", ArgType::StrMap, "environment variables"),
        opt("user", ArgType::Str, "user to run as"),
    ],
    outputs: &["backup_id"],
    subject: Some(Subject::Target("container")),
    one_of: &[],
};

impl Kind for ExecRestore {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    /// A copy of the files of every volume the container declares guards
    /// whatever the command changes as well as a dump does.
    fn also_guarded_by_container_volumes(&self) -> bool {
        true
    }

    /// Guarded by a dump: the dump is restored. Guarded by a copy of its
    /// volume's files: those files are put back (the restore stops the
    /// container; the rollback starts it again).
    fn undo(&self, step: &Step, guards: &[Guard]) -> Result<Option<Undo>, UndoError> {
        let Some(first) = guards.first() else {
            return Ok(None);
        };
        if !first.kind.spec().backs_up_volumes() {
            return Ok(restore_from_guard(step, guards, &["backup"]));
        }
        let [guard] = guards else {
            return Err(UndoError {
                message: format!(
                    "step `{}` is guarded by backups of several volumes ({}); a built-in \
                     undo restores one",
                    step.id,
                    step.guarded_by.join(", ")
                ),
                hint: "give it an `undo:`, or guard it with an exec.backup of the container".into(),
            });
        };
        let Some(volume) = guard.args.get("volume").cloned() else {
            return Ok(None);
        };
        Ok(Some(builtin(
            super::volume_restore::SPEC.name,
            vec![
                ("volume", volume),
                ("backup", Json::from(placeholder(guard.id))),
            ],
            vec![(
                "backup",
                format!("{{{{ steps['{}'].backup_id }}}}", guard.id),
            )],
        )))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let container = ctx.container("container").await?;
    let spec = exec_spec(ctx)?;
    let source = ctx.args.str("name")?;
    let id = restorable_backup(ctx, &source, false)
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
