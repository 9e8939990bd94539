//! `volume.backup`: archive a volume (tar + zstd + sha256) into the repository.

use super::prelude::*;

pub struct VolumeBackup;

pub static SPEC: KindSpec = KindSpec {
    name: "volume.backup",
    summary: "archive a volume (tar + zstd + sha256) into the repository",
    effect: Some(Effect::Mutate),
    category: Category::Backup,
    args: &[
        req("volume", ArgType::Volume, "the volume target"),
        opt(
            "tags",
            ArgType::StrList,
            "tags recorded in the manifest, e.g. [safety]",
        ),
        FACTS,
    ],
    outputs: BACKUP_OUTPUTS,
    subject: Some(Subject::Target("volume")),
    one_of: &[],
};

impl Kind for VolumeBackup {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let volume = ctx.volume("volume")?;
    let manifest = backup_volume(ctx, &volume, ctx.args.strings("tags")?).await?;
    verify_written(ctx, &manifest).await?;
    push_offsite(ctx, &manifest.id).await?;
    Ok(backup_outputs(&manifest))
}
