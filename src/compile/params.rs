//! Runbook params: their declarations, and the values a plan or run uses.

use std::collections::HashSet;

use minijinja::value::Value;
use regex::Regex;

use crate::model::duration::{Human, parse_duration};
use crate::runbook::diagnostic::{Diagnostic, suggestion};
use crate::runbook::position_index::{PositionIndex, child_path};
use crate::runbook::raw::{Lenient, ParamType, RawParam, RawRunbook, describe};

use crate::template::RESERVED;

/// A checked param declaration.
#[derive(Debug, Clone)]
pub struct ParamDef {
    pub name: String,
    pub ty: ParamType,
    pub default: Option<String>,
    pub required: bool,
    pub pattern: Option<Regex>,
    pub values: Vec<String>,
    pub secret: bool,
}

/// A param's value as templates see it, and as plans show it.
#[derive(Debug, Clone)]
pub struct ParamValue {
    pub name: String,
    pub value: Value,
    pub shown: String,
    pub secret: bool,
    pub origin: &'static str,
}

/// Checks the declarations; each problem becomes a diagnostic.
pub fn check_defs(
    raw: &RawRunbook,
    index: &PositionIndex,
    errors: &mut Vec<Diagnostic>,
) -> Vec<ParamDef> {
    let mut defs = Vec::new();
    for (name, param) in &raw.params {
        let Lenient::Ok(param) = param else { continue };
        let path = child_path("params", name);
        if !is_identifier(name) || RESERVED.contains(&name.as_str()) {
            errors.push(
                Diagnostic::new(format!("`{name}` cannot be a param name"))
                    .at(index.key(&path))
                    .hint(if RESERVED.contains(&name.as_str()) {
                        format!("`{name}` is reserved for templates; choose another name")
                    } else {
                        "param names are letters, digits and `_`, starting with a letter, so templates can use them".to_string()
                    }),
            );
            continue;
        }
        if let Some(def) = check_def(name, param, &path, index, errors) {
            defs.push(def);
        }
    }
    defs
}

