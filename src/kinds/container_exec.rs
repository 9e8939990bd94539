//! `container.exec`: run a command in a container; `readonly: true` declares it a check.

use super::prelude::*;
use crate::docker::ExecSpec;

pub struct ContainerExec;

pub static SPEC: KindSpec = KindSpec {
    name: "container.exec",
    summary: "run a command in a container; `readonly: true` declares it a check",
    effect: None,
    category: Category::Change,
    args: &[
        req("container", ArgType::Container, "the container target"),
        req(
            "command",
            ArgType::Command,
            "argv, e.g. [redis-cli, DBSIZE]",
        ),
        def(
            "shell",
            ArgType::Bool,
            "false",
            "run `command` (one string) with sh -c",
        ),
        opt("env", ArgType::StrMap, "environment variables"),
        opt("user", ArgType::Str, "user[:group] to run as"),
        opt("workdir", ArgType::Str, "working directory"),
        opt(
            "expect",
            EXEC_EXPECT,
            "conditions on exit code and output (default: exit code 0)",
        ),
    ],
    outputs: &["stdout", "stderr", "exit_code"],
    subject: None,
    one_of: &[],
};

impl Kind for ContainerExec {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: &Ctx) -> Result<Outputs, StepError> {
    let name = ctx.container("container").await?;
    let spec = ExecSpec {
        argv: ctx.args.command()?,
        env: ctx.args.map("env")?,
        user: ctx.args.opt_str("user")?,
        workdir: ctx.args.opt_str("workdir")?,
    };
    let out = ctx
        .ports
        .docker
        .exec(&name, spec, None)
        .await
        .map_err(docker)?;
    command_outputs(ctx, &out)
}
