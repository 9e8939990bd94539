//! `container.start`: start a container and wait until it is running or healthy.

use super::prelude::*;

pub struct ContainerStart;

pub static SPEC: KindSpec = KindSpec {
    name: "container.start",
    summary: "start a container and wait until it is running or healthy",
    effect: Some(Effect::Mutate),
    category: Category::Start,
    args: &[
        req("container", ArgType::Container, "the container target"),
        def("wait", WAIT, "running", "what to wait for"),
        def("timeout", ArgType::Duration, "60s", "how long to wait"),
    ],
    outputs: &[],
    subject: None,
    one_of: &[],
};

impl Kind for ContainerStart {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    fn leaves_container_running(&self) -> Option<bool> {
        Some(true)
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let name = ctx.container("container").await?;
    let until = wait_for(&ctx.args.str("wait")?);
    let timeout = ctx.args.duration("timeout")?;
    ctx.ports.docker.start(&name).await.map_err(docker)?;
    ctx.ports
        .docker
        .wait(&name, until, timeout)
        .await
        .map_err(docker)?;
    Ok(Outputs::new())
}
