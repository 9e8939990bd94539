//! End to end against the real Docker engine: the shipped runbooks on a real
//! Redis + PostgreSQL compose stack (docker-compose.test.yml), seeded with
//! known data, damaged, recovered by the `lifeboat` binary, and compared with
//! the seed by scripts/testdata.sh. These tests fail, not skip, without
//! Docker or the test images (build them with scripts/build-test-images.sh;
//! .ci/run does).
//!
//! Stacks are heavy for a 2-core machine, so the tests take turns.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static TURN: Mutex<()> = Mutex::new(());

/// The binary under test; `LIFEBOAT_TEST_BIN` points the tests at another
/// build (e.g. an older commit, to see a regression test fail there).
fn bin() -> String {
    std::env::var("LIFEBOAT_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lifeboat").into())
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compose_cmd() -> Command {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if v2 {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else {
        Command::new("docker-compose")
    }
}

fn sh(cmd: &mut Command) -> Output {
    cmd.current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A seeded compose project with its own state, repository and lock
/// directories; taken down (with its volumes) when dropped.
struct Stack {
    project: String,
    dir: tempfile::TempDir,
}

impl Stack {
    fn up(name: &str) -> Self {
        let project = format!("lbe2e{}-{name}", std::process::id());
        let stack = Stack {
            project,
            dir: tempfile::tempdir().unwrap(),
        };
        stack.compose(&["up", "-d"]);
        stack.testdata("wait");
        stack.testdata("seed");
        stack
    }

    fn compose(&self, args: &[&str]) {
        ok(compose_cmd()
            .args(["-p", &self.project, "-f", "docker-compose.test.yml"])
            .args(args));
    }

    fn testdata(&self, what: &str) -> Output {
        let mut cmd = Command::new("bash");
        cmd.args(["scripts/testdata.sh", what, &self.project]);
        if what == "wait" {
            cmd.arg("120");
        }
        let out = sh(&mut cmd);
        if what != "check" {
            assert!(
                out.status.success(),
                "testdata {what}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }

    /// The data is exactly the seed.
    fn assert_seed(&self) {
        let out = self.testdata("check");
        assert!(
            out.status.success(),
            "data differs from the seed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn lifeboat(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(root())
            .env("LIFEBOAT_STATE", self.dir.path().join("state"))
            .env("LIFEBOAT_REPO", self.dir.path().join("repo"))
            .env("LIFEBOAT_LOCK_DIR", self.dir.path().join("locks"))
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .args(args);
        cmd
    }

    /// Runs a runbook for this project; returns (exit code, stdout + stderr).
    fn run(&self, runbook: &str, extra: &[&str]) -> (i32, String) {
        let project = format!("project={}", self.project);
        let mut args = vec!["run", runbook, "--yes", "--set", &project];
        args.extend_from_slice(extra);
        let out = self.lifeboat(&args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn volume(&self, name: &str) -> String {
        format!("{}_{name}", self.project)
    }

    /// Every file in both volumes deleted, servers started again (empty).
    fn lose_everything(&self) {
        self.compose(&["stop"]);
        ok(Command::new("docker").args([
            "run",
            "--rm",
            "-v",
            &format!("{}:/r", self.volume("redis-data")),
            "-v",
            &format!("{}:/p", self.volume("pg-data")),
            "lifeboat-test/stack:local",
            "sh",
            "-c",
            "rm -rf /r/* /r/.[!.]* /p/* /p/.[!.]*",
        ]));
        self.compose(&["start"]);
        self.testdata("wait");
        assert!(
            !self.testdata("check").status.success(),
            "the loss did not happen"
        );
    }

    fn container(&self, service: &str) -> String {
        ok(Command::new("docker").args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]))
        .trim()
        .to_string()
    }

    fn inspect(&self, service: &str, format: &str) -> String {
        ok(Command::new("docker").args(["inspect", "-f", format, &self.container(service)]))
            .trim()
            .to_string()
    }

    /// The container's healthcheck status (`healthy`, `starting`, …).
    fn health(&self, service: &str) -> String {
        self.inspect(service, "{{.State.Health.Status}}")
    }

    fn backups(&self, source: &str) -> Vec<PathBuf> {
        let dir = self
            .dir
            .path()
            .join("repo/backups")
            .join(self.volume(source));
        let mut objects: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        objects.retain(|p| p.to_string_lossy().ends_with(".tar.zst"));
        objects.sort();
        objects
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = compose_cmd()
            .current_dir(root())
            .args(["-p", &self.project, "-f", "docker-compose.test.yml"])
            .args(["down", "-v", "--remove-orphans"])
            .output();
        // Scratch projects that accidental-deletion may have left.
        let scratch = format!("{}-recover", self.project);
        let _ = compose_cmd()
            .current_dir(root())
            .args(["-p", &scratch, "-f", "docker-compose.test.yml"])
            .args(["down", "-v", "--remove-orphans"])
            .output();
    }
}

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn full_data_loss_brings_back_exactly_the_seed() {
    let _turn = turn();
    let stack = Stack::up("fdl");
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 0, "{out}");
    stack.assert_seed();

    // A dry run probes live, runs the real step code against the dry-run
    // ports and changes nothing.
    let journals = || {
        std::fs::read_dir(stack.dir.path().join("state/runs"))
            .unwrap()
            .count()
    };
    let before = journals();
    let backups_before = (stack.backups("redis-data"), stack.backups("pg-data"));
    let started = |s: &str| stack.inspect(s, "{{.Id}} {{.State.StartedAt}}");
    let containers_before = (started("redis"), started("postgres"));
    let project = format!("project={}", stack.project);
    let out = stack
        .lifeboat(&["run", "full-data-loss", "--dry-run", "--set", &project])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{plan}");
    assert!(plan.contains("running, healthy"), "{plan}");
    assert!(
        plan.contains("Plan: 2 stops, 2 backups, 2 DESTRUCTIVE restores (guarded)"),
        "{plan}"
    );
    assert_eq!(journals(), before, "a dry run wrote a journal");
    // What each step would do, from the real step code.
    let pg = format!("{}_pg-data", stack.project);
    let postgres = stack.inspect("postgres", "{{.Name}}");
    let postgres = postgres.trim_start_matches('/');
    for line in [
        format!("would stop container `{postgres}` (SIGTERM, SIGKILL after 60s)"),
        format!("would write a backup of `{pg}` (volume archive) tagged safety"),
        format!("would empty volume `{pg}` and extract"),
        format!("would start container `{postgres}`"),
        "the run would succeed".to_string(),
    ] {
        assert!(plan.contains(&line), "no `{line}` in:\n{plan}");
    }
    assert_eq!(
        (stack.backups("redis-data"), stack.backups("pg-data")),
        backups_before,
        "a dry run wrote a backup"
    );
    assert_eq!(
        (started("redis"), started("postgres")),
        containers_before,
        "a dry run stopped or restarted a container"
    );
    assert_eq!(stack.health("postgres"), "healthy");

    stack.lose_everything();
    let t0 = Instant::now();
    let (code, out) = stack.run("full-data-loss", &[]);
    assert_eq!(code, 0, "{out}");
    eprintln!("full-data-loss took {:?}", t0.elapsed());
    stack.assert_seed();
    assert_eq!(stack.health("redis"), "healthy");
    assert_eq!(stack.health("postgres"), "healthy");

    // The history and the journal tell what happened, for people and scripts.
    let history = stack
        .lifeboat(&["history", "--format", "json"])
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let outcomes: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["succeeded", "succeeded"]);
}

#[test]
fn a_failed_check_after_the_restore_rolls_back_to_the_data_as_it_was() {
    let _turn = turn();
    let stack = Stack::up("rollback");
    // A backup of an empty Redis: restoring it makes the DBSIZE check fail.
    ok(Command::new("docker").args(["exec", &stack.container("redis"), "redis-cli", "FLUSHALL"]));
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 0, "{out}");
    let empty = stack.backups("redis-data");
    assert_eq!(empty.len(), 1);
    let empty_id = empty[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".tar.zst", "");
    stack.testdata("seed");

    // The Redis branch of full-data-loss, with fewer retries.
    let runbook = stack.dir.path().join("restore-redis.yaml");
    std::fs::write(
        &runbook,
        r#"
runbook: restore-redis
params:
  project: { type: string }
  backup: { type: string, default: latest }
targets:
  redis: { service: redis, project: "{{ project }}", volumes: [redis-data] }
  redis-data: { volume: "{{ project }}_redis-data" }
steps:
  - { id: stop-redis, uses: container.stop, with: { container: redis } }
  - { id: safety-redis, uses: volume.backup, needs: [stop-redis], with: { volume: redis-data, tags: [safety] } }
  - { id: restore-redis, uses: volume.restore, needs: [safety-redis], with: { volume: redis-data, backup: "{{ backup }}" } }
  - { id: start-redis, uses: container.start, needs: [restore-redis], with: { container: redis, wait: healthy, timeout: 60s } }
  - id: verify-redis
    uses: container.exec
    needs: [start-redis]
    readonly: true
    with: { container: redis, command: [redis-cli, DBSIZE], expect: { stdout_matches: '^[1-9]' } }
    retry: { attempts: 2, backoff: 1s }
on_failure: rollback
"#,
    )
    .unwrap();
    let backup = format!("backup={empty_id}");
    let (code, out) = stack.run(runbook.to_str().unwrap(), &["--set", &backup]);
    assert_eq!(code, 3, "the run must fail and roll back:\n{out}");
    assert!(out.contains("Rolling back"), "{out}");
    assert!(out.contains("failed, rolled back"), "{out}");
    // The run ends only once what was healthy before is healthy again.
    assert_eq!(stack.health("redis"), "healthy");
    assert_eq!(stack.health("postgres"), "healthy");
    stack.assert_seed();
    // The failed run's safety backup is now the newest backup of the volume,
    // but `latest` for the next attempt is still the newest real backup.
    assert_eq!(stack.backups("redis-data").len(), 2);
    let (code, out) = stack.run(runbook.to_str().unwrap(), &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("latest → {empty_id}")), "{out}");
}

#[test]
fn a_corrupt_backup_is_refused_before_the_volume_is_touched() {
    let _turn = turn();
    let stack = Stack::up("corrupt");
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 0, "{out}");
    let object = stack.backups("pg-data").pop().unwrap();
    let mut bytes = std::fs::read(&object).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&object, bytes).unwrap();

    let (code, out) = stack.run("full-data-loss", &[]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("corrupt"),
        "the error names the corruption:\n{out}"
    );
    assert!(out.contains("sha256"), "{out}");
    // The live data was never replaced, and the servers run again.
    stack.testdata("wait");
    stack.assert_seed();
}

