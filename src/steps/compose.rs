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
use std::process::Stdio;
use std::sync::Mutex;

use serde_json::{Value as Json, json};
use tokio::process::Command;

use super::Ctx;
use super::container::outputs;
use crate::docker::{Docker, DockerError, ProjectObjects};
use crate::engine::{Outputs, StepError};

pub async fn up(ctx: &Ctx) -> Result<Outputs, StepError> {
    let mut args = vec!["up".to_string(), "-d".to_string()];
    if ctx.args.bool_or("wait", true)? {
        // v1 has no --wait; the runbook's checks (with retries) wait instead.
        if compose().await?.0 != "docker-compose" {
            args.push("--wait".into());
        }
    }
    args.extend(ctx.args.strings("services")?);
    let project = labelled(&ctx.args.str("project")?);
    let docker = &ctx.ports.docker;
    let before = docker
        .project_objects(&project)
        .await
        .map_err(super::docker)?;
    let result = run(ctx, args).await;
    // Recorded even when `up` failed half-way: what it created is still there.
    let after = docker
        .project_objects(&project)
        .await
        .map_err(super::docker)?;
    let created = ProjectObjects {
        volumes: after.volumes.difference(&before.volumes).cloned().collect(),
        networks: after
            .networks
            .difference(&before.networks)
            .cloned()
            .collect(),
    };
    ctx.created.record(&project, &ctx.call.step, &created);
    result?;
    Ok(outputs([
        ("changed", json!(true)),
        ("project", json!(project)),
        ("created_volumes", json!(created.volumes)),
        ("created_networks", json!(created.networks)),
    ]))
}

pub async fn down(ctx: &Ctx) -> Result<Outputs, StepError> {
    let mut args = vec!["down".to_string()];
    if ctx.args.bool_or("volumes", false)? {
        refuse_unsaved_volumes(ctx).await?;
        args.push("--volumes".into());
    }
    run(ctx, args).await?;
    let project = labelled(&ctx.args.str("project")?);
    let (removed, left) = ctx
        .created
        .remove_project(&ctx.ports.docker, &project)
        .await;
    for l in &left {
        tracing::warn!("compose.down `{}`: {l}", ctx.call.step);
    }
    let names = |kind: Kind| -> Vec<&str> {
        removed
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.name.as_str())
            .collect()
    };
    Ok(outputs([
        ("removed_volumes", json!(names(Kind::Volume))),
        ("removed_networks", json!(names(Kind::Network))),
        ("left_over", json!(left)),
    ]))
}

use crate::model::world::compose_project_name as labelled;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Volume,
    Network,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Volume => "volume",
            Kind::Network => "network",
        }
    }
}

/// A volume or network a `compose.up` of this run created.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Object {
    kind: Kind,
    name: String,
    project: String,
    /// The compose.up step that created it.
    step: String,
}

impl Object {
    async fn exists(&self, docker: &Docker) -> Result<bool, DockerError> {
        match self.kind {
            Kind::Volume => docker.volume_exists(&self.name).await,
            Kind::Network => docker.network_exists(&self.name).await,
        }
    }

    async fn remove(&self, docker: &Docker) -> Result<(), DockerError> {
        match self.kind {
            Kind::Volume => docker.remove_volume(&self.name).await,
            Kind::Network => docker.remove_network(&self.name).await,
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

    fn record(&self, project: &str, step: &str, created: &ProjectObjects) {
        let mut objects = self.lock();
        let new = created
            .volumes
            .iter()
            .map(|v| (Kind::Volume, v))
            .chain(created.networks.iter().map(|n| (Kind::Network, n)));
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
    async fn remove_project(&self, docker: &Docker, project: &str) -> (Vec<Object>, Vec<String>) {
        let mut mine: Vec<Object> = {
            let mut objects = self.lock();
            let (mine, others) = objects.drain(..).partition(|o| o.project == project);
            *objects = others;
            mine
        };
        mine.sort_by_key(|o| o.kind == Kind::Network);
        let (mut removed, mut left, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        for o in mine {
            if o.kind == Kind::Volume && self.restored.contains(&o.name) {
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
    pub async fn left_over(&self, docker: &Docker) -> Vec<String> {
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

/// `down --volumes` removes every volume of the project, also those the
/// runbook does not name: each must have a backup taken by this run, unless
/// the step is marked `unsafe`.
async fn refuse_unsaved_volumes(ctx: &Ctx) -> Result<(), StepError> {
    if ctx.call.unsafe_ok {
        return Ok(());
    }
    let project = labelled(&ctx.args.str("project")?);
    let volumes = ctx
        .ports
        .docker
        .project_objects(&project)
        .await
        .map_err(|e| super::docker(e).untouched())?
        .volumes;
    let mut unsaved = Vec::new();
    for volume in volumes {
        let saved = ctx
            .ports
            .repo
            .backups_of(&volume)
            .map_err(|e| super::repo(e).untouched())?
            .iter()
            .any(|m| m.run_id.as_deref() == Some(ctx.call.run_id.as_str()));
        if !saved {
            unsaved.push(volume);
        }
    }
    if unsaved.is_empty() {
        return Ok(());
    }
    Err(StepError::refused(format!(
        "`down --volumes` would remove {} of compose project `{project}`, which this run did \
         not back up; back them up first (volume.backup) or mark the step `unsafe: \"<reason>\"`",
        unsaved.join(", ")
    )))
}

async fn run(ctx: &Ctx, args: Vec<String>) -> Result<(), StepError> {
    let file = ctx.args.str("file")?;
    let project = ctx.args.str("project")?;
    let path = if Path::new(&file).is_absolute() {
        Path::new(&file).to_path_buf()
    } else {
        ctx.ports.workdir.join(&file)
    };
    let (program, prefix) = compose().await?;
    let mut cmd = command(&program);
    cmd.args(&prefix)
        .arg("-f")
        .arg(&path)
        .arg("-p")
        .arg(&project)
        .args(&args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = cmd
        .output()
        .await
        .map_err(|e| StepError::fatal(format!("running {program}: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(StepError::new(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(())
}

/// A compose process in its own process group: a hang-up or Ctrl-C sent to
/// lifeboat's terminal (its process group) is lifeboat's to handle (it
/// carries on, or cancels and drops the step, which kills the process); it
/// must not kill compose under a run.
fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    #[cfg(unix)]
    cmd.process_group(0);
    cmd
}

/// `docker compose` (v2 plugin) when present, else `docker-compose`.
async fn compose() -> Result<(String, Vec<String>), StepError> {
    let v2 = command("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if v2 {
        return Ok(("docker".into(), vec!["compose".into()]));
    }
    let v1 = command("docker-compose")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if v1 {
        return Ok(("docker-compose".into(), Vec::new()));
    }
    Err(StepError::fatal(
        "neither `docker compose` nor `docker-compose` is installed",
    ))
}

#[cfg(test)]
mod tests {
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
