//! Typed access to a step's rendered arguments.

use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::engine::StepError;
use crate::model::duration::parse_duration;
use crate::model::kind_spec::KindSpec;

pub struct Args(IndexMap<String, Json>);

impl Args {
    pub fn new(args: IndexMap<String, Json>) -> Self {
        Self(args)
    }

    /// The arguments, with the kind's default for each one not given: the
    /// compiler wrote them into the plan, but a built-in undo holds only
    /// what it sets.
    pub fn with_defaults(mut args: IndexMap<String, Json>, spec: &KindSpec) -> Self {
        for a in spec.args {
            if let Some(default) = a.default_json()
                && args.get(a.name).is_none_or(Json::is_null)
            {
                args.insert(a.name.to_string(), default);
            }
        }
        Self(args)
    }

    /// A duration argument the kind's spec gives a default.
    pub fn duration(&self, name: &str) -> Result<Duration, StepError> {
        let text = self.str(name)?;
        parse_duration(&text).map_err(|e| StepError::fatal(format!("argument `{name}`: {e}")))
    }

    pub fn get(&self, name: &str) -> Option<&Json> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<String>, StepError> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(Json::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(bad(name, "a string", other)),
        }
    }

    pub fn str(&self, name: &str) -> Result<String, StepError> {
        self.opt_str(name)?
            .ok_or_else(|| StepError::fatal(format!("argument `{name}` is missing")))
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, StepError> {
        match self.get(name) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(bad(name, "true or false", other)),
        }
    }

    /// A boolean argument the kind's spec gives a default.
    pub fn flag(&self, name: &str) -> Result<bool, StepError> {
        match self.get(name) {
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(bad(name, "true or false", other)),
            None => Err(StepError::fatal(format!("argument `{name}` is missing"))),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, StepError> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Number(n)) => Ok(n.as_i64()),
            Some(other) => Err(bad(name, "an integer", other)),
        }
    }

    pub fn duration_or(&self, name: &str, default: Duration) -> Result<Duration, StepError> {
        match self.opt_str(name)? {
            None => Ok(default),
            Some(text) => parse_duration(&text)
                .map_err(|e| StepError::fatal(format!("argument `{name}`: {e}"))),
        }
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>, StepError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Json::String(s) => Ok(s.clone()),
                    Json::Number(n) => Ok(n.to_string()),
                    other => Err(bad(name, "a list of strings", other)),
                })
                .collect(),
            Some(other) => Err(bad(name, "a list of strings", other)),
        }
    }

    pub fn map(&self, name: &str) -> Result<Vec<(String, String)>, StepError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Json::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Json::String(s) => Ok((k.clone(), s.clone())),
                    Json::Number(n) => Ok((k.clone(), n.to_string())),
                    Json::Bool(b) => Ok((k.clone(), b.to_string())),
                    other => Err(bad(name, "a mapping of strings", other)),
                })
                .collect(),
            Some(other) => Err(bad(name, "a mapping of strings", other)),
        }
    }

    /// `facts:` of a backup step, trimmed and checked as a manifest checks them.
    pub fn facts(&self) -> Result<std::collections::BTreeMap<String, String>, StepError> {
        let facts = self
            .map("facts")?
            .into_iter()
            .map(|(k, v)| (k, v.trim().to_string()))
            .collect();
        crate::repo::check_facts(&facts).map_err(|e| StepError::fatal(format!("facts: {e}")))?;
        Ok(facts)
    }

    /// `command`: a list, or one string run with `sh -c` when `shell: true`.
    pub fn command(&self) -> Result<Vec<String>, StepError> {
        let shell = self.bool_or("shell", false)?;
        match self.get("command") {
            Some(Json::String(s)) if shell => Ok(vec!["sh".into(), "-c".into(), s.clone()]),
            Some(Json::Array(items)) if shell => match items.as_slice() {
                [Json::String(s)] => Ok(vec!["sh".into(), "-c".into(), s.clone()]),
                _ => Err(StepError::fatal(
                    "with `shell: true`, `command` is one script for `sh -c`, not a list",
                )),
            },
            _ => {
                let argv = self.strings("command")?;
                if argv.is_empty() {
                    return Err(StepError::fatal("argument `command` is empty"));
                }
                Ok(argv)
            }
        }
    }
}

fn bad(name: &str, want: &str, found: &Json) -> StepError {
    StepError::fatal(format!("argument `{name}` must be {want}, found {found}"))
}
