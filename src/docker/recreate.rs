//! Recreating a container from another image with the same configuration,
//! keeping the old one (renamed, stopped) until the new one is ready.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, ImageConfig, Mount, MountType,
    NetworkConnectRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder,
    StartContainerOptions,
};

use super::Docker;
use super::containers::state_of;
use super::error::{DockerError, status_of};
use super::types::{Recreated, WaitFor};

/// The suffix the old container carries while its replacement starts.
pub const OLD_SUFFIX: &str = "-lifeboat-old";
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Docker {
    /// Replaces the container by one with the same configuration and `image`:
    /// env, cmd/entrypoint, labels, healthcheck, working dir and user as the
    /// container set them (values equal to the old image's defaults are left to
    /// the new image), the whole HostConfig (binds, mounts, ports, restart
    /// policy, network mode, ...), anonymous volumes re-attached, and every
    /// network endpoint with its aliases. The old container is renamed
    /// `<name>-lifeboat-old` and stopped, then removed once the new one passes
    /// `wait(until, timeout)`. If anything fails, the new one is removed, the
    /// old one renamed back (and started if it was running) and the error returned.
    /// The image must exist locally (nothing is pulled).
    pub async fn recreate(
        &self,
        name: &str,
        image: &str,
        until: WaitFor,
        timeout: Duration,
    ) -> Result<Recreated, DockerError> {
        let what = format!("recreating container `{name}` from `{image}`");
        let old = self.inspect(name).await?;
        let old_state = state_of(&old);
        let name = old_state.name.as_str(); // the real name, even if given an id
        let old_name = format!("{name}{OLD_SUFFIX}");
        if self.container(&old_name).await?.is_some() {
            return Err(DockerError::failed(
                what,
                format!(
                    "container `{old_name}` exists (left by an interrupted recreate?); \
                     remove it, or rename it back to `{name}`, first"
                ),
            ));
        }
        match self.api.inspect_image(image).await {
            Ok(_) => {}
            Err(e) if status_of(&e) == Some(404) => {
                return Err(DockerError::not_found(format!(
                    "image `{image}` (lifeboat does not pull images)"
                )));
            }
            Err(e) => return Err(self.err(what, None, e)),
        }
        // The old image's defaults, to tell what the container set itself.
        let old_image = self
            .api
            .inspect_image(&old_state.image_id)
            .await
            .ok()
            .and_then(|i| i.config);
        let (body, extra_networks) = create_body(&old, old_image.as_ref(), image);

        let was_running = old_state.running || old_state.state == "restarting";
        let stop_timeout = old
            .config
            .as_ref()
            .and_then(|c| c.stop_timeout)
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);

        self.rename(name, &old_name)
            .await
            .map_err(|e| DockerError::failed(what.clone(), e.to_string()))?;
        if was_running && let Err(e) = self.stop(&old_name, stop_timeout).await {
            let rollback = self.rename(&old_name, name).await.err();
            return Err(with_rollback(&what, e, rollback));
        }

        let mut new_id: Option<String> = None;
        let attempt = async {
            let created = self
                .api
                .create_container(
                    Some(CreateContainerOptionsBuilder::default().name(name).build()),
                    body,
                )
                .await
                .map_err(|e| self.err(format!("creating the new container `{name}`"), None, e))?;
            new_id = Some(created.id.clone());
            for (network, endpoint) in extra_networks {
                self.api
                    .connect_network(
                        &network,
                        NetworkConnectRequest {
                            container: created.id.clone(),
                            endpoint_config: Some(endpoint),
                        },
                    )
                    .await
                    .map_err(|e| {
                        self.err(
                            format!("connecting the new `{name}` to network `{network}`"),
                            None,
                            e,
                        )
                    })?;
            }
            self.api
                .start_container(&created.id, None::<StartContainerOptions>)
                .await
                .map_err(|e| self.err(format!("starting the new `{name}`"), None, e))?;
            self.wait(&created.id, until, timeout)
                .await
                .map_err(|e| rename_what(e, &created.id, name))?;
            Ok::<String, DockerError>(created.id)
        }
        .await;

        match attempt {
            Ok(container_id) => {
                let options = RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(false)
                    .build();
                if let Err(e) = self.api.remove_container(&old_name, Some(options)).await {
                    tracing::warn!("recreated `{name}`, but removing `{old_name}` failed: {e}");
                }
                Ok(Recreated {
                    previous_image: old_state.image.clone(),
                    previous_image_id: old_state.image_id.clone(),
                    container_id,
                })
            }
            Err(e) => {
                let rollback = self
                    .roll_back(name, &old_name, new_id.as_deref(), was_running)
                    .await
                    .err();
                Err(with_rollback(&what, e, rollback))
            }
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), DockerError> {
        self.api
            .rename_container(
                from,
                RenameContainerOptionsBuilder::default().name(to).build(),
            )
            .await
            .map_err(|e| self.err(format!("renaming container `{from}` to `{to}`"), None, e))
    }

    async fn roll_back(
        &self,
        name: &str,
        old_name: &str,
        new_id: Option<&str>,
        was_running: bool,
    ) -> Result<(), DockerError> {
        if let Some(id) = new_id {
            let options = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(false)
                .build();
            match self.api.remove_container(id, Some(options)).await {
                Ok(()) => {}
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => return Err(self.err(format!("removing the new `{name}`"), None, e)),
            }
        }
        self.rename(old_name, name).await?;
        if was_running {
            self.start(name).await?;
        }
        Ok(())
    }
}

