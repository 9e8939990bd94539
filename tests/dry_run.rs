//! The dry-run ports (`runtime::ports::dry`), without Docker: every step
//! kind runs its real code through them, and what it would change is
//! recorded exactly; nothing changes (the repository, the world file).
//! A failing step makes the dry run roll back, and the undo is recorded
//! too. Over a real local repository: backups to restore are verified for
//! real, and a corrupt one fails the dry run as it would fail the run.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

use lifeboat::compile::compiler::{Failure, Options, compile};
use lifeboat::engine::Outcome;
use lifeboat::kinds;
use lifeboat::model::world::World;
use lifeboat::ops::dry_run::{DryEnv, DryReport, dry_run};
use lifeboat::plan::Plan;
use lifeboat::repo::{BackupKind, LocalRepo, NewBackup, Origin};
use lifeboat::runbook::source::Source;
use serde_json::json;

const HEAD: &str = r#"
runbook: dry
targets:
  redis: { container: shop-redis-1, volumes: [data] }
  data: { volume: shop_data }
  other: { volume: shop_other }
  fresh: { volume: shop_fresh }
steps:
"#;

/// A repository with one backup each of `shop_data` (a volume), `db` (an
/// exec dump) and `q` (an HTTP download).
fn repo(dir: &std::path::Path) -> Arc<LocalRepo> {
    let repo = LocalRepo::open(dir).unwrap();
    let put = |source: &str, kind: BackupKind, data: &[u8]| {
        let mut w = repo
            .create(NewBackup {
                source: source.into(),
                kind,
                origin: Origin::default(),
                tags: vec!["nightly".into()],
                run_id: Some("nightly-1".into()),
                facts: Default::default(),
            })
            .unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    };
    let tar = common::volume_tar(&[("appendonly.aof", b"SET k v\n")]);
    put("shop_data", BackupKind::Volume, &tar);
    put("db", BackupKind::Exec, b"-- dump --\n");
    put("q", BackupKind::Http, b"snapshot bytes");
    Arc::new(repo)
}

fn world(repo: &LocalRepo) -> World {
    let mut world: World = serde_json::from_value(json!({
        "taken_at": "2026-11-21T09:00:00Z",
        "containers": [{
            "name": "shop-redis-1", "image": "redis:7", "state": "running",
            "health": "healthy",
            "mounts": [{"volume": "shop_data", "destination": "/data"}]
        }],
        "volumes": [
            {"name": "shop_data", "size_bytes": 4096},
            {"name": "shop_other"},
            {"name": "shop_fresh"}
        ],
    }))
    .unwrap();
    world.backups = repo.list().unwrap().iter().map(|m| m.to_world()).collect();
    world
}

/// `steps`, or `__TARGET__<more targets>` then steps.
fn plan(steps: &str, world: &World) -> Plan {
    let text = match steps.strip_prefix("__TARGET__") {
        Some(rest) => {
            let (targets, steps) = rest.split_at(rest.find("  - ").unwrap());
            HEAD.replace("steps:\n", &format!("{targets}steps:\n{steps}"))
        }
        None => format!("{HEAD}{steps}"),
    };
    let options = Options {
        world: Some((world, "table")),
        ..Options::default()
    };
    match compile(&Source::new("dry.yaml", text.clone()), &options) {
        Ok(plan) => plan,
        Err(Failure::Invalid(d)) => panic!("{text}\n{d:#?}"),
        Err(Failure::Usage(u)) => panic!("{u:?}"),
    }
}

/// A dry run of `steps`; its record with the repository's place and new
/// backup ids made stable.
async fn dry(steps: &str) -> (DryReport, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let world = world(&repo);
    let plan = plan(steps, &world);
    let before = listing(dir.path());
    let env = DryEnv {
        world,
        repo,
        remote: Some("s3://bucket/lifeboat".into()),
        workdir: dir.path().to_path_buf(),
        retention: Default::default(),
        restore_from: Default::default(),
    };
    let report = dry_run(env, &plan, Vec::new(), 4).await.unwrap();
    assert_eq!(
        listing(dir.path()),
        before,
        "a dry run changed the repository"
    );
    let id = regex::Regex::new(r"\d{8}T\d{6}Z-[0-9a-f]{6}").unwrap();
    let place = dir.path().display().to_string();
    let lines = report
        .would
        .iter()
        .map(|w| {
            let line = format!("{}: {}", w.step, w.action).replace(&place, "<repo>");
            id.replace_all(&line, "<id>").into_owned()
        })
        .collect();
    (report, lines)
}

