//! Templates in runbook strings (minijinja, strict undefined).
//!
//! At compile time a template is rendered with what is known then: params
//! and targets. Step outputs render as `(known after <step>)`; every step
//! output a template touches is recorded, so the compiler can check that the
//! step is an ancestor and the engine knows to render it again at run time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use minijinja::value::{Object, Value};
use minijinja::{Environment, ErrorKind, UndefinedBehavior};

use crate::runbook::diagnostic::suggestion;

/// Names templates see besides the params themselves.
pub const RESERVED: &[&str] = &["params", "targets", "steps", "run"];

/// Enough to stop a runaway loop in a template without limiting real ones.
const FUEL: u64 = 50_000;

pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

pub fn placeholder(step: &str) -> String {
    format!("(known after {step})")
}

/// A template that rendered; `steps` lists the step outputs it used.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    pub steps: Vec<String>,
    /// Rendered with stand-ins (step outputs, secrets, run facts): the
    /// engine renders it again at run time.
    pub deferred: bool,
}

/// A template that did not render: what went wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    pub hint: Option<String>,
}

/// Lookups into `steps`, recorded during one render.
#[derive(Debug, Default)]
struct Log {
    used: Vec<String>,
    unknown_step: Option<String>,
    unknown_output: Option<(String, String)>,
}

/// `steps.<id>.<output>`: the outputs each step kind declares.
#[derive(Debug)]
struct StepsView {
    outputs: Arc<HashMap<String, &'static [&'static str]>>,
    log: Arc<Mutex<Log>>,
}

impl Object for StepsView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let id = key.as_str()?;
        let mut log = self.log.lock().ok()?;
        match self.outputs.get(id) {
            Some(outputs) => Some(Value::from_object(StepOutputs {
                id: id.to_string(),
                outputs,
                log: self.log.clone(),
            })),
            None => {
                log.unknown_step.get_or_insert_with(|| id.to_string());
                None
            }
        }
    }
}

#[derive(Debug)]
struct StepOutputs {
    id: String,
    outputs: &'static [&'static str],
    log: Arc<Mutex<Log>>,
}

impl Object for StepOutputs {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let mut log = self.log.lock().ok()?;
        if self.outputs.contains(&name) {
            log.used.push(self.id.clone());
            Some(Value::from(placeholder(&self.id)))
        } else {
            log.unknown_output
                .get_or_insert_with(|| (self.id.clone(), name.to_string()));
            None
        }
    }
}

/// What templates of one runbook can see.
pub struct Scope {
    env: Environment<'static>,
    /// Param name → value as shown (secrets masked).
    params: Vec<(String, Value)>,
    secret_params: Vec<String>,
    targets: Value,
    outputs: Arc<HashMap<String, &'static [&'static str]>>,
}