/// Errors about the new container name it, not its id.
fn rename_what(e: DockerError, id: &str, name: &str) -> DockerError {
    match e {
        DockerError::Timeout { what, after, last } => DockerError::Timeout {
            what: what.replace(id, name),
            after,
            last,
        },
        DockerError::Failed { what, message } => DockerError::Failed {
            what: what.replace(id, name),
            message,
        },
        other => other,
    }
}

fn with_rollback(what: &str, error: DockerError, rollback: Option<DockerError>) -> DockerError {
    match rollback {
        None => DockerError::failed(what, format!("{error}; the old container was put back")),
        Some(r) => DockerError::failed(
            what,
            format!("{error}; putting the old container back ALSO FAILED: {r}"),
        ),
    }
}

/// The create body for the new container, and the networks to connect after create.
fn create_body(
    old: &ContainerInspectResponse,
    image_cfg: Option<&ImageConfig>,
    image: &str,
) -> (ContainerCreateBody, Vec<(String, EndpointSettings)>) {
    let cfg = old.config.clone().unwrap_or_default();
    let id = old.id.clone().unwrap_or_default();
    let short_id: String = id.chars().take(12).collect();
    let img = image_cfg.cloned().unwrap_or_default();

    let env = cfg.env.map(|env| {
        let defaults: HashSet<&String> = img.env.iter().flatten().collect();
        env.into_iter()
            .filter(|e| !defaults.contains(e))
            .collect::<Vec<_>>()
    });
    let labels = cfg.labels.map(|labels| {
        let defaults = img.labels.clone().unwrap_or_default();
        labels
            .into_iter()
            .filter(|(k, v)| defaults.get(k) != Some(v))
            .collect::<HashMap<_, _>>()
    });
    let (mut entrypoint, mut cmd) = (cfg.entrypoint, cfg.cmd);
    if entrypoint == img.entrypoint {
        entrypoint = None;
        if cmd == img.cmd {
            cmd = None;
        }
    }
    let healthcheck = cfg
        .healthcheck
        .filter(|h| Some(h) != img.healthcheck.as_ref());
    let working_dir = cfg
        .working_dir
        .filter(|w| !w.is_empty() && Some(w) != img.working_dir.as_ref());
    let user = cfg
        .user
        .filter(|u| !u.is_empty() && Some(u) != img.user.as_ref());
    let stop_signal = cfg
        .stop_signal
        .filter(|s| Some(s) != img.stop_signal.as_ref());
    let exposed_ports = cfg.exposed_ports.map(|ports| {
        let defaults: HashSet<&String> = img.exposed_ports.iter().flatten().collect();
        ports
            .into_iter()
            .filter(|p| !defaults.contains(p))
            .collect::<Vec<_>>()
    });
    let hostname = cfg.hostname.filter(|h| !h.is_empty() && *h != short_id);

    // HostConfig as it was; anonymous volumes re-attached by name.
    let mut host = old.host_config.clone().unwrap_or_default();
    let mut covered: HashSet<String> = host
        .binds
        .iter()
        .flatten()
        .filter_map(|b| b.split(':').nth(1).map(str::to_string))
        .collect();
    covered.extend(
        host.mounts
            .iter()
            .flatten()
            .filter_map(|m| m.target.clone()),
    );
    let mut mounts = host.mounts.take().unwrap_or_default();
    for m in old.mounts.iter().flatten() {
        let (Some(dest), Some(vol)) = (m.destination.as_ref(), m.name.as_ref()) else {
            continue;
        };
        if m.typ.as_deref() == Some("volume") && !covered.contains(dest) {
            mounts.push(Mount {
                typ: Some(MountType::VOLUME),
                source: Some(vol.clone()),
                target: Some(dest.clone()),
                read_only: Some(!m.rw.unwrap_or(true)),
                ..Default::default()
            });
        }
    }
    host.mounts = (!mounts.is_empty()).then_some(mounts);
    // Inspect shows legacy links as "/target:/name/alias"; create wants "target:alias".
    host.links = host.links.map(|links| {
        links
            .into_iter()
            .map(|l| match l.split_once(':') {
                Some((target, alias)) => format!(
                    "{}:{}",
                    target.trim_start_matches('/'),
                    alias.rsplit('/').next().unwrap_or(alias)
                ),
                None => l,
            })
            .collect()
    });

    // Networks: the primary one at create, the others connected afterwards.
    let mode = host.network_mode.clone().unwrap_or_default();
    let mut endpoints: Vec<(String, EndpointSettings)> = Vec::new();
    let shared_stack = mode == "host" || mode == "none" || mode.starts_with("container:");
    if !shared_stack {
        for (net, ep) in old
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.clone())
            .unwrap_or_default()
        {
            let aliases: Vec<String> = ep
                .aliases
                .unwrap_or_default()
                .into_iter()
                .filter(|a| *a != short_id && *a != id)
                .collect();
            let endpoint = EndpointSettings {
                ipam_config: ep.ipam_config,
                links: ep.links,
                aliases: (!aliases.is_empty() && net != "bridge").then_some(aliases),
                driver_opts: ep.driver_opts,
                ..Default::default()
            };
            endpoints.push((net, endpoint));
        }
    }
    let primary_name = if mode.is_empty() || mode == "default" {
        "bridge"
    } else {
        mode.as_str()
    };
    endpoints.sort_by_key(|(net, _)| (net != primary_name, net.clone()));
    let mut endpoints = endpoints.into_iter();
    let networking_config = endpoints.next().map(|(net, ep)| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(net, ep)])),
    });

    let body = ContainerCreateBody {
        hostname,
        domainname: cfg.domainname,
        user,
        attach_stdin: cfg.attach_stdin,
        attach_stdout: cfg.attach_stdout,
        attach_stderr: cfg.attach_stderr,
        exposed_ports,
        tty: cfg.tty,
        open_stdin: cfg.open_stdin,
        stdin_once: cfg.stdin_once,
        env,
        cmd,
        healthcheck,
        image: Some(image.to_string()),
        working_dir,
        entrypoint,
        labels,
        stop_signal,
        stop_timeout: cfg.stop_timeout,
        host_config: Some(host),
        networking_config,
        ..Default::default()
    };
    (body, endpoints.collect())
}
