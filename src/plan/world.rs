//! What lifeboat sees of the world before a run: containers, volumes and
//! backups. Plans are made against one; `--world FILE` loads a recorded one
//! so plans are deterministic offline, live probes fill the same type.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    /// When the world was observed; backup ages are measured from here.
    pub taken_at: Timestamp,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub backups: Vec<Backup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    pub name: String,
    pub image: String,
    /// Docker's state: created, running, paused, restarting, exited, dead.
    pub state: String,
    /// Docker's health status, when the container has a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    pub volume: String,
    pub destination: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// A backup in the repository, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub id: String,
    /// What was backed up: a volume name, or the `name` of an exec/http backup.
    pub source: String,
    pub created_at: Timestamp,
    pub stored_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl World {
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// The container of a compose service, by the standard compose labels.
    pub fn service(&self, project: &str, service: &str) -> Option<&Container> {
        self.containers.iter().find(|c| {
            c.labels.get(COMPOSE_PROJECT).map(String::as_str) == Some(project)
                && c.labels.get(COMPOSE_SERVICE).map(String::as_str) == Some(service)
        })
    }

    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }

    pub fn mounted_by(&self, volume: &str) -> Vec<&str> {
        self.containers
            .iter()
            .filter(|c| c.mounts.iter().any(|m| m.volume == volume))
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Resolves `latest`, `latest-verified` or an id among the backups of `source`.
    pub fn resolve_backup(&self, source: &str, reference: &str) -> Option<&Backup> {
        let of_source = self.backups.iter().filter(|b| b.source == source);
        match reference {
            "latest" => of_source.max_by_key(|b| b.created_at),
            "latest-verified" => of_source
                .filter(|b| b.verified_at.is_some())
                .max_by_key(|b| b.created_at),
            id => self.backups.iter().find(|b| b.id == id),
        }
    }
}
