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

/// Why a backup reference does not name a backup of a source.
#[derive(Debug, Clone, PartialEq)]
pub enum Unresolved<'a> {
    /// Nothing matches.
    None,
    /// The id names a backup of another source.
    OtherSource(&'a Backup),
}

/// The prefix of a run-set reference: `run:<run id>` means the backup of
/// each source that run took (the newest, if it took several).
pub const RUN_PREFIX: &str = "run:";

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
    /// backups of `source`; `latest*` never mean a safety backup
    /// ([`SAFETY_TAG`]). An id of another source's backup is not a match.
    pub fn resolve_backup(&self, source: &str, reference: &str) -> Result<&Backup, Unresolved<'_>> {
        let source = self.restore_from.get(source).map_or(source, String::as_str);
        let of_source = self.backups.iter().filter(|b| b.source == source);
        let found = match reference {
            // Newest by (time, id), as the repository orders them, so the
            // plan and the step pick the same backup.
            "latest" => of_source
                .filter(|b| !is_safety(&b.tags))
                .max_by_key(|b| (b.created_at, &b.id)),
            "latest-verified" => of_source
                .filter(|b| !is_safety(&b.tags) && b.verified_at.is_some())
                .max_by_key(|b| (b.created_at, &b.id)),
            r if r.starts_with(RUN_PREFIX) => {
                let run = &r[RUN_PREFIX.len()..];
                of_source
                    .filter(|b| b.run_id.as_deref() == Some(run))
                    .max_by_key(|b| (b.created_at, &b.id))
            }
            id => match self.backups.iter().find(|b| b.id == id) {
                Some(b) if b.source != source => return Err(Unresolved::OtherSource(b)),
                found => found,
            },
        };
        found.ok_or(Unresolved::None)
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
            Err(Unresolved::None)
        );
    }
}
