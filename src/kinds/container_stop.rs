//! `container.stop`: stop a container (SIGTERM, then SIGKILL after the timeout).

use super::prelude::*;

pub struct ContainerStop;

pub static SPEC: KindSpec = KindSpec {
    name: "container.stop",
    summary: "stop a container (SIGTERM, then SIGKILL after the timeout)",
    effect: Some(Effect::Mutate),
    category: Category::Stop,
    args: &[
        req("container", ArgType::Container, "the container target"),
        def(
            "timeout",
            ArgType::Duration,
            "30s",
            "grace period before SIGKILL",
        ),
    ],
    outputs: &["was_running"],
    subject: None,
    one_of: &[],
};

impl Kind for ContainerStop {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    /// Started again, and waited for until running.
    fn undo(&self, step: &Step, _guards: &[Guard]) -> Result<Option<Undo>, UndoError> {
        Ok(Some(builtin(
            super::container_start::SPEC.name,
            vec![
                ("container", arg(step, "container")),
                ("wait", Json::from("running")),
            ],
            vec![],
        )))
    }

    /// A container that was not running is not started by the rollback.
    fn builtin_undo_needed(&self, outputs: &Outputs) -> bool {
        outputs.get("was_running") != Some(&Json::Bool(false))
    }

    fn leaves_container_running(&self) -> Option<bool> {
        Some(false)
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let name = ctx.container("container").await?;
    let timeout = ctx.args.duration("timeout")?;
    let was_running = ctx
        .ports
        .docker
        .stop(&name, timeout)
        .await
        .map_err(docker)?;
    Ok(outputs([("was_running", json!(was_running))]))
}
