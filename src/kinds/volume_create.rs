//! `volume.create`: create a volume.

use std::collections::BTreeMap;

use super::prelude::*;

pub struct VolumeCreate;

pub static SPEC: KindSpec = KindSpec {
    name: "volume.create",
    summary: "create a volume",
    effect: Some(Effect::Mutate),
    category: Category::Change,
    args: &[
        req("volume", ArgType::Volume, "the volume target"),
        opt("labels", ArgType::StrMap, "labels of the new volume"),
    ],
    outputs: &[],
    subject: None,
    one_of: &[],
};

impl Kind for VolumeCreate {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
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
