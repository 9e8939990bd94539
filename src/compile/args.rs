//! Checks a step's `with:` against its kind's arguments, renders templates,
//! and converts the values to the plan's JSON form.

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use super::params::first_line;
use super::targets::{TargetKind, Targets};
use crate::model::duration::parse_duration;
use crate::model::kind_spec::{ArgType, KindSpec};
use crate::model::volume_path;
use crate::repo::retention::{RetentionDuration, TagList, parse_time_zone};
use crate::runbook::diagnostic::{Diagnostic, suggestion};
use crate::runbook::position_index::{PositionIndex, child_path};
use crate::runbook::raw::{Args, describe};
use crate::template::Scope;

/// Checked arguments, ready for the plan.
#[derive(Debug, Default)]
pub struct CheckedArgs {
    pub values: IndexMap<String, Json>,
    pub defaulted: Vec<String>,
    /// Argument path (`command[2]`) → template, for values rendered again at run time.
    pub templates: IndexMap<String, String>,
    /// Steps whose outputs the templates use, with the YAML path that uses them.
    pub steps_used: Vec<(String, String)>,
    /// Argument name → target name, for arguments that name targets.
    pub targets: Vec<(String, String)>,
}

pub struct ArgChecker<'a> {
    pub scope: &'a Scope,
    pub index: &'a PositionIndex,
    pub targets: &'a Targets,
    /// Declared targets that failed their own checks: already reported.
    pub broken_targets: &'a [String],
}

impl ArgChecker<'_> {
    /// `path` is the YAML path of the `with` mapping, `at` the node to point
    /// at for a missing argument (usually the `uses` value).
    pub fn check(
        &self,
        kind: &KindSpec,
        with: Option<&Args>,
        path: &str,
        at: &str,
        errors: &mut Vec<Diagnostic>,
    ) -> CheckedArgs {
        let mut out = CheckedArgs::default();
        let empty = Args::new();
        let with = with.unwrap_or(&empty);
        let shell = matches!(with.get("shell"), Some(Yaml::Bool(true)));
        for (key, value) in with {
            let Some(name) = key.as_str() else {
                errors.push(
                    Diagnostic::new(format!(
                        "argument names are strings, found {}",
                        describe(key)
                    ))
                    .at(self.index.value(path)),
                );
                continue;
            };
            let arg_path = child_path(path, name);
            let Some(spec) = kind.arg(name) else {
                let names: Vec<&str> = kind.args.iter().map(|a| a.name).collect();
                let step_field = [
                    "timeout",
                    "deadline",
                    "retry",
                    "needs",
                    "when",
                    "undo",
                    "readonly",
                    "unsafe",
                    "description",
                ]
                .contains(&name);
                let hint = if step_field {
                    format!("`{name}` is a step field: move it out of `with:`, next to `uses:`")
                } else {
                    suggestion(name, names.iter().copied())
                        .unwrap_or_else(|| format!("`{}` takes: {}", kind.name, names.join(", ")))
                };
                errors.push(
                    Diagnostic::new(format!("`{}` has no argument `{name}`", kind.name))
                        .at(self.index.key(&arg_path))
                        .hint(hint),
                );
                continue;
            };
            let mut cx = ValueCx {
                checker: self,
                out: &mut out,
                errors,
                shell,
                arg: name,
            };
            if let Some(json) = cx.value(spec.ty, value, &arg_path, name) {
                out.values.insert(name.to_string(), json);
            }
        }
        for spec in kind.args {
            if out.values.contains_key(spec.name) || with.contains_key(spec.name) {
                continue;
            }
            if spec.required {
                errors.push(
                    Diagnostic::new(format!(
                        "`{}` needs the argument `{}` ({})",
                        kind.name,
                        spec.name,
                        spec.ty.describe()
                    ))
                    .at(self.index.value(at))
                    .hint(format!("add `{}:` under `with:`: {}", spec.name, spec.help)),
                );
            } else if let Some(json) = spec.default_json() {
                out.values.insert(spec.name.to_string(), json);
                out.defaulted.push(spec.name.to_string());
            }
        }
        if !kind.one_of.is_empty() {
            let given: Vec<&str> = kind
                .one_of
                .iter()
                .copied()
                .filter(|a| with.contains_key(*a))
                .collect();
            let names = format!("`{}`", kind.one_of.join("` or `"));
            match given.len() {
                1 => {}
                0 => errors.push(
                    Diagnostic::new(format!("`{}` needs one of {names}", kind.name))
                        .at(self.index.value(at))
                        .hint(format!(
                            "say which backups it acts on: {}",
                            kind.one_of
                                .iter()
                                .filter_map(|a| kind.arg(a))
                                .map(|a| format!("`{}:` {}", a.name, a.help))
                                .collect::<Vec<_>>()
                                .join("; ")
                        )),
                ),
                _ => errors.push(
                    Diagnostic::new(format!(
                        "`{}` takes only one of {names}, found {}",
                        kind.name,
                        given.join(" and ")
                    ))
                    .at(self.index.key(&child_path(path, given[1])))
                    .hint(format!("remove `{}`", given[1])),
                ),
            }
        }
        // Keep the kind's argument order: plans read the same way every time.
        out.values.sort_by_cached_key(|k, _| {
            kind.args
                .iter()
                .position(|a| a.name == k)
                .unwrap_or(usize::MAX)
        });
        out
    }
}

