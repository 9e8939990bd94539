//! The drill's throwaway stack: its compose project brought up from the
//! rewritten compose file, torn down, and leftovers of killed drills
//! collected by label (docs/architecture.md §8).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::docker::compose_cli::Compose;
use crate::docker::{Docker, Labelled};
use crate::drill::compose::{Isolated, LABEL_ID, LABEL_NAME, isolate};
use crate::engine::lock;

/// The lock a running drill holds: `drills gc` leaves its objects alone.
pub fn drill_lock(id: &str) -> String {
    format!("drill:{id}")
}

/// A drill's compose project, from its rewritten compose file.
#[derive(Debug)]
pub struct Stack {
    compose: Compose,
    pub project: String,
    pub id: String,
    /// The rewritten compose file (in the drill's work directory).
    pub file: PathBuf,
    pub isolated: Isolated,
}

impl Stack {
    /// Reads the compose file through `compose config`, rewrites it for the
    /// drill and refuses anything that could touch production, including a
    /// name that already exists outside this drill.
    pub async fn prepare(
        docker: &Docker,
        source: &Path,
        name: &str,
        id: &str,
        work: &Path,
    ) -> Result<Stack, String> {
        let compose = Compose::find().await?;
        let project = project_name(name, id);
        let config = compose
            .run(source, &project, &["config"])
            .await
            .map_err(|e| format!("reading {}: {e}", source.display()))?;
        let labels = BTreeMap::from([
            (LABEL_ID.to_string(), id.to_string()),
            (LABEL_NAME.to_string(), name.to_string()),
        ]);
        let isolated = isolate(&config, &project, &labels).map_err(|problems| {
            format!(
                "{} cannot be copied for a drill without touching production:\n  - {}",
                source.display(),
                problems.join("\n  - ")
            )
        })?;
        refuse_collisions(docker, &project, &isolated).await?;
        std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
        let file = work.join("compose.yml");
        std::fs::write(&file, &isolated.yaml).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(Stack {
            compose,
            project,
            id: id.to_string(),
            file,
            isolated,
        })
    }

    /// Creates every container, volume and network, starting nothing: the
    /// restore runbook starts the containers once their volumes hold the data.
    pub async fn create(&self) -> Result<(), String> {
        self.compose
            .run(&self.file, &self.project, &["up", "--no-start"])
            .await
            .map(|_| ())
    }

    /// Docker's names of the stack's volumes.
    pub fn volume_names(&self) -> Vec<String> {
        self.isolated
            .volumes
            .iter()
            .map(|v| format!("{}_{v}", self.project))
            .collect()
    }

    /// Removes the whole project and then whatever still carries the
    /// drill's label. Returns what could not be removed.
    pub async fn teardown(&self, docker: &Docker) -> Vec<String> {
        let mut failed = Vec::new();
        if let Err(e) = self
            .compose
            .run(
                &self.file,
                &self.project,
                &["down", "--volumes", "--remove-orphans", "--timeout", "10"],
            )
            .await
        {
            failed.push(e);
        }
        match docker.labelled(&format!("{LABEL_ID}={}", self.id)).await {
            Ok(left) => {
                let not_removed = docker.remove_labelled(&left).await;
                if not_removed.is_empty() {
                    failed.clear();
                }
                failed.extend(not_removed);
            }
            Err(e) => failed.push(e.to_string()),
        }
        failed
    }

    /// The command that removes a kept stack by hand.
    pub fn remove_command(&self) -> String {
        format!(
            "{} -p {} -f {} down --volumes --remove-orphans",
            self.compose.name(),
            self.project,
            self.file.display()
        )
    }

    pub async fn compose_version(&self) -> Option<String> {
        self.compose.version().await
    }
}

/// `lifeboat-drill-<name>-<id>`, lowercase as compose wants it.
pub fn project_name(name: &str, id: &str) -> String {
    format!("lifeboat-drill-{name}-{id}").to_ascii_lowercase()
}

/// Refuses when a name the stack would create exists and is not this drill's.
async fn refuse_collisions(
    docker: &Docker,
    project: &str,
    isolated: &Isolated,
) -> Result<(), String> {
    let mut taken = Vec::new();
    for v in &isolated.volumes {
        let name = format!("{project}_{v}");
        if docker
            .volume_exists(&name)
            .await
            .map_err(|e| e.to_string())?
        {
            taken.push(format!("volume {name}"));
        }
    }
    for s in &isolated.services {
        if let Some(c) = docker
            .service_container(project, s)
            .await
            .map_err(|e| e.to_string())?
        {
            taken.push(format!("container {c}"));
        }
    }
    for n in ["default"] {
        let name = format!("{project}_{n}");
        if docker
            .network_exists(&name)
            .await
            .map_err(|e| e.to_string())?
        {
            taken.push(format!("network {name}"));
        }
    }
    if taken.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "refusing to start the drill: these already exist and are not this drill's: {}",
            taken.join(", ")
        ))
    }
}

/// What `gc` removed, per drill id, and what it could not.
#[derive(Debug, Default)]
pub struct Collected {
    pub removed: Labelled,
    pub drills: BTreeSet<String>,
    pub failed: Vec<String>,
}

/// Removes everything labelled by drills that are not running (killed ones).
pub async fn gc(docker: &Docker, locks: &Path) -> Result<Collected, String> {
    let all = docker.labelled(LABEL_ID).await.map_err(|e| e.to_string())?;
    let ids: BTreeSet<String> = all
        .containers
        .values()
        .chain(all.volumes.values())
        .chain(all.networks.values())
        .filter(|id| !lock::is_held(locks, &drill_lock(id)))
        .cloned()
        .collect();
    let mut collected = Collected::default();
    for id in ids {
        let objects = all.with_value(&id);
        collected
            .failed
            .extend(docker.remove_labelled(&objects).await);
        collected.removed.containers.extend(objects.containers);
        collected.removed.volumes.extend(objects.volumes);
        collected.removed.networks.extend(objects.networks);
        collected.drills.insert(id);
    }
    Ok(collected)
}