/// Every file of the repository with its bytes.
fn listing(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    for f in files {
        out.extend(f.display().to_string().into_bytes());
        out.extend(std::fs::read(&f).unwrap());
    }
    out
}

/// Kind, steps (the step of that kind is `s`), what the dry run records.
const ROWS: &[(&str, &str, &[&str])] = &[
    (
        "container.stop",
        "  - { id: s, uses: container.stop, with: { container: redis } }\n",
        &["s: stop container `shop-redis-1` (SIGTERM, SIGKILL after 30s)"],
    ),
    (
        "container.start",
        "  - { id: a, uses: container.stop, with: { container: redis } }\n  - { id: s, uses: container.start, needs: [a], with: { container: redis } }\n",
        &[
            "a: stop container `shop-redis-1` (SIGTERM, SIGKILL after 30s)",
            "s: start container `shop-redis-1`",
            "s: wait until `shop-redis-1` is running (at most 60s)",
        ],
    ),
    (
        "container.restart",
        "  - { id: s, uses: container.restart, with: { container: redis } }\n",
        &[
            "s: restart container `shop-redis-1`",
            "s: wait until `shop-redis-1` is running (at most 60s)",
        ],
    ),
    (
        "container.exec",
        "  - { id: s, uses: container.exec, with: { container: redis, command: [redis-cli, FLUSHALL] } }\n",
        &["s: run `redis-cli FLUSHALL` in `shop-redis-1`"],
    ),
    (
        "container.recreate",
        "  - { id: g, uses: volume.backup, with: { volume: data } }\n  - { id: s, uses: container.recreate, needs: [g], with: { container: redis, image: 'redis:8' } }\n",
        &[
            "g: write a backup of `shop_data` (volume archive) to <repo>",
            "g: copy backup <id> to s3://bucket/lifeboat",
            "s: recreate container `shop-redis-1` from image `redis:8` (was `redis:7`), same settings",
        ],
    ),
    (
        "volume.create",
        "  - { id: s, uses: volume.create, with: { volume: fresh } }\n",
        &[],
    ),
    (
        "volume.remove",
        "  - { id: s, uses: volume.remove, unsafe: test, with: { volume: other } }\n",
        &["s: remove volume `shop_other` and its data"],
    ),
    (
        "volume.backup",
        "  - { id: s, uses: volume.backup, with: { volume: data, tags: [safety] } }\n",
        &[
            "s: write a backup of `shop_data` (volume archive) tagged safety to <repo>",
            "s: copy backup <id> to s3://bucket/lifeboat",
        ],
    ),
    (
        "volume.restore",
        "  - { id: a, uses: container.stop, with: { container: redis } }\n  - { id: g, uses: volume.backup, needs: [a], with: { volume: data, tags: [safety] } }\n  - { id: s, uses: volume.restore, needs: [g], with: { volume: data, backup: latest } }\n",
        &[
            "a: stop container `shop-redis-1` (SIGTERM, SIGKILL after 30s)",
            "g: write a backup of `shop_data` (volume archive) tagged safety to <repo>",
            "g: copy backup <id> to s3://bucket/lifeboat",
            "s: empty volume `shop_data` and extract 2.5 KiB into it",
        ],
    ),
    (
        "volume.restore",
        "  - { id: a, uses: container.stop, with: { container: redis } }\n  - { id: g, uses: volume.backup, needs: [a], with: { volume: data, tags: [safety] } }\n  - { id: s, uses: volume.restore, needs: [g], with: { volume: data, backup: latest, paths: [appendonly.aof] } }\n",
        &[
            "a: stop container `shop-redis-1` (SIGTERM, SIGKILL after 30s)",
            "g: write a backup of `shop_data` (volume archive) tagged safety to <repo>",
            "g: copy backup <id> to s3://bucket/lifeboat",
            "s: replace `appendonly.aof` of volume `shop_data` with the backup's (2.0 KiB), leaving the rest",
        ],
    ),
    (
        "volume.run",
        "  - { id: a, uses: container.stop, with: { container: redis } }\n  - { id: g, uses: volume.backup, needs: [a], with: { volume: data, tags: [safety] } }\n  - { id: s, uses: volume.run, needs: [g], with: { image: 'redis:7', volumes: { data: /data }, command: [redis-check-aof, --fix, /data/appendonly.aof] } }\n",
        &[
            "a: stop container `shop-redis-1` (SIGTERM, SIGKILL after 30s)",
            "g: write a backup of `shop_data` (volume archive) tagged safety to <repo>",
            "g: copy backup <id> to s3://bucket/lifeboat",
            "s: run `redis-check-aof --fix /data/appendonly.aof` in a new container of image `redis:7` with `shop_data` at /data, then remove it",
        ],
    ),
    (
        "exec.backup",
        "  - { id: s, uses: exec.backup, with: { container: redis, command: [dump], name: db } }\n",
        &[
            "s: write a backup of `db` (command output) to <repo>",
            "s: run `dump` in `shop-redis-1`, its output into the backup",
            "s: copy backup <id> to s3://bucket/lifeboat",
        ],
    ),
    (
        "exec.restore",
        "  - { id: g, uses: exec.backup, with: { container: redis, command: [dump], name: db } }\n  - { id: s, uses: exec.restore, needs: [g], with: { container: redis, command: [load], name: db, backup: latest } }\n",
        &[
            "g: write a backup of `db` (command output) to <repo>",
            "g: run `dump` in `shop-redis-1`, its output into the backup",
            "g: copy backup <id> to s3://bucket/lifeboat",
            "s: run `load` in `shop-redis-1`, 11 bytes on its stdin",
        ],
    ),
    (
        "http.request",
        "  - { id: s, uses: http.request, with: { url: 'http://qdrant:6333/', expect: { status: 404 } } }\n",
        &["s: send GET http://qdrant:6333/"],
    ),
    (
        "http.backup",
        "  - { id: s, uses: http.backup, with: { url: 'http://qdrant:6333/s', name: q } }\n",
        &[
            "s: write a backup of `q` (HTTP download) to <repo>",
            "s: send GET http://qdrant:6333/s",
            "s: copy backup <id> to s3://bucket/lifeboat",
        ],
    ),
    (
        "http.restore",
        "  - { id: g, uses: http.backup, with: { url: 'http://q/s', name: q } }\n  - { id: s, uses: http.restore, needs: [g], with: { url: 'http://q/u', name: q, backup: latest } }\n",
        &[
            "g: write a backup of `q` (HTTP download) to <repo>",
            "g: send GET http://q/s",
            "g: copy backup <id> to s3://bucket/lifeboat",
            "s: send POST http://q/u",
        ],
    ),
    (
        "backup.verify",
        "  - { id: s, uses: backup.verify, with: { volume: data, backup: latest } }\n",
        &[],
    ),
    (
        "backup.prune",
        "  - { id: s, uses: backup.prune, with: { volume: data, keep_last: 1 } }\n",
        &["s: delete no backup of `shop_data`"],
    ),
    (
        "compose.up",
        "  - { id: s, uses: compose.up, with: { file: compose.yml, project: shop } }\n",
        &["s: run `docker compose -f <repo>/compose.yml -p shop up -d --wait`"],
    ),
    (
        "compose.down",
        "  - { id: s, uses: compose.down, with: { file: compose.yml, project: shop, volumes: false } }\n",
        &["s: run `docker compose -f <repo>/compose.yml -p shop down`"],
    ),
    (
        "gate.confirm",
        "  - { id: s, uses: gate.confirm, with: { message: go on? } }\n",
        &["s: ask the operator to confirm: go on?"],
    ),
    (
        "notify.webhook",
        "  - { id: s, uses: notify.webhook, with: { url: 'http://hooks/x' } }\n",
        &["s: send POST http://hooks/x"],
    ),
];

