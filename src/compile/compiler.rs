//! Runbook → plan: steps, needs, the DAG, templates, the safety rule, undo,
//! and what a recorded or live world says about each step.

use std::collections::HashMap;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::args::{ArgChecker, CheckedArgs};
use super::graph::Dag;
use super::kinds::{self, Category, Effect, KindSpec, Subject};
use super::params::{self, Missing, ParamValue};
use super::probe::Prober;
use super::targets::{self, TargetKind, Targets};
use super::template::{Scope, placeholder};
use crate::model::duration::parse_duration;
use crate::model::world::World;
use crate::plan::plan::{Objectives, Param, Plan, Retry, Step, Summary, Target, Undo, When};
use crate::runbook::diagnostic::{Diagnostic, suggestion};
use crate::runbook::parse::{Parsed, parse};
use crate::runbook::position_index::{PositionIndex, child_path};
use crate::runbook::raw::{Lenient, OnFailure, RawStep, Text};
use crate::runbook::source::Source;

/// What a plan is made with besides the runbook.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// `--set name=value` pairs.
    pub sets: &'a [(String, String)],
    pub missing: Missing,
    /// A world to resolve targets and backups against, and its name.
    pub world: Option<(&'a World, &'a str)>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            sets: &[],
            missing: Missing::StandIn,
            world: None,
        }
    }
}

/// Why no plan came out.
#[derive(Debug)]
pub enum Failure {
    /// The runbook is wrong.
    Invalid(Vec<Diagnostic>),
    /// The invocation is wrong (`--set`): the runbook itself is fine.
    Usage(Vec<String>),
}

pub fn compile(source: &Source, options: &Options) -> Result<Plan, Failure> {
    let parsed = parse(source).map_err(Failure::Invalid)?;
    Compiler::new(source, &parsed).run(options)
}

/// The real value of every param, secrets included: what the engine renders
/// run-time templates with. Plans never hold these.
pub fn param_values(
    source: &Source,
    sets: &[(String, String)],
) -> Result<Vec<(String, minijinja::Value)>, Failure> {
    let parsed = parse(source).map_err(Failure::Invalid)?;
    let mut errors = Vec::new();
    let defs = params::check_defs(&parsed.raw, &parsed.index, &mut errors);
    if !errors.is_empty() {
        return Err(Failure::Invalid(errors));
    }
    let values = params::resolve(&defs, sets, Missing::Refuse).map_err(Failure::Usage)?;
    Ok(values.into_iter().map(|v| (v.name, v.value)).collect())
}

struct Compiler<'a> {
    source: &'a Source,
    parsed: &'a Parsed,
    index: &'a PositionIndex,
    errors: Vec<Diagnostic>,
}

/// A step that passed the first checks.
struct Node<'a> {
    raw: &'a RawStep,
    path: String,
    kind: &'static KindSpec,
}

impl<'a> Compiler<'a> {
    fn new(source: &'a Source, parsed: &'a Parsed) -> Self {
        Self {
            source,
            parsed,
            index: &parsed.index,
            errors: Vec::new(),
        }
    }

    fn error(
        &mut self,
        message: impl Into<String>,
        at: Option<crate::runbook::source::Span>,
        hint: Option<String>,
    ) {
        self.errors
            .push(Diagnostic::new(message).at(at).maybe_hint(hint));
    }

