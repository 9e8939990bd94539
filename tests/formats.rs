//! docs/formats.md cannot drift from the code: every JSON example in it is
//! read with the real types and written back unchanged (a field the code
//! does not have, or lacks, fails), and the examples of commands are
//! compared with what the binary prints.

use std::path::Path;
use std::process::{Command, Output};

use lifeboat::engine::Stamped;
use lifeboat::engine::journal::Record;
use lifeboat::model::world::World;
use lifeboat::plan::Plan;
use lifeboat::repo::Manifest;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/formats.md"))
        .expect("docs/formats.md")
}

/// The fenced ```json / ```jsonl blocks of the section whose heading is
/// exactly `heading` (up to the next heading of the same or a higher level).
fn blocks(heading: &str) -> Vec<String> {
    let doc = doc();
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = doc.lines().skip_while(|l| l.trim_end() != heading);
    assert!(
        lines.next().is_some(),
        "no heading `{heading}` in docs/formats.md"
    );
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in lines {
        if let Some(block) = current.as_mut() {
            if line.starts_with("```") {
                found.push(current.take().unwrap());
            } else {
                block.push_str(line);
                block.push('\n');
            }
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && hashes <= level && line[hashes..].starts_with(' ') {
            break;
        }
        if line == "```json" || line == "```jsonl" {
            current = Some(String::new());
        }
    }
    assert!(!found.is_empty(), "no JSON example under `{heading}`");
    found
}

fn one_block(heading: &str) -> String {
    let mut b = blocks(heading);
    assert_eq!(b.len(), 1, "one JSON example under `{heading}`");
    b.remove(0)
}

/// `text` read as `T` and written back is the same JSON: every documented
/// field exists in `T`, and `T` writes no field the example lacks.
fn round_trips<T: DeserializeOwned + Serialize>(text: &str, what: &str) -> T {
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    let typed: T = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        value,
        "{what}: the documented example and the type disagree"
    );
    typed
}

fn lines(block: &str) -> impl Iterator<Item = &str> {
    block.lines().filter(|l| !l.trim().is_empty())
}

fn lifeboat(args: &[&str], state: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LIFEBOAT_RUNBOOKS")
        .env_remove("LIFEBOAT_CONFIG")
        .env("NO_COLOR", "1");
    if let Some(state) = state {
        command.env("LIFEBOAT_STATE", state);
    }
    command.output().expect("run lifeboat")
}

fn json_of(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

#[test]
fn the_journal_example_is_journal_records() {
    let block = one_block("### Journal example");
    let records: Vec<Record> = lines(&block)
        .map(|l| round_trips::<Record>(l, "journal record"))
        .collect();
    assert!(matches!(records.first(), Some(Record::RunStarted { .. })));
    assert!(matches!(records.last(), Some(Record::RunFinished { .. })));
}

#[test]
fn the_event_example_is_engine_events() {
    let block = one_block("### Event example");
    let events: Vec<Stamped> = lines(&block)
        .map(|l| round_trips::<Stamped>(l, "event"))
        .collect();
    assert!(events.len() > 5);
}

#[test]
fn the_world_example_is_a_world() {
    round_trips::<World>(&one_block("### World example"), "world");
}

#[test]
fn the_plan_example_is_a_plan_and_its_world_plans_the_same_again() {
    let plan: Plan = round_trips(&one_block("### Plan example"), "plan");
    let info = plan.world.as_ref().expect("the example has its world");
    let world = info.recorded.clone().expect("and the world itself");
    let source = lifeboat::runbook::parse::read_source(Path::new(&format!(
        "{}/{}",
        env!("CARGO_MANIFEST_DIR"),
        plan.source
    )))
    .unwrap();
    let sets: Vec<(String, String)> = plan
        .params
        .iter()
        .filter(|p| p.origin == "set")
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect();
    let options = lifeboat::compile::Options {
        sets: &sets,
        missing: lifeboat::compile::params::Missing::Refuse,
        world: Some((&world, &info.source)),
    };
    let mut again = lifeboat::compile::compile(&source, &options).expect("compiles");
    again.source = plan.source.clone();
    if let Some(w) = again.world.as_mut() {
        w.recorded = Some(world.clone());
    }
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&plan).unwrap(),
        "docs/formats.md's plan example is not what `lifeboat plan` makes of its runbook and world today"
    );
}

#[test]
fn the_manifest_example_is_a_manifest() {
    round_trips::<Manifest>(&one_block("### Manifest example"), "manifest");
}

#[test]
fn history_and_show_print_what_is_documented_of_the_journal_example() {
    let state = tempfile::tempdir().unwrap();
    let journal = one_block("### Journal example");
    let run_id = match serde_json::from_str::<Record>(lines(&journal).next().unwrap()).unwrap() {
        Record::RunStarted { run_id, .. } => run_id,
        other => panic!("starts with {other:?}"),
    };
    std::fs::create_dir_all(state.path().join("runs")).unwrap();
    std::fs::write(state.path().join(format!("runs/{run_id}.jsonl")), &journal).unwrap();

    let history = json_of(&lifeboat(
        &["history", "--format", "json"],
        Some(state.path()),
    ));
    let documented: Value = serde_json::from_str(&one_block("### `lifeboat history`")).unwrap();
    assert_eq!(history, documented);

    let show = json_of(&lifeboat(
        &["show", &run_id, "--format", "json"],
        Some(state.path()),
    ));
    let records: Vec<Value> = lines(&journal)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        show,
        Value::Array(records),
        "`show --format json` is the journal as an array"
    );
}

#[test]
fn list_prints_what_is_documented() {
    let real = json_of(&lifeboat(&["list", "--format", "json"], None));
    let documented: Value = serde_json::from_str(&one_block("### `lifeboat list`")).unwrap();
    for entry in documented.as_array().unwrap() {
        let found = real
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == entry["name"] && r["kind"] == entry["kind"])
            .unwrap_or_else(|| panic!("no {} in `lifeboat list`", entry["name"]));
        assert_eq!(found, entry);
    }
}

#[test]
fn kinds_prints_what_is_documented() {
    let documented: Value = serde_json::from_str(&one_block("### `lifeboat kinds`")).unwrap();
    let name = documented[0]["name"].as_str().unwrap();
    let real = json_of(&lifeboat(&["kinds", name, "--format", "json"], None));
    assert_eq!(real, documented);
}

#[test]
fn validate_prints_what_is_documented() {
    let documented: Value = serde_json::from_str(&one_block("### `lifeboat validate`")).unwrap();
    let path = documented[0]["path"].as_str().unwrap();
    let o = lifeboat(&["validate", path, "--format", "json"], None);
    assert_eq!(o.status.code(), Some(1));
    let real: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(real, documented);
}