#[tokio::test]
async fn every_kind_runs_its_real_code_dry_and_records_exactly_what_it_would_change() {
    let mut problems = Vec::new();
    for (kind, steps, want) in ROWS {
        let (report, got) = dry(steps).await;
        if report.outcome != Outcome::Succeeded || got != *want {
            problems.push(format!(
                "{kind}: outcome {:?}, errors {:?}, steps {:?}\n  want {want:#?}\n  got  {got:#?}",
                report.outcome,
                report.errors,
                report
                    .steps
                    .iter()
                    .map(|s| (&s.id, &s.error))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let covered: BTreeSet<&str> = ROWS.iter().map(|(k, _, _)| *k).collect();
    for name in kinds::names() {
        assert!(covered.contains(name), "no dry-run row for {name}");
    }
}

/// Stop, safety backup, restore, then a step that fails: the dry run rolls
/// back like a run, and its undos run their real code too — the restore's
/// undo reads back the safety backup the dry run wrote (to its scratch
/// repository), the stop's undo starts the container again.
#[tokio::test]
async fn a_failing_step_rolls_the_dry_run_back_through_the_real_undos() {
    let steps = "  - { id: stop, uses: container.stop, with: { container: redis } }\n  - { id: save, uses: volume.backup, needs: [stop], with: { volume: data, tags: [safety] } }\n  - { id: restore, uses: volume.restore, needs: [save], with: { volume: data, backup: latest } }\n  - { id: check, uses: container.exec, readonly: true, needs: [restore], with: { container: ghost, command: [redis-cli, PING] } }\n";
    let steps = steps.replace("ghost", "gone");
    let head_extra = "  gone: { container: shop-gone-1 }\n";
    let (report, got) = dry(&format!("__TARGET__{head_extra}{steps}")).await;
    assert_eq!(report.outcome, Outcome::RolledBack, "{:?}", report.errors);
    let failed = report.steps.iter().find(|s| s.id == "check").unwrap();
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("shop-gone-1"),
        "{failed:?}"
    );
    assert_eq!(
        got,
        [
            "stop: stop container `shop-redis-1` (SIGTERM, SIGKILL after 30s)",
            "save: write a backup of `shop_data` (volume archive) tagged safety to <repo>",
            "save: copy backup <id> to s3://bucket/lifeboat",
            "restore: empty volume `shop_data` and extract 2.5 KiB into it",
            "restore (undo): empty volume `shop_data` and extract 1.5 KiB into it",
            "stop (undo): start container `shop-redis-1`",
            "stop (undo): wait until `shop-redis-1` is running (at most 60s)",
            "after rollback: wait until `shop-redis-1` is healthy (at most 120s)",
        ]
    );
}

/// A backup that does not verify fails the dry run where it would fail
/// the run: before the volume would be touched.
#[tokio::test]
async fn a_corrupt_backup_fails_the_dry_run_before_the_volume_would_be_touched() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let m = repo.resolve("shop_data", "latest", None).unwrap();
    let object = repo.object_path(&m);
    let mut bytes = std::fs::read(&object).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&object, bytes).unwrap();
    let world = world(&repo);
    let plan = plan(
        "  - { id: stop, uses: container.stop, with: { container: redis } }\n  - { id: save, uses: volume.backup, needs: [stop], with: { volume: data, tags: [safety] } }\n  - { id: restore, uses: volume.restore, needs: [save], with: { volume: data, backup: latest } }\n",
        &world,
    );
    let env = DryEnv {
        world,
        repo,
        remote: None,
        workdir: dir.path().to_path_buf(),
        retention: Default::default(),
        restore_from: Default::default(),
    };
    let report = dry_run(env, &plan, Vec::new(), 4).await.unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack);
    let restore = report.steps.iter().find(|s| s.id == "restore").unwrap();
    assert!(
        restore.error.as_deref().unwrap_or("").contains("sha256"),
        "{restore:?}"
    );
    assert!(report.would_of("restore").is_empty(), "{:?}", report.would);
    assert_eq!(
        report.would_of("stop (undo)"),
        [
            "start container `shop-redis-1`",
            "wait until `shop-redis-1` is running (at most 60s)"
        ]
    );
}

