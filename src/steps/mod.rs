//! The executor of real runs: the engine's calls dispatched to the step
//! kinds of the registry (`crate::kinds`), with the ports and the state one
//! run shares (targets, what the plan saw running, what compose.up created).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc::UnboundedSender;

use crate::docker::WaitFor;
use crate::engine::{Call, Event, Executor, Outputs, StepError};
use crate::kinds;
use crate::plan::Plan;
use crate::plan::plan::Target;
use crate::runtime::Ctx;
use crate::runtime::ahead::Ahead;
use crate::runtime::args::Args;
use crate::runtime::compose::Created;

pub use crate::runtime::Ports;

/// What a dry run files the end of a rollback under: the containers that
/// were running before are started again.
pub const AFTER_ROLLBACK: &str = "after rollback";
pub use crate::runtime::transfer;

/// The executor of real runs.
pub struct Real {
    ports: Arc<Ports>,
    targets: Arc<HashMap<String, Target>>,
    /// Containers the plan saw running: a rollback ends with them running,
    /// and healthy again when they were healthy.
    running_before: Arc<Vec<(String, WaitFor)>>,
    /// Volumes and networks this run's compose.up steps created.
    created: Arc<Created>,
    /// The backups its restores read, verified while earlier steps run.
    ahead: Arc<Ahead>,
    /// Steps that only read (`readonly: true`, or a kind that reads).
    readonly: Arc<std::collections::HashSet<String>>,
}

/// (step id, backup id) of the volume restores whose backup the plan pinned.
fn restores_to_verify(plan: &Plan) -> Vec<(String, String)> {
    plan.steps
        .iter()
        .filter(|s| kinds::get(&s.kind).is_some_and(|k| k.restores_into().is_some()))
        .filter_map(|s| Some((s.id.clone(), crate::engine::pinned_backup(s)?)))
        .collect()
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
            .filter_map(|t| {
                let until = match t.state? {
                    s if !s.running => return None,
                    s if s.healthy == Some(true) => WaitFor::Healthy,
                    _ => WaitFor::Running,
                };
                Some((t.resolved.clone()?, until))
            })
            .collect();
        // Volumes a restore of this run writes into: data, not scaffolding.
        let restored = plan
            .steps
            .iter()
            .filter_map(|s| {
                let arg = kinds::get(&s.kind)?.restores_into()?;
                s.args.get(arg)?.as_str()
            })
            .filter_map(|name| targets.get(name).map(|t: &Target| t.object.clone()))
            .collect();
        Self {
            ports: Arc::new(ports),
            targets: Arc::new(targets),
            running_before: Arc::new(running_before),
            created: Arc::new(Created::new(restored)),
            ahead: Arc::new(Ahead::new(restores_to_verify(plan))),
            readonly: Arc::new(
                plan.steps
                    .iter()
                    .filter(|s| s.effect == crate::model::effect::Effect::Read)
                    .map(|s| s.id.clone())
                    .collect(),
            ),
        }
    }

    /// A resumed run: what its finished steps did is still its own.
    pub fn resumed(self, plan: &Plan, done: &[(String, Outputs)]) -> Self {
        for (id, outputs) in done {
            self.ahead.forget(id);
            let kind = plan
                .steps
                .iter()
                .find(|s| &s.id == id)
                .and_then(|s| kinds::get(&s.kind));
            if let Some(kind) = kind {
                kind.on_resume(&self.created, id, outputs);
            }
        }
        self
    }

    /// What the run created and left in place (compose.up without a
    /// compose.down of its project), as it stands now: to be reported.
    pub async fn left_over(&self) -> Vec<String> {
        self.created.left_over(&*self.ports.docker).await
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
        let Some(kind) = kinds::get(&call.kind) else {
            let message = format!(
                "step kind `{}` cannot run in this version of lifeboat",
                call.kind
            );
            return Box::pin(async move { Err(StepError::fatal(message)) });
        };
        // A dry run files what each port would do under the step doing it.
        let label = if call.undo {
            format!("{} (undo)", call.step)
        } else {
            call.step.clone()
        };
        let ctx = Ctx {
            readonly: !call.undo && self.readonly.contains(&call.step),
            ports: self.ports.clone(),
            targets: self.targets.clone(),
            // Defaults from the kind's spec: an undo built in is written
            // with only the arguments it changes.
            args: Args::with_defaults(call.args.clone(), kind.spec()),
            call,
            events,
            created: self.created.clone(),
            ahead: self.ahead.clone(),
        };
        Box::pin(crate::runtime::ports::dry::STEP.scope(label, async move { kind.run(&ctx).await }))
    }

    fn builtin_undo_needed(&self, kind: &str, outputs: &Outputs) -> bool {
        kinds::get(kind).is_none_or(|k| k.builtin_undo_needed(outputs))
    }

    fn after_rollback(&self) -> BoxFuture<'static, Vec<String>> {
        let ports = self.ports.clone();
        let names = self.running_before.clone();
        Box::pin(
            crate::runtime::ports::dry::STEP.scope(AFTER_ROLLBACK.into(), async move {
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
            }),
        )
    }
}
