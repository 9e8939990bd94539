//! `lifeboat kinds`: every step kind, its effect and its arguments.

use super::Format;
use crate::kinds;
use crate::model::kind_spec::Effect;
use crate::ops::OpError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show only this kind.
    pub kind: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: Args) -> Result<(), OpError> {
    let kinds = kinds::all()
        .iter()
        .map(|k| k.spec())
        .filter(|k| args.kind.as_deref().is_none_or(|n| n == k.name));
    if args.format == Format::Json {
        let list: Vec<serde_json::Value> = kinds
            .map(|k| {
                serde_json::json!({
                    "name": k.name,
                    "summary": k.summary,
                    "effect": k.effect,
                    "outputs": k.outputs,
                    "one_of": k.one_of,
                    "args": k.args.iter().map(|a| serde_json::json!({
                        "name": a.name, "type": a.ty.describe(), "required": a.required, "default": a.default, "help": a.help,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(());
    }
    for k in kinds {
        // A kind whose step declares its effect: what it is when undeclared.
        let undeclared = kinds::get(k.name).map(|kind| kind.effect(&Default::default(), None));
        let effect = match (k.effect, undeclared) {
            (Some(Effect::Read), _) => "reads",
            (Some(Effect::Mutate), _) => "changes",
            (Some(Effect::Destroy), _) => "DESTRUCTIVE: needs a safety backup first",
            (None, Some((Effect::Destroy, _))) => {
                "DESTRUCTIVE unless `readonly: true`: needs a safety backup first"
            }
            (None, _) => "changes, unless `readonly: true`",
        };
        let category = match (k.effect, undeclared) {
            (None, Some((_, category))) => category,
            _ => k.category,
        };
        outln!(
            "{} {}  ({effect})\n    {}",
            category.symbol(),
            k.name,
            k.summary
        );
        for a in k.args {
            let req = if a.required {
                "required".to_string()
            } else if k.one_of.contains(&a.name) {
                format!("required: exactly one of {}", k.one_of.join(", "))
            } else {
                "optional".to_string()
            };
            let default = a
                .default
                .map(|d| format!(", default {d}"))
                .unwrap_or_default();
            outln!(
                "    {:<16} {} ({req}{default}): {}",
                a.name,
                a.ty.describe(),
                a.help
            );
        }
        if !k.outputs.is_empty() {
            outln!("    outputs: {}", k.outputs.join(", "));
        }
        outln!();
    }
    Ok(())
}
