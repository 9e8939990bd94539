//! What a running step has at hand (docs/architecture.md §1): its call and
//! typed arguments, the ports (Docker, the repository, HTTP, the off-site
//! store), and the helpers several step kinds share. The kinds themselves
//! are in `src/kinds/`.

pub mod ahead;
pub mod args;
pub mod backups;
pub mod compose;
pub mod expect;
pub mod http;
pub mod http_backup;
pub mod ports;
pub mod transfer;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

pub use args::Args;
pub use ports::Ports;

use crate::docker::WaitFor;
use crate::engine::{Call, Event, StepError};
use crate::model::target::TargetKind;
use crate::plan::plan::Target;

/// One call with what it needs.
pub struct Ctx {
    pub ports: Arc<Ports>,
    pub targets: Arc<HashMap<String, Target>>,
    pub call: Call,
    pub args: Args,
    pub events: UnboundedSender<Event>,
    /// Volumes and networks this run's compose.up steps created.
    pub created: Arc<compose::Created>,
    /// The backups its restores read, verified while earlier steps run.
    pub ahead: Arc<ahead::Ahead>,
    /// The step declared `readonly: true` (never for an undo).
    pub readonly: bool,
}

impl Ctx {
    /// The container a container argument names, resolved now (a service's
    /// container may have been recreated since the plan).
    pub async fn container(&self, arg: &str) -> Result<String, StepError> {
        let name = self.args.str(arg)?;
        let target = self.target(&name)?;
        match (target.kind, &target.project) {
            (TargetKind::Service, Some(project)) => self
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
    let Some(store) = ctx.ports.remote.as_ref().filter(|_| ctx.ports.push_new) else {
        return Ok(());
    };
    store
        .push(id)
        .await
        .map_err(|e| StepError::new(format!("copying backup {id} to {}: {e}", store.url())))
}

/// Makes sure backup `id` is whole in the local repository, fetching it
/// from the off-site store if it is only there (a new machine, a lost disk)
/// or if the local copy is damaged (`s3::fetch_backup`).
pub async fn ensure_local(ctx: &Ctx, id: &str) -> Result<(), StepError> {
    let Some(store) = ctx.ports.remote.as_ref() else {
        return Ok(());
    };
    let url = store.url();
    let fetched = store
        .fetch(id)
        .await
        .map_err(|e| StepError::new(format!("fetching backup {id} from {url}: {e}")))?;
    if fetched {
        return Ok(());
    }
    Err(StepError::fatal(format!(
        "backup {id} is neither in {} nor in {url}",
        ctx.ports.repo.root().display()
    )))
}

/// `spawn_blocking` for repository work of a step: a dry run still files
/// what it would do under the step (the step's task-local goes along).
pub fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> tokio::task::JoinHandle<R> {
    match ports::dry::STEP.try_with(String::clone) {
        Ok(step) => tokio::task::spawn_blocking(move || ports::dry::STEP.sync_scope(step, f)),
        Err(_) => tokio::task::spawn_blocking(f),
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

/// The command of exec.backup and exec.restore.
pub fn exec_spec(ctx: &Ctx) -> Result<crate::docker::ExecSpec, StepError> {
    Ok(crate::docker::ExecSpec {
        argv: ctx.args.command()?,
        env: ctx.args.map("env")?,
        user: ctx.args.opt_str("user")?,
        workdir: None,
    })
}
