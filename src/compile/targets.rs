//! Targets: the containers and volumes a runbook acts on, by name.

use minijinja::value::Value;

pub use crate::model::target::{Target, TargetKind, Targets};
use crate::runbook::diagnostic::{Diagnostic, suggestion};
use crate::runbook::position_index::{PositionIndex, child_path};
use crate::runbook::raw::{Lenient, RawRunbook};
use crate::template::{Scope, map};

/// How templates see a target: `targets.redis.name`, `.project`, `.kind`.
fn template_value(t: &Target) -> Value {
    let mut fields = vec![
        ("kind".to_string(), Value::from(t.kind.word())),
        ("name".to_string(), Value::from(t.name.clone())),
    ];
    if let Some(p) = &t.project {
        fields.push(("project".into(), Value::from(p.clone())));
    }
    map(fields)
}

pub fn template_values(targets: &Targets) -> Value {
    map(targets.iter().map(|(n, t)| (n.clone(), template_value(t))))
}

/// Checks and renders the targets. `scope` sees params only.
pub fn resolve(
    raw: &RawRunbook,
    scope: &Scope,
    index: &PositionIndex,
    errors: &mut Vec<Diagnostic>,
) -> Targets {
    let mut targets = Targets::new();
    for (name, target) in &raw.targets {
        let Lenient::Ok(t) = target else { continue };
        let path = child_path("targets", name);
        let render = |field: &str, text: &str, errors: &mut Vec<Diagnostic>| {
            render_field(scope, index, errors, name, &path, field, text)
        };
        let given: Vec<&str> = [
            ("container", &t.container),
            ("service", &t.service),
            ("volume", &t.volume),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k)
        .collect();
        if given.len() != 1 {
            let message = if given.is_empty() {
                format!("target `{name}` names nothing")
            } else {
                format!(
                    "target `{name}` gives both `{}` and `{}`",
                    given[0], given[1]
                )
            };
            errors.push(
                Diagnostic::new(message)
                    .at(index.key(&path))
                    .hint("give exactly one of `container: NAME`, `service: NAME` (with `project:`) or `volume: NAME`"),
            );
            continue;
        }
        let (kind, text) = match (&t.container, &t.service, &t.volume) {
            (Some(c), _, _) => (TargetKind::Container, c),
            (_, Some(s), _) => (TargetKind::Service, s),
            (_, _, Some(v)) => (TargetKind::Volume, v),
            _ => continue,
        };
        if t.project.is_some() != (kind == TargetKind::Service) {
            let (field, hint) = if kind == TargetKind::Service {
                (
                    "service",
                    "a compose service is found by its project too: add `project: NAME`",
                )
            } else {
                ("project", "`project` only goes with `service`")
            };
            errors.push(
                Diagnostic::new(format!(
                    "target `{name}`: `{field}` without `{}`",
                    if kind == TargetKind::Service {
                        "project"
                    } else {
                        "service"
                    }
                ))
                .at(index.key(&child_path(&path, field)))
                .hint(hint),
            );
            continue;
        }
        if kind == TargetKind::Volume && !t.volumes.is_empty() {
            errors.push(
                Diagnostic::new(format!(
                    "target `{name}` is a volume; `volumes` lists the data volumes of a container"
                ))
                .at(index.key(&child_path(&path, "volumes"))),
            );
        }
        let Some(rendered) = render(kind.word(), text, errors) else {
            continue;
        };
        let project = match &t.project {
            Some(p) => match render("project", p, errors) {
                Some(p) => Some(p),
                None => continue,
            },
            None => None,
        };
        targets.insert(
            name.clone(),
            Target {
                kind,
                name: rendered,
                project,
                volumes: t.volumes.clone(),
            },
        );
    }
    // Container targets may list their data volumes: each must be a volume target.
    for (name, target) in &targets {
        for (i, volume) in target.volumes.iter().enumerate() {
            let at = index.value(&format!("{}.volumes[{i}]", child_path("targets", name)));
            match targets.get(volume) {
                Some(v) if v.kind == TargetKind::Volume => {}
                Some(_) => errors.push(
                    Diagnostic::new(format!(
                        "`{volume}` in `targets.{name}.volumes` is not a volume target"
                    ))
                    .at(at),
                ),
                None => {
                    let volumes = targets
                        .iter()
                        .filter(|(_, t)| t.kind == TargetKind::Volume)
                        .map(|(n, _)| n.as_str());
                    errors.push(
                        Diagnostic::new(format!(
                            "unknown target `{volume}` in `targets.{name}.volumes`"
                        ))
                        .at(at)
                        .hint(suggestion(volume, volumes).unwrap_or_else(|| {
                            "declare it under `targets:` as `{ volume: NAME }`".into()
                        })),
                    );
                }
            }
        }
    }
    targets
}

fn render_field(
    scope: &Scope,
    index: &PositionIndex,
    errors: &mut Vec<Diagnostic>,
    name: &str,
    path: &str,
    field: &str,
    text: &str,
) -> Option<String> {
    let at = index.value(&child_path(path, field));
    match scope.render(text) {
        // Stand-ins for broken or missing params are fine here; step outputs and run facts are not.
        Ok(r) if !r.steps.is_empty() || r.text.contains("(known at run time)") => {
            errors.push(
                Diagnostic::new(format!(
                    "target `{name}` uses a value known only at run time"
                ))
                .at(at)
                .hint(
                    "targets are resolved before the run: use params, not step outputs or secrets",
                ),
            );
            None
        }
        Ok(r) => Some(r.text),
        Err(e) => {
            errors.push(Diagnostic::new(e.message).at(at).maybe_hint(e.hint));
            None
        }
    }
}
