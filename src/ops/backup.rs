//! `backup`: an ad-hoc backup of Docker volumes, planned as a one-step-per-
//! volume runbook so it runs through the engine like any other (journal,
//! locks, events, off-site copy). The runbook is built as typed values, not
//! as text to parse.

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::error::OpError;
use crate::compile::params::Missing;
use crate::compile::{Document, Options};
use crate::model::world::World;
use crate::plan::Plan;
use crate::runbook::parse::Parsed;
use crate::runbook::position_index::PositionIndex;
use crate::runbook::raw::{Args, Lenient, RawRunbook, RawStep, RawTarget};
use crate::runbook::source::Source;

/// What a backup plan's `source` says it came from.
const NAME: &str = "(lifeboat backup)";

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
    let document = document(volumes, tags);
    let options = Options {
        sets: &[],
        missing: Missing::Refuse,
        world: None,
    };
    // Nothing to show a diagnostic in: the runbook has no text.
    let source = Source::new(NAME, "");
    let plan = document
        .compile(&options)
        .map_err(|f| OpError::from_compile(f, &source))?
        .probe(world, "live");
    let params = document
        .param_values(&[])
        .map_err(|f| OpError::from_compile(f, &source))?;
    Ok((plan, params))
}

/// The runbook with one backup step per volume, as the compiler takes it.
fn document(volumes: &[String], tags: &[String]) -> Document {
    let fingerprint = serde_json::to_string(&(volumes, tags)).unwrap_or_default();
    Document {
        name: NAME.into(),
        sha256: hex::encode(Sha256::digest(fingerprint.as_bytes())),
        parsed: Parsed {
            raw: runbook(volumes, tags),
            index: PositionIndex::default(),
        },
    }
}

fn runbook(volumes: &[String], tags: &[String]) -> RawRunbook {
    let targets: IndexMap<String, Lenient<RawTarget>> = volumes
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let target = RawTarget {
                volume: Some(v.clone()),
                ..RawTarget::default()
            };
            (format!("v{i}"), Lenient::Ok(target))
        })
        .collect();
    let steps = (0..volumes.len())
        .map(|i| Lenient::Ok(backup_step(i, tags)))
        .collect();
    RawRunbook {
        runbook: "backup".into(),
        description: Some("ad-hoc backup (lifeboat backup)".into()),
        objectives: None,
        params: IndexMap::new(),
        targets,
        steps,
        on_failure: None,
    }
}

/// `{ id: backup-<i>, uses: volume.backup, with: { volume: v<i>, tags } }`.
fn backup_step(i: usize, tags: &[String]) -> RawStep {
    use serde_yaml::Value;
    let mut with = Args::new();
    with.insert("volume".into(), Value::String(format!("v{i}")));
    let tags = tags.iter().cloned().map(Value::String).collect();
    with.insert("tags".into(), Value::Sequence(tags));
    RawStep {
        id: format!("backup-{i}"),
        uses: "volume.backup".into(),
        description: None,
        with: Some(with),
        needs: Vec::new(),
        when: None,
        retry: None,
        timeout: None,
        deadline: None,
        undo: None,
        readonly: None,
        unsafe_reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;
    use crate::compile::compiler::param_values;
    use crate::model::world::Volume;

    /// The runbook as text, as `lifeboat backup` used to write it.
    fn as_text(volumes: &[String], tags: &[String]) -> String {
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut text = String::from(
            "runbook: backup\ndescription: ad-hoc backup (lifeboat backup)\ntargets:\n",
        );
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

    #[test]
    fn the_typed_runbook_plans_as_the_text_did() {
        let volumes = vec!["shop_pg-data".to_string(), "odd: \"name\"".to_string()];
        let world = World {
            volumes: volumes
                .iter()
                .map(|v| Volume {
                    name: v.clone(),
                    size_bytes: Some(42),
                })
                .collect(),
            ..World::default()
        };
        for tags in [vec![], vec!["pre-upgrade".to_string(), "a, b".to_string()]] {
            let (typed, params) = plan(&volumes, &tags, &world).unwrap();
            let source = Source::new(NAME, as_text(&volumes, &tags));
            let options = Options {
                sets: &[],
                missing: Missing::Refuse,
                world: Some((&world, "live")),
            };
            let mut from_text = compile(&source, &options).unwrap();
            from_text.source_sha256 = typed.source_sha256.clone();
            assert_eq!(typed, from_text);
            assert_eq!(params, param_values(&source, &[]).unwrap());
            assert_eq!(typed.steps.len(), 2);
        }
    }

    #[test]
    fn an_unknown_volume_is_refused() {
        let e = plan(&["nope".into()], &[], &World::default()).unwrap_err();
        assert!(e.to_string().contains("no volume `nope`"), "{e}");
    }
}
