//! compose.up / compose.down through the Compose CLI (`docker compose`, or
//! `docker-compose` where only v1 is installed), with DOCKER_HOST passed on.

use std::path::Path;
use std::process::Stdio;

use serde_json::json;
use tokio::process::Command;

use super::Ctx;
use super::container::outputs;
use crate::engine::{Outputs, StepError};

pub async fn up(ctx: &Ctx) -> Result<Outputs, StepError> {
    let mut args = vec!["up".to_string(), "-d".to_string()];
    if ctx.args.bool_or("wait", true)? {
        // v1 has no --wait; the runbook's checks (with retries) wait instead.
        if compose().await?.0 != "docker-compose" {
            args.push("--wait".into());
        }
    }
    args.extend(ctx.args.strings("services")?);
    run(ctx, args).await?;
    Ok(outputs([("changed", json!(true))]))
}

pub async fn down(ctx: &Ctx) -> Result<Outputs, StepError> {
    let mut args = vec!["down".to_string()];
    if ctx.args.bool_or("volumes", false)? {
        refuse_unsaved_volumes(ctx).await?;
        args.push("--volumes".into());
    }
    run(ctx, args).await?;
    Ok(Outputs::new())
}

/// `down --volumes` removes every volume of the project, also those the
/// runbook does not name: each must have a backup taken by this run, unless
/// the step is marked `unsafe`.
async fn refuse_unsaved_volumes(ctx: &Ctx) -> Result<(), StepError> {
    if ctx.call.unsafe_ok {
        return Ok(());
    }
    let project = ctx.args.str("project")?;
    let volumes = ctx
        .ports
        .docker
        .project_volumes(&project)
        .await
        .map_err(|e| super::docker(e).untouched())?;
    let mut unsaved = Vec::new();
    for volume in volumes {
        let saved = ctx
            .ports
            .repo
            .backups_of(&volume)
            .map_err(|e| super::repo(e).untouched())?
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

async fn run(ctx: &Ctx, args: Vec<String>) -> Result<(), StepError> {
    let file = ctx.args.str("file")?;
    let project = ctx.args.str("project")?;
    let path = if Path::new(&file).is_absolute() {
        Path::new(&file).to_path_buf()
    } else {
        ctx.ports.workdir.join(&file)
    };
    let (program, prefix) = compose().await?;
    let mut cmd = Command::new(&program);
    cmd.args(&prefix)
        .arg("-f")
        .arg(&path)
        .arg("-p")
        .arg(&project)
        .args(&args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = cmd
        .output()
        .await
        .map_err(|e| StepError::fatal(format!("running {program}: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(StepError::new(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(())
}

/// `docker compose` (v2 plugin) when present, else `docker-compose`.
async fn compose() -> Result<(String, Vec<String>), StepError> {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if v2 {
        return Ok(("docker".into(), vec!["compose".into()]));
    }
    let v1 = Command::new("docker-compose")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if v1 {
        return Ok(("docker-compose".into(), Vec::new()));
    }
    Err(StepError::fatal(
        "neither `docker compose` nor `docker-compose` is installed",
    ))
}
