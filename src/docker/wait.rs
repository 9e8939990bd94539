//! Waiting for a container to be running or healthy, failing fast when it exits
//! or turns unhealthy.

use std::time::Duration;

use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use tokio::time::Instant;

use super::Docker;
use super::containers::state_of;
use super::error::DockerError;
use super::types::WaitFor;

/// As often as the raw-copy limit polls (docs/benchmarks.md, "Recovery time"):
/// a container healthy between two polls costs the run up to one interval.
const POLL: Duration = Duration::from_millis(100);
const MAX_OUTPUT: usize = 500;
const LOG_LINES: usize = 5;

impl Docker {
    /// Waits until the container runs (`WaitFor::Running`) or is healthy
    /// (`WaitFor::Healthy`; without a healthcheck, running counts as healthy).
    /// Fails at once when it exits or turns unhealthy (Docker only reports
    /// `unhealthy` after the healthcheck's start period), with `Timeout` at the
    /// deadline; both errors carry the last state and healthcheck output.
    pub async fn wait(
        &self,
        name: &str,
        until: WaitFor,
        timeout: Duration,
    ) -> Result<(), DockerError> {
        let deadline = Instant::now() + timeout;
        let what = format!(
            "waiting for container `{name}` to be {}",
            match until {
                WaitFor::Running => "running",
                WaitFor::Healthy => "healthy",
            }
        );
        loop {
            let i = self.inspect(name).await?;
            let s = state_of(&i);
            let last = describe(&i);
            let restarting = i.state.as_ref().and_then(|s| s.restarting).unwrap_or(false);
            match s.state.as_str() {
                "exited" | "dead" => {
                    let logs = self.last_logs(name).await;
                    return Err(DockerError::failed(
                        what,
                        format!("it stopped: {last}{logs}"),
                    ));
                }
                "running" if !restarting => match (until, s.health.as_deref()) {
                    (WaitFor::Running, _) | (WaitFor::Healthy, None | Some("healthy")) => {
                        return Ok(());
                    }
                    (WaitFor::Healthy, Some("unhealthy")) => {
                        return Err(DockerError::failed(
                            what,
                            format!("it turned unhealthy: {last}"),
                        ));
                    }
                    _ => {}
                },
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DockerError::Timeout {
                    what,
                    after: timeout,
                    last,
                });
            }
            tokio::time::sleep(POLL.min(deadline - now)).await;
        }
    }
}

impl Docker {
    /// "; last output: …" with the container's last log lines, or "" if none.
    async fn last_logs(&self, name: &str) -> String {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&LOG_LINES.to_string())
            .build();
        let mut text = String::new();
        let mut logs = self.api.logs(name, Some(options));
        while let Ok(Some(Ok(chunk))) =
            tokio::time::timeout(Duration::from_secs(2), logs.next()).await
        {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            if text.len() > MAX_OUTPUT * 4 {
                break;
            }
        }
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            String::new()
        } else {
            format!("; last output: {}", lines.join(" | "))
        }
    }
}

/// "state exited (exit code 1), health unhealthy, last healthcheck (exit 1): …"
pub(crate) fn describe(i: &ContainerInspectResponse) -> String {
    let s = state_of(i);
    let mut out = format!("state {}", s.state);
    let st = i.state.as_ref();
    if matches!(s.state.as_str(), "exited" | "dead") {
        if let Some(code) = s.exit_code {
            out.push_str(&format!(" (exit code {code})"));
        }
        if st.and_then(|s| s.oom_killed) == Some(true) {
            out.push_str(", killed by the OOM killer");
        }
    }
    if let Some(err) = st
        .and_then(|s| s.error.as_deref())
        .filter(|e| !e.is_empty())
    {
        out.push_str(&format!(", error: {err}"));
    }
    if let Some(h) = &s.health {
        out.push_str(&format!(", health {h}"));
    }
    let last_check = st
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.log.as_ref())
        .and_then(|l| l.last());
    if let Some(check) = last_check {
        let output = check.output.as_deref().unwrap_or("").trim();
        let output = if output.len() > MAX_OUTPUT {
            let mut cut = MAX_OUTPUT;
            while !output.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}…", &output[..cut])
        } else {
            output.to_string()
        };
        out.push_str(&format!(
            ", last healthcheck (exit {}): {}",
            check.exit_code.unwrap_or(-1),
            if output.is_empty() {
                "(no output)"
            } else {
                &output
            }
        ));
    }
    out
}
