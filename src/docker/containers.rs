//! Containers: inspect, list (for plans), compose service lookup, stop / start / restart.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, RestartContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};
use futures_util::future::try_join_all;

use super::Docker;
use super::error::DockerError;
use super::types::{ContainerMount, ContainerState};
use crate::model::world::{self, COMPOSE_PROJECT, COMPOSE_SERVICE};

const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";

/// Which volume sizes [`Docker::observe_with`] asks for. Sizes are only
/// shown (a plan's "exists, 1.7 GiB"), never decided on, so a run asks only
/// for the volumes its plan names: the engine's `df` walks every volume on
/// the host, which can take seconds of an incident (docs/architecture.md §3).
#[derive(Debug, Clone, Copy)]
pub enum Sizes<'a> {
    /// Every volume's, from `GET /system/df` (given up on after 3 s).
    All,
    /// Only these volumes', each measured at its directory on this host
    /// (unknown when that cannot be read from here).
    Of(&'a [String]),
}

pub(crate) fn container_what(name: &str) -> String {
    format!("container `{name}`")
}

/// Seconds for the engine's `t` parameter, rounded up.
fn secs_ceil(d: Duration) -> i32 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(s).unwrap_or(i32::MAX)
}

impl Docker {
    /// Raw inspect; `NotFound` when there is no such container.
    pub(crate) async fn inspect(
        &self,
        name: &str,
    ) -> Result<ContainerInspectResponse, DockerError> {
        self.api.inspect_container(name, None).await.map_err(|e| {
            self.err(
                format!("inspecting {}", container_what(name)),
                Some(container_what(name)),
                e,
            )
        })
    }

