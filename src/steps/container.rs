//! container.stop / start / restart / exec / recreate.

use std::time::Duration;

use serde_json::{Value as Json, json};

use super::{Ctx, docker, wait_for};
use crate::docker::ExecSpec;
use crate::engine::{Outputs, StepError};

pub async fn stop(ctx: &Ctx) -> Result<Outputs, StepError> {
    let name = ctx.container("container").await?;
    let timeout = ctx.args.duration_or("timeout", Duration::from_secs(30))?;
    let was_running = ctx
        .ports
        .docker
        .stop(&name, timeout)
        .await
        .map_err(docker)?;
    Ok(outputs([("was_running", json!(was_running))]))
}

pub async fn start(ctx: &Ctx) -> Result<Outputs, StepError> {
    let name = ctx.container("container").await?;
    let until = wait_for(&ctx.args.opt_str("wait")?.unwrap_or_default());
    let timeout = ctx.args.duration_or("timeout", Duration::from_secs(60))?;
    ctx.ports.docker.start(&name).await.map_err(docker)?;
    ctx.ports
        .docker
        .wait(&name, until, timeout)
        .await
        .map_err(docker)?;
    Ok(Outputs::new())
}

pub async fn restart(ctx: &Ctx) -> Result<Outputs, StepError> {
    let name = ctx.container("container").await?;
    let until = wait_for(&ctx.args.opt_str("wait")?.unwrap_or_default());
    let timeout = ctx.args.duration_or("timeout", Duration::from_secs(60))?;
    ctx.ports
        .docker
        .restart(&name, Duration::from_secs(30))
        .await
        .map_err(docker)?;
    ctx.ports
        .docker
        .wait(&name, until, timeout)
        .await
        .map_err(docker)?;
    Ok(Outputs::new())
}

pub async fn exec(ctx: &Ctx) -> Result<Outputs, StepError> {
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
    check_expect(
        ctx.args.get("expect"),
        out.exit_code,
        &out.stdout,
        &out.stderr,
    )?;
    Ok(outputs([
        ("stdout", json!(out.stdout)),
        ("stderr", json!(out.stderr)),
        ("exit_code", json!(out.exit_code)),
    ]))
}

pub async fn recreate(ctx: &Ctx) -> Result<Outputs, StepError> {
    let name = ctx.container("container").await?;
    let image = ctx.args.str("image")?;
    let until = wait_for(
        &ctx.args
            .opt_str("wait")?
            .unwrap_or_else(|| "healthy".into()),
    );
    let timeout = ctx.args.duration_or("timeout", Duration::from_secs(120))?;
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

/// `expect: {exit_code, stdout_matches, stdout_contains, stderr_matches}`;
/// without it the exit code must be 0.
pub fn check_expect(
    expect: Option<&Json>,
    code: i64,
    stdout: &str,
    stderr: &str,
) -> Result<(), StepError> {
    let field = |k: &str| expect.and_then(|e| e.get(k));
    let want_code = field("exit_code").and_then(Json::as_i64).unwrap_or(0);
    let tail = |s: &str| {
        let t = s.trim();
        let start = t.len().saturating_sub(400);
        let start = (start..t.len())
            .find(|&i| t.is_char_boundary(i))
            .unwrap_or(t.len());
        t[start..].to_string()
    };
    if code != want_code {
        return Err(StepError::new(format!(
            "exit code {code}, expected {want_code}; stderr: {}; stdout: {}",
            or_empty(&tail(stderr)),
            or_empty(&tail(stdout))
        )));
    }
    if let Some(pattern) = field("stdout_matches").and_then(Json::as_str) {
        matches(pattern, stdout, "stdout")?;
    }
    if let Some(needle) = field("stdout_contains").and_then(Json::as_str)
        && !stdout.contains(needle)
    {
        return Err(StepError::new(format!(
            "stdout does not contain `{needle}`: {}",
            or_empty(&tail(stdout))
        )));
    }
    if let Some(pattern) = field("stderr_matches").and_then(Json::as_str) {
        matches(pattern, stderr, "stderr")?;
    }
    Ok(())
}

pub fn matches(pattern: &str, text: &str, what: &str) -> Result<(), StepError> {
    let re = regex::Regex::new(pattern)
        .map_err(|e| StepError::fatal(format!("bad pattern `{pattern}`: {e}")))?;
    if re.is_match(text) {
        Ok(())
    } else {
        let shown: String = text.trim().chars().take(300).collect();
        Err(StepError::new(format!(
            "{what} does not match `{pattern}`: {}",
            or_empty(&shown)
        )))
    }
}

fn or_empty(s: &str) -> String {
    if s.is_empty() {
        "(empty)".into()
    } else {
        format!("`{s}`")
    }
}

pub fn outputs<const N: usize>(pairs: [(&str, Json); N]) -> Outputs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations() {
        let e = json!({"stdout_matches": "^[1-9]"});
        assert!(check_expect(Some(&e), 0, "10000\n", "").is_ok());
        assert_eq!(
            check_expect(Some(&e), 0, "0\n", "").unwrap_err().message,
            "stdout does not match `^[1-9]`: `0`"
        );
        assert_eq!(
            check_expect(None, 2, "", "boom").unwrap_err().message,
            "exit code 2, expected 0; stderr: `boom`; stdout: (empty)"
        );
        assert!(check_expect(Some(&json!({"exit_code": 3})), 3, "", "").is_ok());
    }
}