fn check_def(
    name: &str,
    p: &RawParam,
    path: &str,
    index: &PositionIndex,
    errors: &mut Vec<Diagnostic>,
) -> Option<ParamDef> {
    let before = errors.len();
    let pattern = p
        .pattern
        .as_deref()
        .and_then(|pat| match Regex::new(&format!("^(?:{pat})$")) {
            Ok(re) => Some(re),
            Err(e) => {
                errors.push(
                    Diagnostic::new(format!("invalid pattern for param `{name}`"))
                        .at(index.value(&child_path(path, "pattern")))
                        .hint(first_line(&e.to_string())),
                );
                None
            }
        });
    let values = p.values.clone().unwrap_or_default();
    if p.ty == ParamType::Enum && values.is_empty() {
        errors.push(
            Diagnostic::new(format!("enum param `{name}` lists no values"))
                .at(index.key(path))
                .hint("add `values: [a, b]`"),
        );
    }
    if p.ty != ParamType::Enum && p.values.is_some() {
        errors.push(
            Diagnostic::new(format!(
                "`values` only applies to enum params; `{name}` is not one"
            ))
            .at(index.key(&child_path(path, "values")))
            .hint("add `type: enum` or remove `values`"),
        );
    }
    if p.required && p.default.is_some() {
        errors.push(
            Diagnostic::new(format!("param `{name}` is required and has a default"))
                .at(index.key(&child_path(path, "required")))
                .hint("a default makes it optional: drop one of the two"),
        );
    }
    let mut def = ParamDef {
        name: name.to_string(),
        ty: p.ty,
        default: None,
        required: p.required,
        pattern,
        values,
        secret: p.secret,
    };
    if let Some(default) = p
        .default
        .as_ref()
        .filter(|_| !(p.ty == ParamType::Enum && def.values.is_empty()))
    {
        let text = match default {
            serde_yaml::Value::String(s) => Some(s.clone()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            serde_yaml::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let span = index.value(&child_path(path, "default"));
        match text.map(|t| convert(&def, &t).map(|_| t)) {
            Some(Ok(t)) => def.default = Some(t),
            Some(Err(why)) => errors
                .push(Diagnostic::new(format!("bad default for param `{name}`: {why}")).at(span)),
            None => errors.push(
                Diagnostic::new(format!(
                    "bad default for param `{name}`: expected a scalar, found {}",
                    describe(default)
                ))
                .at(span),
            ),
        }
    }
    (errors.len() == before).then_some(def)
}

/// Converts the text of a value (a default or a `--set`) to the param's type.
pub fn convert(def: &ParamDef, text: &str) -> Result<(Value, String), String> {
    let value = match def.ty {
        ParamType::String => Value::from(text),
        ParamType::Int => Value::from(
            text.trim()
                .parse::<i64>()
                .map_err(|_| format!("expected an integer, got `{text}`"))?,
        ),
        ParamType::Bool => match text.trim() {
            "true" | "yes" => Value::from(true),
            "false" | "no" => Value::from(false),
            _ => return Err(format!("expected true or false, got `{text}`")),
        },
        ParamType::Duration => {
            let d = parse_duration(text).map_err(|e| format!("bad duration `{text}`: {e}"))?;
            Value::from(Human(d).to_string())
        }
        ParamType::Enum => {
            if !def.values.iter().any(|v| v == text) {
                let hint = suggestion(text, def.values.iter().map(String::as_str))
                    .map(|s| format!("; {s}"))
                    .unwrap_or_default();
                return Err(format!(
                    "`{text}` is not one of {}{hint}",
                    def.values.join(", ")
                ));
            }
            Value::from(text)
        }
    };
    if let Some(re) = &def.pattern
        && !re.is_match(text)
    {
        return Err(format!(
            "`{text}` does not match the pattern `{}`",
            trim_anchor(re.as_str())
        ));
    }
    let shown = if def.secret {
        "(secret)".to_string()
    } else {
        value.to_string()
    };
    Ok((value, shown))
}

fn trim_anchor(re: &str) -> &str {
    re.strip_prefix("^(?:")
        .and_then(|r| r.strip_suffix(")$"))
        .unwrap_or(re)
}

/// How to treat a required param nobody set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// An error: a plan or run needs every value.
    Refuse,
    /// A stand-in: `validate` checks the runbook, not an invocation.
    StandIn,
}

/// Resolves every param from `--set` pairs and defaults. Errors are usage
/// errors: they are about the invocation, not the runbook.
pub fn resolve(
    defs: &[ParamDef],
    sets: &[(String, String)],
    missing: Missing,
) -> Result<Vec<ParamValue>, Vec<String>> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (name, _) in sets {
        if !defs.iter().any(|d| &d.name == name) {
            let hint = suggestion(name, defs.iter().map(|d| d.name.as_str()))
                .map(|s| format!(": {s}"))
                .unwrap_or_else(|| {
                    let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
                    if names.is_empty() {
                        ": this runbook has no params".into()
                    } else {
                        format!("; params: {}", names.join(", "))
                    }
                });
            errors.push(format!("--set {name}: no such param{hint}"));
        } else if !seen.insert(name.as_str()) {
            errors.push(format!("--set {name} is given twice"));
        }
    }
    let mut values = Vec::new();
    for def in defs {
        let set = sets
            .iter()
            .rev()
            .find(|(n, _)| n == &def.name)
            .map(|(_, v)| v);
        let (text, origin) = match (set, &def.default) {
            (Some(v), _) => (v.clone(), "set"),
            (None, Some(d)) => (d.clone(), "default"),
            (None, None) => {
                if missing == Missing::Refuse {
                    errors.push(format!(
                        "param `{0}` is required: pass --set {0}=VALUE",
                        def.name
                    ));
                    continue;
                }
                let stand_in = format!("({})", def.name);
                values.push(ParamValue {
                    name: def.name.clone(),
                    value: Value::from(stand_in.clone()),
                    shown: stand_in,
                    secret: def.secret,
                    origin: "missing",
                });
                continue;
            }
        };
        match convert(def, &text) {
            Ok((value, shown)) => values.push(ParamValue {
                name: def.name.clone(),
                value,
                shown,
                secret: def.secret,
                origin,
            }),
            Err(why) => errors.push(format!("--set {}: {why}", def.name)),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn first_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(ty: ParamType) -> ParamDef {
        ParamDef {
            name: "p".into(),
            ty,
            default: None,
            required: false,
            pattern: None,
            values: vec!["a".into(), "b".into()],
            secret: false,
        }
    }

    #[test]
    fn converts_by_type() {
        assert_eq!(convert(&def(ParamType::Int), "42").unwrap().1, "42");
        assert_eq!(
            convert(&def(ParamType::Duration), "90s").unwrap().1,
            "1m30s"
        );
        assert!(convert(&def(ParamType::Bool), "maybe").is_err());
        assert!(
            convert(&def(ParamType::Enum), "c")
                .unwrap_err()
                .contains("not one of a, b")
        );
        let mut secret = def(ParamType::String);
        secret.secret = true;
        assert_eq!(convert(&secret, "hunter2").unwrap().1, "(secret)");
    }

    #[test]
    fn resolve_reports_unknown_and_missing() {
        let mut required = def(ParamType::String);
        required.required = true;
        let err = resolve(
            &[required.clone()],
            &[("q".into(), "1".into())],
            Missing::Refuse,
        )
        .unwrap_err();
        assert_eq!(
            err,
            vec![
                "--set q: no such param; params: p".to_string(),
                "param `p` is required: pass --set p=VALUE".to_string()
            ]
        );
        let ok = resolve(&[required], &[], Missing::StandIn).unwrap();
        assert_eq!(ok[0].shown, "(p)");
    }
}
