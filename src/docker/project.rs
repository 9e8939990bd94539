//! The volumes and networks of a compose project (found by compose's
//! `com.docker.compose.project` label), and removing a network.

use std::collections::{BTreeSet, HashMap};

use bollard::query_parameters::{ListNetworksOptionsBuilder, ListVolumesOptionsBuilder};

use super::Docker;
use super::error::{DockerError, status_of};

/// The label compose puts on everything of a project.
const PROJECT_LABEL: &str = "com.docker.compose.project";

/// Volume and network names of one compose project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectObjects {
    pub volumes: BTreeSet<String>,
    pub networks: BTreeSet<String>,
}

impl Docker {
    /// The volumes and networks labelled as compose project `project`'s.
    pub async fn project_objects(&self, project: &str) -> Result<ProjectObjects, DockerError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{PROJECT_LABEL}={project}")],
        )]);
        let what = || format!("listing the volumes and networks of compose project `{project}`");
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
            .map(|v| v.name)
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
            .filter_map(|n| n.name)
            .collect();
        Ok(ProjectObjects { volumes, networks })
    }

    pub async fn network_exists(&self, name: &str) -> Result<bool, DockerError> {
        match self.api.inspect_network(name, None).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(self.err(format!("inspecting network `{name}`"), None, e)),
        }
    }

    /// Removes the network; the engine refuses while containers are attached.
    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        match self.api.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => {
                Err(DockerError::not_found(format!("network `{name}`")))
            }
            Err(e) => Err(self.err(format!("removing network `{name}`"), None, e)),
        }
    }
}
