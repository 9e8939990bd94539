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
    ///
    /// Safe to run again after being killed at any point (`lifeboat resume`
    /// does): a `<name>-lifeboat-old` leftover is the original container. With
    /// no `<name>` beside it, it is renamed back first. With a `<name>` made
    /// from it, that new container is kept when it already runs `image` and
    /// passes the wait (the leftover is then removed); otherwise it is removed,
    /// the original renamed back, and the recreate done again. A `<name>` that
    /// was not made from the leftover is refused, and nothing is changed.
    /// `name` may also be the leftover's own name (what a service lookup finds
    /// when only the leftover is there).
    pub async fn recreate(
        &self,
        name: &str,
        image: &str,
        until: WaitFor,
        timeout: Duration,
    ) -> Result<Recreated, DockerError> {
        let name = self.recreated_name(name).await?;
        let name = name.as_str();
        let what = format!("recreating container `{name}` from `{image}`");
        let image_id = match self.api.inspect_image(image).await {
            Ok(i) => i.id.unwrap_or_default(),
            Err(e) if status_of(&e) == Some(404) => {
                return Err(DockerError::not_found(format!(
                    "image `{image}` (lifeboat does not pull images)"
                )));
            }
            Err(e) => return Err(self.err(what, None, e)),
        };
        let old_name = format!("{name}{OLD_SUFFIX}");
        if let Some(done) = self
            .settle(name, &old_name, image, &image_id, until, timeout, &what)
            .await?
        {
            return Ok(done);
        }
        self.replace(name, &old_name, image, until, timeout, &what)
            .await
    }

    /// The name the container called `name` goes by now: `name`, or its
    /// `-lifeboat-old` leftover when a recreate cut off between its rename and
    /// its create left only that (the original container). `name` when
    /// neither exists, so that the caller's own error says what is missing.
    pub async fn current_name(&self, name: &str) -> Result<String, DockerError> {
        if self.container(name).await?.is_some() {
            return Ok(name.to_string());
        }
        let old_name = format!("{name}{OLD_SUFFIX}");
        Ok(match self.container(&old_name).await? {
            Some(_) => old_name,
            None => name.to_string(),
        })
    }

    /// The name the container has outside a recreate: its own name (also when
    /// given its id), or, for a `-lifeboat-old` leftover, the name it had.
    async fn recreated_name(&self, name: &str) -> Result<String, DockerError> {
        if let Some(c) = self.container(name).await? {
            return Ok(match c.name.strip_suffix(OLD_SUFFIX) {
                Some(base) if !base.is_empty() => base.to_string(),
                _ => c.name,
            });
        }
        // Cut off between the rename and the create: only the leftover is there.
        let old_name = format!("{name}{OLD_SUFFIX}");
        match self.container(&old_name).await? {
            Some(_) => Ok(name.to_string()),
            None => Err(DockerError::not_found(super::containers::container_what(
                name,
            ))),
        }
    }

    /// Brings what an interrupted recreate left back to one container called
    /// `name`, or finishes that recreate when it had got to `image` already
    /// (then its result is returned). Without a `-lifeboat-old` leftover,
    /// there is nothing to do.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        name: &str,
        old_name: &str,
        image: &str,
        image_id: &str,
        until: WaitFor,
        timeout: Duration,
        what: &str,
    ) -> Result<Option<Recreated>, DockerError> {
        let Some(old) = self.inspect_opt(old_name).await? else {
            return Ok(None);
        };
        let Some(new) = self.inspect_opt(name).await? else {
            tracing::info!("`{old_name}` left by an interrupted recreate: renaming it back");
            self.rename(old_name, name)
                .await
                .map_err(|e| DockerError::failed(what, e.to_string()))?;
            return Ok(None);
        };
        let old_image = self.image_config(&old).await;
        if let Err(why) = made_from(&new, &old, old_image.as_ref()) {
            return Err(DockerError::failed(
                what,
                format!(
                    "container `{old_name}` is the original container left by an interrupted \
                     recreate, but `{name}` was not made from it ({why}); nothing was changed. \
                     Compare the two (`docker inspect`), remove the one you do not want, rename \
                     `{old_name}` back to `{name}` if it is the one to keep, and run again"
                ),
            ));
        }
        let (o, n) = (state_of(&old), state_of(&new));
        if n.image == image && n.image_id == image_id && n.running {
            // Cut off while the new container was waited for, or just after.
            tracing::info!("finishing an interrupted recreate of `{name}`");
            return match self
                .wait(&n.id, until, timeout)
                .await
                .map_err(|e| rename_what(e, &n.id, name))
            {
                Ok(()) => {
                    self.remove_old(name, old_name).await;
                    Ok(Some(Recreated {
                        previous_image: o.image,
                        previous_image_id: o.image_id,
                        container_id: n.id,
                    }))
                }
                Err(e) => {
                    // Whether the original ran before the recreate is lost
                    // with the kill unless it still runs; it stays as it is.
                    let rollback = self
                        .roll_back(name, old_name, Some(&n.id), o.running)
                        .await
                        .err();
                    Err(with_rollback(what, e, rollback))
                }
            };
        }
        // Another image (this is the undo of the cut-off recreate), or the new
        // container never got started: put the original back, then start over.
        tracing::info!("undoing an interrupted recreate of `{name}`: putting `{old_name}` back");
        self.remove_new(name, &n.id)
            .await
            .map_err(|e| DockerError::failed(what, e.to_string()))?;
        self.rename(old_name, name)
            .await
            .map_err(|e| DockerError::failed(what, e.to_string()))?;
        Ok(None)
    }

    /// The recreate proper, from one container called `name`.
    async fn replace(
        &self,
        name: &str,
        old_name: &str,
        image: &str,
        until: WaitFor,
        timeout: Duration,
        what: &str,
    ) -> Result<Recreated, DockerError> {
        let old = self.inspect(name).await?;
        let old_state = state_of(&old);
        // The old image's defaults, to tell what the container set itself.
        let old_image = self.image_config(&old).await;
        let (body, extra_networks) = create_body(&old, old_image.as_ref(), image);

        let was_running = old_state.running || old_state.state == "restarting";
        let stop_timeout = old
            .config
            .as_ref()
            .and_then(|c| c.stop_timeout)
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);

        // Renamed before it is stopped: a kill in between leaves it running,
        // so a recreate run again still knows it was running.
        self.rename(name, old_name)
            .await
            .map_err(|e| DockerError::failed(what, e.to_string()))?;
        if was_running && let Err(e) = self.stop(old_name, stop_timeout).await {
            let rollback = self.rename(old_name, name).await.err();
            return Err(with_rollback(what, e, rollback));
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
                self.remove_old(name, old_name).await;
                Ok(Recreated {
                    previous_image: old_state.image.clone(),
                    previous_image_id: old_state.image_id.clone(),
                    container_id,
                })
            }
            Err(e) => {
                let rollback = self
                    .roll_back(name, old_name, new_id.as_deref(), was_running)
                    .await
                    .err();
                Err(with_rollback(what, e, rollback))
            }
        }
    }

    /// Raw inspect, `None` when there is no such container.
    async fn inspect_opt(
        &self,
        name: &str,
    ) -> Result<Option<ContainerInspectResponse>, DockerError> {
        match self.inspect(name).await {
            Ok(i) => Ok(Some(i)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The configuration of the image the container runs, if it is still there.
    async fn image_config(&self, c: &ContainerInspectResponse) -> Option<ImageConfig> {
        let id = c.image.as_deref()?;
        self.api.inspect_image(id).await.ok().and_then(|i| i.config)
    }

    /// Once the new container is ready; a failure leaves only a stopped leftover.
    async fn remove_old(&self, name: &str, old_name: &str) {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(false)
            .build();
        if let Err(e) = self.api.remove_container(old_name, Some(options)).await {
            tracing::warn!("recreated `{name}`, but removing `{old_name}` failed: {e}");
        }
    }

    /// Removes the new container (not its volumes); already gone is fine.
    async fn remove_new(&self, name: &str, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(false)
            .build();
        match self.api.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(self.err(format!("removing the new `{name}`"), None, e)),
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
            self.remove_new(name, id).await?;
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

/// Whether `new` is what a recreate made from `old`: it carries everything
/// `old` set itself (labels, environment, volumes) and is not older. Otherwise
/// the reason.
fn made_from(
    new: &ContainerInspectResponse,
    old: &ContainerInspectResponse,
    old_image: Option<&ImageConfig>,
) -> Result<(), String> {
    let img = old_image.cloned().unwrap_or_default();
    let (nc, oc) = (
        new.config.clone().unwrap_or_default(),
        old.config.clone().unwrap_or_default(),
    );
    let mut missing: Vec<String> = Vec::new();

    let img_labels = img.labels.unwrap_or_default();
    let new_labels = nc.labels.unwrap_or_default();
    let mut labels: Vec<(String, String)> = oc.labels.unwrap_or_default().into_iter().collect();
    labels.sort();
    for (k, v) in labels {
        if img_labels.get(&k) != Some(&v) && new_labels.get(&k) != Some(&v) {
            missing.push(format!("label `{k}`"));
        }
    }
    let img_env: HashSet<String> = img.env.unwrap_or_default().into_iter().collect();
    let new_env: HashSet<String> = nc.env.unwrap_or_default().into_iter().collect();
    for e in oc.env.unwrap_or_default() {
        if !img_env.contains(&e) && !new_env.contains(&e) {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            missing.push(format!("environment `{key}`"));
        }
    }
    let volumes = |c: &ContainerInspectResponse| -> HashSet<(String, String)> {
        c.mounts
            .iter()
            .flatten()
            .filter(|m| m.typ.as_deref() == Some("volume"))
            .filter_map(|m| Some((m.name.clone()?, m.destination.clone()?)))
            .collect()
    };
    let new_volumes = volumes(new);
    let mut old_volumes: Vec<(String, String)> = volumes(old).into_iter().collect();
    old_volumes.sort();
    for (vol, dest) in old_volumes {
        if !new_volumes.contains(&(vol.clone(), dest.clone())) {
            missing.push(format!("volume `{vol}` on {dest}"));
        }
    }
    if !missing.is_empty() {
        return Err(format!("it lacks the original's {}", missing.join(", ")));
    }
    let created = |c: &ContainerInspectResponse| {
        c.created
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    if let (Some(n), Some(o)) = (created(new), created(old))
        && n < o
    {
        return Err("it was created before the original".to_string());
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerConfig, MountPoint};

    use super::*;

    fn container(labels: &[(&str, &str)], env: &[&str], created: &str) -> ContainerInspectResponse {
        ContainerInspectResponse {
            created: Some(created.to_string()),
            config: Some(ContainerConfig {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                env: Some(env.iter().map(|e| e.to_string()).collect()),
                ..Default::default()
            }),
            mounts: Some(vec![MountPoint {
                typ: Some("volume".into()),
                name: Some("data".into()),
                destination: Some("/data".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_container_is_made_from_the_original_when_it_carries_what_the_original_set() {
        let image = ImageConfig {
            labels: Some(HashMap::from([("vendor".into(), "old".into())])),
            env: Some(vec!["PATH=/bin".into()]),
            ..Default::default()
        };
        let old = container(
            &[("svc", "kv"), ("vendor", "old")],
            &["PATH=/bin", "KEEP=1"],
            "2026-01-01T00:00:00.5Z",
        );
        // The new image's defaults differ; what the original set is carried over.
        let new = container(
            &[("svc", "kv"), ("vendor", "new")],
            &["PATH=/usr/bin", "KEEP=1"],
            "2026-01-01T00:00:00.25Z",
        );
        assert_eq!(
            made_from(&new, &old, Some(&image)),
            Err("it was created before the original".to_string()),
            "fractions of seconds compare as times, not as text"
        );
        let new = ContainerInspectResponse {
            created: Some("2026-01-01T00:00:01Z".into()),
            ..new
        };
        assert_eq!(made_from(&new, &old, Some(&image)), Ok(()));

        let stranger = ContainerInspectResponse {
            config: None,
            mounts: None,
            ..new
        };
        assert_eq!(
            made_from(&stranger, &old, Some(&image)),
            Err(
                "it lacks the original's label `svc`, environment `KEEP`, volume `data` on /data"
                    .to_string()
            )
        );
    }
}
