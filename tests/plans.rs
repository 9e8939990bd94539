//! Snapshot tests of the plans of every shipped runbook against the demo
//! world: the text a reviewer reads and the JSON a program reads.

use std::path::Path;

use lifeboat::compile::params::Missing;
use lifeboat::compile::{Options, compile};
use lifeboat::model::world::World;
use lifeboat::plan::text;
use lifeboat::runbook::parse::read_source;
use lifeboat::runbook::source::Source;

fn demo_world() -> World {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/worlds/demo.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Reads a runbook under a stable, relative name so snapshots do not depend on the checkout path.
fn source(path: &Path) -> Source {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = read_source(path).unwrap();
    let name = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    Source::new(name, read.text)
}

fn plan(path: &Path) -> lifeboat::plan::Plan {
    let world = demo_world();
    let options = Options {
        sets: &[],
        missing: Missing::Refuse,
        world: Some((&world, "fixtures/worlds/demo.json")),
    };
    match compile(&source(path), &options) {
        Ok(plan) => plan,
        Err(e) => panic!("{} does not compile: {e:?}", path.display()),
    }
}

#[test]
fn text_plans_of_shipped_runbooks() {
    insta::glob!("../runbooks", "*.yaml", |path| {
        insta::assert_snapshot!(text::render(&plan(path)));
    });
}

#[test]
fn json_plans_of_shipped_runbooks() {
    insta::glob!("../runbooks", "*.yaml", |path| {
        insta::assert_snapshot!(serde_json::to_string_pretty(&plan(path)).unwrap());
    });
}

#[test]
fn json_plan_names_every_step_in_execution_order() {
    let plan = plan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/full-data-loss.yaml"));
    let ids: Vec<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "stop-redis",
            "stop-postgres",
            "safety-redis",
            "safety-postgres",
            "restore-redis",
            "restore-postgres",
            "start-redis",
            "start-postgres",
            "verify-redis",
            "verify-postgres"
        ]
    );
    let restore = &plan.steps[4];
    assert_eq!(restore.guarded_by, ["safety-redis"]);
    assert_eq!(
        restore.backup.as_ref().and_then(|b| b.resolved.as_deref()),
        Some("20261121T020000Z-d4e5f6")
    );
    assert_eq!(
        restore
            .undo
            .as_ref()
            .map(|u| u.templates["backup"].as_str()),
        Some("{{ steps['safety-redis'].backup_id }}")
    );
    assert_eq!(
        plan.summary.to_string(),
        "Plan: 2 stops, 2 backups, 2 DESTRUCTIVE restores (guarded), 2 starts, 2 checks."
    );
    assert_eq!(plan.summary.waves, 5);
}

#[test]
fn params_change_the_plan_and_the_fingerprint_tracks_the_world() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/full-data-loss.yaml");
    let mut world = demo_world();
    let sets = [("backup".to_string(), "latest-verified".to_string())];
    let options = Options {
        sets: &sets,
        missing: Missing::Refuse,
        world: Some((&world, "w")),
    };
    let before = compile(&source(&path), &options).unwrap();
    let redis = before
        .steps
        .iter()
        .find(|s| s.id == "restore-redis")
        .unwrap();
    assert_eq!(
        redis.backup.as_ref().and_then(|b| b.resolved.as_deref()),
        Some("20261120T020000Z-a1b2c3")
    );

    world.containers[0].state = "exited".into();
    let options = Options {
        sets: &sets,
        missing: Missing::Refuse,
        world: Some((&world, "w")),
    };
    let after = compile(&source(&path), &options).unwrap();
    let (b, a) = (before.world.unwrap(), after.world.unwrap());
    assert_ne!(b.fingerprint, a.fingerprint);
    let changed: Vec<_> = a
        .observed
        .iter()
        .filter(|o| !b.observed.contains(o))
        .map(|o| o.subject.as_str())
        .collect();
    assert_eq!(changed, ["container demo-redis-1"]);
}

