//! `ops::dry_run`: a compiled plan run through the real executor and the
//! real step code, over the dry-run ports (`runtime::ports::dry`): probes
//! are answered from the world observed before, every change is recorded
//! instead of made. No lock is taken, no journal written, no container,
//! volume or backup touched; existing backups the run would restore are
//! verified for real (pass 1, and pass 2 on the way to the recorded
//! extract). The result says what each step would do.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use super::error::OpError;
use super::report::{Collector, RollbackReport, StepReport};
use crate::engine::render::RunScope;
use crate::engine::{Options, Outcome, Seed, Subscribers};
use crate::model::world::World;
use crate::plan::Plan;
use crate::repo::{LocalRepo, Policy};
use crate::runtime::ports::dry::{DryRun, Would};
use crate::runtime::ports::{Containers, Http, Offsite, Repository};
use crate::steps::{Ports, Real};

/// Where a dry run reads from.
pub struct DryEnv {
    /// The world observed (read-only) before the run.
    pub world: World,
    /// Existing backups are read from here, never written.
    pub repo: Arc<LocalRepo>,
    /// The off-site store's URL, when the run would use one.
    pub remote: Option<String>,
    pub workdir: PathBuf,
    pub retention: Policy,
    pub restore_from: BTreeMap<String, String>,
}

/// What a run would have done.
#[derive(Debug, Clone, Serialize)]
pub struct DryReport {
    pub runbook: String,
    /// How the run would have ended, as far as a dry run can tell.
    pub outcome: Outcome,
    /// Each step as it went, with made-up outputs.
    pub steps: Vec<StepReport>,
    pub rollback: Option<RollbackReport>,
    /// Every change, in order, under the step that would make it.
    pub would: Vec<Would>,
    pub errors: Vec<String>,
}

impl DryReport {
    /// What step `id` would do (its undo's changes are filed as `<id> (undo)`).
    pub fn would_of(&self, step: &str) -> Vec<&str> {
        self.would
            .iter()
            .filter(|w| w.step == step)
            .map(|w| w.action.as_str())
            .collect()
    }
}

/// Runs `plan` dry; see the module documentation.
pub async fn dry_run(
    env: DryEnv,
    plan: &Plan,
    params: Vec<(String, minijinja::Value)>,
    parallel: usize,
) -> Result<DryReport, OpError> {
    let dry = DryRun::new(env.world, env.repo, env.remote.clone())
        .map_err(|e| OpError::Unavailable(format!("a scratch directory for the dry run: {e}")))?;
    let ports = Ports {
        docker: dry.clone() as Arc<dyn Containers>,
        repo: dry.clone() as Arc<dyn Repository>,
        http: dry.clone() as Arc<dyn Http>,
        remote: env.remote.map(|_| dry.clone() as Arc<dyn Offsite>),
        yes: true,
        workdir: env.workdir,
        retention: env.retention,
        restore_from: env.restore_from,
        push_new: true,
        dry: Some(dry.clone()),
    };
    let secrets = super::run::secrets_of(plan, &params);
    let run_id = "dry-run".to_string();
    let scope = RunScope::new(
        params,
        &plan.targets,
        &run_id,
        &Timestamp::now().to_string(),
    );
    let executor = Arc::new(Real::new(ports, plan));
    let collector = Collector::default();
    let mut subscribers = Subscribers::new();
    subscribers.add(collector.clone());
    let options = Options {
        run_id,
        parallel,
        cancel: Default::default(),
        abort: Default::default(),
        secrets: secrets.clone(),
    };
    let report = crate::engine::run(
        plan,
        &scope,
        executor,
        subscribers,
        &options,
        Seed::default(),
    )
    .await;
    let collected = collector.take();
    Ok(DryReport {
        runbook: plan.runbook.clone(),
        outcome: report.outcome,
        steps: collected.steps,
        rollback: collected.rollback,
        would: dry
            .log()
            .into_iter()
            .map(|w| Would {
                action: redact(&w.action, &secrets),
                ..w
            })
            .collect(),
        errors: report.errors,
    })
}

/// Secret param values as the engine masks them.
fn redact(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(s.as_str(), "(secret)");
    }
    text
}
