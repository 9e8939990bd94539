//! `container.restart`: restart a container and wait until it is running or healthy.

use super::prelude::*;

pub struct ContainerRestart;

pub static SPEC: KindSpec = KindSpec {
    name: "container.restart",
    summary: "restart a container and wait until it is running or healthy",
    effect: Some(Effect::Mutate),
    category: Category::Start,
    args: super::container_start::ARGS,
    outputs: &[],
    subject: None,
    one_of: &[],
};

impl Kind for ContainerRestart {
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
    ctx.ports
        .docker
        .restart(&name, Duration::from_secs(30))
        .await
        .map_err(docker)?;
    super::container_start::wait_until_ready(ctx, &name).await
}
