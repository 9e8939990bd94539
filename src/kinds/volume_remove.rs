//! `volume.remove`: remove a volume and everything in it.

use super::prelude::*;

pub struct VolumeRemove;

pub static SPEC: KindSpec = KindSpec {
    name: "volume.remove",
    summary: "remove a volume and everything in it",
    effect: Some(Effect::Destroy),
    category: Category::Destructive,
    args: &[req("volume", ArgType::Volume, "the volume target")],
    outputs: &[],
    subject: Some(Subject::Target("volume")),
    one_of: &[],
};

impl Kind for VolumeRemove {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    fn no_undo(&self) -> Option<&'static str> {
        Some(
            "nothing is left to undo into: a removed volume comes back by creating it and \
             restoring its safety backup, which a runbook writes as steps (or as `undo:`)",
        )
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
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
