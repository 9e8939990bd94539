//! `compose.down`: take a compose project down (drills); with `volumes: true` it removes the project's volumes: DESTRUCTIVE.

use super::prelude::*;
use crate::runtime::compose::{ObjectKind, labelled, run as compose_run};

pub struct ComposeDown;

pub static SPEC: KindSpec = KindSpec {
    name: "compose.down",
    summary: "take a compose project down (drills); with `volumes: true` it removes the project's volumes: DESTRUCTIVE",
    effect: Some(Effect::Mutate),
    category: Category::Stop,
    args: &[
        req("file", ArgType::Str, "the compose file"),
        req("project", ArgType::Str, "the compose project name"),
        def("volumes", ArgType::Bool, "false", "also remove its volumes"),
    ],
    outputs: &["removed_volumes", "removed_networks", "left_over"],
    subject: Some(Subject::ComposeVolumes("project")),
    one_of: &[],
};

impl Kind for ComposeDown {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    /// `volumes: true` removes every volume of the project: destructive.
    /// Only a literal `false` spares them; decided at run time counts as true.
    fn effect(&self, args: &ArgMap, readonly: Option<bool>) -> (Effect, Category) {
        if args.get("volumes") != Some(&Json::Bool(false)) {
            return (Effect::Destroy, Category::Destructive);
        }
        super::declared_effect(&SPEC, readonly)
    }

    fn no_undo(&self) -> Option<&'static str> {
        Some(
            "compose has no `up` that brings removed volumes back with their data; the step \
             refuses to run while a volume of the project has no backup from this run, and \
             restoring those backups is the way back",
        )
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let mut args = vec!["down".to_string()];
    if ctx.args.flag("volumes")? {
        refuse_unsaved_volumes(ctx).await?;
        args.push("--volumes".into());
    }
    compose_run(ctx, args).await?;
    let project = labelled(&ctx.args.str("project")?);
    let (removed, left) = ctx
        .created
        .remove_project(&*ctx.ports.docker, &project)
        .await;
    for l in &left {
        tracing::warn!("compose.down `{}`: {l}", ctx.call.step);
    }
    let names = |kind: ObjectKind| -> Vec<&str> {
        removed
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.name.as_str())
            .collect()
    };
    Ok(outputs([
        ("removed_volumes", json!(names(ObjectKind::Volume))),
        ("removed_networks", json!(names(ObjectKind::Network))),
        ("left_over", json!(left)),
    ]))
}

/// `down --volumes` removes every volume of the project, also those the
/// runbook does not name: each must have a backup taken by this run, unless
/// the step is marked `unsafe`.
async fn refuse_unsaved_volumes(ctx: &Ctx) -> Result<(), StepError> {
    if ctx.call.unsafe_ok {
        return Ok(());
    }
    let project = labelled(&ctx.args.str("project")?);
    let volumes = ctx
        .ports
        .docker
        .project_objects(&project)
        .await
        .map_err(|e| docker(e).untouched())?
        .volumes;
    let mut unsaved = Vec::new();
    for volume in volumes {
        let saved = ctx
            .ports
            .repo
            .backups_of(&volume)
            .map_err(|e| repo_error(e).untouched())?
            .iter()
            .any(|m| m.run_id.as_deref() == Some(ctx.call.run_id.as_str()));
        if !saved {
            unsaved.push(volume);
        }
    }
    if unsaved.is_empty() {
        return Ok(());
    }
    Err(StepError::refused(format!(
        "`down --volumes` would remove {} of compose project `{project}`, which this run did \
         not back up; back them up first (volume.backup) or mark the step `unsafe: \"<reason>\"`",
        unsaved.join(", ")
    )))
}
