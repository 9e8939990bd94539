//! What lifeboat sees of the world before a run: containers, volumes and
//! backups. Plans are made against one; `--world FILE` loads a recorded one
//! so plans are deterministic offline, live probes fill the same type.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";

/// A compose project name as compose writes it in its labels and in the
/// names of what it creates (`<project>_<volume>`): lower case, only
/// `a-z 0-9 _ -` (what v1 keeps; v2 refuses other names).
pub fn compose_project_name(project: &str) -> String {
    project
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}
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
    /// Volumes restored from another volume's backups: a drill restores
    /// production's backups into its throwaway copy (docs/architecture.md §8).
    /// Volume name → the source whose backups it takes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub restore_from: std::collections::BTreeMap<String, String>,
}

/// A container's state as a plan records it: typed, for the engine to read
/// without parsing the probe's text again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    pub running: bool,
    /// Whether its healthcheck passes; absent without a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
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
    /// The run that took it (`run:<id>` picks a run's backups, one per source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

use super::backup_ref::{BackupFacts, Reference, pick};
pub use super::backup_ref::{RUN_PREFIX, SAFETY_TAG, Unresolved, is_safety};

impl BackupFacts for Backup {
    fn id(&self) -> &str {
        &self.id
    }
    fn source(&self) -> &str {
        &self.source
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn tags(&self) -> &[String] {
        &self.tags
    }
    fn verified(&self) -> bool {
        self.verified_at.is_some()
    }
    fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }
}

impl Container {
    pub fn observed_state(&self) -> ContainerState {
        ContainerState {
            running: self.state == "running",
            healthy: self.health.as_deref().map(|h| h == "healthy"),
        }
    }
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

    /// Resolves `latest`, `latest-verified`, `run:<run id>` or an id among the
    /// backups of `source` (or of the source it restores from,
    /// [`World::restore_from`]) with [`pick`]: `latest*` never mean a safety
    /// backup, an id of another source's backup is not a match.
    pub fn resolve_backup(
        &self,
        source: &str,
        reference: &str,
    ) -> Result<&Backup, Unresolved<'_, Backup>> {
        let source = self.restore_from.get(source).map_or(source, String::as_str);
        pick(&self.backups, source, Reference::parse(reference), None)
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
            run_id: Some(format!("run-{id}")),
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
        let id = |r: &str| {
            world
                .resolve_backup("pg-data", r)
                .map(|b| b.id.as_str())
                .ok()
        };
        assert_eq!(id("latest"), Some("nightly"));
        assert_eq!(id("latest-verified"), Some("nightly-old"));
        assert_eq!(id("found-by-a-run"), Some("found-by-a-run"));
    }

    #[test]
    fn an_id_of_another_source_does_not_resolve_and_a_run_set_picks_per_source() {
        let mut redis = backup("redis-nightly", 5, &["nightly"], true);
        redis.source = "redis-data".into();
        redis.run_id = Some("run-nightly".into());
        let mut pg = backup("pg-nightly", 6, &["nightly"], true);
        pg.run_id = Some("run-nightly".into());
        let world = World {
            backups: vec![redis.clone(), pg.clone()],
            ..World::default()
        };
        assert_eq!(
            world.resolve_backup("pg-data", "redis-nightly"),
            Err(Unresolved::OtherSource(&redis))
        );
        assert_eq!(world.resolve_backup("pg-data", "run:run-nightly"), Ok(&pg));
        assert_eq!(
            world.resolve_backup("redis-data", "run:run-nightly"),
            Ok(&redis)
        );
        assert_eq!(
            world.resolve_backup("pg-data", "run:other"),
            Err(Unresolved::NotInRun)
        );
    }

    #[test]
    fn a_volume_restored_from_another_takes_its_backups() {
        let world = World {
            backups: vec![backup("nightly", 0, &["nightly"], true)],
            restore_from: [("drill-pg".to_string(), "pg-data".to_string())].into(),
            ..World::default()
        };
        let id = |s: &str, r: &str| world.resolve_backup(s, r).map(|b| b.id.as_str()).ok();
        assert_eq!(id("drill-pg", "latest"), Some("nightly"));
        assert_eq!(id("drill-pg", "nightly"), Some("nightly"));
        assert_eq!(id("other", "latest"), None);
    }
}
