//! The compose program (`docker compose`, or `docker-compose` where only v1
//! is installed), run in its own process group with DOCKER_HOST passed on:
//! a hang-up or Ctrl-C sent to lifeboat's terminal is lifeboat's to handle,
//! and must not kill compose under a run.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

/// How to call compose on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compose {
    pub program: String,
    prefix: Vec<String>,
}

/// A command in its own process group.
pub fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    #[cfg(unix)]
    cmd.process_group(0);
    cmd
}

async fn works(program: &str, args: &[&str]) -> bool {
    command(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

impl Compose {
    /// `docker compose` (v2 plugin) when present, else `docker-compose`.
    pub async fn find() -> Result<Self, String> {
        if works("docker", &["compose", "version"]).await {
            return Ok(Compose {
                program: "docker".into(),
                prefix: vec!["compose".into()],
            });
        }
        if works("docker-compose", &["version"]).await {
            return Ok(Compose {
                program: "docker-compose".into(),
                prefix: Vec::new(),
            });
        }
        Err("neither `docker compose` nor `docker-compose` is installed".into())
    }

    /// `compose -f FILE -p PROJECT ARGS...`, stdin closed, killed when dropped.
    pub fn command(&self, file: &Path, project: &str, args: &[&str]) -> Command {
        let mut cmd = command(&self.program);
        cmd.args(&self.prefix)
            .arg("-f")
            .arg(file)
            .arg("-p")
            .arg(project)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs it; Ok: stdout. Err: the exit status and the tail of stderr.
    pub async fn run(&self, file: &Path, project: &str, args: &[&str]) -> Result<String, String> {
        let out = self
            .command(file, project, args)
            .output()
            .await
            .map_err(|e| format!("running {}: {e}", self.program))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        Err(format!(
            "{} {} failed ({}): {}",
            self.name(),
            args.join(" "),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ))
    }

    /// `docker compose` or `docker-compose`, as a user would type it.
    pub fn name(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.prefix.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The version line compose prints, for reports.
    pub async fn version(&self) -> Option<String> {
        let out = command(&self.program)
            .args(&self.prefix)
            .arg("version")
            .arg("--short")
            .output()
            .await
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}