#[test]
fn an_upgrade_to_an_image_that_never_gets_healthy_is_rolled_back() {
    let _turn = turn();
    let stack = Stack::up("upgrade");
    let before = stack.inspect("redis", "{{.Config.Image}}");
    let (code, out) = stack.run(
        "upgrade-rollback",
        &["--set", "image=lifeboat-test/stack:broken"],
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("Rolling back"), "{out}");
    stack.testdata("wait");
    stack.assert_seed();
    assert_eq!(stack.inspect("redis", "{{.Config.Image}}"), before);
    assert_eq!(stack.inspect("postgres", "{{.Config.Image}}"), before);
    // No container of the failed upgrade is left behind.
    let leftovers = ok(Command::new("docker").args([
        "ps",
        "-aq",
        "--filter",
        &format!("name={}.*lifeboat-old", stack.project),
    ]));
    assert_eq!(leftovers.trim(), "");

    // The same runbook with a good image succeeds and keeps the data.
    ok(Command::new("docker").args([
        "tag",
        "lifeboat-test/stack:local",
        "lifeboat-test/stack:e2e-next",
    ]));
    let (code, out) = stack.run(
        "upgrade-rollback",
        &["--set", "image=lifeboat-test/stack:e2e-next"],
    );
    let _ = Command::new("docker")
        .args(["rmi", "lifeboat-test/stack:e2e-next"])
        .output();
    assert_eq!(code, 0, "{out}");
    stack.assert_seed();
    assert_eq!(
        stack.inspect("redis", "{{.Config.Image}}"),
        "lifeboat-test/stack:e2e-next"
    );
}

#[test]
fn accidental_deletion_brings_back_the_deleted_rows_only() {
    let _turn = turn();
    let stack = Stack::up("deletion");
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 0, "{out}");
    let pg = stack.container("postgres");
    ok(Command::new("docker").args([
        "exec",
        &pg,
        "psql",
        "-X",
        "-U",
        "postgres",
        "-d",
        "shop",
        "-c",
        "DELETE FROM orders WHERE id % 3 = 0",
    ]));
    assert!(!stack.testdata("check").status.success());
    let (code, out) = stack.run(
        "accidental-deletion",
        &["--set", "compose_file=docker-compose.test.yml"],
    );
    assert_eq!(code, 0, "{out}");
    stack.assert_seed();
}