#[test]
fn secrets_never_reach_the_plan() {
    let yaml = r#"
runbook: secret-demo
params:
  token: { secret: true, default: hunter2 }
steps:
  - id: notify
    uses: notify.webhook
    with: { url: "http://localhost:9000/hook", headers: { Authorization: "Bearer {{ token }}" } }
"#;
    let plan = compile(&Source::new("s.yaml", yaml), &Options::default()).unwrap();
    let json = serde_json::to_string(&plan).unwrap();
    let text = text::render(&plan);
    assert!(!json.contains("hunter2") && !text.contains("hunter2"));
    assert!(text.contains("Bearer (secret)"), "{text}");
    assert_eq!(
        plan.steps[0].templates["headers.Authorization"],
        "Bearer {{ token }}"
    );
}

fn full_data_loss_with(world: &World, sets: &[(String, String)]) -> lifeboat::plan::Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/full-data-loss.yaml");
    let options = Options {
        sets,
        missing: Missing::Refuse,
        world: Some((world, "fixtures/worlds/demo.json")),
    };
    compile(&source(&path), &options).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn a_backup_of_another_volume_is_a_predicted_failure_and_a_run_set_picks_one_per_volume() {
    let mut world = demo_world();
    for b in &mut world.backups {
        if b.id == "20261121T020000Z-d4e5f6" || b.id == "20261121T020500Z-0a1b2c" {
            b.run_id = Some("20261121T020000Z-9f9f9f".into());
        }
    }
    // One id for two volumes: Redis's backup must not be restored into PostgreSQL's volume.
    let sets = [("backup".to_string(), "20261121T020000Z-d4e5f6".to_string())];
    let plan = full_data_loss_with(&world, &sets);
    let failing: Vec<(&str, &str)> = plan
        .predicted_failures
        .iter()
        .map(|f| (f.step.as_str(), f.reason.as_str()))
        .collect();
    assert_eq!(
        failing,
        [(
            "restore-postgres",
            "backup 20261121T020000Z-d4e5f6 is a backup of `demo_redis-data`, not of \
             `demo_pg-data`; restoring it here is refused (to restore each volume's backup \
             from the run that took it, use `run:20261121T020000Z-9f9f9f`); to restore \
             another volume's backup on purpose, name that volume with `from:`"
        )]
    );
    let postgres = plan
        .steps
        .iter()
        .find(|s| s.id == "restore-postgres")
        .unwrap();
    assert_eq!(postgres.backup.as_ref().unwrap().resolved, None);
    let text = text::render(&plan);
    let section = text
        .split("\nPredicted failures")
        .nth(1)
        .expect("the text plan lists predicted failures");
    insta::assert_snapshot!(format!("Predicted failures{section}"));

    // The run set: each volume's backup from that run.
    let sets = [(
        "backup".to_string(),
        "run:20261121T020000Z-9f9f9f".to_string(),
    )];
    let plan = full_data_loss_with(&world, &sets);
    assert!(
        plan.predicted_failures.is_empty(),
        "{:?}",
        plan.predicted_failures
    );
    let resolved: Vec<(&str, Option<&str>)> = plan
        .steps
        .iter()
        .filter_map(|s| Some((s.id.as_str(), s.backup.as_ref()?.resolved.as_deref())))
        .collect();
    assert_eq!(
        resolved,
        [
            ("restore-redis", Some("20261121T020000Z-d4e5f6")),
            ("restore-postgres", Some("20261121T020500Z-0a1b2c"))
        ]
    );

    // A missing backup is a predicted failure too.
    let sets = [("backup".to_string(), "run:no-such-run".to_string())];
    let plan = full_data_loss_with(&world, &sets);
    assert_eq!(plan.predicted_failures.len(), 2);
    assert_eq!(
        plan.predicted_failures[0].reason,
        "the repository has no `run:no-such-run` backup of `demo_redis-data`"
    );
}

