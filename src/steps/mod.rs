//! The real step kinds: what each one does to the world, through the Docker
//! adapter, the backup repository and HTTP. One file per family of kinds.

mod ahead;
mod args;
mod backup;
mod compose;
mod container;
mod gate;
mod http;
mod http_backup;
mod prune;
pub mod transfer;
mod volume;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc::UnboundedSender;

pub use args::Args;

use crate::docker::{Docker, WaitFor};
use crate::engine::{Call, Event, Executor, Outputs, StepError};
use crate::plan::Plan;
use crate::plan::plan::Target;
use crate::repo::LocalRepo;

/// What the real steps act on.
pub struct Ports {
    pub docker: Docker,
    pub repo: Arc<LocalRepo>,
    pub http: reqwest::Client,
    /// `--yes`: gates pass without asking.
    pub yes: bool,
    /// Off-site store: new backups are copied there, missing ones fetched.
    pub remote: Option<crate::s3::S3Store>,
    /// Where relative compose files are found.
    pub workdir: std::path::PathBuf,
    /// The config file's retention policy: `backup.prune` without keep_* uses it.
    pub retention: crate::repo::Policy,
}

/// The executor of real runs.
pub struct Real {
    ports: Arc<Ports>,
    targets: Arc<HashMap<String, Target>>,
    /// Containers the plan saw running: a rollback ends with them running,
    /// and healthy again when they were healthy.
    running_before: Arc<Vec<(String, WaitFor)>>,
    /// Volumes and networks this run's compose.up steps created.
    created: Arc<compose::Created>,
    /// The backups its restores read, verified while earlier steps run.
    ahead: Arc<ahead::Ahead>,
}

impl Real {
    pub fn new(ports: Ports, plan: &Plan) -> Self {
        let targets: HashMap<String, Target> = plan
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        let running_before = plan
            .targets
            .iter()
            .filter(|t| t.kind != "volume")
            .filter_map(|t| {
                let probe = t.probe.as_deref()?;
                let until = match probe {
                    p if p.starts_with("running, healthy") => WaitFor::Healthy,
                    p if p.starts_with("running") => WaitFor::Running,
                    _ => return None,
                };
                Some((t.resolved.clone()?, until))
            })
            .collect();
        // Volumes a restore of this run writes into: data, not scaffolding.
        let restored = plan
            .steps
            .iter()
            .filter(|s| s.kind == "volume.restore")
            .filter_map(|s| s.args.get("volume")?.as_str())
            .filter_map(|name| targets.get(name).map(|t: &Target| t.object.clone()))
            .collect();
        Self {
            ports: Arc::new(ports),
            targets: Arc::new(targets),
            running_before: Arc::new(running_before),
            created: Arc::new(compose::Created::new(restored)),
            ahead: Arc::new(ahead::Ahead::new(plan)),
        }
    }

    /// A resumed run: what its finished steps created is still its own.
    pub fn resumed(self, plan: &Plan, done: &[(String, Outputs)]) -> Self {
        for (id, outputs) in done {
            self.ahead.forget(id);
            if plan
                .steps
                .iter()
                .any(|s| &s.id == id && s.kind == "compose.up")
            {
                self.created.remember(id, outputs);
            }
        }
        self
    }

    /// What the run created and left in place (compose.up without a
    /// compose.down of its project), as it stands now: to be reported.
    pub async fn left_over(&self) -> Vec<String> {
        self.created.left_over(&self.ports.docker).await
    }
}

/// One call with what it needs.
pub struct Ctx {
    pub ports: Arc<Ports>,
    pub targets: Arc<HashMap<String, Target>>,
    pub call: Call,
    pub args: Args,
    pub events: UnboundedSender<Event>,
    created: Arc<compose::Created>,
    ahead: Arc<ahead::Ahead>,
}

impl Ctx {
    /// The container a container argument names, resolved now (a service's
    /// container may have been recreated since the plan).
    pub async fn container(&self, arg: &str) -> Result<String, StepError> {
        let name = self.args.str(arg)?;
        let target = self.target(&name)?;
        match (&target.kind[..], &target.project) {
            ("service", Some(project)) => self
                .ports
                .docker
                .service_container(project, &target.object)
                .await
                .map_err(docker)?
                .ok_or_else(|| {
                    StepError::fatal(format!(
                        "no container for service `{}` of compose project `{project}`",
                        target.object
                    ))
                }),
            // A recreate cut off by a kill may have left only the original,
            // renamed `-lifeboat-old` (the service lookup finds it too).
            _ => self
                .ports
                .docker
                .current_name(&target.object)
                .await
                .map_err(docker),
        }
    }

    pub fn volume(&self, arg: &str) -> Result<String, StepError> {
        let name = self.args.str(arg)?;
        Ok(self.target(&name)?.object.clone())
    }

    pub fn optional_volume(&self, arg: &str) -> Result<Option<String>, StepError> {
        match self.args.opt_str(arg)? {
            Some(name) => Ok(Some(self.target(&name)?.object.clone())),
            None => Ok(None),
        }
    }