/// A webhook receiver on loopback: answers 204 to everything and keeps the bodies.
fn webhook() -> (String, std::sync::Arc<Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

impl Stack {
    fn redis_cli(&self, args: &[&str]) -> String {
        ok(Command::new("docker")
            .args(["exec", &self.container("redis"), "redis-cli", "-e"])
            .args(args))
    }

    /// The backups of a source, as `lifeboat backups list --format json` shows them.
    fn listed(&self, source: &str) -> Vec<serde_json::Value> {
        let out = self
            .lifeboat(&["backups", "list", "--source", source, "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        list.as_array().unwrap().clone()
    }

    /// Redis killed (no shutdown save) and started again without dump.rdb:
    /// what it has afterwards came from its AOF.
    fn restart_redis_from_its_aof_alone(&self) {
        let redis = self.container("redis");
        let loads = || {
            let log = sh(Command::new("docker").args(["logs", &redis]));
            String::from_utf8_lossy(&log.stdout)
                .matches("DB loaded from append only file")
                .count()
        };
        let before = loads();
        ok(Command::new("docker").args(["kill", &redis]));
        ok(Command::new("docker").args([
            "run",
            "--rm",
            "-v",
            &format!("{}:/data", self.volume("redis-data")),
            "lifeboat-test/stack:local",
            "rm",
            "-f",
            "/data/dump.rdb",
        ]));
        ok(Command::new("docker").args(["start", &redis]));
        self.testdata("wait");
        assert_eq!(loads(), before + 1, "Redis did not load its AOF");
    }
}

#[test]
fn an_rdb_snapshot_replaces_the_data_of_a_running_redis_and_lands_in_its_aof() {
    let _turn = turn();
    let stack = Stack::up("rdb");
    let (url, hooks) = webhook();
    let hook = format!("webhook_url={url}");
    let (code, out) = stack.run("nightly-backup", &["--set", &hook]);
    assert_eq!(code, 0, "{out}");
    assert!(
        hooks.lock().unwrap()[0].contains("Redis RDB snapshot"),
        "{:?}",
        hooks.lock().unwrap()
    );
    stack.assert_seed();

    // An ordinary exec backup in the catalog: listed, deep-verified, and a
    // plain RDB file that redis-check-rdb accepts (no transfer marker at the end).
    let listed = stack.listed("redis-rdb");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let nightly = &listed[0];
    assert_eq!(nightly["kind"], "exec");
    assert_eq!(nightly["tags"], serde_json::json!(["nightly"]));
    assert_eq!(nightly["verified"], true);
    assert_eq!(nightly["origin"]["compose_service"], "redis");
    let id = nightly["id"].as_str().unwrap();
    let out = stack
        .lifeboat(&["backups", "verify", id, "--deep"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let object = std::fs::read(nightly["path"].as_str().unwrap()).unwrap();
    let rdb = zstd::decode_all(&object[..]).unwrap();
    assert!(rdb.starts_with(b"REDIS"));
    assert_eq!(
        rdb[rdb.len() - 9],
        0xFF,
        "the RDB does not end at its EOF opcode and checksum"
    );
    let mut check = Command::new("docker")
        .args(["exec", "-i", &stack.container("redis"), "sh", "-c"])
        .arg(r#"f=$(mktemp); cat >"$f"; redis-check-rdb "$f"; s=$?; rm -f "$f"; exit $s"#)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut check.stdin.take().unwrap(), &rdb).unwrap();
    let checked = check.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{report}");
    assert!(report.contains("10000 keys read"), "{report}");

    // Damage: half the keys deleted, one overwritten, a foreign one added.
    stack.redis_cli(&[
        "EVAL",
        "for i = 1, 5000 do redis.call('DEL', 'key:' .. i) end
         redis.call('SET', 'key:6000', 'wrong') redis.call('SET', 'foreign', 'x')",
        "0",
    ]);
    assert!(!stack.testdata("check").status.success());

    let t0 = Instant::now();
    let (code, out) = stack.run("redis-rdb-restore", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("backup {id}")), "{out}");
    eprintln!("redis-rdb-restore took {:?}", t0.elapsed());
    stack.assert_seed();
    assert_eq!(stack.health("redis"), "healthy");
    assert_eq!(
        stack.redis_cli(&["CONFIG", "GET", "appendonly"]),
        "appendonly\nyes\n"
    );
    assert_eq!(stack.redis_cli(&["ROLE"]).lines().next(), Some("master"));
    // The safety snapshot of the damaged data is there too.
    let listed = stack.listed("redis-rdb");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|b| b["tags"] == serde_json::json!(["safety"]) && b["kind"] == "exec"),
        "{listed:?}"
    );
    stack.restart_redis_from_its_aof_alone();
    stack.assert_seed();

    // A restore that fails its check rolls back through the same procedure:
    // a snapshot of an empty Redis fails verify-keys, and the safety snapshot
    // of the seed goes back in, into the AOF as well.
    stack.redis_cli(&["FLUSHALL"]);
    let (code, out) = stack.run("nightly-backup", &["--set", &hook]);
    assert_eq!(code, 0, "{out}");
    let empty = stack
        .listed("redis-rdb")
        .into_iter()
        .find(|b| {
            b["tags"] == serde_json::json!(["nightly"])
                && b["raw_bytes"].as_u64().is_some_and(|n| n < 4096)
        })
        .expect("no snapshot of the empty Redis");
    stack.testdata("seed");
    let backup = format!("backup={}", empty["id"].as_str().unwrap());
    let (code, out) = stack.run("redis-rdb-restore", &["--set", &backup]);
    assert_eq!(code, 3, "the run must fail and roll back:\n{out}");
    assert!(out.contains("Rolling back"), "{out}");
    assert!(out.contains("failed, rolled back"), "{out}");
    assert!(out.contains("↶ restore-rdb"), "{out}");
    stack.assert_seed();
    assert_eq!(
        stack.redis_cli(&["CONFIG", "GET", "appendonly"]),
        "appendonly\nyes\n"
    );
    stack.restart_redis_from_its_aof_alone();
    stack.assert_seed();
}

#[test]
fn lifeboat_killed_during_a_restore_resumes_and_loses_nothing() {
    let _turn = turn();
    let stack = Stack::up("kill");
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 0, "{out}");
    stack.lose_everything();

    let run_id = stack.kill_full_data_loss_during_a_restore();
    let history = stack.lifeboat(&["history"]).output().unwrap();
    assert!(String::from_utf8_lossy(&history.stdout).contains("unfinished"));

    let out = stack
        .lifeboat(&["resume", &run_id, "--yes"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("running again: restore-"), "{text}");
    stack.assert_seed();
    // A finished run cannot be resumed twice.
    let again = stack
        .lifeboat(&["resume", &run_id, "--yes"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(3));
}

#[test]
fn an_unreachable_docker_daemon_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .current_dir(root())
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .env("LIFEBOAT_STATE", dir.path())
        .env("LIFEBOAT_LOCK_DIR", dir.path().join("locks"))
        .args(["run", "full-data-loss", "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("cannot reach the Docker daemon at tcp://127.0.0.1:1"),
        "{stderr}"
    );
    assert!(stderr.contains("DOCKER_HOST"), "{stderr}");
    assert!(!dir.path().join("runs").exists(), "nothing was started");
}

#[test]
fn apply_refuses_a_changed_world_backups_are_ad_hoc_and_runs_lock_what_they_touch() {
    let _turn = turn();
    let stack = Stack::up("apply");
    let project = format!("project={}", stack.project);

    // An ad-hoc backup, tagged, verified on the way.
    let volume = stack.volume("redis-data");
    let out = stack
        .lifeboat(&["backup", "--volume", &volume, "--tag", "manual"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects = stack.backups("redis-data");
    assert_eq!(objects.len(), 1);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(objects[0].to_string_lossy().replace(".tar.zst", ".json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["tags"], serde_json::json!(["manual"]));
    assert_eq!(manifest["verification"]["ok"], serde_json::json!(true));
    assert_eq!(
        manifest["origin"]["compose_service"],
        serde_json::json!("redis")
    );

    // A saved plan applies while the world is as it saw it, and not after a change.
    let plan = stack.dir.path().join("plan.json");
    let out = stack
        .lifeboat(&[
            "plan",
            "cold-backup",
            "--set",
            &project,
            "--out",
            plan.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let redis = stack.container("redis");
    ok(Command::new("docker").args(["stop", &redis]));
    let out = stack
        .lifeboat(&["apply", plan.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("the world changed since the plan was made"),
        "{stderr}"
    );
    assert!(stderr.contains("now `exited"), "{stderr}");
    ok(Command::new("docker").args(["start", &redis]));
    stack.testdata("wait");
    let out = stack
        .lifeboat(&["apply", plan.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    stack.assert_seed();

    // While one run holds the Redis container, another run that needs it is refused.
    let holder = stack.dir.path().join("hold.yaml");
    std::fs::write(
        &holder,
        r#"
runbook: hold
params:
  project: { type: string }
targets:
  redis: { service: redis, project: "{{ project }}" }
steps:
  - { id: busy, uses: container.exec, with: { container: redis, command: [sleep, "15"] } }
"#,
    )
    .unwrap();
    let mut first = stack
        .lifeboat(&["run", holder.to_str().unwrap(), "--yes", "--set", &project])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runs = stack.dir.path().join("state/runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_dir(&runs).unwrap().any(|e| {
        std::fs::read_to_string(e.unwrap().path())
            .unwrap_or_default()
            .contains(r#""record":"step_started","id":"busy""#)
    }) {
        assert!(Instant::now() < deadline, "the first run never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains("is held by run") && out.contains("(hold, pid"),
        "{out}"
    );
    assert!(first.wait().unwrap().success());
}

/// An s3s-fs server on loopback with one bucket; killed on drop.
struct S3Server {
    child: std::process::Child,
    port: u16,
    _root: tempfile::TempDir,
}

impl S3Server {
    fn start(bucket: &str) -> Self {
        let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
        let bin = [
            home.join(".cargo/bin/s3s-fs"),
            PathBuf::from("/usr/local/bin/s3s-fs"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .expect("s3s-fs is not installed: cargo install s3s-fs@0.14.1 --features binary --locked");
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(bucket)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "e2e", "--secret-key", "e2e-secret"])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server {
            child,
            port,
            _root: root,
        }
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", self.port),
        )
        .env("AWS_ACCESS_KEY_ID", "e2e")
        .env("AWS_SECRET_ACCESS_KEY", "e2e-secret")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
    }
}

impl Stack {
    /// The nightly backup, copied off-site to `offsite` on `s3`.
    fn cold_backup_offsite(&self, s3: &S3Server, offsite: &str) {
        let project = format!("project={}", self.project);
        let mut cmd = self.lifeboat(&[
            "run",
            "cold-backup",
            "--yes",
            "--set",
            &project,
            "--offsite",
            offsite,
        ]);
        s3.env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn full_data_loss_from_s3_alone_after_the_local_repository_is_gone() {
    let _turn = turn();
    let s3 = S3Server::start("lifeboat-e2e");
    let stack = Stack::up("s3");
    let project = format!("project={}", stack.project);
    // Nightly: backups go to the local repository and off-site.
    stack.cold_backup_offsite(&s3, "s3://lifeboat-e2e/shop");

    // The machine's disk is lost: no local repository, no state, no volumes' data.
    std::fs::remove_dir_all(stack.dir.path().join("repo")).unwrap();
    std::fs::remove_dir_all(stack.dir.path().join("state")).unwrap();
    stack.lose_everything();

    let mut cmd = stack.lifeboat(&[
        "run",
        "full-data-loss",
        "--yes",
        "--set",
        &project,
        "--repo",
        "s3://lifeboat-e2e/shop",
    ]);
    cmd.env_remove("LIFEBOAT_REPO");
    s3.env(&mut cmd);
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    stack.assert_seed();
}

#[test]
fn encrypted_backups_restore_only_with_their_key() {
    let _turn = turn();
    let stack = Stack::up("age");
    let key = stack.dir.path().join("age.key");
    let other = stack.dir.path().join("other.key");
    for k in [&key, &other] {
        ok(Command::new("age-keygen").arg("-o").arg(k));
    }
    let (key, other) = (key.to_str().unwrap(), other.to_str().unwrap());
    let (code, out) = stack.run("cold-backup", &["--age-identity", key]);
    assert_eq!(code, 0, "{out}");
    let mut ids = Vec::new();
    for volume in ["redis-data", "pg-data"] {
        let dir = stack
            .dir
            .path()
            .join("repo/backups")
            .join(stack.volume(volume));
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.ends_with(".tar.zst.age")),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.ends_with(".tar.zst")), "{names:?}");
        ids.extend(
            names
                .iter()
                .filter_map(|n| n.strip_suffix(".tar.zst.age"))
                .map(String::from),
        );
    }

    // With the key, both backups restore into scratch volumes, which are removed.
    let out = stack
        .lifeboat(&[
            "backups",
            "verify",
            "--all",
            "--restore-test",
            "--age-identity",
            key,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("restore test ok").count(), 2, "{text}");
    for id in &ids {
        let left = ok(Command::new("docker").args([
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=lifeboat.restore-test={id}"),
        ]));
        assert_eq!(left.trim(), "", "scratch volume of {id} left behind");
    }

    // A wrong key, or none: the restore is refused before the volume is
    // touched, the run rolls back, and the data is as it was.
    let (code, out) = stack.run("full-data-loss", &["--age-identity", other]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("does not decrypt it"), "{out}");
    stack.assert_seed();
    let (code, out) = stack.run("full-data-loss", &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("no key was given"), "{out}");
    stack.assert_seed();

    // With the key, everything comes back.
    stack.lose_everything();
    let (code, out) = stack.run("full-data-loss", &["--age-identity", key]);
    assert_eq!(code, 0, "{out}");
    stack.assert_seed();
}

impl Stack {
    fn psql(&self, sql: &str) -> String {
        ok(Command::new("docker").args([
            "exec",
            &self.container("postgres"),
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "postgres",
            "-d",
            "shop",
            "-c",
            sql,
        ]))
        .trim()
        .to_string()
    }

    fn journals(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("state/runs"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

#[test]
fn a_backup_of_another_volume_is_refused_in_the_plan_and_at_run_time_and_a_run_set_restores_both() {
    let _turn = turn();
    let stack = Stack::up("source");
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 0, "{out}");
    let redis = stack.listed(&stack.volume("redis-data"));
    let redis_id = redis[0]["id"].as_str().unwrap().to_string();
    let run_id = redis[0]["run_id"].as_str().unwrap().to_string();
    // Rows written after the backup: what a wrong restore would lose.
    stack.psql("INSERT INTO customers VALUES (900001, 'late', 'late@example.test', '2026-01-01')");

    // One id for both volumes: the plan says restore-postgres would restore
    // Redis's files into PostgreSQL's volume, and the run refuses to start.
    let journals = stack.journals().len();
    let backup = format!("backup={redis_id}");
    let (code, out) = stack.run("full-data-loss", &["--set", &backup]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("refusing to run full-data-loss"), "{out}");
    assert!(
        out.contains(&format!(
            "step `restore-postgres`: backup {redis_id} is a backup of `{}`, not of `{}`",
            stack.volume("redis-data"),
            stack.volume("pg-data")
        )),
        "{out}"
    );
    assert!(out.contains(&format!("use `run:{run_id}`")), "{out}");
    assert!(out.contains("Nothing was changed"), "{out}");
    assert_eq!(stack.journals().len(), journals, "no run was started");
    assert_eq!(stack.health("postgres"), "healthy");

    // Forced: the step itself refuses at run time, before touching the volume,
    // and the rollback does not "undo" a restore that never happened.
    let (code, out) = stack.run("full-data-loss", &["--set", &backup, "--force"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(&format!(
            "is a backup of `{}`, not of `{}`",
            stack.volume("redis-data"),
            stack.volume("pg-data")
        )),
        "{out}"
    );
    assert!(out.contains("nothing was changed"), "{out}");
    let journal = std::fs::read_to_string(stack.journals().last().unwrap()).unwrap();
    assert!(
        !journal.contains(r#""record":"undo_started","id":"restore-postgres""#),
        "a refused restore is not undone:\n{journal}"
    );
    stack.testdata("wait");
    assert_eq!(
        stack.psql("SELECT name FROM customers WHERE id = 900001"),
        "late",
        "PostgreSQL's data is as it was"
    );

    // The run set: each volume gets the backup that run took of it.
    let (code, out) = stack.run(
        "full-data-loss",
        &["--set", &format!("backup=run:{run_id}")],
    );
    assert_eq!(code, 0, "{out}");
    stack.assert_seed();
}

#[test]
fn ctrl_c_while_postgres_starts_rolls_back_to_the_data_as_it_was() {
    let _turn = turn();
    let stack = Stack::up("ctrlc");
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 0, "{out}");
    // The pre-run data differs from the backup, so a rollback that lets the
    // restored data win is seen.
    stack
        .psql("INSERT INTO customers VALUES (900002, 'pre-run', 'pre@example.test', '2026-01-01')");

    let (code, text) = stack.interrupt("full-data-loss", "start-postgres", delay_ms("40"));
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("cancelled, rolled back"), "{text}");
    stack.testdata("wait");
    assert_eq!(
        stack.psql("SELECT name FROM customers WHERE id = 900002"),
        "pre-run",
        "the rollback put back the data as it was before the run:\n{text}"
    );
    assert_eq!(stack.health("postgres"), "healthy");
    assert_eq!(stack.health("redis"), "healthy");
}

#[test]
fn compose_down_with_volumes_is_destructive_asks_and_needs_a_backup_of_every_project_volume() {
    let _turn = turn();
    // A project whose containers and volumes exist (nothing needs to run).
    let stack = Stack {
        project: format!("lbe2e{}-down", std::process::id()),
        dir: tempfile::tempdir().unwrap(),
    };
    stack.compose(&["up", "--no-start"]);
    let volumes = || {
        let out = ok(Command::new("docker").args([
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", stack.project),
        ]));
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    let before = volumes();
    assert_eq!(
        before,
        [stack.volume("pg-data"), stack.volume("redis-data")]
    );
    let runbook = |body: &str| {
        let path = stack.dir.path().join("teardown.yaml");
        std::fs::write(
            &path,
            format!(
                "runbook: teardown\nparams: {{ project: {{ type: string }} }}\n\
                 targets:\n  pg-data: {{ volume: \"{{{{ project }}}}_pg-data\" }}\n{body}"
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let output = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    let project = format!("project={}", stack.project);

    // No safety backup: rejected when compiled.
    let bare = runbook(
        "steps:\n  - { id: down, uses: compose.down, with: { file: docker-compose.test.yml, project: \"{{ project }}\", volumes: true } }\n",
    );
    let (code, text) = output(&mut stack.lifeboat(&["validate", &bare]));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "destructive step `down` (compose.down) has no safety backup of target `pg-data`"
        ),
        "{text}"
    );

    // With a backup of the declared volume only: the plan says DESTRUCTIVE,
    // the run asks (and refuses without a terminal)...
    let partial = runbook(
        "steps:\n  - { id: safety, uses: volume.backup, with: { volume: pg-data, tags: [safety] } }\n  - { id: down, uses: compose.down, needs: [safety], with: { file: docker-compose.test.yml, project: \"{{ project }}\", volumes: true } }\n",
    );
    let (code, text) = output(&mut stack.lifeboat(&["plan", &partial, "--set", &project]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("! down  compose.down  DESTRUCTIVE, guarded by safety"),
        "{text}"
    );
    assert!(text.contains("1 DESTRUCTIVE down (guarded)"), "{text}");
    let (code, text) = output(&mut stack.lifeboat(&["run", &partial, "--set", &project]));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("destructive steps (down)"), "{text}");
    assert_eq!(volumes(), before, "nothing was removed");

    // ...and with --yes the step refuses: redis-data has no backup of this run.
    let (code, text) = output(&mut stack.lifeboat(&["run", &partial, "--yes", "--set", &project]));
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains(&format!(
            "`down --volumes` would remove {} of compose project `{}`, which this run did not back up",
            stack.volume("redis-data"),
            stack.project
        )),
        "{text}"
    );
    assert_eq!(volumes(), before, "nothing was removed");
}

impl Stack {
    /// Starts `full-data-loss`, kills it (-9) as soon as its journal says a
    /// restore started, and returns the run id.
    fn kill_full_data_loss_during_a_restore(&self) -> String {
        let project = format!("project={}", self.project);
        let mut child = self
            .lifeboat(&[
                "run",
                "full-data-loss",
                "--yes",
                "--parallel",
                "1",
                "--set",
                &project,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let journal = loop {
            assert!(Instant::now() < deadline, "no restore started");
            let started = self.journals().into_iter().find(|path| {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                text.contains(r#""runbook":"full-data-loss""#)
                    && !text.contains("run_finished")
                    && text.contains(r#""record":"step_started","id":"restore-"#)
            });
            if let Some(path) = started {
                break path;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        let text = std::fs::read_to_string(&journal).unwrap();
        assert!(
            !text.contains("run_finished"),
            "the run ended before the kill"
        );
        journal.file_stem().unwrap().to_string_lossy().to_string()
    }
}

#[test]
fn a_late_resume_is_refused_when_a_newer_run_recovered_the_stack() {
    let _turn = turn();
    let stack = Stack::up("late");
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 0, "{out}");
    stack.lose_everything();
    let old = stack.kill_full_data_loss_during_a_restore();

    // Recovered with a new run instead, then new writes.
    let (code, out) = stack.run("full-data-loss", &[]);
    assert_eq!(code, 0, "{out}");
    stack.assert_seed();
    stack
        .psql("INSERT INTO customers VALUES (900003, 'after', 'after@example.test', '2026-01-01')");

    // `history` still offers the old run; resuming it must not roll its
    // safety backups (the emptied volumes) over the live data.
    let out = stack.lifeboat(&["resume", &old, "--yes"]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(
        text.contains(&format!("refusing to resume run {old}")),
        "{text}"
    );
    assert!(
        text.contains("(full-data-loss) started after it and changed"),
        "{text}"
    );
    assert!(text.contains("it is running now"), "{text}");
    assert_eq!(
        stack.psql("SELECT name FROM customers WHERE id = 900003"),
        "after",
        "the newer writes are still there"
    );
    assert_eq!(stack.health("postgres"), "healthy");
}

/// The outcome a run's journal records (`succeeded`, `rolled_back`, …).
fn journal_outcome(state: &Path) -> String {
    let runs = state.join("runs");
    let journal = std::fs::read_dir(&runs)
        .unwrap_or_else(|e| panic!("{}: {e}", runs.display()))
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a journal");
    let text = std::fs::read_to_string(&journal).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["record"] == "run_finished")
        .filter_map(|r| r["outcome"].as_str().map(String::from))
        .next_back()
        .unwrap_or_else(|| format!("unfinished:\n{text}"))
}

/// A closed output pipe and a hang-up (a dropped SSH session, a quit pager)
/// do not abort a run: a step that logs a warning to a closed stderr used to
/// panic ("failed printing to stderr: Broken pipe") and roll the run back,
/// and SIGHUP killed lifeboat in the middle of its steps. Output that cannot
/// be written is dropped; the run goes on; the journal is the record.
#[test]
fn a_run_survives_closed_output_pipes_and_a_hangup() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    let dir = tempfile::tempdir().unwrap();
    // An HTTP server that answers after a pause, so the run is mid-step when
    // the hang-up comes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted, wait_accepted) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = accepted.send(());
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            std::thread::sleep(Duration::from_secs(2));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    let runbook = dir.path().join("pipes.yaml");
    std::fs::write(
        &runbook,
        format!(
            "runbook: pipes\nsteps:\n\
             \x20 - id: warn\n    uses: backup.prune\n    with: {{ name: lbhyg-pipes }}\n\
             \x20 - id: slow\n    uses: http.request\n    needs: [warn]\n    with: {{ url: \"http://127.0.0.1:{port}/\" }}\n\
             \x20 - id: warn-again\n    uses: backup.prune\n    needs: [slow]\n    with: {{ name: lbhyg-pipes }}\n"
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let mut child = Command::new(bin())
        .current_dir(dir.path())
        .env("LIFEBOAT_STATE", &state)
        .env("LIFEBOAT_REPO", dir.path().join("repo"))
        .env("LIFEBOAT_LOCK_DIR", dir.path().join("locks"))
        .env_remove("RUST_LOG")
        .env_remove("LIFEBOAT_CONFIG")
        .args(["run", runbook.to_str().unwrap(), "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let started = Instant::now();
    while wait_accepted
        .recv_timeout(Duration::from_millis(100))
        .is_err()
    {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the run ended ({status:?}) before its slow step; journal: {}",
                journal_outcome(&state)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never reached its slow step"
        );
    }
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{status:?}; journal: {}",
        journal_outcome(&state)
    );
    assert_eq!(journal_outcome(&state), "succeeded");
}

/// Removes a container when dropped.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// The `.partial` files under `dir`, recursively.
fn partials(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(partials(&path));
        } else if path.to_string_lossy().ends_with(".partial") {
            found.push(path);
        }
    }
    found
}

/// A backup killed (kill -9) while it streams leaves its `.partial` object;
/// while the run lives, another lifeboat leaves it alone; once the run is
/// dead, the next lifeboat to open the repository removes it and says which
/// run left it.
#[test]
fn a_killed_backup_leaves_a_partial_object_that_the_next_start_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("lbhyg-sweep-{}", std::process::id());
    let _ = Command::new("docker").args(["rm", "-f", &name]).output();
    ok(Command::new("docker").args([
        "run",
        "-d",
        "--name",
        &name,
        "lifeboat-test/stack:local",
        "sleep",
        "600",
    ]));
    let _container = Container(name.clone());
    let runbook = dir.path().join("slow-backup.yaml");
    std::fs::write(
        &runbook,
        format!(
            "runbook: slow-backup\ntargets:\n  c: {{ container: {name} }}\nsteps:\n\
             \x20 - id: dump\n    uses: exec.backup\n    with:\n      container: c\n      name: lbhyg-sweep\n      \
             command: [sh, -c, \"head -c 3000000 /dev/urandom; sleep 600\"]\n"
        ),
    )
    .unwrap();
    let lifeboat = |args: &[&str]| {
        let mut cmd = Command::new(bin());
        cmd.current_dir(dir.path())
            .env("LIFEBOAT_STATE", dir.path().join("state"))
            .env("LIFEBOAT_REPO", dir.path().join("repo"))
            .env("LIFEBOAT_LOCK_DIR", dir.path().join("locks"))
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("LIFEBOAT_CONFIG")
            .stdin(Stdio::null())
            .args(args);
        cmd
    };
    let mut run = lifeboat(&["run", runbook.to_str().unwrap(), "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let repo = dir.path().join("repo");
    let started = Instant::now();
    let partial = loop {
        if let Some(p) = partials(&repo).into_iter().next() {
            break p;
        }
        if let Some(status) = run.try_wait().unwrap() {
            panic!("the run ended ({status:?}) before writing its backup");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no partial object appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let run_id = std::fs::read_dir(dir.path().join("state/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find_map(|p| {
            p.file_name()?
                .to_str()?
                .strip_suffix(".jsonl")
                .map(String::from)
        })
        .unwrap();
    assert!(
        partial.to_string_lossy().contains(&run_id),
        "{} does not name run {run_id}",
        partial.display()
    );

    // The run is alive: its partial object stays.
    let o = sh(&mut lifeboat(&["backups", "list"]));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        partial.exists(),
        "the partial object of a running backup was removed"
    );

    run.kill().unwrap();
    run.wait().unwrap();
    assert!(partial.exists());
    let o = sh(&mut lifeboat(&["backups", "list"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        !partial.exists(),
        "the partial object of the killed run is still there: {err}"
    );
    assert!(
        err.contains("Removed 1 partial backup object (") && err.contains(&run_id),
        "{err}"
    );
    assert!(err.contains(&partial.display().to_string()), "{err}");
    assert!(partials(&repo).is_empty());
}

/// Names of the Docker objects (`volume` or `network`) labelled with compose project `project`.
fn project_objects(kind: &str, project: &str) -> Vec<String> {
    let out = ok(Command::new("docker").args([
        kind,
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]));
    let mut names: Vec<String> = out.lines().map(String::from).collect();
    if kind == "network" {
        // `network ls -q` gives ids.
        names = names
            .iter()
            .map(|id| {
                ok(Command::new("docker").args(["network", "inspect", "-f", "{{.Name}}", id]))
                    .trim()
                    .to_string()
            })
            .collect();
    }
    names.sort();
    names
}

/// Takes a compose project down with its volumes when dropped.
struct Project {
    name: String,
    file: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = compose_cmd()
            .arg("-f")
            .arg(&self.file)
            .args(["-p", &self.name, "down", "-v"])
            .output();
        for v in project_objects("volume", &self.name) {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", &v])
                .output();
        }
    }
}

/// A scratch compose project leaks nothing: `compose.up` of one service
/// (compose v1 creates every volume of the file) records what it created;
/// `compose.down` removes those volumes and networks, and keeps a volume
/// that existed before the run. A run that leaves what it created says so.
#[test]
fn a_scratch_compose_project_leaves_no_volumes_behind() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let project = format!("lbhyg14-{}", std::process::id());
    let file = dir.path().join("compose.yml");
    std::fs::write(
        &file,
        "version: \"2.4\"\nservices:\n\
         \x20 a:\n    image: lifeboat-test/stack:local\n    command: [sleep, \"600\"]\n    stop_signal: SIGKILL\n    volumes: [a-data:/a]\n\
         \x20 b:\n    image: lifeboat-test/stack:local\n    command: [sleep, \"600\"]\n    stop_signal: SIGKILL\n    volumes: [b-data:/b]\n\
         volumes:\n  a-data:\n  b-data:\n  spare:\n",
    )
    .unwrap();
    let _cleanup = Project {
        name: project.clone(),
        file: file.clone(),
    };
    // There before the run: never removed by it.
    let before = format!("{project}_a-data");
    ok(Command::new("docker").args([
        "volume",
        "create",
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.volume=a-data",
        &before,
    ]));
    let write_runbook = |name: &str, down: bool| {
        let path = dir.path().join(format!("{name}.yaml"));
        let mut text = format!(
            "runbook: {name}\nsteps:\n\
             \x20 - id: up\n    uses: compose.up\n    with: {{ file: \"{}\", project: {project}, services: [a], wait: false }}\n",
            file.display()
        );
        if down {
            text.push_str(&format!(
                "  - id: down\n    uses: compose.down\n    needs: [up]\n    with: {{ file: \"{}\", project: {project} }}\n",
                file.display()
            ));
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    let lifeboat = |runbook: &Path| {
        sh(Command::new(bin())
            .current_dir(dir.path())
            .env("LIFEBOAT_STATE", dir.path().join("state"))
            .env("LIFEBOAT_REPO", dir.path().join("repo"))
            .env("LIFEBOAT_LOCK_DIR", dir.path().join("locks"))
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("LIFEBOAT_CONFIG")
            .stdin(Stdio::null())
            .args(["run", runbook.to_str().unwrap(), "--yes"]))
    };

    let o = lifeboat(&write_runbook("scratch", true));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert_eq!(
        project_objects("volume", &project),
        std::slice::from_ref(&before),
        "the run left volumes it created: {text}"
    );
    assert!(project_objects("network", &project).is_empty(), "{text}");

    // A failed run: the rollback's compose.down (the undo of compose.up)
    // removes what compose.up created.
    let failing = dir.path().join("failing.yaml");
    std::fs::write(
        &failing,
        format!(
            "runbook: failing\nsteps:\n\
             \x20 - id: up\n    uses: compose.up\n    with: {{ file: \"{f}\", project: {project}, services: [a], wait: false }}\n\
             \x20   undo: {{ uses: compose.down, with: {{ file: \"{f}\", project: {project} }} }}\n\
             \x20 - id: check\n    uses: http.request\n    needs: [up]\n    with: {{ url: \"http://127.0.0.1:9/\", timeout: 2s }}\n",
            f = file.display()
        ),
    )
    .unwrap();
    let o = lifeboat(&failing);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(3), "{text}");
    assert_eq!(
        project_objects("volume", &project),
        std::slice::from_ref(&before),
        "the rollback left volumes the run created: {text}"
    );

    // Up without down: what the run created stays, and the run says so.
    let o = lifeboat(&write_runbook("up-only", false));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{text}");
    for v in [format!("{project}_b-data"), format!("{project}_spare")] {
        assert!(project_objects("volume", &project).contains(&v), "{text}");
        assert!(
            text.contains(&format!("volume {v}")),
            "{v} not reported: {text}"
        );
    }
    assert!(!text.contains(&format!("volume {before}")), "{text}");
}

/// The pids of `parent`'s children whose command line contains `needle`.
fn children_running(parent: u32, needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .contains(needle)
        {
            found.push(pid);
        }
    }
    found
}

/// A dropped SSH session hangs up the whole job (the shell sends SIGHUP to
/// its process group): lifeboat carries on, and so must the compose process
/// it started for a step, which used to die with it and fail the step.
#[test]
fn a_hangup_of_the_whole_job_does_not_kill_a_compose_step() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let project = format!("lbhyg28-{}", std::process::id());
    let file = dir.path().join("compose.yml");
    std::fs::write(
        &file,
        "version: \"2.4\"\nservices:\n\
         \x20 a:\n    image: lifeboat-test/stack:local\n    command: [sleep, \"600\"]\n    stop_signal: SIGKILL\n",
    )
    .unwrap();
    let _cleanup = Project {
        name: project.clone(),
        file: file.clone(),
    };
    let runbook = dir.path().join("job.yaml");
    std::fs::write(
        &runbook,
        format!(
            "runbook: job\nsteps:\n\
             \x20 - id: up\n    uses: compose.up\n    with: {{ file: \"{f}\", project: {project}, wait: false }}\n\
             \x20 - id: down\n    uses: compose.down\n    needs: [up]\n    with: {{ file: \"{f}\", project: {project} }}\n",
            f = file.display()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(bin())
            .current_dir(dir.path())
            .env("LIFEBOAT_STATE", &state)
            .env("LIFEBOAT_REPO", dir.path().join("repo"))
            .env("LIFEBOAT_LOCK_DIR", dir.path().join("locks"))
            .env_remove("RUST_LOG")
            .env_remove("LIFEBOAT_CONFIG")
            .args(["run", runbook.to_str().unwrap(), "--yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A job of its own, as a shell runs it.
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let started = Instant::now();
    while children_running(child.id(), " up ").is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status:?}) before compose up ran");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "compose up never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on the process group of our own child.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGHUP) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{status:?}; journal: {}",
        journal_outcome(&state)
    );
    assert_eq!(journal_outcome(&state), "succeeded");
}

#[test]
fn a_damaged_local_cache_of_an_s3_repository_is_fetched_again_and_the_restore_succeeds() {
    let _turn = turn();
    let s3 = S3Server::start("lifeboat-cache");
    let stack = Stack::up("cache");
    stack.cold_backup_offsite(&s3, "s3://lifeboat-cache/shop");
    let project = format!("project={}", stack.project);
    // This machine's cache of the S3 repository holds the backups (an
    // earlier restore fetched them), and a byte in each object rotted.
    let cache = stack.dir.path().join("state/cache/lifeboat-cache_shop");
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    ok(Command::new("cp")
        .arg("-a")
        .arg(stack.dir.path().join("repo"))
        .arg(&cache));
    let mut damaged = 0;
    for volume in ["redis-data", "pg-data"] {
        let dir = cache.join("backups").join(stack.volume(volume));
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(".tar.zst") {
                let mut bytes = std::fs::read(&path).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x55;
                std::fs::write(&path, bytes).unwrap();
                damaged += 1;
            }
        }
    }
    assert_eq!(damaged, 2);
    stack.lose_everything();

    // The S3 copies are intact: the restore fetches them again and succeeds.
    let mut cmd = stack.lifeboat(&[
        "run",
        "full-data-loss",
        "--yes",
        "--set",
        &project,
        "--repo",
        "s3://lifeboat-cache/shop",
    ]);
    cmd.env_remove("LIFEBOAT_REPO");
    s3.env(&mut cmd);
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    stack.assert_seed();
}

impl Stack {
    /// Runs `runbook` (one step at a time) and sends it SIGINT `delay_ms`
    /// after its journal says `step` started, when the step's request is on
    /// its way to Docker. Returns (exit code, stdout + stderr).
    fn interrupt(&self, runbook: &str, step: &str, delay_ms: u64) -> (i32, String) {
        let project = format!("project={}", self.project);
        let child = self
            .lifeboat(&[
                "run",
                runbook,
                "--yes",
                "--parallel",
                "1",
                "--set",
                &project,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        let needle = format!(r#""record":"step_started","id":"{step}""#);
        let runbook_field = format!(r#""runbook":"{runbook}""#);
        loop {
            assert!(Instant::now() < deadline, "{step} never started");
            let started = self.journals().iter().any(|path| {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                text.contains(&runbook_field)
                    && !text.contains("run_finished")
                    && text.contains(&needle)
            });
            if started {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }
}

#[test]
fn ctrl_c_while_postgres_stops_leaves_the_stack_running() {
    let _turn = turn();
    let stack = Stack::up("ctrlcstop");
    let (code, text) = stack.interrupt("cold-backup", "stop-postgres", delay_ms("60"));
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("cancelled, rolled back"), "{text}");
    // A stop that was still under way when the rollback ended would take the
    // server down afterwards: look again a little later.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        stack.inspect("postgres", "{{.State.Status}}"),
        "running",
        "{text}"
    );
    assert_eq!(
        stack.inspect("redis", "{{.State.Status}}"),
        "running",
        "{text}"
    );
    stack.testdata("wait");
    stack.assert_seed();
}

/// The delay before an interrupt: `LIFEBOAT_TEST_SIGINT_DELAY_MS`, to sweep
/// the window by hand, or the given default.
fn delay_ms(default: &str) -> u64 {
    std::env::var("LIFEBOAT_TEST_SIGINT_DELAY_MS")
        .unwrap_or_else(|_| default.into())
        .parse()
        .unwrap()
}

impl Stack {
    /// Starts `upgrade-rollback` to `image`, kills it (-9) while its recreate
    /// of Redis has both containers (the original renamed `-lifeboat-old` and
    /// the new one), and returns the run id.
    fn kill_upgrade_during_the_redis_recreate(&self, image: &str) -> String {
        self.kill_upgrade_when(image, r#""record":"step_started","id":"upgrade-redis""#)
    }

    /// Starts `upgrade-rollback` to `image`, kills it (-9) once its journal
    /// holds `marker` and Redis has two containers, and returns the run id.
    fn kill_upgrade_when(&self, image: &str, marker: &str) -> String {
        let (project, image) = (
            format!("project={}", self.project),
            format!("image={image}"),
        );
        let mut child = self
            .lifeboat(&[
                "run",
                "upgrade-rollback",
                "--yes",
                "--parallel",
                "1",
                "--set",
                &project,
                "--set",
                &image,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        let journal = loop {
            assert!(
                Instant::now() < deadline,
                "the recreate never had two containers"
            );
            if child.try_wait().unwrap().is_some() {
                let out = child.wait_with_output().unwrap();
                panic!(
                    "the run ended before the kill: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let started = self.journals().into_iter().find(|path| {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                text.contains(r#""runbook":"upgrade-rollback""#)
                    && !text.contains("run_finished")
                    && text.contains(marker)
            });
            if let Some(path) = started
                && self.container("redis").lines().count() == 2
            {
                break path;
            }
        };
        child.kill().unwrap();
        child.wait().unwrap();
        let text = std::fs::read_to_string(&journal).unwrap();
        assert!(
            !text.contains("run_finished"),
            "the run ended before the kill"
        );
        journal.file_stem().unwrap().to_string_lossy().to_string()
    }

    /// `lifeboat resume RUN --yes`: (exit code, stdout + stderr).
    fn resume(&self, run_id: &str) -> (i32, String) {
        let out = self
            .lifeboat(&["resume", run_id, "--yes"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// Exactly one container per service, none left as `-lifeboat-old`.
    fn assert_one_container_each(&self) {
        for service in ["redis", "postgres"] {
            let ids = self.container(service);
            assert_eq!(ids.lines().count(), 1, "{service}: {ids:?}");
        }
        let leftovers = ok(Command::new("docker").args([
            "ps",
            "-a",
            "--filter",
            &format!("name={}.*lifeboat-old", self.project),
            "--format",
            "{{.Names}}",
        ]));
        assert_eq!(leftovers.trim(), "", "leftovers of the recreate");
    }
}

#[test]
fn lifeboat_killed_inside_a_recreate_resumes_to_one_healthy_container_with_the_data() {
    let _turn = turn();
    let stack = Stack::up("killrec");
    let before = stack.inspect("redis", "{{.Config.Image}}");

    // A bad upgrade killed while its new Redis container is there beside the
    // old one: resume runs the recreate again (it fails again), then rolls
    // back to the previous image and the data as it was.
    let run_id = stack.kill_upgrade_during_the_redis_recreate("lifeboat-test/stack:broken");
    let (code, out) = stack.resume(&run_id);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("running again: upgrade-redis"), "{out}");
    assert!(out.contains("Rolling back"), "{out}");
    assert!(!out.contains("has 2 containers"), "{out}");
    assert!(!out.contains("UNDO FAILED"), "{out}");
    stack.assert_one_container_each();
    stack.testdata("wait");
    assert_eq!(stack.health("redis"), "healthy");
    assert_eq!(stack.inspect("redis", "{{.Config.Image}}"), before);
    assert_eq!(stack.inspect("postgres", "{{.Config.Image}}"), before);
    stack.assert_seed();

    // A good upgrade killed at the same point: resume finishes it.
    let next = format!("lifeboat-test/stack:e2e-killrec-{}", std::process::id());
    ok(Command::new("docker").args(["tag", "lifeboat-test/stack:local", &next]));
    let run_id = stack.kill_upgrade_during_the_redis_recreate(&next);
    let (code, out) = stack.resume(&run_id);
    let redis_image = stack.inspect("redis", "{{.Config.Image}}");
    let postgres_image = stack.inspect("postgres", "{{.Config.Image}}");
    let _ = Command::new("docker").args(["rmi", &next]).output();
    assert_eq!(code, 0, "{out}");
    stack.assert_one_container_each();
    assert_eq!(redis_image, next);
    assert_eq!(postgres_image, next);
    assert_eq!(stack.health("redis"), "healthy");
    stack.assert_seed();
}

#[test]
fn a_corrupt_redis_aof_is_repaired_by_its_runbook_and_redis_comes_back_with_its_keys() {
    let _turn = turn();
    let stack = Stack::up("aof");
    // A verified backup, as a careful operator has: the runbook's fallback
    // (restore `latest-verified`) must be possible, or the plan refuses.
    let (code, out) = stack.run("cold-backup", &[]);
    assert_eq!(code, 0, "{out}");
    // Garbage after the last command of the last incremental AOF file: Redis
    // refuses to start ("Bad file format reading the append only file").
    stack.compose(&["stop", "redis"]);
    ok(Command::new("docker").args([
        "run",
        "--rm",
        "-v",
        &format!("{}:/data", stack.volume("redis-data")),
        "lifeboat-test/stack:local",
        "sh",
        "-c",
        "f=$(ls /data/appendonlydir/*.incr.aof | sort -V | tail -n 1) && test -s \"$f\" && \
         printf 'this is not a redis command\\r\\n' >> \"$f\"",
    ]));
    stack.compose(&["start", "redis"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack.inspect("redis", "{{.State.Status}}") != "exited" {
        assert!(Instant::now() < deadline, "Redis started on a corrupt AOF");
        std::thread::sleep(Duration::from_millis(250));
    }
    let logs = sh(Command::new("docker").args(["logs", &stack.container("redis")]));
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("Bad file format")
            || String::from_utf8_lossy(&logs.stderr).contains("Bad file format"),
        "{logs:?}"
    );

    let (code, out) = stack.run("redis-aof-corruption", &[]);
    assert_eq!(code, 0, "{out}");
    // Repaired in place, not restored from a backup.
    assert!(out.contains("verify-repaired"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("restore-redis") && l.contains("skipped")),
        "{out}"
    );
    stack.testdata("wait");
    assert_eq!(stack.health("redis"), "healthy");
    stack.assert_seed();
    // The one-off container that ran the repair is gone; the damaged files
    // are kept in a safety backup.
    let left = sh(Command::new("docker").args([
        "ps",
        "-aq",
        "--filter",
        "label=lifeboat.oneoff.step=fix-aof",
    ]));
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "", "{left:?}");
    let safety: Vec<_> = stack
        .listed(&stack.volume("redis-data"))
        .into_iter()
        .filter(|b| b["tags"].to_string().contains("corrupt-aof"))
        .collect();
    assert_eq!(safety.len(), 1, "{safety:?}");
}

#[test]
fn lifeboat_killed_inside_the_recreate_of_a_rollback_resumes_and_finishes_the_rollback() {
    let _turn = turn();
    let stack = Stack::up("killundo");
    let before = stack.inspect("redis", "{{.Config.Image}}");
    // The bad upgrade fails and rolls back; the kill lands in the undo that
    // recreates Redis with the previous image.
    let run_id = stack.kill_upgrade_when(
        "lifeboat-test/stack:broken",
        r#""record":"undo_started","id":"stop-redis""#,
    );
    let (code, out) = stack.resume(&run_id);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("finishing its rollback"), "{out}");
    assert!(!out.contains("UNDO FAILED"), "{out}");
    stack.assert_one_container_each();
    stack.testdata("wait");
    assert_eq!(stack.health("redis"), "healthy");
    assert_eq!(stack.inspect("redis", "{{.Config.Image}}"), before);
    assert_eq!(stack.inspect("postgres", "{{.Config.Image}}"), before);
    stack.assert_seed();
}

#[test]
fn a_plain_container_target_left_renamed_by_a_killed_recreate_is_still_found() {
    let name = format!("lbe2e{}-plain", std::process::id());
    let old = format!("{name}-lifeboat-old");
    struct Gone<'a>(&'a str, &'a str);
    impl Drop for Gone<'_> {
        fn drop(&mut self) {
            let _ = Command::new("docker")
                .args(["rm", "-f", self.0, self.1])
                .output();
        }
    }
    let _gone = Gone(&name, &old);
    ok(Command::new("docker").args([
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        "team=dr",
        "lifeboat-test/stack:local",
        "sleep",
        "infinity",
    ]));
    // A recreate killed right after its rename: only the original is there,
    // under its leftover name.
    ok(Command::new("docker").args(["rename", &name, &old]));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plain.yaml"),
        format!(
            r#"runbook: plain
description: exec in a plain container target, then recreate it
targets:
  app: {{ container: {name} }}
steps:
  - id: look
    uses: container.exec
    readonly: true
    with: {{ container: app, command: [hostname] }}
  - id: renew
    uses: container.recreate
    needs: [look]
    unsafe: a test container without data
    with: {{ container: app, image: lifeboat-test/stack:local, wait: running, timeout: 30s }}
"#
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .env("LIFEBOAT_STATE", dir.path().join("state"))
        .env("LIFEBOAT_REPO", dir.path().join("repo"))
        .env("LIFEBOAT_LOCK_DIR", dir.path().join("locks"))
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .args(["--runbooks", ".", "run", "plain", "--yes"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let names = ok(Command::new("docker").args([
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}} {{.State}} {{.Label \"team\"}}",
    ]));
    assert_eq!(names.trim(), format!("{name} running dr"));
}

// ---------------------------------------------------------------------------
// Drills (docs/architecture.md §8): restore tests on a throwaway copy.

impl Stack {
    /// The nightly backup of this project, with its facts (webhook answered).
    fn nightly(&self) {
        let (url, _) = webhook();
        let hook = format!("webhook_url={url}");
        let (code, out) = self.run("nightly-backup", &["--set", &hook]);
        assert_eq!(code, 0, "{out}");
    }

    /// `lifeboat drill shop-restore` against this project's backups: (exit
    /// code, the JSON report, stderr).
    fn drill(&self, extra: &[&str]) -> (i32, serde_json::Value, String) {
        let production = format!("production={}", self.project);
        let mut args = vec![
            "drill",
            "shop-restore",
            "--format",
            "json",
            "--set",
            &production,
        ];
        args.extend_from_slice(extra);
        let out = self.lifeboat(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON report ({e}): {}\n{stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (out.status.code().unwrap_or(-1), report, stderr)
    }

    /// What production is: each container's id, state and start time, and
    /// a checksum of every file in every volume (with the servers stopped,
    /// so nothing changes them but a drill that touched them).
    fn fingerprint(&self) -> String {
        let mut out = String::new();
        for service in ["redis", "postgres"] {
            out.push_str(&self.inspect(
                service,
                "{{.Id}} {{.Name}} {{.State.Status}} {{.State.StartedAt}}",
            ));
            out.push('\n');
        }
        for volume in ["redis-data", "pg-data"] {
            out.push_str(&ok(Command::new("docker").args([
                "run",
                "--rm",
                "-v",
                &format!("{}:/v:ro", self.volume(volume)),
                "lifeboat-test/stack:local",
                "sh",
                "-c",
                "cd /v && find . -print0 | sort -z | xargs -0 stat -c '%n %s %a %u' && \
                 find . -type f -print0 | sort -z | xargs -0 sha256sum",
            ])));
        }
        out
    }
}

/// Everything Docker has that a drill labelled.
fn drill_leftovers() -> String {
    let mut all = String::new();
    for what in [
        vec!["ps", "-aq"],
        vec!["volume", "ls", "-q"],
        vec!["network", "ls", "-q"],
    ] {
        let mut args = what.clone();
        args.extend(["--filter", "label=lifeboat.drill.id"]);
        all.push_str(&ok(Command::new("docker").args(&args)));
    }
    all
}

#[test]
fn a_drill_restores_the_backups_into_a_copy_checks_the_facts_and_never_touches_production() {
    let _turn = turn();
    let stack = Stack::up("drill");
    stack.nightly();
    let pg = stack.listed(&stack.volume("pg-data"));
    let facts = &pg[0]["facts"]["customers"];
    assert!(
        facts.as_str().is_some_and(|f| f.starts_with("5000:")),
        "the nightly backup records the customers fact: {pg:?}"
    );
    // Production stopped: its volumes cannot change unless a drill changes them.
    stack.compose(&["stop"]);
    let before = stack.fingerprint();

    let (code, report, stderr) = stack.drill(&[]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["verdict"], "passed", "{report:#}");
    let project = report["project"].as_str().unwrap();
    assert!(
        project.starts_with("lifeboat-drill-shop-restore-"),
        "{project}"
    );
    let checks: Vec<(String, bool)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["passed"] == true))
        .collect();
    assert_eq!(
        checks,
        [
            ("postgres healthy".to_string(), true),
            ("redis healthy".to_string(), true),
            ("customers".to_string(), true),
            ("redis-keys".to_string(), true),
            ("orders".to_string(), true),
        ],
        "{report:#}"
    );
    let customers = &report["checks"][2];
    assert_eq!(customers["kind"], "fact");
    assert_eq!(customers["actual"], *facts);
    assert_eq!(report["backups"].as_array().unwrap().len(), 2, "{report:#}");
    let phases: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for phase in [
        "setup", "stop", "safety", "restore", "start", "verify", "checks", "teardown",
    ] {
        assert!(phases.contains(&phase), "no {phase} phase: {phases:?}");
    }
    assert!(report["rto"]["measured_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(report["rto"]["objective_seconds"], 600.0);
    assert_eq!(report["rto"]["met"], true);
    assert_eq!(report["rpo"]["basis"], "backup_time");
    assert_eq!(report["rpo"]["met"], true);
    assert_eq!(drill_leftovers(), "", "the drill left objects behind");
    assert_eq!(
        stack.fingerprint(),
        before,
        "a passing drill changed production"
    );
    // The drill's own safety backups are gone; production's are all there.
    assert_eq!(stack.listed(&stack.volume("pg-data")).len(), pg.len());
    let history = stack
        .lifeboat(&["drills", "history", "--format", "json"])
        .output()
        .unwrap();
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(history[0]["id"], report["id"], "{history:#}");

    // A backup whose facts do not match what it holds: the check fails.
    let pg_id = pg[0]["id"].as_str().unwrap();
    let manifest = stack
        .dir
        .path()
        .join("repo/backups")
        .join(stack.volume("pg-data"))
        .join(format!("{pg_id}.json"));
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"5000:", "\"4999:")).unwrap();
    let (code, report, stderr) = stack.drill(&[]);
    assert_eq!(code, 10, "{report:#}\n{stderr}");
    assert_eq!(report["verdict"], "check_failed");
    assert_eq!(report["reason"], "check(s) failed: customers", "{report:#}");
    std::fs::write(&manifest, text).unwrap();

    // One flipped byte in the backup: the restore refuses it; the drill fails and says why.
    let object = stack.backups("pg-data").pop().unwrap();
    let mut bytes = std::fs::read(&object).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&object, bytes).unwrap();
    let (code, report, stderr) = stack.drill(&["--keep-on-failure"]);
    assert_eq!(code, 12, "{report:#}\n{stderr}");
    assert_eq!(report["verdict"], "could_not_run");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("sha256"), "{reason}");
    // Kept to look at, with the command that removes it.
    let kept = report["kept"].as_str().expect("the removal command");
    assert_ne!(drill_leftovers(), "", "--keep-on-failure kept nothing");
    ok(Command::new("sh").args(["-c", kept]));
    assert_eq!(
        drill_leftovers(),
        "",
        "the printed command left objects behind"
    );
    assert_eq!(
        stack.fingerprint(),
        before,
        "a failing drill changed production"
    );
}

#[test]
fn a_killed_drill_leaves_labelled_leftovers_that_gc_removes_and_a_shared_stack_is_refused() {
    let _turn = turn();
    let stack = Stack::up("drillkill");
    stack.nightly();
    let production = format!("production={}", stack.project);
    let mut child = stack
        .lifeboat(&["drill", "shop-restore", "--set", &production])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed once its copy exists.
    let deadline = Instant::now() + Duration::from_secs(120);
    while drill_leftovers().lines().count() < 3 {
        assert!(
            Instant::now() < deadline,
            "the drill never created its stack"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert_ne!(drill_leftovers(), "");
    let out = stack.lifeboat(&["drills", "gc"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Removed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(drill_leftovers(), "", "gc left drill objects");
    assert_eq!(
        stack.testdata("check").status.code(),
        Some(0),
        "production lost data"
    );

    // Ctrl-C once the copy exists: the drill stops, rolls back, tears down
    // and says it could not run.
    let child = stack
        .lifeboat(&[
            "drill",
            "shop-restore",
            "--format",
            "json",
            "--set",
            &production,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while drill_leftovers().lines().count() < 3 {
        assert!(
            Instant::now() < deadline,
            "the drill never created its stack"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(12), "{report:#}");
    assert_eq!(report["verdict"], "could_not_run", "{report:#}");
    assert_eq!(
        drill_leftovers(),
        "",
        "an interrupted drill left objects behind"
    );
    assert_eq!(
        stack.testdata("check").status.code(),
        Some(0),
        "production lost data"
    );

    // A compose file whose copy would share a container name with production.
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("compose.yml");
    std::fs::write(
        &compose,
        "version: '2.4'\nservices:\n  redis:\n    image: lifeboat-test/stack:local\n    container_name: prod-redis\n    volumes: [redis-data:/data]\n  postgres:\n    image: lifeboat-test/stack:local\n    volumes: [pg-data:/var/lib/postgresql/data]\nvolumes:\n  redis-data:\n  pg-data:\n",
    )
    .unwrap();
    let drill = dir.path().join("shared.yaml");
    std::fs::write(
        &drill,
        format!(
            "drill: shared\nstack: {{ compose: {}, production: {} }}\nrestore: {{ runbook: full-data-loss }}\n",
            compose.display(),
            stack.project
        ),
    )
    .unwrap();
    let out = stack
        .lifeboat(&["drill", drill.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(12), "{stdout}{stderr}");
    assert!(
        stdout.contains("fixed container_name `prod-redis`"),
        "{stdout}{stderr}"
    );
    assert_eq!(drill_leftovers(), "");
}

#[test]
fn a_drill_runs_from_an_s3_repository_alone_on_a_new_machine() {
    let _turn = turn();
    let s3 = S3Server::start("lifeboat-drill");
    let stack = Stack::up("drills3");
    stack.cold_backup_offsite(&s3, "s3://lifeboat-drill/shop");
    // A brand-new machine: no local repository, no state.
    std::fs::remove_dir_all(stack.dir.path().join("repo")).unwrap();
    std::fs::remove_dir_all(stack.dir.path().join("state")).unwrap();
    let production = format!("production={}", stack.project);
    let mut cmd = stack.lifeboat(&[
        "drill",
        "shop-restore",
        "--format",
        "json",
        "--set",
        &production,
        "--repo",
        "s3://lifeboat-drill/shop",
    ]);
    cmd.env_remove("LIFEBOAT_REPO");
    s3.env(&mut cmd);
    let out = cmd.output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    // cold-backup records no facts: the fact checks fail and say so, the
    // restore itself (fetched from S3) and every other check pass.
    assert_eq!(out.status.code(), Some(10), "{report:#}");
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["customers", "redis-keys"], "{report:#}");
    assert_eq!(
        report["checks"][2]["expected"],
        "fact `customers`, but no restored backup recorded it"
    );
    let fetch = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "fetch")
        .expect("a fetch phase");
    assert_eq!(fetch["ok"], true);
    assert_eq!(drill_leftovers(), "");
    // Nothing the drill did went to S3: only cold-backup's two backups are there.
    let mut ls = Command::new("aws");
    s3.env(&mut ls);
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    let listing = ok(ls.args([
        "--endpoint-url",
        &endpoint,
        "s3",
        "ls",
        "--recursive",
        "s3://lifeboat-drill/shop/",
    ]));
    assert!(!listing.contains("lifeboat-drill-"), "{listing}");
}
