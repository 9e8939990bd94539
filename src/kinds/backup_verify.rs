//! `backup.verify`: check a backup's sha256; `deep` also decompresses it and reads every tar header.

use super::prelude::*;

pub struct BackupVerify;

pub static SPEC: KindSpec = KindSpec {
    name: "backup.verify",
    summary: "check a backup's sha256; `deep` also decompresses it and reads every tar header",
    effect: Some(Effect::Read),
    category: Category::Check,
    args: &[
        req("backup", ArgType::BackupRef, "which backup"),
        opt("volume", ArgType::Volume, "whose backups `latest` means"),
        opt("name", ArgType::Str, "or: the backup source name"),
        def(
            "deep",
            ArgType::Bool,
            "false",
            "decompress and scan the archive too",
        ),
    ],
    outputs: &["backup_id", "sha256"],
    subject: None,
    one_of: &[],
};

impl Kind for BackupVerify {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let source = match (ctx.optional_volume("volume")?, ctx.args.opt_str("name")?) {
        (Some(v), _) => v,
        (None, Some(n)) => n,
        (None, None) => String::new(),
    };
    let id = backup_id(ctx, &source)?;
    let deep = ctx.args.flag("deep")?;
    ensure_local(ctx, &id).await?;
    let repo = ctx.ports.repo.clone();
    let checked = id.clone();
    let verification = crate::runtime::blocking(move || repo.verify(&checked, deep))
        .await
        .map_err(|e| StepError::fatal(format!("verification crashed: {e}")))?
        .map_err(repo_error)?;
    if !verification.ok {
        return Err(StepError::fatal(format!(
            "backup {id} failed verification: {}",
            verification.detail
        )));
    }
    let manifest = ctx.ports.repo.get(&id).map_err(repo_error)?;
    Ok(outputs([
        ("backup_id", json!(id)),
        ("sha256", json!(manifest.sha256)),
    ]))
}