struct ValueCx<'a, 'b> {
    checker: &'a ArgChecker<'a>,
    out: &'b mut CheckedArgs,
    errors: &'b mut Vec<Diagnostic>,
    shell: bool,
    arg: &'a str,
}

impl ValueCx<'_, '_> {
    fn error(&mut self, path: &str, message: String, hint: Option<String>) -> Option<Json> {
        self.errors.push(
            Diagnostic::new(message)
                .at(self.checker.index.value(path))
                .maybe_hint(hint),
        );
        None
    }

    fn wrong_type(&mut self, path: &str, ty: ArgType, found: &Yaml) -> Option<Json> {
        let hint = match (ty, found) {
            (ArgType::Command, Yaml::String(_)) => Some(
                "write the command as a list, e.g. [redis-cli, DBSIZE], or set `shell: true`"
                    .into(),
            ),
            (ArgType::Duration, Yaml::Number(n)) => {
                Some(format!("a duration needs a unit: `{n}s`"))
            }
            _ => None,
        };
        self.error(
            path,
            format!(
                "`{}` expects {}, found {}",
                self.arg,
                ty.describe(),
                describe(found)
            ),
            hint,
        )
    }

    /// Renders a string, recording templates and step references.
    fn text(&mut self, value: &Yaml, path: &str, rel: &str) -> Option<String> {
        let text = match value {
            Yaml::String(s) => s.clone(),
            Yaml::Number(n) => n.to_string(),
            _ => return None,
        };
        match self.checker.scope.render(&text) {
            Ok(rendered) => {
                if rendered.deferred {
                    self.out.templates.insert(rel.to_string(), text);
                }
                for step in rendered.steps {
                    self.out.steps_used.push((step, path.to_string()));
                }
                Some(rendered.text)
            }
            Err(e) => {
                self.errors.push(
                    Diagnostic::new(e.message)
                        .at(self.checker.index.value(path))
                        .maybe_hint(e.hint),
                );
                None
            }
        }
    }

