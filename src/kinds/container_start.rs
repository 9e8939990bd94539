//! `container.start`: start a container and wait until it is running or healthy.

use super::prelude::*;

pub struct ContainerStart;

/// What the kinds that leave a container running take (start, restart).
pub(super) const ARGS: &[crate::model::kind_spec::ArgSpec] = &[
    req("container", ArgType::Container, "the container target"),
    def("wait", WAIT, "running", "what to wait for"),
    def("timeout", ArgType::Duration, "60s", "how long to wait"),
];

pub static SPEC: KindSpec = KindSpec {
    name: "container.start",
    summary: "start a container and wait until it is running or healthy",
    effect: Some(Effect::Mutate),
    category: Category::Start,
    args: ARGS,
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
    ctx.ports.docker.start(&name).await.map_err(docker)?;
    wait_until_ready(ctx, &name).await
}

/// Waits for what the step's `wait` names, at most its `timeout`.
pub(super) async fn wait_until_ready(ctx: &Ctx, name: &str) -> Result<Outputs, StepError> {
    let until = wait_for(&ctx.args.str("wait")?);
    let timeout = ctx.args.duration("timeout")?;
    ctx.ports
        .docker
        .wait(name, until, timeout)
        .await
        .map_err(docker)?;
    Ok(Outputs::new())
}
