//! What the world says about a plan's targets and backups: the read-only
//! probe results a reviewer sees, the warnings, and the fingerprint that
//! `apply` compares.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value as Json;

use sha2::{Digest, Sha256};

use super::targets::{Target as RunbookTarget, TargetKind, Targets};
use crate::kinds::{self, Before, Prediction};
use crate::model::kind_spec::ArgType;
use crate::model::size::bytes;
use crate::model::world::{Container, World};
use crate::plan::plan::{Observation, PredictedFailure, Step, Target, Touch, WorldInfo};

pub struct Prober<'a> {
    world: &'a World,
    targets: &'a Targets,
    observed: BTreeSet<Observation>,
}

impl<'a> Prober<'a> {
    pub fn new(world: &'a World, targets: &'a Targets) -> Self {
        Self {
            world,
            targets,
            observed: BTreeSet::new(),
        }
    }

    pub fn annotate(
        &mut self,
        plan_targets: &mut [Target],
        steps: &mut [Step],
        warnings: &mut Vec<String>,
        failures: &mut Vec<PredictedFailure>,
    ) {
        for t in plan_targets.iter_mut() {
            let Some(target) = self.targets.get(&t.name) else {
                continue;
            };
            let (resolved, probe) = self.probe(target);
            t.resolved = resolved;
            t.probe = Some(probe);
            t.state = self.container(target).map(|c| c.observed_state());
        }
        let mut conditional_steps: Vec<String> = Vec::new();
        // Step id → the containers stopped once it finished (`Before`).
        let mut stopped_after: HashMap<String, BTreeSet<String>> = HashMap::new();
        for step in steps.iter_mut() {
            let kind = kinds::get(&step.kind);
            let mounts = |arg: &str| {
                kind.and_then(|k| k.spec().arg(arg))
                    .is_some_and(|a| a.ty == ArgType::VolumeMounts)
            };
            let mut target_args: Vec<(String, String)> = Vec::new();
            for (arg, v) in &step.args {
                let is_target_arg = matches!(arg.as_str(), "container" | "volume" | "from");
                match v {
                    Json::String(name) if is_target_arg && self.targets.contains_key(name) => {
                        target_args.push((arg.clone(), name.clone()));
                    }
                    Json::Object(map) if mounts(arg) => target_args.extend(
                        map.keys()
                            .filter(|name| self.targets.contains_key(*name))
                            .map(|name| (arg.clone(), name.clone())),
                    ),
                    _ => {}
                }
            }
            for (arg, name) in target_args {
                let target = &self.targets[&name];
                let (resolved, probe) = self.probe(target);
                if resolved.is_none() && target.kind != TargetKind::Volume {
                    warnings.push(format!(
                        "step `{}`: target `{name}` ({}) was not found",
                        step.id,
                        target.selector()
                    ));
                }
                step.touches.push(Touch {
                    arg,
                    target: name,
                    resolved: resolved.unwrap_or_else(|| match target.kind {
                        TargetKind::Volume => target.name.clone(),
                        _ => target.selector(),
                    }),
                    probe: Some(probe),
                });
            }
            let mut before = Before::default();
            for need in &step.needs {
                before
                    .stopped
                    .extend(stopped_after.get(need).into_iter().flatten().cloned());
            }
            let prediction = match kind {
                Some(kind) => kind.predict(step, self.world, self.targets, &before),
                None => Prediction::default(),
            };
            let container = step.touches.iter().find(|t| t.arg == "container");
            match (kind.and_then(|k| k.leaves_container_running()), container) {
                (Some(false), Some(t)) => {
                    before.stopped.insert(t.resolved.clone());
                }
                (Some(true), Some(t)) => {
                    before.stopped.remove(&t.resolved);
                }
                _ => {}
            }
            stopped_after.insert(step.id.clone(), before.stopped);
            self.observed.extend(prediction.observed);
            step.backup = prediction.backup;
            let found = prediction.failures;
            // A step that runs only if a run-time `when` says so (its own or
            // one it needs) fails only if it runs: a warning, not a refusal.
            let conditional = step.when.as_ref().is_some_and(|w| w.value.is_none())
                || step.needs.iter().any(|n| conditional_steps.contains(n));
            if conditional {
                conditional_steps.push(step.id.clone());
                warnings.extend(
                    found.into_iter().map(|f| {
                        format!("{f}; it runs only if its `when` says so, and then fails")
                    }),
                );
            } else {
                failures.extend(found);
            }
        }
    }

    /// The resolved name and what the world says about a target.
    fn probe(&mut self, target: &RunbookTarget) -> (Option<String>, String) {
        match target.kind {
            TargetKind::Volume => match self.world.volume(&target.name) {
                Some(v) => {
                    self.observe(format!("volume {}", v.name), "present".into());
                    let mut probe = match v.size_bytes {
                        Some(size) => format!("exists, {}", bytes(size)),
                        None => "exists".into(),
                    };
                    let users = self.world.mounted_by(&v.name);
                    if !users.is_empty() {
                        probe.push_str(&format!(", mounted by {}", users.join(", ")));
                    }
                    (Some(v.name.clone()), probe)
                }
                None => {
                    self.observe(format!("volume {}", target.name), "absent".into());
                    (None, "does not exist".into())
                }
            },
            TargetKind::Container | TargetKind::Service => match self.container(target) {
                Some(c) => {
                    let state = match &c.health {
                        Some(h) => format!("{}, {h}", c.state),
                        None => c.state.clone(),
                    };
                    self.observe(
                        format!("container {}", c.name),
                        format!("{state}, image {}", c.image),
                    );
                    (Some(c.name.clone()), format!("{state}, image {}", c.image))
                }
                None => {
                    self.observe(format!("container {}", target.selector()), "absent".into());
                    (None, "not found".into())
                }
            },
        }
    }

    /// The container a container or service target names, in the world.
    fn container(&self, target: &RunbookTarget) -> Option<&'a Container> {
        match (&target.kind, &target.project) {
            (TargetKind::Volume, _) => None,
            (TargetKind::Service, Some(project)) => self.world.service(project, &target.name),
            _ => self.world.container(&target.name),
        }
    }

    fn observe(&mut self, subject: String, state: String) {
        self.observed.insert(Observation { subject, state });
    }

    pub fn info(self, source: &str) -> WorldInfo {
        let observed: Vec<Observation> = self.observed.into_iter().collect();
        let canonical = serde_json::to_vec(&observed).unwrap_or_default();
        WorldInfo {
            source: source.to_string(),
            taken_at: self.world.taken_at.to_string(),
            fingerprint: hex::encode(Sha256::digest(&canonical)),
            observed,
            recorded: None,
        }
    }
}
