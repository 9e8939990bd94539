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

/// The tag of safety backups: what a run saved right before a destructive
/// step, i.e. the data as found during an incident (an emptied volume, a
/// table with bad rows). `latest` and `latest-verified` skip them, or a second
/// attempt after a failed run would "restore" the damage the first one saved;
/// they stay restorable by id (rollbacks use ids).
pub const SAFETY_TAG: &str = "safety";

/// Whether `tags` mark a safety backup.
pub fn is_safety(tags: &[String]) -> bool {
    tags.iter().any(|t| t == SAFETY_TAG)
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

    /// Resolves `latest`, `latest-verified` or an id among the backups of
    /// `source`; `latest*` never mean a safety backup ([`SAFETY_TAG`]).
    pub fn resolve_backup(&self, source: &str, reference: &str) -> Option<&Backup> {
        let of_source = self
            .backups
            .iter()
            .filter(|b| b.source == source && !is_safety(&b.tags));
        match reference {
            "latest" => of_source.max_by_key(|b| b.created_at),
            "latest-verified" => of_source
                .filter(|b| b.verified_at.is_some())
                .max_by_key(|b| b.created_at),
            id => self.backups.iter().find(|b| b.id == id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(id: &str, minute: i64, tags: &[&str], verified: bool) -> Backup {
        let at = Timestamp::from_second(1_800_000_000 + minute * 60).unwrap();
        Backup {
            id: id.into(),
            source: "pg-data".into(),
            created_at: at,
            stored_bytes: 1,
            verified_at: verified.then_some(at),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn latest_skips_safety_backups() {
        let world = World {
            backups: vec![
                backup("nightly-old", 0, &["nightly"], true),
                backup("nightly", 10, &["nightly"], false),
                backup("found-by-a-run", 20, &["safety"], true),
            ],
            ..World::default()
        };
        let id = |r: &str| world.resolve_backup("pg-data", r).map(|b| b.id.as_str());
        assert_eq!(id("latest"), Some("nightly"));
        assert_eq!(id("latest-verified"), Some("nightly-old"));
        assert_eq!(id("found-by-a-run"), Some("found-by-a-run"));
    }
}
