//! Volumes: exists, create, remove (refused while used), users.

use std::collections::{BTreeMap, HashMap};

use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveVolumeOptionsBuilder};

use super::Docker;
use super::error::{DockerError, status_of};
use super::helper::HELPER_PREFIX;

fn volume_what(name: &str) -> String {
    format!("volume `{name}`")
}

impl Docker {
    pub async fn volume_exists(&self, name: &str) -> Result<bool, DockerError> {
        match self.api.inspect_volume(name).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(self.err(format!("inspecting {}", volume_what(name)), None, e)),
        }
    }

    /// Creates the volume (local driver) with `labels`; `Ok(false)` if it
    /// already existed (left as it is, labels included).
    pub async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<bool, DockerError> {
        if self.volume_exists(name).await? {
            return Ok(false);
        }
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            ),
            ..Default::default()
        };
        self.api
            .create_volume(request)
            .await
            .map_err(|e| self.err(format!("creating {}", volume_what(name)), None, e))?;
        Ok(true)
    }

    /// Removes the volume. `NotFound` if it does not exist; `InUse` (naming the
    /// containers) if any container, running or not, mounts it.
    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        self.remove_stale_helpers().await;
        if !self.volume_exists(name).await? {
            return Err(DockerError::not_found(volume_what(name)));
        }
        let users = self.volume_users_settled(name).await?;
        if !users.is_empty() {
            return Err(DockerError::InUse {
                volume: name.to_string(),
                users,
            });
        }
        match self
            .api
            .remove_volume(
                name,
                Some(RemoveVolumeOptionsBuilder::default().force(false).build()),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Err(DockerError::not_found(volume_what(name))),
            Err(e) if status_of(&e) == Some(409) => {
                // A container appeared since we looked.
                let users = self.volume_users(name).await?;
                if users.is_empty() {
                    Err(self.err(format!("removing {}", volume_what(name)), None, e))
                } else {
                    Err(DockerError::InUse {
                        volume: name.to_string(),
                        users,
                    })
                }
            }
            Err(e) => Err(self.err(format!("removing {}", volume_what(name)), None, e)),
        }
    }

    /// The volume's users once lifeboat's own helpers are gone: a helper's
    /// guard removes it in the background when its archive stream ends, so
    /// users that are all helpers are waited for (up to 10 s).
    async fn volume_users_settled(&self, name: &str) -> Result<Vec<(String, bool)>, DockerError> {
        for _ in 0..40 {
            let users = self.volume_users(name).await?;
            if users.is_empty() || !users.iter().all(|(n, _)| n.starts_with(HELPER_PREFIX)) {
                return Ok(users);
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        self.volume_users(name).await
    }

    /// Containers (any state) that mount the volume: (name, running), sorted by name.
    pub async fn volume_users(&self, name: &str) -> Result<Vec<(String, bool)>, DockerError> {
        let filters = HashMap::from([("volume".to_string(), vec![name.to_string()])]);
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
                    format!("listing the users of {}", volume_what(name)),
                    None,
                    e,
                )
            })?;
        let mut users: Vec<(String, bool)> =
            list.into_iter()
                // The engine's filter also matches mount destinations; keep exact volume names.
                .filter(|c| {
                    c.mounts.iter().flatten().any(|m| {
                        m.typ.as_deref() == Some("volume") && m.name.as_deref() == Some(name)
                    })
                })
                .filter_map(|c| {
                    let running = c.state.map(|s| s.to_string()) == Some("running".to_string());
                    let n = c.names?.into_iter().next()?;
                    Some((n.trim_start_matches('/').to_string(), running))
                })
                .collect();
        users.sort();
        Ok(users)
    }
}
