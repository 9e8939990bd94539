//! `compose.up`: bring up a compose project from a compose file (drills).

use super::prelude::*;
use crate::docker::ProjectObjects;
use crate::runtime::compose::{labelled, run as compose_run};

pub struct ComposeUp;

pub static SPEC: KindSpec = KindSpec {
    name: "compose.up",
    summary: "bring up a compose project from a compose file (drills)",
    effect: Some(Effect::Mutate),
    category: Category::Start,
    args: &[
        req("file", ArgType::Str, "the compose file"),
        req("project", ArgType::Str, "the compose project name"),
        opt("services", ArgType::StrList, "only these services"),
        def(
            "wait",
            ArgType::Bool,
            "true",
            "wait until every service is healthy",
        ),
    ],
    outputs: &["project", "created_volumes", "created_networks"],
    subject: None,
    one_of: &[],
};

impl Kind for ComposeUp {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }

    /// A resumed run takes over what this step created before the kill.
    fn on_resume(&self, created: &Created, id: &str, outputs: &Outputs) {
        created.remember(id, outputs);
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let mut args = vec!["up".to_string(), "-d".to_string()];
    if ctx.args.flag("wait")? {
        // Dropped for compose v1, which has no --wait (runtime/ports/real.rs).
        args.push("--wait".into());
    }
    args.extend(ctx.args.strings("services")?);
    let project = labelled(&ctx.args.str("project")?);
    let docker = &ctx.ports.docker;
    let before = docker
        .project_objects(&project)
        .await
        .map_err(crate::runtime::docker)?;
    let result = compose_run(ctx, args).await;
    // Recorded even when `up` failed half-way: what it created is still there.
    let after = docker
        .project_objects(&project)
        .await
        .map_err(crate::runtime::docker)?;
    let created = ProjectObjects {
        volumes: after.volumes.difference(&before.volumes).cloned().collect(),
        networks: after
            .networks
            .difference(&before.networks)
            .cloned()
            .collect(),
    };
    ctx.created.record(&project, &ctx.call.step, &created);
    result?;
    Ok(outputs([
        ("changed", json!(true)),
        ("project", json!(project)),
        ("created_volumes", json!(created.volumes)),
        ("created_networks", json!(created.networks)),
    ]))
}
