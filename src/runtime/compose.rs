//! compose.up / compose.down through the Compose CLI (`docker compose`, or
//! `docker-compose` where only v1 is installed), with DOCKER_HOST passed on.
//!
//! Whatever a run creates, it removes or reports: `compose.up` records the
//! volumes and networks of its project that appeared while it ran (compose
//! v1 creates every volume of the file, even for one service), and
//! `compose.down` of that project in the same run removes those that are
//! still there. A volume or network that existed before the run is never
//! removed (except by `volumes: true`, which is compose's own `down -v`).
//! What is left at the end of the run is reported ([`Created::left_over`]).

use std::path::Path;
use std::sync::Mutex;

use serde_json::Value as Json;

use super::Ctx;
use super::ports::{ComposeError, Containers};
use crate::docker::{DockerError, ProjectObjects};
use crate::engine::{Outputs, StepError};

pub use crate::model::world::compose_project_name as labelled;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Volume,
    Network,
}

impl ObjectKind {
    fn word(self) -> &'static str {
        match self {
            ObjectKind::Volume => "volume",
            ObjectKind::Network => "network",
        }
    }
}

/// A volume or network a `compose.up` of this run created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub kind: ObjectKind,
    pub name: String,
    project: String,
    /// The compose.up step that created it.
    step: String,
}

impl Object {
    async fn exists(&self, docker: &dyn Containers) -> Result<bool, DockerError> {
        match self.kind {
            ObjectKind::Volume => docker.volume_exists(&self.name).await,
            ObjectKind::Network => docker.network_exists(&self.name).await,
        }
    }

    async fn remove(&self, docker: &dyn Containers) -> Result<(), DockerError> {
        match self.kind {
            ObjectKind::Volume => docker.remove_volume(&self.name).await,
            ObjectKind::Network => docker.remove_network(&self.name).await,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} {} (created by compose.up `{}`, project {})",
            self.kind.word(),
            self.name,
            self.step,
            self.project
        )
    }
}

/// The volumes and networks this run's `compose.up` steps created and no
/// `compose.down` removed yet. Shared by the steps of one run.
#[derive(Debug, Default)]
pub struct Created {
    objects: Mutex<Vec<Object>>,
    /// Volumes a `volume.restore` of this run writes into: what a run
    /// restored is kept (and reported), never taken down with the scaffolding.
    restored: std::collections::BTreeSet<String>,
}

impl Created {
    pub fn new(restored: std::collections::BTreeSet<String>) -> Self {
        Self {
            objects: Mutex::default(),
            restored,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Object>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, project: &str, step: &str, created: &ProjectObjects) {
        let mut objects = self.lock();
        let new = created
            .volumes
            .iter()
            .map(|v| (ObjectKind::Volume, v))
            .chain(created.networks.iter().map(|n| (ObjectKind::Network, n)));
        for (kind, name) in new {
            if !objects.iter().any(|o| o.kind == kind && &o.name == name) {
                objects.push(Object {
                    kind,
                    name: name.clone(),
                    project: project.to_string(),
                    step: step.to_string(),
                });
            }
        }
    }

    /// What a finished `compose.up` step (of an earlier process of this run,
    /// before `resume`) recorded in its outputs.
    pub fn remember(&self, step: &str, outputs: &Outputs) {
        let Some(project) = outputs.get("project").and_then(Json::as_str) else {
            return;
        };
        let names = |key: &str| {
            outputs
                .get(key)
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let created = ProjectObjects {
            volumes: names("created_volumes"),
            networks: names("created_networks"),
        };
        self.record(project, step, &created);
    }

    /// Removes what this run created for `project` and is still there
    /// (networks last: they go after the volumes' containers). Returns what
    /// was removed, and a description of what could not be, which stays
    /// recorded.
    pub async fn remove_project(
        &self,
        docker: &dyn Containers,
        project: &str,
    ) -> (Vec<Object>, Vec<String>) {
        let mut mine: Vec<Object> = {
            let mut objects = self.lock();
            let (mine, others) = objects.drain(..).partition(|o| o.project == project);
            *objects = others;
            mine
        };
        mine.sort_by_key(|o| o.kind == ObjectKind::Network);
        let (mut removed, mut left, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        for o in mine {
            if o.kind == ObjectKind::Volume && self.restored.contains(&o.name) {
                left.push(format!(
                    "{} is kept: a restore of this run wrote into it",
                    o.describe()
                ));
                kept.push(o);
                continue;
            }
            match o.exists(docker).await {
                Ok(false) => continue,
                Ok(true) => {}
                Err(e) => {
                    left.push(format!("{}: {e}", o.describe()));
                    kept.push(o);
                    continue;
                }
            }
            match o.remove(docker).await {
                Ok(()) => removed.push(o),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    left.push(format!("{} is left over: {e}", o.describe()));
                    kept.push(o);
                }
            }
        }
        self.lock().extend(kept);
        (removed, left)
    }

    /// What this run created and left in place, as it stands now.
    pub async fn left_over(&self, docker: &dyn Containers) -> Vec<String> {
        let objects = self.lock().clone();
        let mut left = Vec::new();
        for o in objects {
            if o.exists(docker).await.unwrap_or(true) {
                left.push(o.describe());
            }
        }
        left
    }
}

pub async fn run(ctx: &Ctx, args: Vec<String>) -> Result<(), StepError> {
    let file = ctx.args.str("file")?;
    let project = ctx.args.str("project")?;
    let path = if Path::new(&file).is_absolute() {
        Path::new(&file).to_path_buf()
    } else {
        ctx.ports.workdir.join(&file)
    };
    ctx.ports
        .docker
        .compose(&path, &project, &args)
        .await
        .map_err(|e| match e {
            ComposeError::Unavailable(m) => StepError::fatal(m),
            ComposeError::Failed(m) => StepError::new(m),
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn project_names_match_compose_labels() {
        assert_eq!(labelled("Shop.Recover_1-x"), "shoprecover_1-x");
        assert_eq!(labelled("demo-recover"), "demo-recover");
    }

    #[test]
    fn a_resumed_run_takes_over_what_its_compose_up_created() {
        let created = Created::default();
        let outputs: Outputs = serde_json::from_value(json!({
            "changed": true,
            "project": "p",
            "created_volumes": ["p_a", "p_b"],
            "created_networks": ["p_default"],
        }))
        .unwrap();
        created.remember("up", &outputs);
        created.remember("up", &outputs);
        let described: Vec<String> = created.lock().iter().map(Object::describe).collect();
        assert_eq!(
            described,
            [
                "volume p_a (created by compose.up `up`, project p)",
                "volume p_b (created by compose.up `up`, project p)",
                "network p_default (created by compose.up `up`, project p)",
            ]
        );
        // Outputs of another kind of step are not a record.
        let other = Created::default();
        other.remember("x", &Outputs::new());
        assert!(other.lock().is_empty());
    }
}