impl Scope {
    pub fn new(
        params: Vec<(String, Value)>,
        secret_params: Vec<String>,
        targets: Value,
        outputs: HashMap<String, &'static [&'static str]>,
    ) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        Self {
            env,
            params,
            secret_params,
            targets,
            outputs: Arc::new(outputs),
        }
    }

    /// Renders `source`; text without `{{` or `{%` is returned as is.
    pub fn render(&self, source: &str) -> Result<Rendered, TemplateError> {
        if !is_template(source) {
            return Ok(Rendered {
                text: source.to_string(),
                steps: Vec::new(),
                deferred: false,
            });
        }
        let template = self.env.template_from_str(source).map_err(syntax)?;
        let names = template.undeclared_variables(false);
        self.check_names(names.iter().map(String::as_str))?;
        let (text, steps) = self.evaluate(|ctx| template.render(ctx))?;
        let deferred = !steps.is_empty()
            || names.contains("run")
            || names.iter().any(|n| self.secret_params.contains(n))
            || (names.contains("params") && !self.secret_params.is_empty());
        Ok(Rendered {
            text,
            steps,
            deferred,
        })
    }

    /// Evaluates a `when:` expression; `None` when it depends on run-time values.
    pub fn condition(&self, expr: &str) -> Result<(Option<bool>, Vec<String>), TemplateError> {
        let expression = self.env.compile_expression(expr).map_err(syntax)?;
        let names = expression.undeclared_variables(false);
        self.check_names(names.iter().map(String::as_str))?;
        let (value, steps) = self.evaluate(|ctx| expression.eval(ctx))?;
        let known = steps.is_empty() && !names.contains("run");
        Ok((known.then(|| value.is_true()), steps))
    }

    /// Runs a render or an evaluation against a fresh lookup log; returns its
    /// result and the steps whose outputs it used, sorted and deduplicated.
    fn evaluate<T>(
        &self,
        run: impl FnOnce(Value) -> Result<T, minijinja::Error>,
    ) -> Result<(T, Vec<String>), TemplateError> {
        let log = Arc::new(Mutex::new(Log::default()));
        let result = run(self.context(&log));
        let log = std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()));
        let value = result.map_err(|e| self.explain(e, &log))?;
        let mut steps = log.used;
        steps.sort();
        steps.dedup();
        Ok((value, steps))
    }

    fn context(&self, log: &Arc<Mutex<Log>>) -> Value {
        let mut ctx: Vec<(String, Value)> = self.params.clone();
        ctx.push(("params".into(), map(self.params.iter().cloned())));
        ctx.push(("targets".into(), self.targets.clone()));
        ctx.push((
            "steps".into(),
            Value::from_object(StepsView {
                outputs: self.outputs.clone(),
                log: log.clone(),
            }),
        ));
        ctx.push((
            "run".into(),
            map([
                ("id".to_string(), Value::from("(known at run time)")),
                ("time".to_string(), Value::from("(known at run time)")),
            ]),
        ));
        map(ctx)
    }

    fn check_names<'a>(&self, names: impl Iterator<Item = &'a str>) -> Result<(), TemplateError> {
        let globals: Vec<&str> = self.env.globals().map(|(n, _)| n).collect();
        for name in names {
            let known = RESERVED.contains(&name)
                || globals.contains(&name)
                || self.params.iter().any(|(p, _)| p == name);
            if !known {
                let candidates = self
                    .params
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .chain(RESERVED.iter().copied());
                let hint = suggestion(name, candidates).unwrap_or_else(|| {
                    let params: Vec<&str> = self.params.iter().map(|(p, _)| p.as_str()).collect();
                    if params.is_empty() {
                        "this runbook declares no params; add it under `params:`".to_string()
                    } else {
                        format!(
                            "params: {}; targets, steps and run are the other names",
                            params.join(", ")
                        )
                    }
                });
                return Err(TemplateError {
                    message: format!("template uses undefined param `{name}`"),
                    hint: Some(hint),
                });
            }
        }
        Ok(())
    }

    fn explain(&self, error: minijinja::Error, log: &Log) -> TemplateError {
        if let Some(id) = &log.unknown_step {
            return TemplateError {
                message: format!("template refers to unknown step `{id}`"),
                hint: suggestion(id, self.outputs.keys().map(String::as_str)),
            };
        }
        if let Some((id, output)) = &log.unknown_output {
            let outputs = self.outputs.get(id).copied().unwrap_or_default();
            let hint = suggestion(output, outputs.iter().copied()).unwrap_or_else(|| {
                if outputs.is_empty() {
                    format!("step `{id}` has no outputs")
                } else {
                    format!("step `{id}` outputs: {}", outputs.join(", "))
                }
            });
            return TemplateError {
                message: format!("step `{id}` has no output `{output}`"),
                hint: Some(hint),
            };
        }
        if error.kind() == ErrorKind::UndefinedError {
            return TemplateError {
                message: "template uses an undefined value".into(),
                hint: Some("check the names after `targets.` and `params.`".into()),
            };
        }
        if error.kind() == ErrorKind::OutOfFuel {
            return TemplateError {
                message: "template does too much work (a runaway loop?)".into(),
                hint: None,
            };
        }
        TemplateError {
            message: format!(
                "template error: {}",
                error.detail().unwrap_or(&error.kind().to_string())
            ),
            hint: None,
        }
    }
}

/// A template mapping from name/value pairs.
pub fn map(pairs: impl IntoIterator<Item = (String, Value)>) -> Value {
    Value::from(pairs.into_iter().collect::<BTreeMap<String, Value>>())
}

fn syntax(error: minijinja::Error) -> TemplateError {
    TemplateError {
        message: format!(
            "template syntax error: {}",
            error.detail().unwrap_or(&error.kind().to_string())
        ),
        hint: Some("templates use Jinja syntax: `{{ param }}`, `{{ steps['id'].output }}`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let outputs = HashMap::from([("safety".to_string(), &["backup_id"][..])]);
        Scope::new(
            vec![
                ("project".into(), Value::from("shop")),
                ("token".into(), Value::from("(secret)")),
            ],
            vec!["token".into()],
            map([(
                "redis".to_string(),
                map([("name".to_string(), Value::from("shop-redis-1"))]),
            )]),
            outputs,
        )
    }

    #[test]
    fn renders_params_now_and_step_outputs_later() {
        let s = scope();
        assert_eq!(s.render("{{ project }}_data").unwrap().text, "shop_data");
        assert_eq!(
            s.render("{{ targets.redis.name }}").unwrap().text,
            "shop-redis-1"
        );
        let r = s.render("{{ steps['safety'].backup_id }}").unwrap();
        assert_eq!(r.text, "(known after safety)");
        assert_eq!(r.steps, vec!["safety".to_string()]);
        assert!(r.deferred);
        assert!(s.render("Bearer {{ token }}").unwrap().deferred);
        assert_eq!(s.render("plain").unwrap().text, "plain");
    }

    #[test]
    fn names_what_is_undefined() {
        let s = scope();
        let e = s.render("{{ projct }}").unwrap_err();
        assert_eq!(e.message, "template uses undefined param `projct`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `project`?"));
        let e = s.render("{{ steps['safty'].backup_id }}").unwrap_err();
        assert_eq!(e.message, "template refers to unknown step `safty`");
        let e = s.render("{{ steps.safety.backupid }}").unwrap_err();
        assert_eq!(e.message, "step `safety` has no output `backupid`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `backup_id`?"));
        assert!(
            s.render("{{ project")
                .unwrap_err()
                .message
                .starts_with("template syntax error")
        );
        let e = s
            .render("{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}")
            .unwrap_err();
        assert!(e.message.contains("too much work"), "{e:?}");
    }

    #[test]
    fn conditions_are_known_or_deferred() {
        let s = scope();
        assert_eq!(
            s.condition("project == 'shop'").unwrap(),
            (Some(true), vec![])
        );
        assert_eq!(s.condition("steps.safety.backup_id != ''").unwrap().0, None);
    }
}
