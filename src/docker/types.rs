//! Plain data the adapter takes and returns.

use std::collections::BTreeMap;

/// What [`Docker::wait`](super::Docker::wait) waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// State `running` (not restarting).
    Running,
    /// Health `healthy`; a container without a healthcheck counts once running.
    Healthy,
}

/// A command to run in a container: argv (no shell), extra environment, user, working dir.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
}

impl ExecSpec {
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecSpec {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }
}

/// The result of an exec. `stdout` / `stderr` are each capped at 4 MiB
/// (`truncated` says whether either was cut); invalid UTF-8 is replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
}

/// What [`Docker::recreate`](super::Docker::recreate) replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recreated {
    /// The image reference the old container was created with (`Config.Image`).
    pub previous_image: String,
    /// The image id the old container ran.
    pub previous_image_id: String,
    /// The id of the new container.
    pub container_id: String,
}

/// One container as inspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// The image reference it was created with (`Config.Image`).
    pub image: String,
    pub image_id: String,
    /// Docker's state: created, running, paused, restarting, removing, exited, dead.
    pub state: String,
    /// `starting`, `healthy` or `unhealthy` when the container has a healthcheck.
    pub health: Option<String>,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<ContainerMount>,
}

/// A mount of a container: a volume (source = volume name), a bind (host path) or tmpfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMount {
    /// `volume`, `bind`, `tmpfs`, ...
    pub kind: String,
    pub source: String,
    pub destination: String,
    pub read_write: bool,
}
