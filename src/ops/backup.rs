//! `backup`: an ad-hoc backup of Docker volumes, planned as a one-step-per-
//! volume runbook so it runs through the engine like any other (journal,
//! locks, events, off-site copy).

use super::error::OpError;
use crate::compile::compiler::param_values;
use crate::compile::params::Missing;
use crate::compile::{Options, compile};
use crate::model::world::World;
use crate::plan::Plan;
use crate::runbook::source::Source;

/// The plan (and its param values) that backs up `volumes` with `tags`;
/// refused when a volume is not in `world`.
pub fn plan(
    volumes: &[String],
    tags: &[String],
    world: &World,
) -> Result<(Plan, Vec<(String, minijinja::Value)>), OpError> {
    if let Some(v) = volumes.iter().find(|v| world.volume(v).is_none()) {
        return Err(OpError::usage(format!(
            "no volume `{v}` on this Docker host (see `docker volume ls`)"
        )));
    }
    let source = Source::new("(lifeboat backup)", runbook(volumes, tags));
    let options = Options {
        sets: &[],
        missing: Missing::Refuse,
        world: Some((world, "live")),
    };
    let plan = compile(&source, &options).map_err(|f| OpError::from_compile(f, &source))?;
    let params = param_values(&source, &[]).map_err(|f| OpError::from_compile(f, &source))?;
    Ok((plan, params))
}

/// A runbook with one backup step per volume.
fn runbook(volumes: &[String], tags: &[String]) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut text =
        String::from("runbook: backup\ndescription: ad-hoc backup (lifeboat backup)\ntargets:\n");
    for (i, v) in volumes.iter().enumerate() {
        text.push_str(&format!("  v{i}: {{ volume: {} }}\n", quote(v)));
    }
    text.push_str("steps:\n");
    let tags: Vec<String> = tags.iter().map(|t| quote(t)).collect();
    for i in 0..volumes.len() {
        text.push_str(&format!(
            "  - {{ id: backup-{i}, uses: volume.backup, with: {{ volume: v{i}, tags: [{}] }} }}\n",
            tags.join(", ")
        ));
    }
    text
}
