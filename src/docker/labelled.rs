//! Everything that carries a label: how drills find and remove what they
//! created, also after a drill was killed (docs/architecture.md §8).

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};

use super::Docker;
use super::error::{DockerError, status_of};

/// Containers, volumes and networks with a label, each with that label's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labelled {
    pub containers: BTreeMap<String, String>,
    pub volumes: BTreeMap<String, String>,
    pub networks: BTreeMap<String, String>,
}

impl Labelled {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.volumes.is_empty() && self.networks.is_empty()
    }

    /// Only the objects whose label value is `value`.
    pub fn with_value(&self, value: &str) -> Labelled {
        let keep = |m: &BTreeMap<String, String>| {
            m.iter()
                .filter(|(_, v)| *v == value)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        Labelled {
            containers: keep(&self.containers),
            volumes: keep(&self.volumes),
            networks: keep(&self.networks),
        }
    }

    pub fn count(&self) -> usize {
        self.containers.len() + self.volumes.len() + self.networks.len()
    }
}

impl Docker {
    /// Every container (any state), volume and network labelled `label`
    /// (`label=value` narrows it).
    pub async fn labelled(&self, label: &str) -> Result<Labelled, DockerError> {
        let key = label.split('=').next().unwrap_or(label).to_string();
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let what = || format!("listing what is labelled `{label}`");
        let containers = self
            .api
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.err(what(), None, e))?
            .into_iter()
            .filter_map(|c| {
                let name = c.names?.first()?.trim_start_matches('/').to_string();
                Some((name, c.labels?.get(&key)?.clone()))
            })
            .collect();
        let volumes = self
            .api
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.err(what(), None, e))?
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| Some((v.name, v.labels.get(&key)?.clone())))
            .collect();
        let networks = self
            .api
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.err(what(), None, e))?
            .into_iter()
            .filter_map(|n| Some((n.name?, n.labels?.get(&key)?.clone())))
            .collect();
        Ok(Labelled {
            containers,
            volumes,
            networks,
        })
    }

    /// Removes these objects: containers first (killed), then volumes and
    /// networks. Goes on past failures; returns what could not be removed.
    pub async fn remove_labelled(&self, objects: &Labelled) -> Vec<String> {
        let mut failed = Vec::new();
        for name in objects.containers.keys() {
            let options = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            match self.api.remove_container(name, Some(options)).await {
                Ok(()) => {}
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => failed.push(format!("container {name}: {e}")),
            }
        }
        for name in objects.volumes.keys() {
            let options = RemoveVolumeOptionsBuilder::default().force(true).build();
            match self.api.remove_volume(name, Some(options)).await {
                Ok(()) => {}
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => failed.push(format!("volume {name}: {e}")),
            }
        }
        for name in objects.networks.keys() {
            match self.api.remove_network(name).await {
                Ok(()) => {}
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => failed.push(format!("network {name}: {e}")),
            }
        }
        failed
    }
}