    /// The container called `name` (or with that id), or `None`.
    pub async fn container(&self, name: &str) -> Result<Option<ContainerState>, DockerError> {
        match self.inspect(name).await {
            Ok(i) => Ok(Some(state_of(&i))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every container (running or not) and every volume, for plans, with
    /// every volume's size (`GET /system/df`).
    pub async fn observe(
        &self,
    ) -> Result<(Vec<world::Container>, Vec<world::Volume>), DockerError> {
        self.observe_with(Sizes::All).await
    }

    /// Every container and every volume, with the sizes `sizes` asks for.
    pub async fn observe_with(
        &self,
        sizes: Sizes<'_>,
    ) -> Result<(Vec<world::Container>, Vec<world::Volume>), DockerError> {
        let list = self
            .api
            .list_containers(Some(
                ListContainersOptionsBuilder::default().all(true).build(),
            ))
            .await
            .map_err(|e| self.err("listing containers", None, e))?;
        let ids: Vec<String> = list.into_iter().filter_map(|c| c.id).collect();
        let inspected = try_join_all(ids.iter().map(|id| async move {
            match self.inspect(id).await {
                Ok(i) => Ok(Some(i)),
                // Removed between the list and the inspect.
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        }))
        .await?;
        let mut containers: Vec<world::Container> = inspected
            .iter()
            .flatten()
            .map(|i| {
                let s = state_of(i);
                world::Container {
                    name: s.name,
                    image: s.image,
                    state: s.state,
                    health: s.health,
                    labels: s.labels,
                    mounts: s
                        .mounts
                        .into_iter()
                        .filter(|m| m.kind == "volume")
                        .map(|m| world::Mount {
                            volume: m.source,
                            destination: m.destination,
                        })
                        .collect(),
                }
            })
            .collect();
        containers.sort_by(|a, b| a.name.cmp(&b.name));

        let volumes = self
            .api
            .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
            .await
            .map_err(|e| self.err("listing volumes", None, e))?;
        let sizes = match sizes {
            Sizes::All => self.volume_sizes().await,
            Sizes::Of(names) => self.volume_sizes_of(names).await,
        };
        let mut volumes: Vec<world::Volume> = volumes
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| world::Volume {
                size_bytes: sizes.get(&v.name).copied(),
                name: v.name,
            })
            .collect();
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((containers, volumes))
    }

    /// The container of a compose service (labels `com.docker.compose.project` /
    /// `.service`, one-off `run` containers excluded, and a `-lifeboat-old`
    /// leftover of an interrupted recreate too when another container is
    /// there): `None` if there is none, an error if there are several (a
    /// scaled service).
    pub async fn service_container(
        &self,
        project: &str,
        service: &str,
    ) -> Result<Option<String>, DockerError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{COMPOSE_PROJECT}={project}"),
                format!("{COMPOSE_SERVICE}={service}"),
            ],
        )]);
        let list = self
            .api
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| {
                self.err(
                    format!("finding service `{service}` of project `{project}`"),
                    None,
                    e,
                )
            })?;
        let mut names: Vec<String> = list
            .into_iter()
            .filter(|c| {
                let labels = c.labels.as_ref();
                labels
                    .and_then(|l| l.get(COMPOSE_ONEOFF))
                    .map(|v| v.eq_ignore_ascii_case("true"))
                    != Some(true)
            })
            .filter_map(|c| c.names.and_then(|n| n.into_iter().next()))
            .map(|n| n.trim_start_matches('/').to_string())
            .collect();
        names.sort();
        // A recreate cut off by a kill leaves the original as `<name>-lifeboat-old`
        // beside the new one: the new one is the service's container, and the
        // recreate run again settles the pair. Alone, the leftover is the one.
        let (leftovers, mut names): (Vec<String>, Vec<String>) = names
            .into_iter()
            .partition(|n| n.ends_with(super::recreate::OLD_SUFFIX));
        if names.is_empty() {
            names = leftovers;
        }
        match names.len() {
            0 => Ok(None),
            1 => Ok(names.pop()),
            _ => Err(DockerError::failed(
                format!("service `{service}` of project `{project}`"),
                format!(
                    "has {} containers ({}); name the container to use instead",
                    names.len(),
                    names.join(", ")
                ),
            )),
        }
    }

    /// Stops the container (SIGTERM, then SIGKILL after `timeout`).
    /// Returns whether it was running; stopping a stopped container is `Ok(false)`.
    pub async fn stop(&self, name: &str, timeout: Duration) -> Result<bool, DockerError> {
        let i = self.inspect(name).await?;
        let s = state_of(&i);
        if !(s.running || s.state == "restarting" || s.state == "paused") {
            return Ok(false);
        }
        self.api_with_timeout(timeout + Duration::from_secs(60))
            .stop_container(
                name,
                Some(
                    StopContainerOptionsBuilder::default()
                        .t(secs_ceil(timeout))
                        .build(),
                ),
            )
            .await
            .map_err(|e| {
                self.err(
                    format!("stopping {}", container_what(name)),
                    Some(container_what(name)),
                    e,
                )
            })?;
        Ok(true)
    }

    /// Starts the container; returns whether it was already running (then nothing is done).
    pub async fn start(&self, name: &str) -> Result<bool, DockerError> {
        let i = self.inspect(name).await?;
        if state_of(&i).running {
            return Ok(true);
        }
        self.api
            .start_container(name, None::<StartContainerOptions>)
            .await
            .map_err(|e| {
                self.err(
                    format!("starting {}", container_what(name)),
                    Some(container_what(name)),
                    e,
                )
            })?;
        Ok(false)
    }

    /// Restarts the container (stop with `timeout`, then start), running or not.
    pub async fn restart(&self, name: &str, timeout: Duration) -> Result<(), DockerError> {
        self.api_with_timeout(timeout + Duration::from_secs(60))
            .restart_container(
                name,
                Some(
                    RestartContainerOptionsBuilder::default()
                        .t(secs_ceil(timeout))
                        .build(),
                ),
            )
            .await
            .map_err(|e| {
                self.err(
                    format!("restarting {}", container_what(name)),
                    Some(container_what(name)),
                    e,
                )
            })
    }
}

pub(crate) fn state_of(i: &ContainerInspectResponse) -> ContainerState {
    let state = i.state.as_ref();
    let config = i.config.as_ref();
    let labels: BTreeMap<String, String> = config
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let health = state
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status)
        .map(|h| h.to_string())
        .filter(|h| !h.is_empty() && h != "none");
    let mounts = i
        .mounts
        .iter()
        .flatten()
        .map(|m| {
            let kind = m.typ.clone().unwrap_or_default();
            let source = if kind == "volume" {
                m.name.clone().unwrap_or_default()
            } else {
                m.source.clone().unwrap_or_default()
            };
            ContainerMount {
                kind,
                source,
                destination: m.destination.clone().unwrap_or_default(),
                read_write: m.rw.unwrap_or(true),
            }
        })
        .collect();
    ContainerState {
        id: i.id.clone().unwrap_or_default(),
        name: i
            .name
            .clone()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config.and_then(|c| c.image.clone()).unwrap_or_default(),
        image_id: i.image.clone().unwrap_or_default(),
        state: state
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        health,
        running: state.and_then(|s| s.running).unwrap_or(false),
        exit_code: state.and_then(|s| s.exit_code),
        labels,
        mounts,
    }
}
