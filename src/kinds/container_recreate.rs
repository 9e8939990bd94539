//! `container.recreate`: recreate a container with the same config and another image; the old one is kept until the new one is healthy.

use super::prelude::*;

pub struct ContainerRecreate;

pub static SPEC: KindSpec = KindSpec {
    name: "container.recreate",
    summary: "recreate a container with the same config and another image; the old one is kept until the new one is healthy",
    effect: Some(Effect::Destroy),
    category: Category::Destructive,
    args: &[
        req("container", ArgType::Container, "the container target"),
        req("image", ArgType::Str, "the image of the new container"),
        def("wait", WAIT, "healthy", "what the new container must reach"),
        def(
            "timeout",
            ArgType::Duration,
            "120s",
            "how long to wait for it",
        ),
    ],
    outputs: &["previous_image", "container_id"],
    subject: Some(Subject::ContainerData("container")),
    one_of: &[],
};

impl Kind for ContainerRecreate {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    /// Recreated again with the image it had before (an output of the step).
    fn undo(&self, step: &Step, _guards: &[Guard]) -> Result<Option<Undo>, UndoError> {
        Ok(Some(builtin(
            SPEC.name,
            vec![
                ("container", arg(step, "container")),
                ("image", Json::from(placeholder(&step.id))),
            ],
            vec![(
                "image",
                format!("{{{{ steps['{}'].previous_image }}}}", step.id),
            )],
        )))
    }

    /// A recreate ends with the new container started and waited for.
    fn leaves_container_running(&self) -> Option<bool> {
        Some(true)
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let name = ctx.container("container").await?;
    let image = ctx.args.str("image")?;
    let until = wait_for(&ctx.args.str("wait")?);
    let timeout = ctx.args.duration("timeout")?;
    let done = ctx
        .ports
        .docker
        .recreate(&name, &image, until, timeout)
        .await
        .map_err(docker)?;
    Ok(outputs([
        ("previous_image", json!(done.previous_image)),
        ("container_id", json!(done.container_id)),
    ]))
}
