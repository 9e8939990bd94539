//! The plan as a Graphviz digraph (`lifeboat plan X --format dot | dot -Tsvg`).

use std::fmt::Write as _;

use super::plan::Plan;
use crate::model::effect::Effect;

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn render(plan: &Plan) -> String {
    let mut out = format!(
        "digraph {} {{\n    rankdir=TB;\n    node [shape=box, fontname=\"monospace\"];\n",
        quote(&plan.runbook)
    );
    for step in &plan.steps {
        let style = if step.effect == Effect::Destroy {
            ", color=red, penwidth=2"
        } else {
            ""
        };
        let label = format!("{} {}\\n{}", step.category.symbol(), step.id, step.kind);
        let _ = writeln!(
            out,
            "    {} [label=\"{}\"{style}];",
            quote(&step.id),
            label.replace('"', "\\\"")
        );
    }
    for step in &plan.steps {
        for need in &step.needs {
            let _ = writeln!(out, "    {} -> {};", quote(need), quote(&step.id));
        }
    }
    out.push_str("}\n");
    out
}