/// Where the dry run must answer as the engine and the repository would,
/// or it reports a run that would go otherwise.
#[tokio::test]
async fn the_dry_run_answers_as_the_engine_and_the_repository_would() {
    // This run's new backup counts in the retention rules: with keep_last 1
    // the older nightly backup goes, as it would in a real run.
    let (report, got) = dry(
        "  - { id: g, uses: volume.backup, with: { volume: data } }\n  - { id: s, uses: backup.prune, needs: [g], with: { volume: data, keep_last: 1 } }\n",
    )
    .await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.errors);
    assert_eq!(
        got[2], "s: delete backup(s) of `shop_data`: <id>",
        "{got:#?}"
    );

    // A volume a stopped container still mounts cannot be removed.
    let (report, _) = dry(
        "  - { id: a, uses: container.stop, with: { container: redis } }\n  - { id: s, uses: volume.remove, unsafe: test, needs: [a], with: { volume: data } }\n",
    )
    .await;
    let failed = report.steps.iter().find(|s| s.id == "s").unwrap();
    assert!(
        failed.error.as_deref().unwrap_or("").contains("in use by"),
        "{failed:?}"
    );

    // A command cannot run in a stopped container.
    let (report, _) = dry(
        "  - { id: a, uses: container.stop, with: { container: redis } }\n  - { id: s, uses: container.exec, needs: [a], with: { container: redis, command: [redis-cli, PING] } }\n",
    )
    .await;
    let failed = report.steps.iter().find(|s| s.id == "s").unwrap();
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("not running"),
        "{failed:?}"
    );

    // A URL's credentials and secret-looking query values are not printed.
    let (_, got) = dry(
        "  - { id: s, uses: http.request, with: { url: 'http://admin:hunter2@q:6333/x?api_key=abc%20d&wait=true' } }\n",
    )
    .await;
    assert_eq!(
        got,
        ["s: send GET http://q:6333/x?api_key=REDACTED&wait=true"]
    );

    // volume.run's expectations are not checked against made-up output.
    let (report, _) = dry(
        "  - { id: a, uses: container.stop, with: { container: redis } }\n  - { id: g, uses: volume.backup, needs: [a], with: { volume: data, tags: [safety] } }\n  - { id: s, uses: volume.run, needs: [g], with: { image: 'redis:7', volumes: { data: /data }, command: [redis-check-aof, /data/x], expect: { stdout_contains: 'is valid' } } }\n",
    )
    .await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.errors);
}

