//! Runbook → plan: steps, needs, the DAG, templates, the safety rule, undo,
//! and what a recorded or live world says about each step.

use std::collections::HashMap;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::args::{ArgChecker, CheckedArgs};
use super::graph::Dag;
use super::params::{self, Missing, ParamValue};
use super::probe::Prober;
use super::targets::{self, TargetKind, Targets};
use crate::kinds::{self, Guard, Key, Kind};
use crate::model::duration::Written;
use crate::model::kind_spec::{Effect, Subject};
use crate::model::world::World;
use crate::plan::plan::{Objectives, Param, Plan, Retry, Step, Summary, Target, Undo, When};
use crate::runbook::diagnostic::{Diagnostic, suggestion};
use crate::runbook::parse::{Parsed, parse};
use crate::runbook::position_index::{PositionIndex, child_path};
use crate::runbook::raw::{Lenient, OnFailure, RawStep, Text};
use crate::runbook::source::Source;
use crate::template::Scope;

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

/// Parses and compiles `source`; against `options.world` if there is one.
pub fn compile(source: &Source, options: &Options) -> Result<Plan, Failure> {
    Ok(Document::parse(source)?
        .compile(options)?
        .in_world(options.world))
}

/// The real value of every param, secrets included: what the engine renders
/// run-time templates with. Plans never hold these.
pub fn param_values(
    source: &Source,
    sets: &[(String, String)],
) -> Result<Vec<(String, minijinja::Value)>, Failure> {
    Document::parse(source)?.param_values(sets)
}

/// A runbook parsed once: what one command compiles and takes its param
/// values from, without reading or parsing the text again.
#[derive(Debug)]
pub struct Document {
    /// Where it came from: a path, or what made it (`(lifeboat backup)`).
    pub name: String,
    /// The sha256 of its text (hex): a plan's `source_sha256`.
    pub sha256: String,
    pub parsed: Parsed,
}

impl Document {
    pub fn parse(source: &Source) -> Result<Self, Failure> {
        Ok(Self {
            name: source.name.clone(),
            sha256: hex::encode(Sha256::digest(source.text.as_bytes())),
            parsed: parse(source).map_err(Failure::Invalid)?,
        })
    }

    /// The plan, before any world is looked at (`options.world` is not
    /// read: see [`Compiled::probe`]).
    pub fn compile(&self, options: &Options) -> Result<Compiled, Failure> {
        Compiler::new(self).run(options)
    }

    /// The real value of every param (see [`param_values`]).
    pub fn param_values(
        &self,
        sets: &[(String, String)],
    ) -> Result<Vec<(String, minijinja::Value)>, Failure> {
        let mut errors = Vec::new();
        let defs = params::check_defs(&self.parsed.raw, &self.parsed.index, &mut errors);
        if !errors.is_empty() {
            return Err(Failure::Invalid(errors));
        }
        let values = params::resolve(&defs, sets, Missing::Refuse).map_err(Failure::Usage)?;
        Ok(values.into_iter().map(|v| (v.name, v.value)).collect())
    }
}

/// A compiled runbook that has not met a world yet: its plan, and the
/// targets it resolved, to probe a world with once it is observed.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub plan: Plan,
    targets: Targets,
}

impl Compiled {
    /// The plan made against `world` (called `name`): targets and backups
    /// resolved, probes, warnings and predicted failures.
    pub fn probe(&self, world: &World, name: &str) -> Plan {
        let mut plan = self.plan.clone();
        let mut prober = Prober::new(world, &self.targets);
        prober.annotate(
            &mut plan.targets,
            &mut plan.steps,
            &mut plan.warnings,
            &mut plan.predicted_failures,
        );
        plan.world = Some(prober.info(name));
        plan.summary = Summary::of(&plan.steps);
        plan
    }

    /// The plan, probed against `world` if there is one.
    pub fn in_world(self, world: Option<(&World, &str)>) -> Plan {
        match world {
            Some((world, name)) => self.probe(world, name),
            None => self.plan,
        }
    }
}

struct Compiler<'a> {
    document: &'a Document,
    parsed: &'a Parsed,
    index: &'a PositionIndex,
    errors: Vec<Diagnostic>,
}