fn plan_text(yaml: &str) -> String {
    let plan = compile(&Source::new("test.yaml", yaml), &Options::default())
        .unwrap_or_else(|e| panic!("{e:?}"));
    text::render(&plan)
}

#[test]
fn compose_down_with_volumes_is_destructive_and_guarded_by_backups_of_the_project_volumes() {
    let guarded = r#"
runbook: tear-down
targets:
  pg-data: { volume: "shop_pg-data" }
steps:
  - { id: safety, uses: volume.backup, with: { volume: pg-data, tags: [safety] } }
  - { id: down, uses: compose.down, needs: [safety], with: { file: c.yml, project: shop, volumes: true } }
  - { id: stop, uses: compose.down, with: { file: c.yml, project: other } }
"#;
    let plan = compile(&Source::new("test.yaml", guarded), &Options::default()).unwrap();
    let down = plan.steps.iter().find(|s| s.id == "down").unwrap();
    assert_eq!(down.effect, lifeboat::model::effect::Effect::Destroy);
    assert_eq!(down.guarded_by, ["safety"]);
    let stop = plan.steps.iter().find(|s| s.id == "stop").unwrap();
    assert_eq!(stop.effect, lifeboat::model::effect::Effect::Mutate);
    insta::assert_snapshot!(plan_text(guarded));
}

#[test]
fn an_exec_restore_is_guarded_by_a_backup_of_its_containers_volumes_and_unsafe_keeps_the_guard() {
    let yaml = r#"
runbook: logical-restore
targets:
  postgres: { container: shop-postgres-1, volumes: [pg-data] }
  pg-data: { volume: shop_pg-data }
steps:
  - { id: safety-files, uses: volume.backup, with: { volume: pg-data, tags: [safety] } }
  - id: restore
    uses: exec.restore
    needs: [safety-files]
    with: { container: postgres, command: [pg_restore, -d, shop], name: shop-db, backup: latest }
    unsafe: "the dump is replayed into a fresh database"
"#;
    let text = plan_text(yaml);
    assert!(
        text.contains("DESTRUCTIVE, guarded by safety-files (marked unsafe: the dump is replayed into a fresh database)"),
        "{text}"
    );
    assert!(text.contains("1 DESTRUCTIVE restore (guarded)"), "{text}");
    // Without `unsafe`, the same backup guards it.
    let plain = yaml.replace(
        "    unsafe: \"the dump is replayed into a fresh database\"\n",
        "",
    );
    assert!(plan_text(&plain).contains("DESTRUCTIVE, guarded by safety-files\n"));
    // Undoing it puts the files back (a tar archive is no input for pg_restore).
    let plan = compile(&Source::new("test.yaml", &plain), &Options::default()).unwrap();
    let undo = plan
        .steps
        .iter()
        .find(|s| s.id == "restore")
        .unwrap()
        .undo
        .clone()
        .unwrap();
    assert_eq!(undo.kind, "volume.restore");
    assert_eq!(undo.args["volume"], "pg-data");
    assert_eq!(
        undo.templates["backup"],
        "{{ steps['safety-files'].backup_id }}"
    );
}

#[test]
fn a_step_that_runs_only_if_a_run_time_when_says_so_is_warned_about_not_refused() {
    // redis-aof-corruption falls back to a restore only when the repair fails:
    // a repository without Redis backups must not block the repair.
    let mut world = demo_world();
    world.backups.retain(|b| b.source != "demo_redis-data");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/redis-aof-corruption.yaml");
    let options = Options {
        sets: &[],
        missing: Missing::Refuse,
        world: Some((&world, "fixtures/worlds/demo.json")),
    };
    let plan = compile(&source(&path), &options).unwrap();
    assert_eq!(plan.predicted_failures, []);
    assert!(
        plan.warnings.contains(
            &"step `restore-redis`: the repository has no `latest-verified` backup of \
              `demo_redis-data`; it runs only if its `when` says so, and then fails"
                .to_string()
        ),
        "{:?}",
        plan.warnings
    );
}
