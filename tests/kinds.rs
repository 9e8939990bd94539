//! The step-kind registry (`lifeboat::kinds`), kind by kind: its spec is
//! well-formed, what it destroys is declared and undone (or it says why
//! not), its built-in undo names a registered kind with valid arguments, the
//! schema knows it, and its plan prediction is exercised against a world.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use lifeboat::compile::compiler::{Failure, Options, compile};
use lifeboat::compile::schema::runbook_schema;
use lifeboat::kinds::{self, Kind};
use lifeboat::model::duration::parse_duration;
use lifeboat::model::kind_spec::{ArgType, Effect, KindSpec};
use lifeboat::model::world::World;
use lifeboat::plan::Plan;
use lifeboat::repo::RetentionDuration;
use lifeboat::repo::retention::parse_time_zone;
use lifeboat::runbook::source::Source;
use serde_json::{Value as Json, json};

fn spec_problems(k: &KindSpec) -> Vec<String> {
    let mut problems = Vec::new();
    for a in k.args {
        if a.required && a.default.is_some() {
            problems.push(format!("`{}` is required and has a default", a.name));
        }
        let Some(d) = a.default else { continue };
        let parses = match a.ty {
            ArgType::Duration => parse_duration(d).is_ok(),
            ArgType::Bool => matches!(d, "true" | "false"),
            ArgType::OneOf(values) => values.contains(&d),
            ArgType::Count => d.parse::<u32>().is_ok(),
            ArgType::Int => d.parse::<i64>().is_ok(),
            ArgType::RetentionDuration => d.parse::<RetentionDuration>().is_ok(),
            ArgType::TimeZone => parse_time_zone(d).is_ok(),
            ArgType::Str | ArgType::Url | ArgType::BackupRef => true,
            other => {
                problems.push(format!("`{}`: no default expected for {other:?}", a.name));
                true
            }
        };
        if !parses {
            problems.push(format!(
                "default `{d}` of `{}` is not {}",
                a.name,
                a.ty.describe()
            ));
        }
    }
    for name in k.one_of {
        match k.arg(name) {
            Some(a) if a.required => problems.push(format!("one_of `{name}` is required alone")),
            Some(_) => {}
            None => problems.push(format!("one_of names unknown argument `{name}`")),
        }
    }
    let mut names: Vec<_> = k.args.iter().map(|a| a.name).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() != k.args.len() {
        problems.push("an argument is listed twice".into());
    }
    problems
}

/// Arguments with every boolean true: the most a step of the kind can do.
fn most_destructive_args(k: &KindSpec) -> IndexMap<String, Json> {
    k.args
        .iter()
        .filter(|a| a.ty == ArgType::Bool)
        .map(|a| (a.name.to_string(), Json::Bool(true)))
        .collect()
}

fn can_destroy(kind: &dyn Kind) -> bool {
    let spec = kind.spec();
    spec.effect == Some(Effect::Destroy)
        || kind.effect(&most_destructive_args(spec), None).0 == Effect::Destroy
}