/// A secret param is masked in what the dry run records, also where a URL
/// carries it percent-encoded.
#[tokio::test]
async fn secret_params_are_masked_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let world = world(&repo);
    let text = HEAD.replace(
        "runbook: dry\n",
        "runbook: dry\nparams:\n  token: { type: string, secret: true }\n",
    ) + "  - { id: s, uses: http.request, with: { url: 'http://q/hook/{{ token }}', method: POST } }\n";
    let options = Options {
        world: Some((&world, "table")),
        sets: &[("token".to_string(), "p@ss w/rd".to_string())],
        ..Options::default()
    };
    let plan = compile(&Source::new("dry.yaml", text.clone()), &options)
        .unwrap_or_else(|_| panic!("{text}"));
    let params = vec![("token".to_string(), minijinja::Value::from("p@ss w/rd"))];
    let env = DryEnv {
        world,
        repo,
        remote: None,
        workdir: dir.path().to_path_buf(),
        retention: Default::default(),
        restore_from: Default::default(),
    };
    let report = dry_run(env, &plan, params, 4).await.unwrap();
    let lines: Vec<&str> = report.would.iter().map(|w| w.action.as_str()).collect();
    assert_eq!(
        lines,
        ["send POST http://q/hook/(secret)"],
        "{:?}",
        report.errors
    );
}
