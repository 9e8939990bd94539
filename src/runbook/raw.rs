//! The runbook file as written: serde types that mirror the YAML one to one.
//!
//! Unknown keys are rejected everywhere. Lists and maps whose items are
//! independent (params, targets, steps) deserialize each item on its own, so
//! one bad step does not hide the errors of the others.

use std::borrow::Cow;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

/// The YAML mapping under `with:`; checked against the step kind's arguments.
pub type Args = serde_yaml::Mapping;

/// A runbook: named, parameterised steps that lifeboat compiles into a DAG.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "lifeboat runbook")]
pub struct RawRunbook {
    /// The runbook's name, e.g. `full-data-loss`; `lifeboat plan NAME` finds it by this.
    pub runbook: String,
    /// One or two sentences: the situation this runbook is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Recovery objectives, checked by drills.
    #[serde(default)]
    pub objectives: Option<RawObjectives>,
    /// Inputs, set with `--set name=value`. Templates see them by name.
    #[serde(default)]
    pub params: IndexMap<String, Lenient<RawParam>>,
    /// Containers and volumes the steps act on, resolved against Docker at plan time.
    #[serde(default)]
    pub targets: IndexMap<String, Lenient<RawTarget>>,
    /// The steps; `needs` orders them, everything else may run in parallel.
    pub steps: Vec<Lenient<RawStep>>,
    /// What a failed run does: undo completed steps (`rollback`, the default),
    /// leave things as they are (`stop`), or run the steps that do not depend on the failure (`continue`).
    #[serde(default)]
    pub on_failure: Option<OnFailure>,
}

/// Recovery time and recovery point objectives, as durations (`10m`, `24h`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawObjectives {
    /// Recovery time objective: the longest a restore may take.
    #[serde(default)]
    pub rto: Option<Text>,
    /// Recovery point objective: the oldest the restored data may be.
    #[serde(default)]
    pub rpo: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    Rollback,
    Stop,
    Continue,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[default]
    String,
    Int,
    Bool,
    Duration,
    Enum,
}

/// A runbook input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawParam {
    /// `string` (default), `int`, `bool`, `duration` or `enum`.
    #[serde(default, rename = "type")]
    pub ty: ParamType,
    #[serde(default)]
    pub description: Option<String>,
    /// The value used when `--set` does not give one.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<serde_yaml::Value>,
    /// The run refuses to start unless the value is given.
    #[serde(default)]
    pub required: bool,
    /// A regular expression a string value must match in full.
    #[serde(default)]
    pub pattern: Option<String>,
    /// The allowed values of an `enum`.
    #[serde(default)]
    pub values: Option<Vec<String>>,
    /// Never printed: plans, logs and saved plans show `(secret)`.
    #[serde(default)]
    pub secret: bool,
}

/// A container (by name, or by compose service and project) or a volume.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// A container by its name.
    #[serde(default)]
    pub container: Option<String>,
    /// A compose service; with `project`, resolved through the compose labels.
    #[serde(default)]
    pub service: Option<String>,
    /// The compose project of `service`.
    #[serde(default)]
    pub project: Option<String>,
    /// A volume by its name.
    #[serde(default)]
    pub volume: Option<String>,
    /// For a container: the volume targets holding its data. Recreating the
    /// container needs a safety backup of each of them first.
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// One step of a runbook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Unique within the runbook; other steps refer to it in `needs` and templates.
    pub id: String,
    /// The step kind, e.g. `volume.restore` (see `lifeboat kinds`).
    pub uses: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The kind's arguments; string values are templates.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub with: Option<Args>,
    /// Steps that must succeed before this one starts.
    #[serde(default)]
    pub needs: Vec<String>,
    /// A template expression; the step (and what needs it) is skipped when it is false.
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub retry: Option<RawRetry>,
    /// Time limit of one attempt, e.g. `30s`.
    #[serde(default)]
    pub timeout: Option<Text>,
    /// Time limit of all attempts together.
    #[serde(default)]
    pub deadline: Option<Text>,
    /// What undoes this step when a later step fails.
    #[serde(default)]
    pub undo: Option<RawUndo>,
    /// Declares that a `container.exec` or `http.request` step changes nothing.
    #[serde(default)]
    pub readonly: Option<bool>,
    /// Allows a destructive step without a safety backup; says why.
    #[serde(default, rename = "unsafe")]
    pub unsafe_reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt (default `1s`).
    #[serde(default)]
    pub backoff: Option<Text>,
    /// Each wait is this many times the previous one (default 2).
    #[serde(default)]
    pub factor: Option<f64>,
    /// The longest wait.
    #[serde(default)]
    pub max: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUndo {
    pub uses: String,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub with: Option<Args>,
}

/// A scalar kept as text (`30s`, or a bare `30` that analysis then rejects
/// with a hint), so a bad duration is reported with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(s) => Ok(Text(s)),
            serde_yaml::Value::Number(n) => Ok(Text(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a duration such as `30s`, found {}",
                describe(&other)
            ))),
        }
    }
}

impl JsonSchema for Text {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. `30s`, `1h30m`.",
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$"
        })
    }
}

/// An item deserialized on its own: a failure is kept, not raised, so that
/// the errors of every item are reported in one pass.
#[derive(Debug)]
pub enum Lenient<T> {
    Ok(T),
    /// The path inside the item and serde's message.
    Err {
        path: String,
        message: String,
    },
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_yaml::Value::deserialize(d)?;
        Ok(match serde_path_to_error::deserialize(value) {
            Ok(t) => Lenient::Ok(t),
            Err(e) => Lenient::Err {
                path: e.path().to_string(),
                message: e.into_inner().to_string(),
            },
        })
    }
}

impl<T: JsonSchema> JsonSchema for Lenient<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

/// "a string `x`", "an integer `3`", ...: what a YAML value is, for messages.
pub fn describe(value: &serde_yaml::Value) -> String {
    use serde_yaml::Value;
    match value {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("a boolean `{b}`"),
        Value::Number(n) => format!("a number `{n}`"),
        Value::String(s) => format!("a string `{s}`"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged `{}`", t.tag),
    }
}