#[test]
fn every_spec_is_well_formed_and_every_name_unique() {
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for kind in kinds::all() {
        let spec = kind.spec();
        assert!(seen.insert(spec.name), "{} is registered twice", spec.name);
        assert!(
            kinds::get(spec.name).is_some_and(|k| std::ptr::eq(k.spec(), spec)),
            "{}: get() finds another kind",
            spec.name
        );
        problems.extend(
            spec_problems(spec)
                .into_iter()
                .map(|p| format!("{}: {p}", spec.name)),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(kinds::get("volume.restor").is_none());
}

#[test]
fn the_spec_check_sees_a_broken_spec() {
    use lifeboat::model::kind_spec::{ArgSpec, Category, def, req};
    static ARGS: [ArgSpec; 3] = [
        def("timeout", ArgType::Duration, "30", "no unit"),
        req("wait", ArgType::OneOf(&["running"]), ""),
        def("flag", ArgType::Bool, "yes", ""),
    ];
    let broken = KindSpec {
        name: "x.broken",
        summary: "",
        effect: None,
        category: Category::Change,
        args: &ARGS,
        outputs: &[],
        subject: None,
        one_of: &["missing"],
    };
    assert_eq!(
        spec_problems(&broken).len(),
        3,
        "{:?}",
        spec_problems(&broken)
    );
}

#[test]
fn a_destructive_kind_says_what_it_destroys_and_how_it_is_undone() {
    let undone = builtin_undos().into_keys().collect::<BTreeSet<_>>();
    for kind in kinds::all() {
        let spec = kind.spec();
        if !can_destroy(*kind) {
            assert!(
                kind.no_undo().is_none(),
                "{} destroys nothing, yet explains a missing undo",
                spec.name
            );
            continue;
        }
        let subject = spec
            .subject
            .unwrap_or_else(|| panic!("{} has no subject", spec.name));
        let arg = match subject {
            lifeboat::model::kind_spec::Subject::Target(a)
            | lifeboat::model::kind_spec::Subject::Source(a)
            | lifeboat::model::kind_spec::Subject::ContainerData(a)
            | lifeboat::model::kind_spec::Subject::ComposeVolumes(a)
            | lifeboat::model::kind_spec::Subject::Volumes(a) => a,
        };
        assert!(
            spec.arg(arg).is_some_and(|a| a.required),
            "{}: its subject `{arg}` must be a required argument",
            spec.name
        );
        assert!(
            undone.contains(spec.name) != kind.no_undo().is_some(),
            "{}: a destructive kind has a built-in undo or says why it has none (not both)",
            spec.name
        );
    }
    // Backup kinds name what they protect, so the safety rule can match them.
    for kind in kinds::all().iter().filter(|k| k.spec().is_backup()) {
        assert!(kind.spec().subject.is_some(), "{}", kind.spec().name);
    }
}

#[test]
fn effects_follow_the_arguments() {
    let effect = |name: &str, args: Json, readonly: Option<bool>| {
        let args: IndexMap<String, Json> = serde_json::from_value(args).unwrap();
        kinds::get(name).unwrap().effect(&args, readonly).0
    };
    assert_eq!(
        effect("compose.down", json!({"volumes": true}), None),
        Effect::Destroy
    );
    // Decided at run time: counted as destructive.
    assert_eq!(
        effect("compose.down", json!({"volumes": "(known after x)"}), None),
        Effect::Destroy
    );
    assert_eq!(
        effect("compose.down", json!({"volumes": false}), None),
        Effect::Mutate
    );
    assert_eq!(effect("container.exec", json!({}), None), Effect::Mutate);
    assert_eq!(effect("volume.run", json!({}), None), Effect::Destroy);
    assert_eq!(
        effect("volume.run", json!({}), Some(false)),
        Effect::Destroy
    );
    assert_eq!(effect("volume.run", json!({}), Some(true)), Effect::Read);
    assert_eq!(
        effect("container.exec", json!({}), Some(true)),
        Effect::Read
    );
    assert_eq!(
        effect("http.request", json!({"method": "GET"}), None),
        Effect::Read
    );
    assert_eq!(
        effect("http.request", json!({"method": "GET"}), Some(false)),
        Effect::Mutate
    );
    assert_eq!(
        effect("http.request", json!({"method": "POST"}), None),
        Effect::Mutate
    );
    assert_eq!(effect("volume.restore", json!({}), None), Effect::Destroy);
}

#[test]
fn the_schema_knows_every_kind_and_its_arguments() {
    let schema = runbook_schema();
    let step = &schema["$defs"]["RawStep"];
    let names: Vec<&str> = step["properties"]["uses"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Json::as_str)
        .collect();
    let per_kind = step["allOf"].as_array().unwrap();
    for kind in kinds::all() {
        let spec = kind.spec();
        assert!(
            names.contains(&spec.name),
            "{} is not in the schema",
            spec.name
        );
        let rule = per_kind
            .iter()
            .find(|r| r["if"]["properties"]["uses"]["const"] == spec.name)
            .unwrap_or_else(|| panic!("no `with` rule for {}", spec.name));
        let with = &rule["then"]["properties"]["with"];
        let props: BTreeSet<&str> = with["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let args: BTreeSet<&str> = spec.args.iter().map(|a| a.name).collect();
        assert_eq!(props, args, "{}", spec.name);
    }
    assert_eq!(names.len(), kinds::all().len());
}

// --- Plans against a world: predictions and built-in undos -------------

const HEAD: &str = r#"
runbook: kinds-table
targets:
  redis: { container: shop-redis-1, volumes: [data] }
  data: { volume: shop_data }
  other: { volume: shop_other }
  fresh: { volume: shop_fresh }
steps:
"#;

fn world() -> World {
    let backup = |id: &str, source: &str, at: &str| json!({"id": id, "source": source, "created_at": at, "stored_bytes": 1024});
    serde_json::from_value(json!({
        "taken_at": "2026-11-21T09:00:00Z",
        "containers": [{
            "name": "shop-redis-1", "image": "redis:7", "state": "running",
            "mounts": [{"volume": "shop_data", "destination": "/data"}]
        }],
        "volumes": [
            {"name": "shop_data", "size_bytes": 4096},
            {"name": "shop_other"},
            {"name": "shop_fresh"}
        ],
        "backups": [
            backup("b-data-1", "shop_data", "2026-11-20T02:00:00Z"),
            backup("b-data-2", "shop_data", "2026-11-21T02:00:00Z"),
            backup("b-other-1", "shop_other", "2026-11-21T03:00:00Z"),
            backup("b-db-1", "db", "2026-11-21T04:00:00Z"),
        ]
    }))
    .unwrap()
}

fn plan(steps: &str) -> Plan {
    let text = format!("{HEAD}{steps}");
    let world = world();
    let options = Options {
        world: Some((&world, "table")),
        ..Options::default()
    };
    match compile(&Source::new("table.yaml", text.clone()), &options) {
        Ok(plan) => plan,
        Err(Failure::Invalid(d)) => panic!("{text}\n{d:#?}"),
        Err(Failure::Usage(u)) => panic!("{u:?}"),
    }
}

/// What the plan predicts about step `s`.
#[derive(Debug, PartialEq)]
enum Predicted {
    Nothing,
    Resolves(&'static str),
    Fails(&'static str),
}

/// Kind, the step `s`, what the plan must predict about it.
const PREDICTIONS: &[(&str, &str, Predicted)] = &[
    (
        "container.stop",
        "{ id: s, uses: container.stop, with: { container: redis } }",
        Predicted::Nothing,
    ),
    (
        "container.start",
        "{ id: s, uses: container.start, with: { container: redis } }",
        Predicted::Nothing,
    ),
    (
        "container.restart",
        "{ id: s, uses: container.restart, with: { container: redis } }",
        Predicted::Nothing,
    ),
    (
        "container.exec",
        "{ id: s, uses: container.exec, with: { container: redis, command: [redis-cli, PING] } }",
        Predicted::Nothing,
    ),
    (
        "container.recreate",
        "{ id: s, uses: container.recreate, unsafe: test, with: { container: redis, image: 'redis:8' } }",
        Predicted::Nothing,
    ),
    (
        "volume.create",
        "{ id: s, uses: volume.create, with: { volume: fresh } }",
        Predicted::Nothing,
    ),
    (
        "volume.remove",
        "{ id: s, uses: volume.remove, unsafe: test, with: { volume: data } }",
        Predicted::Nothing,
    ),
    (
        "volume.backup",
        "{ id: s, uses: volume.backup, with: { volume: data } }",
        Predicted::Nothing,
    ),
    (
        "volume.restore",
        "{ id: s, uses: volume.restore, unsafe: test, with: { volume: data, backup: latest } }",
        Predicted::Resolves("b-data-2"),
    ),
    (
        "volume.restore",
        "{ id: s, uses: volume.restore, unsafe: test, with: { volume: data, from: other, backup: latest } }",
        Predicted::Resolves("b-other-1"),
    ),
    (
        "volume.restore",
        "{ id: s, uses: volume.restore, unsafe: test, with: { volume: data, backup: b-other-1 } }",
        Predicted::Fails("name that volume with `from:`"),
    ),
    (
        "volume.restore",
        "{ id: s, uses: volume.restore, unsafe: test, with: { volume: fresh, backup: latest } }",
        Predicted::Fails("no `latest` backup of `shop_fresh`"),
    ),
    (
        "volume.run",
        "{ id: s, uses: volume.run, readonly: true, with: { image: 'redis:7', volumes: { fresh: /data }, command: [redis-check-aof, /data/x] } }",
        Predicted::Nothing,
    ),
    (
        "volume.run",
        "{ id: s, uses: volume.run, unsafe: test, with: { image: 'redis:7', volumes: { data: /data }, command: [redis-check-aof, --fix, /data/x] } }",
        Predicted::Fails(
            "volume `shop_data` is mounted by running container(s) shop-redis-1, which no step before it stops",
        ),
    ),
    (
        "exec.backup",
        "{ id: s, uses: exec.backup, with: { container: redis, command: [dump], name: db } }",
        Predicted::Nothing,
    ),
    (
        "exec.restore",
        "{ id: s, uses: exec.restore, unsafe: test, with: { container: redis, command: [load], name: db, backup: latest } }",
        Predicted::Resolves("b-db-1"),
    ),
    (
        "exec.restore",
        "{ id: s, uses: exec.restore, unsafe: test, with: { container: redis, command: [load], name: db, backup: b-data-1 } }",
        Predicted::Fails("is a backup of `shop_data`, not of `db`; restoring it here is refused"),
    ),
    (
        "http.request",
        "{ id: s, uses: http.request, with: { url: 'http://qdrant:6333/' } }",
        Predicted::Nothing,
    ),
    (
        "http.backup",
        "{ id: s, uses: http.backup, with: { url: 'http://qdrant:6333/s', name: q } }",
        Predicted::Nothing,
    ),
    (
        "http.restore",
        "{ id: s, uses: http.restore, unsafe: test, with: { url: 'http://qdrant:6333/s', name: q, backup: latest } }",
        Predicted::Fails("no `latest` backup of `q`"),
    ),
    (
        "backup.verify",
        "{ id: s, uses: backup.verify, with: { volume: data, backup: latest } }",
        Predicted::Resolves("b-data-2"),
    ),
    (
        "backup.verify",
        "{ id: s, uses: backup.verify, with: { name: db, backup: b-other-1 } }",
        Predicted::Fails("is a backup of `shop_other`, not of `db`"),
    ),
    (
        "backup.prune",
        "{ id: s, uses: backup.prune, with: { volume: data, keep_last: 1 } }",
        Predicted::Nothing,
    ),
    (
        "compose.up",
        "{ id: s, uses: compose.up, with: { file: compose.yml, project: shop } }",
        Predicted::Nothing,
    ),
    (
        "compose.down",
        "{ id: s, uses: compose.down, with: { file: compose.yml, project: shop } }",
        Predicted::Nothing,
    ),
    (
        "gate.confirm",
        "{ id: s, uses: gate.confirm, with: { message: go on? } }",
        Predicted::Nothing,
    ),
    (
        "notify.webhook",
        "{ id: s, uses: notify.webhook, with: { url: 'http://hooks/x' } }",
        Predicted::Nothing,
    ),
];

fn predicted(plan: &Plan) -> Predicted {
    let step = plan.steps.iter().find(|s| s.id == "s").unwrap();
    let failures: Vec<&str> = plan
        .predicted_failures
        .iter()
        .filter(|f| f.step == "s")
        .map(|f| f.reason.as_str())
        .collect();
    match (&step.backup, failures.as_slice()) {
        (None, []) => Predicted::Nothing,
        (Some(b), []) => Predicted::Resolves(b.resolved.clone().unwrap_or_default().leak()),
        (_, [reason]) => Predicted::Fails(reason.to_string().leak()),
        (_, many) => panic!("several failures: {many:?}"),
    }
}

#[test]
fn every_kind_s_plan_prediction_is_exercised_against_a_world() {
    let mut problems = Vec::new();
    for (kind, step, want) in PREDICTIONS {
        let plan = plan(&format!("  - {step}\n"));
        assert_eq!(plan.steps[0].kind, *kind);
        let got = predicted(&plan);
        let ok = match (want, &got) {
            (Predicted::Fails(part), Predicted::Fails(reason)) => reason.contains(part),
            _ => *want == got,
        };
        if !ok {
            problems.push(format!("{kind}: {step}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let covered: BTreeSet<&str> = PREDICTIONS.iter().map(|(k, _, _)| *k).collect();
    for name in kinds::names() {
        assert!(covered.contains(name), "no prediction row for {name}");
    }
    // A prediction of another source names `from:` only where the kind has it.
    let other = PREDICTIONS
        .iter()
        .find(|(k, s, _)| *k == "exec.restore" && s.contains("b-data-1"))
        .unwrap();
    let exec = plan(&format!("  - {}\n", other.1));
    assert!(!exec.predicted_failures[0].reason.contains("from:"));
}

/// A step that needs a volume to itself is not predicted to fail when a step
/// before it stops the container that mounts it; one on another branch does not count.
#[test]
fn a_volume_in_use_is_predicted_unless_an_earlier_step_stops_its_user() {
    let run =
        "uses: volume.run, with: { image: 'redis:7', volumes: { data: /data }, command: [x] } }";
    let stopped = plan(&format!(
        "  - {{ id: stop, uses: container.stop, with: {{ container: redis }} }}\n  \
         - {{ id: g, uses: volume.backup, needs: [stop], with: {{ volume: data }} }}\n  \
         - {{ id: s, needs: [g], {run}\n"
    ));
    assert_eq!(predicted(&stopped), Predicted::Nothing);
    let elsewhere = plan(&format!(
        "  - {{ id: stop, uses: container.stop, with: {{ container: redis }} }}\n  \
         - {{ id: g, uses: volume.backup, with: {{ volume: data }} }}\n  \
         - {{ id: s, needs: [g], {run}\n"
    ));
    assert!(matches!(predicted(&elsewhere), Predicted::Fails(_)));
    // Started again before it: in use again.
    let restarted = plan(&format!(
        "  - {{ id: stop, uses: container.stop, with: {{ container: redis }} }}\n  \
         - {{ id: g, uses: volume.backup, needs: [stop], with: {{ volume: data }} }}\n  \
         - {{ id: up, uses: container.start, needs: [g], with: {{ container: redis }} }}\n  \
         - {{ id: s, needs: [up], {run}\n"
    ));
    assert!(matches!(predicted(&restarted), Predicted::Fails(_)));
    // The plan shows the volume it mounts, resolved and probed.
    let text = lifeboat::plan::text::render(&stopped);
    assert!(text.contains("shop_data (exists"), "{text}");
}

/// A restore of some paths: the plan shows them; its undo restores the
/// whole safety backup.
#[test]
fn a_partial_restore_shows_its_paths_and_is_undone_whole() {
    let plan = plan(
        "  - { id: g, uses: volume.backup, with: { volume: data } }\n  \
         - { id: s, uses: volume.restore, needs: [g], with: { volume: data, backup: latest, \
         paths: [./appendonlydir/, conf/redis.conf] } }\n",
    );
    let step = plan.steps.iter().find(|s| s.id == "s").unwrap();
    assert_eq!(
        step.args["paths"],
        json!(["appendonlydir", "conf/redis.conf"])
    );
    let undo = step.undo.as_ref().unwrap();
    assert_eq!(undo.kind, "volume.restore");
    assert!(!undo.args.contains_key("paths"), "{undo:?}");
    let text = lifeboat::plan::text::render(&plan);
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("paths")
            && l.contains("[appendonlydir, conf/redis.conf]")),
        "{text}"
    );
}

/// One built-in undo restores one volume: a `volume.run` on two guarded
/// volumes is told to write its `undo:`, and is accepted with one.
#[test]
fn a_volume_run_on_several_volumes_needs_its_own_undo() {
    let steps = "  - { id: g1, uses: volume.backup, with: { volume: data } }\n  \
                 - { id: g2, uses: volume.backup, with: { volume: other } }\n  \
                 - { id: s, uses: volume.run, needs: [g1, g2], with: { image: x, \
                 volumes: { data: /a, other: /b }, command: [x] }";
    let text = format!("{HEAD}{steps} }}\n");
    let world = world();
    let options = Options {
        world: Some((&world, "table")),
        ..Options::default()
    };
    match compile(&Source::new("table.yaml", text), &options) {
        Err(Failure::Invalid(d)) => {
            let all = format!("{d:?}");
            assert!(
                all.contains("has no built-in undo for more than one"),
                "{all}"
            );
        }
        other => panic!("accepted: {:?}", other.map(|p| p.steps.len())),
    }
    let plan = plan(&format!(
        "{steps}, undo: {{ uses: volume.restore, with: {{ volume: data, backup: latest }} }} }}\n"
    ));
    assert!(!plan.steps[2].undo.as_ref().unwrap().builtin);
}

/// Runbooks where each kind with a built-in undo is guarded.
const GUARDED: &[&str] = &[
    "  - { id: s, uses: container.stop, with: { container: redis } }\n",
    "  - { id: g, uses: volume.backup, with: { volume: data } }\n  - { id: s, uses: container.recreate, needs: [g], with: { container: redis, image: 'redis:8' } }\n",
    "  - { id: g, uses: volume.backup, with: { volume: data } }\n  - { id: s, uses: volume.restore, needs: [g], with: { volume: data, from: other, backup: latest } }\n",
    "  - { id: g, uses: volume.backup, with: { volume: data } }\n  - { id: s, uses: volume.run, needs: [g], with: { image: 'redis:7', volumes: { data: /data }, command: [redis-check-aof, --fix, /data/x] } }\n",
    "  - { id: g, uses: exec.backup, with: { container: redis, command: [dump], name: db } }\n  - { id: s, uses: exec.restore, needs: [g], with: { container: redis, command: [load], name: db, backup: latest } }\n",
    "  - { id: g, uses: volume.backup, with: { volume: data } }\n  - { id: s, uses: exec.restore, needs: [g], with: { container: redis, command: [load], name: db, backup: latest } }\n",
    "  - { id: g, uses: http.backup, with: { url: 'http://q/s', name: q } }\n  - { id: s, uses: http.restore, needs: [g], with: { url: 'http://q/u', name: q, backup: latest, multipart_field: snapshot } }\n",
];

/// Kind → the built-in undos its guarded steps got.
fn builtin_undos() -> BTreeMap<String, Vec<lifeboat::plan::plan::Undo>> {
    let mut undos: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for steps in GUARDED {
        let plan = plan(steps);
        let step = plan.steps.iter().find(|s| s.id == "s").unwrap();
        let undo = step
            .undo
            .clone()
            .unwrap_or_else(|| panic!("{} has no undo:\n{steps}", step.kind));
        assert!(undo.builtin);
        undos.entry(step.kind.clone()).or_default().push(undo);
    }
    undos
}

#[test]
fn every_built_in_undo_is_a_registered_kind_with_valid_arguments() {
    let undos = builtin_undos();
    for (kind, list) in &undos {
        for undo in list {
            let target = kinds::get(&undo.kind)
                .unwrap_or_else(|| panic!("{kind}: undo kind {} is not registered", undo.kind))
                .spec();
            for name in undo.args.keys() {
                assert!(
                    target.arg(name).is_some(),
                    "{kind}: undo {} has no argument `{name}`",
                    undo.kind
                );
            }
            for a in target.args.iter().filter(|a| a.required) {
                assert!(
                    undo.args.contains_key(a.name),
                    "{kind}: undo {} lacks `{}`",
                    undo.kind,
                    a.name
                );
            }
            for name in undo.templates.keys() {
                assert!(
                    undo.args.contains_key(name),
                    "{kind}: template for unknown `{name}`"
                );
            }
        }
    }
    // The restore of a volume's own backup, not of `from:`'s.
    let restore = &undos["volume.restore"][0];
    assert_eq!(restore.kind, "volume.restore");
    assert!(!restore.args.contains_key("from"));
    // exec.restore guarded by a copy of its volume's files puts the files back.
    let kinds_of: Vec<&str> = undos["exec.restore"]
        .iter()
        .map(|u| u.kind.as_str())
        .collect();
    assert_eq!(kinds_of, ["exec.restore", "volume.restore"]);
}

/// Every registered kind reaches its own run through the real executor: with
/// no arguments each one stops at a missing argument, before it touches
/// anything; a name outside the registry is refused. (Over the dry-run
/// ports: no Docker needed; tests/dry_run.rs runs each kind with arguments.)
#[tokio::test]
async fn the_executor_runs_every_registered_kind_and_only_those() {
    use lifeboat::engine::{Call, Executor};
    use lifeboat::runtime::ports::dry::DryRun;
    use lifeboat::steps::{Ports, Real};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(lifeboat::repo::LocalRepo::open(dir.path()).unwrap());
    let dry = DryRun::new(world(), repo, None).unwrap();
    let ports = Ports {
        docker: dry.clone(),
        repo: dry.clone(),
        http: dry.clone(),
        yes: false,
        remote: None,
        workdir: dir.path().to_path_buf(),
        retention: Default::default(),
        restore_from: Default::default(),
        push_new: true,
        dry: Some(dry),
    };
    let plan = plan("  - { id: s, uses: gate.confirm, with: { message: go } }\n");
    let real = Real::new(ports, &plan);
    let call = |kind: &str| Call {
        run_id: format!("kinds-test-{}", std::process::id()),
        step: "s".into(),
        kind: kind.into(),
        args: IndexMap::new(),
        backup: None,
        undo: false,
        attempt: 1,
        unsafe_ok: false,
    };
    for name in kinds::names() {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let error = real.execute(call(name), tx).await.unwrap_err().message;
        assert!(
            error.contains("missing") || error.contains("needs `volume`"),
            "{name}: {error}"
        );
    }
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let error = real.execute(call("volume.restor"), tx).await.unwrap_err();
    assert!(error.message.contains("cannot run"), "{}", error.message);
}
