//! The plan: every step in execution order with resolved arguments, what it
//! touches, what guards it and what undoes it. Plain data; renderers format it.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::model::duration::Written;
use crate::model::effect::{Category, Effect};
use crate::model::target::TargetKind;
use crate::model::world::{ContainerState, World};
use crate::runbook::raw::OnFailure;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub runbook: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The runbook file and the sha256 of its text: `apply` refuses a changed runbook.
    pub source: String,
    pub source_sha256: String,
    pub objectives: Objectives,
    pub on_failure: OnFailure,
    pub params: Vec<Param>,
    pub targets: Vec<Target>,
    /// In execution order.
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<WorldInfo>,
    /// Things that may surprise: absent containers, a service made by the run itself.
    pub warnings: Vec<String>,
    /// Steps the world says will fail (no such backup, a backup of another
    /// source): `run` and `apply` refuse such a plan unless told `--force`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicted_failures: Vec<PredictedFailure>,
    pub summary: Summary,
}

/// A step that the plan already knows will fail, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictedFailure {
    pub step: String,
    pub reason: String,
}

impl std::fmt::Display for PredictedFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step `{}`: {}", self.step, self.reason)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Objectives {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto: Option<Written>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo: Option<Written>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    /// As shown: secrets are `(secret)`.
    pub value: String,
    pub secret: bool,
    /// `default`, `set` (from --set) or `missing`.
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    /// What it names: a container or volume name, or `service S of project P`.
    pub selector: String,
    /// The container or volume name; for a service, the service name.
    pub object: String,
    /// The compose project of a service target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The container or volume it resolved to, when a world was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// What the probe found, e.g. `running (healthy), image redis:7` or `not found`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// A container target's state, when a world was given and it was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ContainerState>,
}

/// The world a plan was made against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldInfo {
    pub source: String,
    pub taken_at: String,
    /// sha256 over what the plan observed; `apply` re-probes and compares.
    pub fingerprint: String,
    pub observed: Vec<Observation>,
    /// The world itself, as `lifeboat plan` loaded or probed it: `--world`
    /// accepts a plan that has it and plans against it again
    /// (docs/formats.md). Absent from plans that `compile` returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<World>,
}

/// One fact a plan relied on, e.g. `container shop-redis-1` = `running`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Observation {
    pub subject: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub effect: Effect,
    pub category: Category,
    /// 1 + the latest wave among its needs; steps of one wave may run in parallel.
    pub wave: usize,
    pub needs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
    /// Arguments after templates, defaults included.
    pub args: IndexMap<String, serde_json::Value>,
    /// Arguments that took their default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defaulted: Vec<String>,
    /// Arguments rendered again at run time (they use step outputs, secrets or run facts): name → template.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub templates: IndexMap<String, String>,
    /// Targets this step acts on, resolved and probed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub touches: Vec<Touch>,
    /// For steps that read a backup: which one, and what the repository has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupChoice>,
    /// For destructive steps: the safety backup steps that guard them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guarded_by: Vec<String>,
    /// For a destructive step marked `unsafe`: what no backup guards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unguarded: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "unsafe")]
    pub unsafe_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<Undo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Written>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Written>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct When {
    pub expr: String,
    /// Known at plan time (`false`: the step and its dependants will be skipped), or decided at run time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Touch {
    pub arg: String,
    pub target: String,
    pub resolved: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupChoice {
    /// As written (after templates): `latest`, `latest-verified`, an id, or `(known after x)`.
    pub reference: String,
    /// Whose backups: a volume name or a backup source name.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// e.g. `2026-11-21 02:00 UTC (7h ago), 11.8 MiB, verified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undo {
    pub kind: String,
    pub args: IndexMap<String, serde_json::Value>,
    /// Built into the step kind rather than written in the runbook.
    pub builtin: bool,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub templates: IndexMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    pub attempts: u32,
    pub backoff: Written,
    pub factor: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Written>,
}

/// Counts for the closing `Plan:` line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub steps: usize,
    pub stops: usize,
    pub backups: usize,
    /// Destructive steps by verb (`restore`, `remove`, `recreate`): guarded and unsafe counts.
    pub destructive: IndexMap<String, DestructiveCount>,
    pub starts: usize,
    pub checks: usize,
    pub changes: usize,
    pub gates: usize,
    pub notifications: usize,
    pub waves: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DestructiveCount {
    pub guarded: usize,
    #[serde(rename = "unsafe")]
    pub unsafe_: usize,
}

impl Summary {
    pub fn of(steps: &[Step]) -> Self {
        let mut s = Summary {
            steps: steps.len(),
            waves: steps.iter().map(|st| st.wave).max().unwrap_or(0),
            ..Summary::default()
        };
        for step in steps {
            match step.category {
                Category::Stop => s.stops += 1,
                Category::Start => s.starts += 1,
                Category::Backup => s.backups += 1,
                Category::Check => s.checks += 1,
                Category::Change => s.changes += 1,
                Category::Gate => s.gates += 1,
                Category::Notify => s.notifications += 1,
                Category::Destructive => {
                    let verb = step
                        .kind
                        .rsplit('.')
                        .next()
                        .unwrap_or(&step.kind)
                        .to_string();
                    let count = s.destructive.entry(verb).or_default();
                    if step.guarded_by.is_empty() || !step.unguarded.is_empty() {
                        count.unsafe_ += 1;
                    } else {
                        count.guarded += 1;
                    }
                }
            }
        }
        s
    }
}

impl std::fmt::Display for Summary {
    /// `Plan: 2 stops, 2 backups, 1 DESTRUCTIVE restore (guarded), 2 starts, 3 checks.`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn n(count: usize, word: &str) -> String {
            let plural = if count == 1 { "" } else { "s" };
            format!("{count} {word}{plural}")
        }
        let mut parts = Vec::new();
        let mut push = |count: usize, word: &str| {
            if count > 0 {
                parts.push(n(count, word));
            }
        };
        push(self.stops, "stop");
        push(self.backups, "backup");
        for (verb, count) in &self.destructive {
            if count.guarded > 0 {
                parts.push(format!(
                    "{} (guarded)",
                    n(count.guarded, &format!("DESTRUCTIVE {verb}"))
                ));
            }
            if count.unsafe_ > 0 {
                parts.push(format!(
                    "{} (UNSAFE, no safety backup)",
                    n(count.unsafe_, &format!("DESTRUCTIVE {verb}"))
                ));
            }
        }
        let mut push = |count: usize, word: &str| {
            if count > 0 {
                parts.push(n(count, word));
            }
        };
        push(self.starts, "start");
        push(self.checks, "check");
        push(self.changes, "other change");
        push(self.gates, "confirmation gate");
        push(self.notifications, "notification");
        if parts.is_empty() {
            write!(f, "Plan: nothing to do.")
        } else {
            write!(f, "Plan: {}.", parts.join(", "))
        }
    }
}
