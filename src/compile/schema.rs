//! The JSON Schema of the runbook format, for editors (yaml-language-server)
//! and for anyone checking runbooks with other tools.

use serde_json::{Value as Json, json};

use crate::kinds;
use crate::model::kind_spec::ArgType;
use crate::runbook::raw::RawRunbook;

/// The schema: the serde model's, with `uses` restricted to the known kinds
/// and `with` checked per kind.
pub fn runbook_schema() -> Json {
    let mut schema = serde_json::to_value(schemars::schema_for!(RawRunbook)).unwrap_or(Json::Null);
    let names: Vec<&str> = kinds::names().collect();
    let per_kind: Vec<Json> = kinds::all()
        .iter()
        .map(|k| k.spec())
        .map(|k| {
            let properties: serde_json::Map<String, Json> = k
                .args
                .iter()
                .map(|a| {
                    let mut s = arg_schema(a.ty);
                    s["description"] = json!(a.help);
                    if let Some(d) = a.default_json() {
                        s["default"] = d;
                    }
                    (a.name.to_string(), s)
                })
                .collect();
            let required: Vec<&str> = k
                .args
                .iter()
                .filter(|a| a.required)
                .map(|a| a.name)
                .collect();
            let mut with = json!({
                "type": "object",
                "description": k.summary,
                "properties": properties,
                "required": required,
                "additionalProperties": false
            });
            if !k.one_of.is_empty() {
                with["oneOf"] = k
                    .one_of
                    .iter()
                    .map(|a| json!({ "required": [a] }))
                    .collect();
            }
            json!({
                "if": { "properties": { "uses": { "const": k.name } }, "required": ["uses"] },
                "then": { "properties": { "with": with } }
            })
        })
        .collect();
    for def in ["RawStep", "RawUndo"] {
        if let Some(step) = schema.pointer_mut(&format!("/$defs/{def}")) {
            step["properties"]["uses"]["enum"] = json!(names);
            step["allOf"] = json!(per_kind);
        }
    }
    schema
}

fn arg_schema(ty: ArgType) -> Json {
    match ty {
        ArgType::Container | ArgType::Volume | ArgType::Str | ArgType::BackupRef => {
            json!({ "type": "string" })
        }
        ArgType::Url => json!({ "type": "string", "pattern": "^(https?://|\\{\\{)" }),
        ArgType::Volumes | ArgType::StrList => {
            json!({ "type": "array", "items": { "type": ["string", "number"] } })
        }
        ArgType::VolumePaths => {
            json!({ "type": "array", "items": { "type": "string", "pattern": "^[^/]" }, "minItems": 1 })
        }
        ArgType::VolumeMounts => {
            json!({ "type": "object", "additionalProperties": { "type": "string", "pattern": "^(/|\\{\\{)" }, "minProperties": 1 })
        }
        ArgType::Int => json!({ "type": "integer" }),
        ArgType::Count => json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }),
        ArgType::Bool => json!({ "type": "boolean" }),
        ArgType::Duration => json!({ "$ref": "#/$defs/Duration" }),
        ArgType::RetentionDuration => {
            json!({ "type": "string", "minLength": 1, "pattern": "^([0-9]+y)?([0-9]+m)?([0-9]+d)?([0-9]+h)?$" })
        }
        ArgType::TagLists => json!({ "type": "array", "items": { "type": "string" } }),
        ArgType::TimeZone => json!({ "type": "string" }),
        ArgType::Command => {
            json!({ "type": ["array", "string"], "items": { "type": ["string", "number"] }, "minItems": 1 })
        }
        ArgType::StrMap => {
            json!({ "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] } })
        }
        ArgType::OneOf(values) => json!({ "enum": values }),
        ArgType::Expect(keys) => {
            let props: serde_json::Map<String, Json> = keys
                .iter()
                .map(|k| {
                    let s = match *k {
                        "exit_code" => json!({ "type": "integer" }),
                        "status" => {
                            json!({ "type": ["integer", "array"], "items": { "type": "integer" } })
                        }
                        _ => json!({ "type": "string" }),
                    };
                    (k.to_string(), s)
                })
                .collect();
            json!({ "type": "object", "properties": props, "additionalProperties": false })
        }
        ArgType::Any => json!({}),
    }
}

/// The schema as committed in `schema/runbook.schema.json`.
pub fn runbook_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&runbook_schema()).unwrap_or_default();
    text.push('\n');
    text
}