    fn value(&mut self, ty: ArgType, value: &Yaml, path: &str, rel: &str) -> Option<Json> {
        match ty {
            ArgType::Container | ArgType::Volume => self.target(ty, value, path),
            ArgType::Volumes => match value {
                Yaml::Sequence(items) => {
                    let mut list = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        list.extend(self.target(ArgType::Volume, item, &format!("{path}[{i}]")));
                    }
                    Some(Json::Array(list))
                }
                _ => self.wrong_type(path, ty, value),
            },
            ArgType::VolumeMounts => self.volume_mounts(value, path, rel),
            ArgType::VolumePaths => self.volume_paths(value, path, rel),
            ArgType::Str | ArgType::Url | ArgType::BackupRef => {
                if !matches!(value, Yaml::String(_) | Yaml::Number(_)) {
                    return self.wrong_type(path, ty, value);
                }
                let text = self.text(value, path, rel)?;
                if ty == ArgType::Url
                    && !self.out.templates.contains_key(rel)
                    && !(text.starts_with("http://") || text.starts_with("https://"))
                {
                    return self.error(
                        path,
                        format!("`{text}` is not an http(s) URL"),
                        Some("URLs start with http:// or https://".into()),
                    );
                }
                if text.trim().is_empty() {
                    return self.error(path, format!("`{}` is empty", self.arg), None);
                }
                Some(Json::String(text))
            }
            ArgType::Int => match value {
                Yaml::Number(n) if n.is_i64() || n.is_u64() => {
                    Some(Json::from(n.as_i64().unwrap_or(i64::MAX)))
                }
                _ => self.wrong_type(path, ty, value),
            },
            ArgType::Count => match value {
                Yaml::Number(n) if n.is_i64() || n.is_u64() => {
                    match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                        Some(count) => Some(Json::from(count)),
                        None => self.error(
                            path,
                            format!("`{}` must be a count of 0 or more, found {n}", self.arg),
                            Some(format!("0 means \"not set\"; at most {}", u32::MAX)),
                        ),
                    }
                }
                _ => self.wrong_type(path, ty, value),
            },
            ArgType::Bool => match value {
                Yaml::Bool(b) => Some(Json::Bool(*b)),
                _ => self.wrong_type(path, ty, value),
            },
            ArgType::Duration => match value {
                Yaml::String(_) => {
                    let text = self.text(value, path, rel)?;
                    if self.out.templates.contains_key(rel) {
                        return Some(Json::String(text));
                    }
                    match parse_duration(&text) {
                        Ok(_) => Some(Json::String(text.trim().to_string())),
                        Err(e) => self.error(
                            path,
                            format!("bad duration `{text}` for `{}`", self.arg),
                            Some(e.to_string()),
                        ),
                    }
                }
                _ => self.wrong_type(path, ty, value),
            },
            ArgType::RetentionDuration | ArgType::TimeZone => match value {
                Yaml::String(_) => {
                    let text = self.text(value, path, rel)?;
                    if self.out.templates.contains_key(rel) {
                        return Some(Json::String(text));
                    }
                    let checked = if ty == ArgType::TimeZone {
                        parse_time_zone(&text).map(drop)
                    } else {
                        text.parse::<RetentionDuration>()
                            .map(drop)
                            .map_err(|e| e.to_string())
                    };
                    match checked {
                        Ok(()) => Some(Json::String(text.trim().to_string())),
                        Err(e) => self.error(
                            path,
                            format!("bad value `{text}` for `{}`", self.arg),
                            Some(e),
                        ),
                    }
                }
                _ => self.wrong_type(path, ty, value),
            },
            ArgType::TagLists => {
                let list = self.value(ArgType::StrList, value, path, rel)?;
                for (i, item) in list.as_array().into_iter().flatten().enumerate() {
                    let item_rel = format!("{rel}[{i}]");
                    if let Some(text) = item.as_str()
                        && !self.out.templates.contains_key(&item_rel)
                        && let Err(e) = text.parse::<TagList>()
                    {
                        self.error(
                            &format!("{path}[{i}]"),
                            format!("bad tag list `{text}` for `{}`", self.arg),
                            Some(e),
                        );
                    }
                }
                Some(list)
            }
            ArgType::Command => match value {
                Yaml::String(_) if self.shell => self.text(value, path, rel).map(Json::String),
                // One meaning for `shell: true`: `command` is one script for
                // `sh -c`; `[script]` is the same script, written as a list.
                Yaml::Sequence(items) if self.shell => match items.as_slice() {
                    [Yaml::String(_)] => self
                        .text(&items[0], &format!("{path}[0]"), &format!("{rel}[0]"))
                        .map(Json::String),
                    _ => self.error(
                        path,
                        "with `shell: true`, `command` is one script for `sh -c`, not a list \
                         of arguments"
                            .into(),
                        Some(
                            "write the script as one string, e.g. `command: \"redis-cli DBSIZE \
                             | grep -q .\"`, or drop `shell: true` to run the list as argv"
                                .into(),
                        ),
                    ),
                },
                Yaml::Sequence(items) if !items.is_empty() => {
                    let mut argv = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let item_path = format!("{path}[{i}]");
                        match item {
                            Yaml::String(_) | Yaml::Number(_) => argv.extend(
                                self.text(item, &item_path, &format!("{rel}[{i}]"))
                                    .map(Json::String),
                            ),
                            other => {
                                self.error(
                                    &item_path,
                                    format!("command items are strings, found {}", describe(other)),
                                    Some("quote it".into()),
                                );
                            }
                        }
                    }
                    Some(Json::Array(argv))
                }
                Yaml::Sequence(_) => self.error(
                    path,
                    "the command is empty".into(),
                    Some("give the program and its arguments, e.g. [redis-cli, PING]".into()),
                ),
                _ => self.wrong_type(path, ty, value),
            },
            ArgType::StrList => match value {
                Yaml::Sequence(items) => {
                    let mut list = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let item_path = format!("{path}[{i}]");
                        match item {
                            Yaml::String(_) | Yaml::Number(_) => list.extend(
                                self.text(item, &item_path, &format!("{rel}[{i}]"))
                                    .map(Json::String),
                            ),
                            other => {
                                self.wrong_type(&item_path, ArgType::Str, other);
                            }
                        }
                    }
                    Some(Json::Array(list))
                }
                _ => self.wrong_type(path, ty, value),
            },
            ArgType::StrMap => match value {
                Yaml::Mapping(map) => {
                    let mut out = serde_json::Map::new();
                    for (k, v) in map {
                        let (Some(k), true) = (
                            k.as_str(),
                            matches!(v, Yaml::String(_) | Yaml::Number(_) | Yaml::Bool(_)),
                        ) else {
                            self.wrong_type(path, ty, value);
                            continue;
                        };
                        let v = match v {
                            Yaml::Bool(b) => Some(b.to_string()),
                            _ => self.text(v, &child_path(path, k), &child_path(rel, k)),
                        };
                        out.extend(v.map(|v| (k.to_string(), Json::String(v))));
                    }
                    Some(Json::Object(out))
                }
                _ => self.wrong_type(path, ty, value),
            },
            ArgType::OneOf(choices) => match value.as_str() {
                Some(s) if choices.contains(&s) => Some(Json::String(s.to_string())),
                Some(s) => {
                    let hint = suggestion(s, choices.iter().copied())
                        .unwrap_or_else(|| format!("expected one of {}", choices.join(", ")));
                    self.error(
                        path,
                        format!("`{s}` is not a valid `{}`", self.arg),
                        Some(hint),
                    )
                }
                None => self.wrong_type(path, ty, value),
            },
            ArgType::Expect(keys) => self.expect(keys, value, path),
            ArgType::Any => self.any(value, path, rel),
        }
    }

    /// `paths:` of a partial restore: relative, inside the volume, not
    /// inside one another; a template is checked when it is rendered.
    fn volume_paths(&mut self, value: &Yaml, path: &str, rel: &str) -> Option<Json> {
        let Yaml::Sequence(items) = value else {
            return self.wrong_type(path, ArgType::VolumePaths, value);
        };
        if items.is_empty() {
            return self.error(
                path,
                format!("`{}` is empty", self.arg),
                Some("name at least one path, or leave it out to restore the whole volume".into()),
            );
        }
        let mut list = Vec::new();
        let mut checked: Vec<(String, String)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let (item_path, item_rel) = (format!("{path}[{i}]"), format!("{rel}[{i}]"));
            if !matches!(item, Yaml::String(_) | Yaml::Number(_)) {
                self.wrong_type(&item_path, ArgType::Str, item);
                continue;
            }
            let Some(text) = self.text(item, &item_path, &item_rel) else {
                continue;
            };
            if self.out.templates.contains_key(&item_rel) {
                list.push(Json::String(text));
                continue;
            }
            match volume_path::relative(&text) {
                Ok(p) => {
                    checked.push((p.clone(), item_path));
                    list.push(Json::String(p));
                }
                Err(e) => {
                    self.error(&item_path, format!("bad path in `{}`", self.arg), Some(e));
                }
            }
        }
        let names: Vec<String> = checked.iter().map(|(p, _)| p.clone()).collect();
        if let Some((inner, outer)) = volume_path::overlap(&names) {
            let message = format!(
                "`{}` is inside `{}`, also in `{}`",
                names[inner], names[outer], self.arg
            );
            let at = checked[inner].1.clone();
            return self.error(&at, message, Some("name it once".into()));
        }
        Some(Json::Array(list))
    }

    /// `volumes:` of a one-off container: volume target → absolute mount point.
    fn volume_mounts(&mut self, value: &Yaml, path: &str, rel: &str) -> Option<Json> {
        let Yaml::Mapping(map) = value else {
            return self.wrong_type(path, ArgType::VolumeMounts, value);
        };
        if map.is_empty() {
            return self.error(
                path,
                format!("`{}` is empty", self.arg),
                Some("mount at least one volume target, e.g. { redis-data: /data }".into()),
            );
        }
        let mut out = serde_json::Map::new();
        let mut seen: Vec<String> = Vec::new();
        for (k, v) in map {
            let key_path = child_path(path, k.as_str().unwrap_or_default());
            let Some(Json::String(target)) = self.target(ArgType::Volume, k, &key_path) else {
                continue;
            };
            if !matches!(v, Yaml::String(_)) {
                self.wrong_type(&key_path, ArgType::Str, v);
                continue;
            }
            let Some(text) = self.text(v, &key_path, &child_path(rel, &target)) else {
                continue;
            };
            let mount = if self.out.templates.contains_key(&child_path(rel, &target)) {
                text
            } else {
                match volume_path::mount_point(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        self.error(&key_path, format!("bad mount path for `{target}`"), Some(e));
                        continue;
                    }
                }
            };
            if seen.contains(&mount) {
                self.error(
                    &key_path,
                    format!("two volumes are mounted at `{mount}`"),
                    Some("give each volume its own path".into()),
                );
                continue;
            }
            seen.push(mount.clone());
            out.insert(target, Json::String(mount));
        }
        Some(Json::Object(out))
    }

    fn target(&mut self, ty: ArgType, value: &Yaml, path: &str) -> Option<Json> {
        let Some(name) = value.as_str() else {
            return self.wrong_type(path, ty, value);
        };
        let want = if ty == ArgType::Volume {
            "volume"
        } else {
            "container"
        };
        match self.checker.targets.get(name) {
            Some(t) if (t.kind == TargetKind::Volume) == (ty == ArgType::Volume) => {
                self.out
                    .targets
                    .push((self.arg.to_string(), name.to_string()));
                Some(Json::String(name.to_string()))
            }
            Some(t) => {
                let right_kind: Vec<&str> = self
                    .checker
                    .targets
                    .iter()
                    .filter(|(_, t)| (t.kind == TargetKind::Volume) == (ty == ArgType::Volume))
                    .map(|(n, _)| n.as_str())
                    .collect();
                let hint = (!right_kind.is_empty())
                    .then(|| format!("{want} targets: {}", right_kind.join(", ")));
                let message = format!(
                    "target `{name}` is a {} target; `{}` needs a {want} target",
                    t.kind.word(),
                    self.arg
                );
                self.error(path, message, hint)
            }
            None if self.checker.broken_targets.iter().any(|b| b == name) => None,
            None => {
                let same_kind = self
                    .checker
                    .targets
                    .iter()
                    .filter(|(_, t)| (t.kind == TargetKind::Volume) == (ty == ArgType::Volume))
                    .map(|(n, _)| n.as_str());
                let hint = suggestion(name, same_kind).unwrap_or_else(|| {
                    format!("declare it under `targets:`, e.g. `{name}: {{ {want}: ... }}`")
                });
                self.error(path, format!("unknown target `{name}`"), Some(hint))
            }
        }
    }

    fn expect(&mut self, keys: &'static [&'static str], value: &Yaml, path: &str) -> Option<Json> {
        let Yaml::Mapping(map) = value else {
            return self.wrong_type(path, ArgType::Expect(keys), value);
        };
        let mut out = serde_json::Map::new();
        for (k, v) in map {
            let key = k.as_str().unwrap_or_default();
            let key_path = child_path(path, key);
            if !keys.contains(&key) {
                let hint = suggestion(key, keys.iter().copied())
                    .unwrap_or_else(|| format!("expected one of {}", keys.join(", ")));
                self.errors.push(
                    Diagnostic::new(format!("unknown expectation `{key}`"))
                        .at(self.checker.index.key(&key_path))
                        .maybe_hint(Some(hint)),
                );
                continue;
            }
            let json = match (key, v) {
                ("exit_code", Yaml::Number(n)) if n.is_i64() => Some(Json::from(n.as_i64())),
                ("exit_code", Yaml::Sequence(items))
                    if !items.is_empty() && items.iter().all(Yaml::is_i64) =>
                {
                    Some(Json::Array(
                        items
                            .iter()
                            .filter_map(Yaml::as_i64)
                            .map(Json::from)
                            .collect(),
                    ))
                }
                ("status", Yaml::Number(n))
                    if n.as_u64().is_some_and(|s| (100..600).contains(&s)) =>
                {
                    Some(Json::from(n.as_u64()))
                }
                ("status", Yaml::Sequence(items))
                    if items
                        .iter()
                        .all(|i| i.as_u64().is_some_and(|s| (100..600).contains(&s))) =>
                {
                    Some(Json::Array(
                        items
                            .iter()
                            .filter_map(Yaml::as_u64)
                            .map(Json::from)
                            .collect(),
                    ))
                }
                (k, Yaml::String(s)) if k.ends_with("_matches") => match Regex::new(s) {
                    Ok(_) => Some(Json::String(s.clone())),
                    Err(e) => {
                        self.error(
                            &key_path,
                            format!("invalid regular expression in `{key}`"),
                            Some(
                                first_line(&e.to_string())
                                    .trim_start_matches("error: ")
                                    .to_string(),
                            ),
                        );
                        continue;
                    }
                },
                (k, Yaml::String(_)) if k.ends_with("_contains") => {
                    self.text(v, &key_path, key).map(Json::String)
                }
                _ => {
                    let want = match key {
                        "exit_code" => "an exit code or a list of them",
                        "status" => "an HTTP status or a list of them",
                        _ => "a string",
                    };
                    self.error(
                        &key_path,
                        format!("`{key}` expects {want}, found {}", describe(v)),
                        None,
                    );
                    continue;
                }
            };
            out.extend(json.map(|j| (key.to_string(), j)));
        }
        Some(Json::Object(out))
    }

    fn any(&mut self, value: &Yaml, path: &str, rel: &str) -> Option<Json> {
        Some(match value {
            Yaml::String(_) => Json::String(self.text(value, path, rel)?),
            Yaml::Sequence(items) => Json::Array(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        self.any(v, &format!("{path}[{i}]"), &format!("{rel}[{i}]"))
                    })
                    .collect(),
            ),
            Yaml::Mapping(map) => Json::Object(
                map.iter()
                    .filter_map(|(k, v)| {
                        let k = k.as_str()?.to_string();
                        let v = self.any(v, &child_path(path, &k), &child_path(rel, &k))?;
                        Some((k, v))
                    })
                    .collect(),
            ),
            other => serde_json::to_value(other).unwrap_or(Json::Null),
        })
    }
}
