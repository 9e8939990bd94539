//! One-off containers (`volume.run`): created from an image that is already
//! on the host (never pulled), with volumes mounted, no network unless
//! asked, labelled as lifeboat's; started, waited for, their output
//! collected, and removed whatever happens — when the call fails, and in
//! the background when its future is dropped (a step's timeout).

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

use super::Docker;
use super::client::LONG_TIMEOUT;
use super::error::{DockerError, status_of};
use super::exec::Capped;
use super::helper::{owner, random_hex, release, track};
use super::types::ExecOutput;

/// Label on one-off containers (`1`); [`ONEOFF_STEP_LABEL`] names the step.
pub const ONEOFF_LABEL: &str = "lifeboat.oneoff";
pub const ONEOFF_STEP_LABEL: &str = "lifeboat.oneoff.step";
/// Host/pid/token of the process that made it: one left behind by a dead
/// process (or cut off without a runtime to remove it) is removed the next
/// time a one-off is made.
const ONEOFF_OWNER_LABEL: &str = "lifeboat.oneoff.owner";
/// One-off containers are named `lifeboat-run-<hex>`.
pub const ONEOFF_PREFIX: &str = "lifeboat-run-";

/// What a one-off container runs, and on what.
#[derive(Debug, Clone, Default)]
pub struct OneOff {
    pub image: String,
    /// argv; the image's entrypoint, if any, is kept.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// (volume name, absolute mount point).
    pub mounts: Vec<(String, String)>,
    /// Mount the volumes read-only.
    pub read_only: bool,
    /// A network to join; `None`: none at all.
    pub network: Option<String>,
    /// The step it runs for (a label).
    pub step: String,
}

/// Removes the container when dropped armed (in the background).
struct Removal {
    docker: Docker,
    name: String,
    armed: bool,
}

impl Removal {
    async fn remove(mut self) -> Result<(), DockerError> {
        self.armed = false;
        let removed = remove(&self.docker, &self.name).await;
        release(&self.name);
        removed
    }
}

impl Drop for Removal {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (docker, name) = (self.docker.clone(), std::mem::take(&mut self.name));
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if let Err(e) = remove(&docker, &name).await {
                        tracing::warn!("removing one-off container {name}: {e}");
                    }
                    release(&name);
                });
            }
            Err(_) => {
                release(&name);
                tracing::warn!(
                    "one-off container {name} left behind (no runtime); removed on next use"
                );
            }
        }
    }
}

async fn remove(docker: &Docker, name: &str) -> Result<(), DockerError> {
    // `v`: the anonymous volumes the image's VOLUMEs made go with it (named
    // volumes, the ones it was run on, are never removed by it).
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.api.remove_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if status_of(&e) == Some(404) => Ok(()),
        Err(e) => Err(docker.err(format!("removing one-off container `{name}`"), None, e)),
    }
}

impl Docker {
    /// Whether `image` is on this host (nothing is pulled).
    pub async fn image_exists(&self, image: &str) -> Result<bool, DockerError> {
        match self.api.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(self.err(format!("inspecting image `{image}`"), None, e)),
        }
    }

    /// Runs `spec` in a new container and removes it; fails when the image
    /// is not on this host: it is never pulled. A non-zero exit is not
    /// an error (it is in `exit_code`); stdout and stderr are capped at 4 MiB
    /// each.
    pub async fn run_oneoff(&self, spec: OneOff) -> Result<ExecOutput, DockerError> {
        let program = spec.argv.first().cloned().unwrap_or_default();
        let what = format!("running `{program}` in a container of `{}`", spec.image);
        if !self.image_exists(&spec.image).await? {
            return Err(DockerError::failed(what, missing_image(&spec.image)));
        }
        self.remove_stale(ONEOFF_LABEL, ONEOFF_OWNER_LABEL).await;
        let name = format!("{ONEOFF_PREFIX}{}", random_hex());
        track(&name);
        // Armed before the create: a future dropped while the engine creates
        // the container still removes it.
        let removal = Removal {
            docker: self.clone(),
            name: name.clone(),
            armed: true,
        };
        let created = self
            .api
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                oneoff_body(&spec),
            )
            .await
            .map_err(|e| self.err(what.clone(), None, e));
        let ran = match created {
            Ok(_) => self.start_and_wait(&name, &what).await,
            Err(e) => Err(e),
        };
        let removed = removal.remove().await;
        let out = ran?;
        removed?;
        Ok(out)
    }

    async fn start_and_wait(&self, name: &str, what: &str) -> Result<ExecOutput, DockerError> {
        self.api
            .start_container(name, None::<StartContainerOptions>)
            .await
            .map_err(|e| self.err(what.to_string(), None, e))?;
        let api = self.api_with_timeout(LONG_TIMEOUT);
        let mut waited = api.wait_container(name, None::<WaitContainerOptions>);
        let exit_code = match waited.next().await {
            Some(Ok(r)) => r.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(self.err(what.to_string(), None, e)),
            None => {
                return Err(DockerError::failed(
                    what.to_string(),
                    "the engine did not say how the container ended",
                ));
            }
        };
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(false)
            .build();
        let (mut stdout, mut stderr) = (Capped::default(), Capped::default());
        let mut logs = self.api.logs(name, Some(options));
        while let Some(item) = logs.next().await {
            match item.map_err(|e| self.err(what.to_string(), None, e))? {
                bollard::container::LogOutput::StdErr { message } => stderr.push(&message),
                other => stdout.push(&other.into_bytes()),
            }
        }
        Ok(ExecOutput {
            exit_code,
            truncated: stdout.truncated || stderr.truncated,
            stdout: stdout.into_string(),
            stderr: stderr.into_string(),
        })
    }
}

/// Why a one-off cannot run without `image`.
pub fn missing_image(image: &str) -> String {
    format!(
        "image `{image}` is not on this host, and lifeboat never pulls: `docker images` lists \
         the images here; `docker load -i <file>` (or `docker build`) adds it"
    )
}

/// The container's configuration.
fn oneoff_body(spec: &OneOff) -> ContainerCreateBody {
    let mounts = spec
        .mounts
        .iter()
        .map(|(volume, target)| Mount {
            typ: Some(MountType::VOLUME),
            source: Some(volume.clone()),
            target: Some(target.clone()),
            read_only: Some(spec.read_only),
            volume_options: Some(MountVolumeOptions {
                no_copy: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.argv.clone()),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: spec.user.clone(),
        working_dir: spec.workdir.clone(),
        tty: Some(false),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        labels: Some(HashMap::from([
            (ONEOFF_LABEL.to_string(), "1".to_string()),
            (ONEOFF_STEP_LABEL.to_string(), spec.step.clone()),
            (ONEOFF_OWNER_LABEL.to_string(), owner()),
        ])),
        network_disabled: Some(spec.network.is_none()),
        host_config: Some(HostConfig {
            network_mode: Some(spec.network.clone().unwrap_or_else(|| "none".into())),
            mounts: Some(mounts),
            auto_remove: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_off_has_no_network_its_label_and_its_volumes() {
        let body = oneoff_body(&OneOff {
            image: "img".into(),
            argv: vec!["true".into()],
            mounts: vec![("v".into(), "/data".into())],
            read_only: true,
            step: "s".into(),
            ..Default::default()
        });
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(body.network_disabled, Some(true));
        let m = &host.mounts.unwrap()[0];
        assert_eq!(
            (m.source.as_deref(), m.target.as_deref(), m.read_only),
            (Some("v"), Some("/data"), Some(true))
        );
        assert_eq!(body.labels.unwrap()[ONEOFF_LABEL], "1");
    }
}