/// A step that passed the first checks.
struct Node<'a> {
    raw: &'a RawStep,
    path: String,
    kind: &'static dyn Kind,
}

impl<'a> Compiler<'a> {
    fn new(document: &'a Document) -> Self {
        Self {
            document,
            parsed: &document.parsed,
            index: &document.parsed.index,
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

    fn run(mut self, options: &Options) -> Result<Compiled, Failure> {
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
            .map(|n| (n.raw.id.clone(), n.kind.spec().outputs))
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
                node.kind.spec(),
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
        let steps: Vec<Step> = order.iter().filter_map(|&i| slots[i].take()).collect();

        let plan_targets: Vec<Target> = targets
            .iter()
            .map(|(name, t)| Target {
                name: name.clone(),
                kind: t.kind,
                selector: t.selector(),
                object: t.name.clone(),
                project: t.project.clone(),
                resolved: None,
                probe: None,
                state: None,
            })
            .collect();
        let summary = Summary::of(&steps);
        let plan = Plan {
            runbook: raw.runbook.clone(),
            description: raw.description.clone(),
            source: self.document.name.clone(),
            source_sha256: self.document.sha256.clone(),
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
            world: None,
            warnings: Vec::new(),
            predicted_failures: Vec::new(),
            summary,
        };
        Ok(Compiled { plan, targets })
    }

    /// The kind named by `uses` at `path`, or an error with a did-you-mean.
    fn kind(&mut self, uses: &str, path: &str) -> Option<&'static dyn Kind> {
        let kind = kinds::get(uses);
        if kind.is_none() {
            let hint = suggestion(uses, kinds::names())
                .unwrap_or_else(|| "`lifeboat kinds` lists every step kind".into());
            self.error(
                format!("unknown step kind `{uses}`"),
                self.index.value(&child_path(path, "uses")),
                Some(hint),
            );
        }
        kind
    }

    fn duration(&mut self, text: Option<&Text>, path: &str) -> Option<Written> {
        let text = text?;
        match Written::parse(&text.0) {
            // Shown as written: reviewers compare the plan with the file.
            Ok(written) => Some(written),
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
        let (effect, category) = node.kind.effect(&args.values, raw.readonly);
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
        if raw.readonly.is_some() && node.kind.spec().effect.is_some() {
            self.error(
                format!(
                    "`readonly` only applies to {}; `{}` declares its own effect",
                    kinds::declaring_kinds().join(" and "),
                    raw.uses
                ),
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
            let backoff = r.backoff.as_ref().map_or(Written::parse("1s").ok(), |b| {
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
        let Some(needed) = node.kind.destroys(&checked[i].values, targets) else {
            return;
        };
        let protects = |a: usize| nodes[a].kind.protects(&checked[a].values, targets);
        let backs_up = |a: usize, key: &Key| protects(a).is_some_and(|k| k.contains(key));
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
        let container_volumes = kinds::container_volumes(&checked[i].values, targets);
        if node.kind.also_guarded_by_container_volumes() && !missing.is_empty() {
            let guards: Vec<usize> = container_volumes
                .iter()
                .filter_map(|v| dag.nearest_ancestor(i, |a| backs_up(a, &Key::Target(v.clone()))))
                .collect();
            if !container_volumes.is_empty() && guards.len() == container_volumes.len() {
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
            self.undeclared_project_volumes(node, &checked[i]);
            return;
        }
        let Some(&first) = missing.first() else {
            return;
        };
        let what: Vec<String> = missing.iter().map(|k| k.describe()).collect();
        let hint = missing_guard_hint(dag, nodes, checked, targets, i, &needed, first);
        self.error(
            format!(
                "destructive step `{}` ({}) has no safety backup of {} before it",
                node.raw.id,
                node.kind.spec().name,
                what.join(" and ")
            ),
            self.index.value(&child_path(&node.path, "uses")),
            Some(hint),
        );
    }

    /// A step that destroys every volume of a compose project the runbook
    /// declares none of: nothing can guard it.
    fn undeclared_project_volumes(&mut self, node: &Node, args: &CheckedArgs) {
        let project = args
            .values
            .get("project")
            .and_then(Json::as_str)
            .unwrap_or_default();
        self.error(
            format!(
                "destructive step `{}` ({} with `volumes: true`) removes every volume of \
                 compose project `{project}`, and the runbook declares none of them",
                node.raw.id,
                node.kind.spec().name
            ),
            self.index.value(&child_path(&node.path, "uses")),
            Some(format!(
                "declare the project's volumes as targets (`{project}_<name>`) and back them \
                 up before `{}`, set `volumes: false`, or say why it is safe with \
                 `unsafe: \"<reason>\"` (a throwaway project)",
                node.raw.id
            )),
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
                kind.spec(),
                undo.with.as_ref(),
                &child_path(&path, "with"),
                &child_path(&path, "uses"),
                &mut self.errors,
            );
            self.check_references(dag, nodes, ids, i, &args.steps_used, true);
            return Some(Undo {
                kind: kind.spec().name.into(),
                args: args.values,
                builtin: false,
                templates: args.templates,
            });
        }
        let step = &steps[i];
        let guards: Vec<Guard> = step
            .guarded_by
            .iter()
            .filter_map(|g| {
                let &j = ids.get(g.as_str())?;
                Some(Guard {
                    id: g,
                    kind: nodes[j].kind,
                    args: &steps[j].args,
                })
            })
            .collect();
        match node.kind.undo(step, &guards) {
            Ok(undo) => undo,
            Err(e) => {
                self.error(
                    e.message,
                    self.index.value(&child_path(&node.path, "uses")),
                    Some(e.hint),
                );
                None
            }
        }
    }
}

/// What to do about a destructive step with no backup of `first` before it.
fn missing_guard_hint(
    dag: &Dag,
    nodes: &[Node],
    checked: &[CheckedArgs],
    targets: &Targets,
    i: usize,
    needed: &[Key],
    first: &Key,
) -> String {
    let node = &nodes[i];
    let protects = |a: usize| nodes[a].kind.protects(&checked[a].values, targets);
    let by_volumes = node.kind.also_guarded_by_container_volumes();
    let container_volumes = kinds::container_volumes(&checked[i].values, targets);
    let first_kind = kinds::backup_kind_for(first, targets);
    let volume_kind = kinds::volume_backup_kind();
    if let Some(b) = (0..nodes.len()).find(|&b| protects(b).is_some_and(|k| k.contains(first))) {
        return format!(
            "`{}` backs it up but does not run before `{}`: add `{}` to its `needs` chain",
            nodes[b].raw.id, node.raw.id, nodes[b].raw.id
        );
    }
    if let Some(b) = dag.nearest_ancestor(i, |a| nodes[a].kind.spec().is_backup()) {
        let what = protects(b)
            .map(|k| k.iter().map(Key::describe).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let alternative = if by_volumes && !container_volumes.is_empty() {
            format!(
                " (with {first_kind}, or with a {volume_kind} of each of its volumes: {})",
                container_volumes.join(", ")
            )
        } else {
            String::new()
        };
        return format!(
            "`{}` backs up {what}, not {}; back up what this step destroys{alternative}, \
             or say why it is safe with `unsafe: \"<reason>\"`",
            nodes[b].raw.id,
            first.describe()
        );
    }
    let only_containers = needed.iter().all(|k| {
        matches!(k, Key::Target(t) if targets.get(t).is_some_and(|t| t.kind != TargetKind::Volume))
    });
    if matches!(node.kind.spec().subject, Some(Subject::ContainerData(_))) && only_containers {
        return "list the container's data volumes in its target (`volumes: [..]`) and back them \
                up first, or say why it is safe with `unsafe: \"<reason>\"`"
            .to_string();
    }
    let backup_kind = match first {
        Key::Target(_) if by_volumes => {
            format!("{first_kind} (or a {volume_kind} of each of the container's volumes)")
        }
        _ => first_kind.to_string(),
    };
    format!(
        "add a `{backup_kind}` step for it to the `needs` chain of `{}`, or say why it \
         is safe with `unsafe: \"<reason>\"`",
        node.raw.id
    )
}

fn is_slug(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
