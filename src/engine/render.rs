//! Run-time templates: what the plan could not know (step outputs, secrets,
//! `run`) is rendered again just before a step runs, with the real values.

use std::collections::HashMap;

use indexmap::IndexMap;
use minijinja::value::Value;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value as Json;

use crate::plan::plan::Target;
use crate::template::map;

pub struct RunScope {
    env: Environment<'static>,
    base: Vec<(String, Value)>,
}

impl RunScope {
    /// `params` are the real values, secrets included.
    pub fn new(params: Vec<(String, Value)>, targets: &[Target], run_id: &str, time: &str) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(50_000));
        let targets: Vec<(String, Value)> = targets
            .iter()
            .map(|t| {
                let mut fields = vec![
                    ("kind".to_string(), Value::from(t.kind.word())),
                    ("name".to_string(), Value::from(t.object.clone())),
                ];
                if let Some(p) = &t.project {
                    fields.push(("project".into(), Value::from(p.clone())));
                }
                (t.name.clone(), map(fields))
            })
            .collect();
        let mut base = params.clone();
        base.push(("params".into(), map(params)));
        base.push(("targets".into(), map(targets)));
        base.push((
            "run".into(),
            map([
                ("id".to_string(), Value::from(run_id)),
                ("time".to_string(), Value::from(time)),
            ]),
        ));
        Self { env, base }
    }

    fn context(&self, outputs: &HashMap<String, Json>) -> Value {
        let mut ctx = self.base.clone();
        let steps = outputs
            .iter()
            .map(|(id, out)| (id.clone(), Value::from(minijinja::value::Serde(out))));
        ctx.push(("steps".into(), map(steps)));
        map(ctx)
    }

    pub fn render(
        &self,
        template: &str,
        outputs: &HashMap<String, Json>,
    ) -> Result<String, String> {
        self.env
            .render_str(template, self.context(outputs))
            .map_err(|e| format!("template `{template}`: {e}"))
    }

    pub fn condition(&self, expr: &str, outputs: &HashMap<String, Json>) -> Result<bool, String> {
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| format!("`when: {expr}`: {e}"))?;
        compiled
            .eval(self.context(outputs))
            .map(|v| v.is_true())
            .map_err(|e| format!("`when: {expr}`: {e}"))
    }

    /// Renders every deferred argument into `args`.
    pub fn fill(
        &self,
        args: &mut IndexMap<String, Json>,
        templates: &IndexMap<String, String>,
        outputs: &HashMap<String, Json>,
    ) -> Result<(), String> {
        for (path, template) in templates {
            let text = self.render(template, outputs)?;
            set_at(args, path, Json::String(text))
                .map_err(|e| format!("argument `{path}`: {e}"))?;
        }
        Ok(())
    }
}

/// Sets the value at a path such as `command[2]`, `env.PASSWORD` or
/// `labels.com.docker.compose.project` (keys may hold dots: the longest key
/// that matches wins).
pub fn set_at(args: &mut IndexMap<String, Json>, path: &str, value: Json) -> Result<(), String> {
    let (key, rest) = split_key(args.keys().map(String::as_str), path)?;
    let rest = rest.to_string();
    let slot = args
        .get_mut(&key)
        .ok_or_else(|| format!("no argument `{key}`"))?;
    set_in(slot, &rest, value)
}

fn set_in(slot: &mut Json, path: &str, value: Json) -> Result<(), String> {
    if path.is_empty() {
        *slot = value;
        return Ok(());
    }
    if let Some(after) = path.strip_prefix('[') {
        let (index, rest) = after.split_once(']').ok_or("unclosed `[`")?;
        let i: usize = index.parse().map_err(|_| format!("bad index `{index}`"))?;
        let item = slot
            .as_array_mut()
            .and_then(|a| a.get_mut(i))
            .ok_or_else(|| format!("no item {i}"))?;
        return set_in(item, rest, value);
    }
    let path = path.strip_prefix('.').ok_or("bad path")?;
    let object = slot.as_object_mut().ok_or("not a mapping")?;
    let (key, rest) = split_key(object.keys().map(String::as_str), path)?;
    let item = object
        .get_mut(&key)
        .ok_or_else(|| format!("no key `{key}`"))?;
    set_in(item, &rest, value)
}

fn split_key<'a>(
    keys: impl Iterator<Item = &'a str>,
    path: &str,
) -> Result<(String, String), String> {
    keys.filter(|k| {
        path == *k
            || path
                .strip_prefix(*k)
                .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
    })
    .max_by_key(|k| k.len())
    .map(|k| (k.to_string(), path[k.len()..].to_string()))
    .ok_or_else(|| format!("no key at `{path}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_see_outputs_params_and_run_and_land_at_their_path() {
        let scope = RunScope::new(
            vec![("token".into(), Value::from("s3cret"))],
            &[],
            "r1",
            "2026-11-21T12:00:00Z",
        );
        let mut outputs = HashMap::new();
        outputs.insert("safety".to_string(), json!({"backup_id": "B1"}));
        let mut args: IndexMap<String, Json> = serde_json::from_value(json!({
            "command": ["psql", "x", "(known after safety)"],
            "labels": {"com.docker.compose.project": "p", "com.docker": "q"},
            "backup": "(known after safety)"
        }))
        .unwrap();
        let templates: IndexMap<String, String> = [
            ("backup", "{{ steps['safety'].backup_id }}"),
            ("command[2]", "{{ token }}-{{ run.id }}"),
            ("labels.com.docker.compose.project", "{{ params.token }}"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        scope.fill(&mut args, &templates, &outputs).unwrap();
        assert_eq!(
            Json::from(serde_json::Map::from_iter(args)),
            json!({
                "command": ["psql", "x", "s3cret-r1"],
                "labels": {"com.docker.compose.project": "s3cret", "com.docker": "q"},
                "backup": "B1"
            })
        );
        assert!(
            scope
                .condition("steps.safety.backup_id == 'B1'", &outputs)
                .unwrap()
        );
        assert!(scope.render("{{ steps.nope.x }}", &outputs).is_err());
    }
}