    fn run(mut self, options: &Options) -> Result<Plan, Failure> {
        let raw = &self.parsed.raw;
        if !is_slug(&raw.runbook) || raw.runbook.chars().any(|c| c.is_ascii_uppercase()) {
            self.error(
                format!("`{}` is not a valid runbook name", raw.runbook),
                self.index.value("runbook"),
                Some("use lowercase letters, digits and `-`, e.g. `full-data-loss`".into()),
            );
        }
        if raw.steps.is_empty() {
            self.error(
                "the runbook has no steps",
                self.index.key("steps"),
                Some("add at least one step under `steps:`".into()),
            );
        }
        let objectives = Objectives {
            rto: raw
                .objectives
                .as_ref()
                .and_then(|o| self.duration(o.rto.as_ref(), "objectives.rto")),
            rpo: raw
                .objectives
                .as_ref()
                .and_then(|o| self.duration(o.rpo.as_ref(), "objectives.rpo")),
        };

        let defs = params::check_defs(raw, self.index, &mut self.errors);
        let broken_params = !self.errors.is_empty();
        let missing = if broken_params {
            Missing::StandIn
        } else {
            options.missing
        };
        let mut values = match params::resolve(&defs, options.sets, missing) {
            Ok(v) => v,
            Err(usage) if self.errors.is_empty() => return Err(Failure::Usage(usage)),
            Err(_) => params::resolve(&defs, &[], Missing::StandIn).unwrap_or_default(),
        };
        // Params whose declaration failed still exist for templates.
        for name in raw.params.keys() {
            if !values.iter().any(|v| &v.name == name) {
                values.push(ParamValue {
                    name: name.clone(),
                    value: minijinja::Value::from(format!("({name})")),
                    shown: format!("({name})"),
                    secret: false,
                    origin: "missing",
                });
            }
        }
        // Plans render secrets as `(secret)`; the engine renders the real value at run time.
        let template_params: Vec<_> = values
            .iter()
            .map(|v| {
                let value = if v.secret {
                    minijinja::Value::from("(secret)")
                } else {
                    v.value.clone()
                };
                (v.name.clone(), value)
            })
            .collect();
        // Secrets and stand-ins for missing params are rendered again at run time.
        let deferred: Vec<String> = values
            .iter()
            .filter(|v| v.secret || v.origin == "missing")
            .map(|v| v.name.clone())
            .collect();
        let nodes = self.nodes();
        let ids: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.raw.id.as_str(), i))
            .collect();
        let needs = self.needs(&nodes, &ids);
        let outputs: HashMap<String, &'static [&'static str]> = nodes
            .iter()
            .map(|n| (n.raw.id.clone(), n.kind.outputs))
            .collect();
        let params_only = Scope::new(
            template_params.clone(),
            deferred.clone(),
            minijinja::Value::from(()),
            outputs.clone(),
        );
        let targets = targets::resolve(raw, &params_only, self.index, &mut self.errors);
        // Targets that failed their own checks are not reported again where they are used.
        let broken_targets: Vec<String> = raw
            .targets
            .keys()
            .filter(|k| !targets.contains_key(*k))
            .cloned()
            .collect();
        let dag = Dag::new(&needs);
        let cycles = dag.cycles();
        for cycle in &cycles {
            // The cycle runs along "runs before"; read backwards it says who needs whom.
            let names: Vec<String> = cycle
                .iter()
                .rev()
                .chain(cycle.last())
                .map(|&i| format!("`{}`", nodes[i].raw.id))
                .collect();
            let first = &nodes[*cycle.last().unwrap_or(&0)];
            self.error(
                format!("dependency cycle: {}", names.join(" needs ")),
                self.index.value(&child_path(&first.path, "needs")),
                Some("a step cannot wait, directly or through others, for itself; remove one of these `needs`".into()),
            );
        }
        let acyclic = cycles.is_empty();

        let scope = Scope::new(
            template_params,
            deferred,
            targets::template_values(&targets),
            outputs,
        );
        let checker = ArgChecker {
            scope: &scope,
            index: self.index,
            targets: &targets,
            broken_targets: &broken_targets,
        };

        let mut steps = Vec::with_capacity(nodes.len());
        let mut checked = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let args = checker.check(
                node.kind,
                node.raw.with.as_ref(),
                &child_path(&node.path, "with"),
                &child_path(&node.path, "uses"),
                &mut self.errors,
            );
            if acyclic {
                self.check_references(&dag, &nodes, &ids, i, &args.steps_used, false);
            }
            let step = self.step(
                node,
                &args,
                &needs[i],
                &nodes,
                &scope,
                acyclic.then_some((&dag, &ids)),
            );
            steps.push(step);
            checked.push(args);
        }
        if acyclic {
            for i in 0..nodes.len() {
                self.guard(&dag, &nodes, &checked, &targets, i, &mut steps);
            }
            for i in 0..nodes.len() {
                steps[i].undo = self.undo(&nodes, &checker, &dag, &ids, i, &steps);
            }
        }

        if !self.errors.is_empty() {
            // In file order, as a reader fixes them; errors without a place last.
            self.errors
                .sort_by_key(|d| d.span.map_or((usize::MAX, 0), |s| (s.line, s.col)));
            return Err(Failure::Invalid(self.errors));
        }

        let (mut order, waves) = dag.schedule();
        // By wave, then as written: a valid execution order that reads wave by wave.
        order.sort_by_key(|&i| (waves[i], i));
        for (i, step) in steps.iter_mut().enumerate() {
            step.wave = waves[i];
        }
        let mut slots: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
        let mut steps: Vec<Step> = order.iter().filter_map(|&i| slots[i].take()).collect();

        let mut plan_targets: Vec<Target> = targets
            .iter()
            .map(|(name, t)| Target {
                name: name.clone(),
                kind: t.kind.word().into(),
                selector: t.selector(),
                object: t.name.clone(),
                project: t.project.clone(),
                resolved: None,
                probe: None,
            })
            .collect();
        let mut warnings = Vec::new();
        let mut predicted_failures = Vec::new();
        let world = options.world.map(|(world, name)| {
            let mut prober = Prober::new(world, &targets);
            prober.annotate(
                &mut plan_targets,
                &mut steps,
                &mut warnings,
                &mut predicted_failures,
            );
            prober.info(name)
        });
        let summary = Summary::of(&steps);
        Ok(Plan {
            runbook: raw.runbook.clone(),
            description: raw.description.clone(),
            source: self.source.name.clone(),
            source_sha256: hex::encode(Sha256::digest(self.source.text.as_bytes())),
            objectives,
            on_failure: raw.on_failure.unwrap_or(OnFailure::Rollback),
            params: values
                .iter()
                .map(|v| Param {
                    name: v.name.clone(),
                    value: v.shown.clone(),
                    secret: v.secret,
                    origin: v.origin.into(),
                })
                .collect(),
            targets: plan_targets,
            steps,
            world,
            warnings,
            predicted_failures,
            summary,
        })
    }

    /// The kind named by `uses` at `path`, or an error with a did-you-mean.
    fn kind(&mut self, uses: &str, path: &str) -> Option<&'static KindSpec> {
        let kind = kinds::kind(uses);
        if kind.is_none() {
            let hint = suggestion(uses, kinds::kind_names())
                .unwrap_or_else(|| "`lifeboat kinds` lists every step kind".into());
            self.error(
                format!("unknown step kind `{uses}`"),
                self.index.value(&child_path(path, "uses")),
                Some(hint),
            );
        }
        kind
    }

    fn duration(&mut self, text: Option<&Text>, path: &str) -> Option<String> {
        let text = text?;
        match parse_duration(&text.0) {
            // Shown as written: reviewers compare the plan with the file.
            Ok(_) => Some(text.0.trim().to_string()),
            Err(e) => {
                self.error(
                    format!("bad duration `{}` for `{path}`", text.0),
                    self.index.value(path),
                    Some(e.to_string()),
                );
                None
            }
        }
    }

    /// Steps with a unique, well-formed id and a known kind.
    fn nodes(&mut self) -> Vec<Node<'a>> {
        let mut nodes = Vec::new();
        let mut first_seen: HashMap<&str, usize> = HashMap::new();
        for (i, step) in self.parsed.raw.steps.iter().enumerate() {
            let Lenient::Ok(raw) = step else { continue };
            let path = format!("steps[{i}]");
            if !is_slug(&raw.id) {
                self.error(
                    format!("`{}` is not a valid step id", raw.id),
                    self.index.value(&child_path(&path, "id")),
                    Some("use letters, digits, `-` and `_`, e.g. `restore-redis`".into()),
                );
                continue;
            }
            if let Some(&line) = first_seen.get(raw.id.as_str()) {
                self.error(
                    format!("duplicate step id `{}`", raw.id),
                    self.index.value(&child_path(&path, "id")),
                    Some(format!(
                        "the first step with this id is on line {line}; ids must be unique"
                    )),
                );
                continue;
            }
            let line = self
                .index
                .value(&child_path(&path, "id"))
                .map_or(0, |s| s.line);
            first_seen.insert(&raw.id, line);
            let Some(kind) = self.kind(&raw.uses, &path) else {
                continue;
            };
            nodes.push(Node { raw, path, kind });
        }
        nodes
    }

    fn needs(&mut self, nodes: &[Node], ids: &HashMap<&str, usize>) -> Vec<Vec<usize>> {
        let all_ids: Vec<&str> = self
            .parsed
            .raw
            .steps
            .iter()
            .filter_map(|s| match s {
                Lenient::Ok(s) => Some(s.id.as_str()),
                Lenient::Err { .. } => None,
            })
            .collect();
        nodes
            .iter()
            .map(|node| {
                let mut deps = Vec::new();
                for (j, need) in node.raw.needs.iter().enumerate() {
                    let at = self.index.value(&format!("{}.needs[{j}]", node.path));
                    match ids.get(need.as_str()) {
                        Some(&d) if !deps.contains(&d) => deps.push(d),
                        Some(_) => {
                            self.error(format!("`{need}` is listed twice in `needs`"), at, None)
                        }
                        // A step that failed its own checks is already reported.
                        None if all_ids.contains(&need.as_str()) => {}
                        None => {
                            let hint = suggestion(need, ids.keys().copied()).unwrap_or_else(|| {
                                let mut known: Vec<&str> = ids
                                    .keys()
                                    .copied()
                                    .filter(|id| *id != node.raw.id)
                                    .collect();
                                known.sort_unstable();
                                format!("`needs` lists ids of other steps: {}", known.join(", "))
                            });
                            self.error(
                                format!("`needs` names unknown step `{need}`"),
                                at,
                                Some(hint),
                            );
                        }
                    }
                }
                deps
            })
            .collect()
    }

    /// Template references to step outputs must point at ancestors.
    fn check_references(
        &mut self,
        dag: &Dag,
        nodes: &[Node],
        ids: &HashMap<&str, usize>,
        i: usize,
        used: &[(String, String)],
        include_self: bool,
    ) {
        for (id, path) in used {
            let Some(&j) = ids.get(id.as_str()) else {
                continue;
            };
            if (include_self && j == i) || dag.is_ancestor(j, i) {
                continue;
            }
            let (message, hint) = if j == i {
                (
                    format!("step `{id}` uses its own output"),
                    "an output exists only after the step; use it in a later step or in `undo`"
                        .to_string(),
                )
            } else {
                (
                    format!(
                        "step `{}` uses an output of `{id}`, which does not run before it",
                        nodes[i].raw.id
                    ),
                    format!(
                        "add `{id}` to `needs` of `{}`, so its output exists in time",
                        nodes[i].raw.id
                    ),
                )
            };
            self.error(message, self.index.value(path), Some(hint));
        }
    }

    fn step(
        &mut self,
        node: &Node,
        args: &CheckedArgs,
        needs: &[usize],
        nodes: &[Node],
        scope: &Scope,
        dag: Option<(&Dag, &HashMap<&str, usize>)>,
    ) -> Step {
        let raw = node.raw;
        let (effect, category) = self.effect(node, args);
        let when = raw
            .when
            .as_ref()
            .and_then(|expr| match scope.condition(expr) {
                Ok((value, used)) => {
                    if let Some((dag, ids)) = dag {
                        let at = child_path(&node.path, "when");
                        let used: Vec<_> = used.into_iter().map(|s| (s, at.clone())).collect();
                        let i = ids[raw.id.as_str()];
                        self.check_references(dag, nodes, ids, i, &used, false);
                    }
                    Some(When {
                        expr: expr.clone(),
                        value,
                    })
                }
                Err(e) => {
                    self.error(
                        e.message,
                        self.index.value(&child_path(&node.path, "when")),
                        e.hint,
                    );
                    None
                }
            });
        if raw
            .unsafe_reason
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            self.error(
                "`unsafe` needs a reason",
                self.index.value(&child_path(&node.path, "unsafe")),
                Some(
                    "say why no safety backup is needed, e.g. `unsafe: \"scratch volume\"`".into(),
                ),
            );
        }
        if raw.unsafe_reason.is_some() && effect != Effect::Destroy {
            self.error(
                format!(
                    "`unsafe` only applies to destructive steps; `{}` destroys nothing",
                    raw.uses
                ),
                self.index.key(&child_path(&node.path, "unsafe")),
                Some("remove `unsafe`".into()),
            );
        }
        if raw.readonly.is_some() && node.kind.effect.is_some() {
            self.error(
                format!("`readonly` only applies to container.exec and http.request; `{}` declares its own effect", raw.uses),
                self.index.key(&child_path(&node.path, "readonly")),
                None,
            );
        }
        let retry = raw.retry.as_ref().and_then(|r| {
            let at = child_path(&node.path, "retry");
            if r.attempts == 0 {
                self.error(
                    "`retry.attempts` must be at least 1",
                    self.index.value(&child_path(&at, "attempts")),
                    Some("attempts count the first try too".into()),
                );
            }
            if r.factor.is_some_and(|f| !(1.0..=10.0).contains(&f)) {
                self.error(
                    "`retry.factor` must be between 1 and 10",
                    self.index.value(&child_path(&at, "factor")),
                    None,
                );
            }
            let backoff = r.backoff.as_ref().map_or(Some("1s".to_string()), |b| {
                self.duration(Some(b), &child_path(&at, "backoff"))
            });
            let max = r
                .max
                .as_ref()
                .and_then(|m| self.duration(Some(m), &child_path(&at, "max")));
            Some(Retry {
                attempts: r.attempts,
                backoff: backoff?,
                factor: r.factor.unwrap_or(2.0),
                max,
            })
        });
        let timeout = self.duration(raw.timeout.as_ref(), &child_path(&node.path, "timeout"));
        let deadline = self.duration(raw.deadline.as_ref(), &child_path(&node.path, "deadline"));
        Step {
            id: raw.id.clone(),
            kind: raw.uses.clone(),
            description: raw.description.clone(),
            effect,
            category,
            wave: 0,
            needs: needs.iter().map(|&d| nodes[d].raw.id.clone()).collect(),
            when,
            args: args.values.clone(),
            defaulted: args.defaulted.clone(),
            templates: args.templates.clone(),
            touches: Vec::new(),
            backup: None,
            guarded_by: Vec::new(),
            unguarded: Vec::new(),
            unsafe_reason: raw.unsafe_reason.clone(),
            undo: None,
            retry,
            timeout,
            deadline,
        }
    }

    /// Kinds that let the step declare its effect: `readonly: true`, or a GET.
    fn effect(&self, node: &Node, args: &CheckedArgs) -> (Effect, Category) {
        if let Some(flag) = node.kind.destroys_when {
            // Only a literal `false` is known to spare the subject.
            if args.values.get(flag) != Some(&Json::Bool(false)) {
                return (Effect::Destroy, Category::Destructive);
            }
        }
        if let Some(effect) = node.kind.effect {
            return (effect, node.kind.category);
        }
        let safe_method = matches!(
            args.values.get("method").and_then(Json::as_str),
            Some("GET" | "HEAD")
        ) && node.kind.name == "http.request";
        match node.raw.readonly {
            Some(true) => (Effect::Read, Category::Check),
            None if safe_method => (Effect::Read, Category::Check),
            _ => (Effect::Mutate, Category::Change),
        }
    }

    /// The safety rule: a destructive step needs a backup of what it destroys among its ancestors.
    fn guard(
        &mut self,
        dag: &Dag,
        nodes: &[Node],
        checked: &[CheckedArgs],
        targets: &Targets,
        i: usize,
        steps: &mut [Step],
    ) {
        let node = &nodes[i];
        if steps[i].effect != Effect::Destroy {
            return;
        }
        let Some(needed) = protected_keys(node.kind, &checked[i], targets) else {
            return;
        };
        let backs_up = |a: usize, key: &Key| {
            nodes[a].kind.is_backup()
                && protected_keys(nodes[a].kind, &checked[a], targets)
                    .is_some_and(|k| k.contains(key))
        };
        let mut missing = Vec::new();
        for key in &needed {
            match dag.nearest_ancestor(i, |a| backs_up(a, key)) {
                Some(g) => steps[i].guarded_by.push(nodes[g].raw.id.clone()),
                None => missing.push(key),
            }
        }
        // A command restored into a container (exec.restore) is guarded as
        // well by backups of every volume the container's target declares:
        // a copy of the files is a safety backup of whatever the command changes.
        if node.kind.name == "exec.restore" && !missing.is_empty() {
            let volumes = container_volumes(&checked[i], targets);
            let guards: Vec<usize> = volumes
                .iter()
                .filter_map(|v| dag.nearest_ancestor(i, |a| backs_up(a, &Key::Target(v))))
                .collect();
            if !volumes.is_empty() && guards.len() == volumes.len() {
                missing.clear();
                steps[i]
                    .guarded_by
                    .extend(guards.iter().map(|&g| nodes[g].raw.id.clone()));
            }
        }
        steps[i].guarded_by.dedup();
        // The plan shows what guards a step marked `unsafe` too, and what
        // does not; only the error is waived.
        if node.raw.unsafe_reason.is_some() {
            steps[i].unguarded = missing.iter().map(|k| k.describe()).collect();
            return;
        }
        if needed.is_empty() {
            let project = checked[i]
                .values
                .get("project")
                .and_then(Json::as_str)
                .unwrap_or_default();
            self.error(
                format!(
                    "destructive step `{}` ({} with `volumes: true`) removes every volume of \
                     compose project `{project}`, and the runbook declares none of them",
                    node.raw.id, node.kind.name
                ),
                self.index.value(&child_path(&node.path, "uses")),
                Some(format!(
                    "declare the project's volumes as targets (`{project}_<name>`) and back them \
                     up before `{}`, set `volumes: false`, or say why it is safe with \
                     `unsafe: \"<reason>\"` (a throwaway project)",
                    node.raw.id
                )),
            );
            return;
        }
        if missing.is_empty() {
            return;
        }
        let what: Vec<String> = missing.iter().map(|k| k.describe()).collect();
        let backup_kind = match missing[0] {
            Key::Target(t)
                if targets
                    .get(*t)
                    .is_some_and(|t| t.kind == TargetKind::Volume) =>
            {
                "volume.backup"
            }
            Key::Target(_) if node.kind.name == "exec.restore" => {
                "exec.backup (or a volume.backup of each of the container's volumes)"
            }
            Key::Target(_) => "exec.backup",
            Key::Source(_) => "http.backup",
        };
        let existing = (0..nodes.len()).find(|&b| {
            nodes[b].kind.is_backup()
                && protected_keys(nodes[b].kind, &checked[b], targets)
                    .is_some_and(|k| k.contains(missing[0]))
        });
        let wrong_target = dag.nearest_ancestor(i, |a| nodes[a].kind.is_backup());
        let hint = if let Some(b) = existing {
            format!(
                "`{}` backs it up but does not run before `{}`: add `{}` to its `needs` chain",
                nodes[b].raw.id, node.raw.id, nodes[b].raw.id
            )
        } else if let Some(b) = wrong_target {
            let what = protected_keys(nodes[b].kind, &checked[b], targets)
                .map(|k| k.iter().map(Key::describe).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let alternative = match container_volumes(&checked[i], targets).as_slice() {
                volumes if node.kind.name == "exec.restore" && !volumes.is_empty() => format!(
                    " (with exec.backup, or with a volume.backup of each of its volumes: {})",
                    volumes.join(", ")
                ),
                _ => String::new(),
            };
            format!("`{}` backs up {what}, not {}; back up what this step destroys{alternative}, or say why it is safe with `unsafe: \"<reason>\"`", nodes[b].raw.id, what_first(&missing))
        } else if node.kind.name == "container.recreate" && needed.iter().all(|k| matches!(k, Key::Target(t) if targets.get(*t).is_some_and(|t| t.kind != TargetKind::Volume))) {
            "list the container's data volumes in its target (`volumes: [..]`) and back them up first, or say why it is safe with `unsafe: \"<reason>\"`".to_string()
        } else {
            format!("add a `{backup_kind}` step for it to the `needs` chain of `{}`, or say why it is safe with `unsafe: \"<reason>\"`", node.raw.id)
        };
        self.error(
            format!(
                "destructive step `{}` ({}) has no safety backup of {} before it",
                node.raw.id,
                node.kind.name,
                what.join(" and ")
            ),
            self.index.value(&child_path(&node.path, "uses")),
            Some(hint),
        );
    }

    fn undo(
        &mut self,
        nodes: &[Node],
        checker: &ArgChecker,
        dag: &Dag,
        ids: &HashMap<&str, usize>,
        i: usize,
        steps: &[Step],
    ) -> Option<Undo> {
        let node = &nodes[i];
        if let Some(undo) = &node.raw.undo {
            let path = child_path(&node.path, "undo");
            let kind = self.kind(&undo.uses, &path)?;
            let args = checker.check(
                kind,
                undo.with.as_ref(),
                &child_path(&path, "with"),
                &child_path(&path, "uses"),
                &mut self.errors,
            );
            self.check_references(dag, nodes, ids, i, &args.steps_used, true);
            return Some(Undo {
                kind: kind.name.into(),
                args: args.values,
                builtin: false,
                templates: args.templates,
            });
        }
        let step = &steps[i];
        let arg = |name: &str| step.args.get(name).cloned().unwrap_or(Json::Null);
        let builtin = |kind: &str, args: Vec<(&str, Json)>, templates: Vec<(&str, String)>| {
            Some(Undo {
                kind: kind.into(),
                args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                builtin: true,
                templates: templates
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            })
        };
        match node.kind.name {
            "container.stop" => builtin(
                "container.start",
                vec![
                    ("container", arg("container")),
                    ("wait", Json::from("running")),
                ],
                vec![],
            ),
            "container.recreate" => builtin(
                "container.recreate",
                vec![
                    ("container", arg("container")),
                    ("image", Json::from(placeholder(&step.id))),
                ],
                vec![(
                    "image",
                    format!("{{{{ steps['{}'].previous_image }}}}", step.id),
                )],
            ),
            // A command restored into a container and guarded by a copy of
            // its volume's files is undone by putting those files back (the
            // restore stops the container; the rollback starts it again).
            "exec.restore"
                if step.guarded_by.first().is_some_and(|g| {
                    ids.get(g.as_str())
                        .is_some_and(|&j| nodes[j].kind.name == "volume.backup")
                }) =>
            {
                let [guard] = step.guarded_by.as_slice() else {
                    self.error(
                        format!(
                            "step `{}` is guarded by backups of several volumes ({}); a built-in \
                             undo restores one",
                            step.id,
                            step.guarded_by.join(", ")
                        ),
                        self.index.value(&child_path(&node.path, "uses")),
                        Some(
                            "give it an `undo:`, or guard it with an exec.backup of the container"
                                .into(),
                        ),
                    );
                    return None;
                };
                let volume = steps[ids[guard.as_str()]].args.get("volume").cloned()?;
                builtin(
                    "volume.restore",
                    vec![
                        ("volume", volume),
                        ("backup", Json::from(placeholder(guard))),
                    ],
                    vec![("backup", format!("{{{{ steps['{guard}'].backup_id }}}}"))],
                )
            }
            "volume.restore" | "exec.restore" | "http.restore" => {
                let guard = step.guarded_by.first()?;
                let mut args: Vec<(&str, Json)> = [
                    "volume",
                    "container",
                    "command",
                    "url",
                    "name",
                    "method",
                    "multipart_field",
                    "headers",
                    "env",
                    "user",
                ]
                .into_iter()
                .filter(|k| step.args.contains_key(*k))
                .map(|k| (k, arg(k)))
                .collect();
                args.push(("backup", Json::from(placeholder(guard))));
                builtin(
                    &step.kind,
                    args,
                    vec![("backup", format!("{{{{ steps['{guard}'].backup_id }}}}"))],
                )
            }
            _ => None,
        }
    }
}