    fn target(&self, name: &str) -> Result<&Target, StepError> {
        self.targets
            .get(name)
            .ok_or_else(|| StepError::fatal(format!("unknown target `{name}`")))
    }

    pub fn progress(&self, bytes: u64, total: Option<u64>) {
        let _ = self.events.send(Event::Progress {
            id: self.call.step.clone(),
            bytes,
            total,
        });
    }
}

/// Copies a new backup off-site, when there is an off-site store.
pub async fn push_offsite(ctx: &Ctx, id: &str) -> Result<(), StepError> {
    let Some(store) = ctx.ports.remote.clone() else {
        return Ok(());
    };
    let (repo, owned) = (ctx.ports.repo.clone(), id.to_string());
    // Spawned: the S3 futures are Send only for owned ('static) arguments.
    let url = store.url();
    tokio::spawn(async move { crate::s3::push_backup(&store, &repo, &owned).await })
        .await
        .map_err(|e| StepError::new(format!("copying backup {id}: {e}")))?
        .map_err(|e| StepError::new(format!("copying backup {id} to {url}: {e}")))
}

/// Makes sure backup `id` is whole in the local repository, fetching it
/// from the off-site store if it is only there (a new machine, a lost disk)
/// or if the local copy is damaged (`s3::fetch_backup`).
pub async fn ensure_local(ctx: &Ctx, id: &str) -> Result<(), StepError> {
    let Some(store) = ctx.ports.remote.clone() else {
        return Ok(());
    };
    let (repo, owned) = (ctx.ports.repo.clone(), id.to_string());
    let url = store.url();
    let local = repo.root().display().to_string();
    let fetched = tokio::spawn(async move { crate::s3::fetch_backup(&store, &repo, &owned).await })
        .await
        .map_err(|e| StepError::new(format!("fetching backup {id} from {url}: {e}")))?
        .map_err(|e| StepError::new(format!("fetching backup {id} from {url}: {e}")))?;
    match fetched {
        Some(_) => Ok(()),
        None => Err(StepError::fatal(format!(
            "backup {id} is neither in {local} nor in {url}"
        ))),
    }
}

pub fn docker(e: crate::docker::DockerError) -> StepError {
    StepError::new(e.to_string())
}

pub fn repo(e: crate::repo::RepoError) -> StepError {
    StepError::fatal(e.to_string())
}

pub fn wait_for(text: &str) -> WaitFor {
    if text == "healthy" {
        WaitFor::Healthy
    } else {
        WaitFor::Running
    }
}

impl Executor for Real {
    fn execute(
        &self,
        call: Call,
        events: UnboundedSender<Event>,
    ) -> BoxFuture<'static, Result<Outputs, StepError>> {
        // The run's first step: its restores' backups start verifying now.
        self.ahead.start(&self.ports);
        let ctx = Ctx {
            ports: self.ports.clone(),
            targets: self.targets.clone(),
            args: Args::new(call.args.clone()),
            call,
            events,
            created: self.created.clone(),
            ahead: self.ahead.clone(),
        };
        Box::pin(async move {
            match ctx.call.kind.as_str() {
                "container.stop" => container::stop(&ctx).await,
                "container.start" => container::start(&ctx).await,
                "container.restart" => container::restart(&ctx).await,
                "container.exec" => container::exec(&ctx).await,
                "container.recreate" => container::recreate(&ctx).await,
                "volume.create" => volume::create(&ctx).await,
                "volume.remove" => volume::remove(&ctx).await,
                "volume.backup" => volume::backup(&ctx).await,
                "volume.restore" => volume::restore(&ctx).await,
                "exec.backup" => backup::exec_backup(&ctx).await,
                "exec.restore" => backup::exec_restore(&ctx).await,
                "backup.verify" => backup::verify(&ctx).await,
                "backup.prune" => prune::prune(&ctx).await,
                "http.request" => http::request(&ctx).await,
                "http.backup" => http_backup::backup(&ctx).await,
                "http.restore" => http_backup::restore(&ctx).await,
                "notify.webhook" => http::webhook(&ctx).await,
                "gate.confirm" => gate::confirm(&ctx).await,
                "compose.up" => compose::up(&ctx).await,
                "compose.down" => compose::down(&ctx).await,
                other => Err(StepError::fatal(format!(
                    "step kind `{other}` cannot run yet in this version of lifeboat \
                     (it plans, but its executor is not built)"
                ))),
            }
        })
    }

    fn after_rollback(&self) -> BoxFuture<'static, Vec<String>> {
        let ports = self.ports.clone();
        let names = self.running_before.clone();
        Box::pin(async move {
            let mut errors = Vec::new();
            for (name, until) in names.iter() {
                let result = async {
                    ports.docker.start(name).await?;
                    ports
                        .docker
                        .wait(name, *until, Duration::from_secs(120))
                        .await
                }
                .await;
                if let Err(e) = result {
                    errors.push(format!("could not start {name} again: {e}"));
                }
            }
            errors
        })
    }
}
