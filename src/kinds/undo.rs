//! Built-in undos: what the kinds' `undo` build them from.

use serde_json::Value as Json;

use super::{ArgMap, Kind};
use crate::plan::plan::{Step, Undo};
use crate::template::placeholder;

/// A backup step that guards the step being undone.
pub struct Guard<'a> {
    pub id: &'a str,
    pub kind: &'static dyn Kind,
    pub args: &'a ArgMap,
}

/// Why no built-in undo can be made: an error at the step.
#[derive(Debug)]
pub struct UndoError {
    pub message: String,
    pub hint: String,
}

/// A step's argument, or null.
pub fn arg(step: &Step, name: &str) -> Json {
    step.args.get(name).cloned().unwrap_or(Json::Null)
}

pub fn builtin(kind: &str, args: Vec<(&str, Json)>, templates: Vec<(&str, String)>) -> Undo {
    Undo {
        kind: kind.into(),
        args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        builtin: true,
        templates: templates
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// The same restore with the backup the nearest guard took, and the step's
/// other arguments but `skip`.
pub fn restore_from_guard(step: &Step, guards: &[Guard], skip: &[&str]) -> Option<Undo> {
    let guard = guards.first()?;
    let mut args: Vec<(&str, Json)> = step
        .args
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    args.push(("backup", Json::from(placeholder(guard.id))));
    Some(builtin(
        &step.kind,
        args,
        vec![(
            "backup",
            format!("{{{{ steps['{}'].backup_id }}}}", guard.id),
        )],
    ))
}