/// What a backup protects or a destructive step destroys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key<'a> {
    Target(&'a str),
    Source(&'a str),
}

impl Key<'_> {
    fn describe(&self) -> String {
        match self {
            Key::Target(t) => format!("target `{t}`"),
            Key::Source(s) => format!("backup source `{s}`"),
        }
    }
}

/// For a backup step, what it protects; for a destructive step, what must be
/// protected first. A recreated container needs its data volumes, or itself.
fn protected_keys<'a>(
    kind: &KindSpec,
    args: &'a CheckedArgs,
    targets: &'a Targets,
) -> Option<Vec<Key<'a>>> {
    match kind.subject? {
        Subject::Target(arg) => {
            let name = args.values.get(arg)?.as_str()?;
            let target = targets.get_key_value(name)?;
            let volumes = &target.1.volumes;
            if kind.name == "container.recreate" && !volumes.is_empty() {
                return Some(volumes.iter().map(|v| Key::Target(v.as_str())).collect());
            }
            Some(vec![Key::Target(target.0.as_str())])
        }
        Subject::Source(arg) => Some(vec![Key::Source(args.values.get(arg)?.as_str()?)]),
        Subject::ComposeVolumes(arg) => {
            // Compose names a project's volumes `<project>_<name>`, with the
            // project name normalised; a runbook may write either (a stand-in
            // for a missing param is only ever written as is).
            let project = args.values.get(arg)?.as_str()?;
            let prefixes = [
                format!("{project}_"),
                format!("{}_", crate::model::world::compose_project_name(project)),
            ];
            Some(
                targets
                    .iter()
                    .filter(|(_, t)| {
                        t.kind == TargetKind::Volume
                            && prefixes.iter().any(|p| t.name.starts_with(p.as_str()))
                    })
                    .map(|(name, _)| Key::Target(name.as_str()))
                    .collect(),
            )
        }
    }
}

/// The volume targets a container argument's target declares (`volumes: [..]`).
fn container_volumes<'a>(args: &CheckedArgs, targets: &'a Targets) -> Vec<&'a str> {
    args.values
        .get("container")
        .and_then(Json::as_str)
        .and_then(|name| targets.get(name))
        .map(|t| t.volumes.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

fn is_slug(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn what_first(missing: &[&Key]) -> String {
    missing.first().map(|k| k.describe()).unwrap_or_default()
}
