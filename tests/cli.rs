//! The real binary, run as a user would: exit codes, streams, formats.

use std::path::Path;
use std::process::{Command, Output};

fn lifeboat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LIFEBOAT_RUNBOOKS")
        .env("NO_COLOR", "1")
        .output()
        .expect("run lifeboat")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn validate_accepts_the_shipped_runbooks_and_drills() {
    let o = lifeboat(&["validate"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let count = |dir: &str| {
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .unwrap()
            .count()
    };
    let (runbooks, drills) = (count("runbooks"), count("drills"));
    assert!(
        stdout(&o).ends_with(&format!(
            "{runbooks} runbooks and {drills} drill{} valid\n",
            if drills == 1 { "" } else { "s" }
        )),
        "{}",
        stdout(&o)
    );
}

#[test]
fn validate_reports_errors_with_position_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "runbook: bad\nsteps:\n  - id: a\n    uses: volume.restor\n",
    )
    .unwrap();
    let o = lifeboat(&["validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("error: unknown step kind `volume.restor`"),
        "{err}"
    );
    assert!(
        err.contains(&format!("--> {}:4:11", file.display())),
        "{err}"
    );
    assert!(
        err.contains("hint: did you mean `volume.restore`?"),
        "{err}"
    );
    assert!(err.ends_with("1 of 1 runbook invalid\n"), "{err}");
}

#[test]
fn validate_json_gives_programs_exact_positions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "runbook: bad\nsteps:\n  - id: a\n    uses: container.stop\n    with: { container: nope }\n").unwrap();
    let o = lifeboat(&["validate", "--format", "json", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let reports: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(reports[0]["valid"], false);
    assert_eq!(reports[0]["errors"][0]["message"], "unknown target `nope`");
    assert_eq!(
        reports[0]["errors"][0]["span"],
        serde_json::json!({ "line": 5, "column": 24, "length": 4 })
    );
}

#[test]
fn validate_missing_path_is_a_usage_error() {
    let o = lifeboat(&["validate", "no/such/file.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read no/such/file.yaml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn plan_finds_runbooks_by_name_and_suggests_on_typos() {
    let o = lifeboat(&["plan", "full-data-los"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("no runbook `full-data-los` in runbooks; did you mean `full-data-loss`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn plan_rejects_unknown_params_as_usage_errors() {
    let o = lifeboat(&["plan", "full-data-loss", "--set", "projet=shop"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--set projet: no such param: did you mean `project`?"),
        "{}",
        stderr(&o)
    );
    let o = lifeboat(&["plan", "full-data-loss", "--set", "oops"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn plan_text_ends_with_the_summary() {
    let o = lifeboat(&[
        "plan",
        "full-data-loss",
        "--set",
        "project=demo",
        "--world",
        "fixtures/worlds/demo.json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Wave 1 — 2 steps in parallel"), "{out}");
    assert!(
        out.ends_with(
            "Plan: 2 stops, 2 backups, 2 DESTRUCTIVE restores (guarded), 2 starts, 2 checks.\n"
        ),
        "{out}"
    );
}

#[test]
fn plan_json_and_saved_plan_agree() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json");
    let o = lifeboat(&[
        "plan",
        "full-data-loss",
        "--format",
        "json",
        "--world",
        "fixtures/worlds/demo.json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(printed, saved);
    assert_eq!(printed["runbook"], "full-data-loss");
    assert_eq!(printed["steps"][4]["id"], "restore-redis");
    assert_eq!(printed["steps"][4]["effect"], "destroy");
    assert_eq!(
        printed["world"]["fingerprint"].as_str().map(str::len),
        Some(64)
    );
}

/// A plan saved by `--out` holds the world it was made against, and
/// `--world` takes that file: planning again gives the same plan
/// (docs/formats.md, "Planning again against a plan's world").
#[test]
fn a_world_recorded_by_plan_out_is_accepted_by_world() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        dir.path().join("first.json"),
        dir.path().join("second.json"),
    );
    let plan = |world: &str, out: &Path| {
        let o = lifeboat(&[
            "plan",
            "full-data-loss",
            "--set",
            "backup=latest-verified",
            "--format",
            "json",
            "--world",
            world,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let printed: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
        assert_eq!(printed, saved);
        printed
    };
    let a = plan("fixtures/worlds/demo.json", &first);
    let b = plan(first.to_str().unwrap(), &second);

    let world: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("fixtures/worlds/demo.json").unwrap())
            .unwrap();
    assert_eq!(
        a["world"]["recorded"], world,
        "the saved plan holds the world"
    );
    assert_eq!(b["world"]["recorded"], world, "and passes it on");
    assert_eq!(a["world"]["source"], "fixtures/worlds/demo.json");
    assert_eq!(b["world"]["source"], first.display().to_string());
    assert_eq!(b["world"]["taken_at"], "2026-11-21T09:00:00Z");
    assert_eq!(
        b["steps"][4]["backup"]["resolved"], "20261120T020000Z-a1b2c3",
        "latest-verified resolved in the recorded world"
    );
    let (mut a, mut b) = (a, b);
    a["world"]["source"] = serde_json::Value::Null;
    b["world"]["source"] = serde_json::Value::Null;
    assert_eq!(a, b, "the same plan, but for where its world was read");

    // A plan made without a world cannot give one.
    let offline = dir.path().join("offline.json");
    let o = lifeboat(&[
        "plan",
        "full-data-loss",
        "--no-probe",
        "--out",
        offline.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = lifeboat(&[
        "plan",
        "full-data-loss",
        "--world",
        offline.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does not hold the world it was made against"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn plan_renders_mermaid_and_dot() {
    let o = lifeboat(&["plan", "full-data-loss", "--format", "mermaid"]);
    assert!(stdout(&o).starts_with("flowchart TD\n"));
    assert!(stdout(&o).contains("s0 --> s2"), "{}", stdout(&o));
    let o = lifeboat(&["plan", "full-data-loss", "--format", "dot"]);
    assert!(stdout(&o).starts_with("digraph \"full-data-loss\" {"));
    assert!(stdout(&o).contains("\"safety-redis\" -> \"restore-redis\";"));
}

#[test]
fn plan_reports_a_bad_world_file_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("w.json");
    std::fs::write(
        &world,
        "{\"taken_at\": \"2026-11-21T09:00:00Z\",\n \"containerz\": []}",
    )
    .unwrap();
    let o = lifeboat(&["plan", "full-data-loss", "--world", world.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("{}:2:", world.display())),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("unknown field `containerz`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn list_shows_runbooks_with_objectives() {
    let o = lifeboat(&["list", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let fdl = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "full-data-loss")
        .unwrap();
    assert_eq!(fdl["rto"], "10m");
    assert_eq!(fdl["rpo"], "24h");
    assert_eq!(fdl["steps"], 10);
    let o = lifeboat(&["list"]);
    assert!(stdout(&o).starts_with("NAME"), "{}", stdout(&o));
}

#[test]
fn runbooks_dir_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["plan", "full-data-loss"])
        .env("LIFEBOAT_RUNBOOKS", dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("has no runbooks"), "{}", stderr(&o));
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let o = lifeboat(&["schema"]);
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/runbook.schema.json"),
    )
    .unwrap();
    assert_eq!(
        stdout(&o),
        committed,
        "schema/runbook.schema.json is stale: run `cargo run -- schema > schema/runbook.schema.json`"
    );
}

#[test]
fn shipped_runbooks_reference_the_schema() {
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks")).unwrap()
    {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schema/runbook.schema.json\n"),
            "{} does not reference the schema",
            path.display()
        );
    }
}

#[test]
fn help_teaches_by_example_and_usage_errors_exit_2() {
    let o = lifeboat(&["plan", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("lifeboat plan full-data-loss --set project=shop --world"),
        "{}",
        stdout(&o)
    );
    let o = lifeboat(&[]);
    assert_eq!(o.status.code(), Some(2));
    let o = lifeboat(&["plan", "full-data-loss", "--format", "yaml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn kinds_lists_every_kind() {
    let o = lifeboat(&["kinds", "--format", "json"]);
    let kinds: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<&str> = kinds
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    for expected in [
        "container.stop",
        "volume.restore",
        "exec.backup",
        "http.restore",
        "backup.prune",
        "gate.confirm",
        "notify.webhook",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

/// A runbook that is not UTF-8 is an invalid runbook (exit 1), not an
/// unreadable path (exit 2): the message names the file, the line and column
/// of the first bad byte, and what to do.
#[test]
fn a_runbook_that_is_not_utf8_is_invalid_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin1.yaml");
    std::fs::write(
        &file,
        b"runbook: latin1\nsteps:\n  - id: caf\xe9\n    uses: gate.confirm\n    with: { message: hi }\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let o = lifeboat(&["validate", path]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not UTF-8"), "{err}");
    assert!(err.contains(&format!("{path}:3:12")), "{err}");
    assert!(err.contains("0xE9"), "{err}");
    assert!(err.contains("iconv"), "{err}");
    assert!(err.ends_with("1 of 1 runbook invalid\n"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let o = lifeboat(&["validate", "--format", "json", path]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let reports: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(reports[0]["valid"], false);
    assert_eq!(
        reports[0]["errors"][0]["span"],
        serde_json::json!({ "line": 3, "column": 12, "length": 1 })
    );

    // Every command that reads a runbook says the same, with exit 1.
    for args in [
        vec!["plan", path, "--no-probe"],
        vec!["run", path, "--dry-run"],
    ] {
        let o = lifeboat(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(&format!("{path}:3:12")), "{args:?}: {err}");
    }
    // A file that cannot be read at all is still a usage error.
    let o = lifeboat(&[
        "validate",
        dir.path().join("missing.yaml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Starts lifeboat with stdout and stderr on pipes whose reading ends are
/// closed at once, as `| head -0` or a quit pager leaves them.
fn with_closed_pipes(args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> std::process::ExitStatus {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LIFEBOAT_RUNBOOKS")
        .env_remove("RUST_LOG")
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run lifeboat");
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().unwrap()
}

/// `lifeboat schema | head` and friends: a reader that goes away is not an
/// error of the command. It exits quietly (no panic, status 0), instead of
/// panicking with "failed printing to stdout: Broken pipe" (status 101).
#[test]
fn printing_commands_exit_quietly_when_the_reader_goes_away() {
    for args in [
        vec!["schema"],
        vec!["kinds"],
        vec!["list"],
        vec!["validate"],
        vec!["plan", "full-data-loss", "--no-probe"],
        vec!["--help"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("LIFEBOAT_RUNBOOKS")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        // Both streams gone: still no panic, still status 0.
        let status = with_closed_pipes(&args, &[]);
        assert_eq!(status.code(), Some(0), "{args:?} with both pipes closed");
    }
}

/// A backup killed while it was written leaves its `.partial` object: the
/// next lifeboat that opens the repository removes it and says so, unless
/// its run is still running (its run lock is held) or its writer still
/// holds the file. Unnamed ones (older versions) go once they are stale.
#[test]
fn partial_objects_of_dead_runs_are_swept_at_start_up() {
    use lifeboat::engine::lock;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let locks = dir.path().join("locks");
    let source = repo.join("backups/lbhyg-vol");
    std::fs::create_dir_all(&source).unwrap();
    let put = |name: &str, bytes: usize| {
        let path = source.join(name);
        std::fs::write(&path, vec![7u8; bytes]).unwrap();
        path
    };
    let dead = put(
        "20261130T010000Z-aaaaaa.tar.zst.run-20261130T005959Z-dead01.partial",
        3 << 20,
    );
    let live = put(
        "20261130T010000Z-bbbbbb.tar.zst.run-20261130T005959Z-live01.partial",
        1000,
    );
    let writing = put(
        "20261130T010000Z-cccccc.tar.zst.run-20261130T005959Z-dead02.partial",
        1000,
    );
    let old_unnamed = put("20261129T010000Z-dddddd.tar.zst.partial", 2000);
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old_unnamed)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let fresh_unnamed = put("20261130T010000Z-eeeeee.tar.zst.partial", 2000);
    let published = put("20261130T000000Z-ffffff.tar.zst", 10);

    // A run that is running holds its run lock; a writer holds its file.
    let _run = lock::acquire(
        &locks,
        &[lock::run_lock("20261130T005959Z-live01")],
        "run 20261130T005959Z-live01 (test)",
    )
    .unwrap();
    let held = std::fs::File::open(&writing).unwrap();
    held.lock().unwrap();

    let o = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["backups", "list", "--repo", repo.to_str().unwrap()])
        .env("LIFEBOAT_LOCK_DIR", &locks)
        .env("LIFEBOAT_STATE", dir.path().join("state"))
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        !dead.exists(),
        "the partial object of a dead run is left: {err}"
    );
    assert!(
        !old_unnamed.exists(),
        "a stale unnamed partial is left: {err}"
    );
    assert!(
        live.exists(),
        "the partial object of a running run was removed"
    );
    assert!(
        writing.exists(),
        "a partial object being written was removed"
    );
    assert!(
        fresh_unnamed.exists(),
        "a fresh unnamed partial was removed"
    );
    assert!(published.exists());
    assert!(
        err.contains("Removed 2 partial backup objects (3.0 MiB) left by interrupted runs (20261130T005959Z-dead01):"),
        "{err}"
    );
    assert!(err.contains(&dead.display().to_string()), "{err}");
    assert!(err.contains(&old_unnamed.display().to_string()), "{err}");
    assert!(!err.contains(&live.display().to_string()), "{err}");
}

/// UTF-16 runbooks (as some Windows editors save them) are invalid, with a
/// hint that says so; a NUL byte is placed where it is.
#[test]
fn utf16_and_nul_runbooks_are_invalid_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let with_bom = dir.path().join("bom.yaml");
    let mut bytes = vec![0xFF, 0xFE];
    for unit in "runbook: x\nsteps: []\n".encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    std::fs::write(&with_bom, &bytes).unwrap();
    let without_bom = dir.path().join("nobom.yaml");
    std::fs::write(&without_bom, &bytes[2..]).unwrap();
    let nul = dir.path().join("nul.yaml");
    std::fs::write(&nul, "runbook: x\nsteps:\n  - id: a\0b\n").unwrap();
    for (file, at) in [(&with_bom, ":1:1"), (&without_bom, ":1:2"), (&nul, ":3:10")] {
        let path = file.to_str().unwrap();
        let o = lifeboat(&["validate", path]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("{path}{at}")), "{err}");
        if file != &nul {
            assert!(err.contains("UTF-16"), "{err}");
        }
    }
}

#[test]
fn drill_schema_command_prints_the_committed_schema_and_drills_reference_it() {
    let o = lifeboat(&["schema", "--drill"]);
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/drill.schema.json"),
    )
    .unwrap();
    assert_eq!(
        stdout(&o),
        committed,
        "schema/drill.schema.json is stale: run `cargo run -- schema --drill > schema/drill.schema.json`"
    );
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("drills")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schema/drill.schema.json\n"),
            "{} does not reference the drill schema",
            path.display()
        );
    }
}

/// The plan of the shipped drill, as a reviewer reads it before scheduling it.
#[test]
fn a_drill_plan_shows_the_copy_the_backups_it_takes_the_checks_and_the_runbook() {
    let o = lifeboat(&["plan", "shop-restore", "--set", "production=shop"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    insta::assert_snapshot!(stdout(&o));
    let o = lifeboat(&["plan", "shop-restore", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["drill"]["production"], "demo");
    assert_eq!(
        json["drill"]["point"],
        serde_json::json!({"reference": "latest"})
    );
    assert_eq!(
        json["plan"]["params"][0]["value"],
        "lifeboat-drill-shop-restore-ID"
    );
}

#[test]
fn broken_drills_are_reported_with_their_place_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let drill = dir.path().join("d.yaml");
    std::fs::write(
        &drill,
        "drill: d\nstack: { production: demo }\nrestore: { runbook: full-data-los }\nchecks:\n  - name: c\n    exec: { service: redis, comand: [x] }\n",
    )
    .unwrap();
    let o = lifeboat(&["validate", drill.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    insta::assert_snapshot!(stderr(&o).replace(drill.to_str().unwrap(), "d.yaml"));
    std::fs::write(
        &drill,
        "drill: d\nstack: { production: demo }\nrestore: { runbook: full-data-los }\n",
    )
    .unwrap();
    let o = lifeboat(&["validate", drill.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no runbook `full-data-los`")
            && err.contains("did you mean `full-data-loss`?"),
        "{err}"
    );
    assert!(err.contains("d.yaml:3:21"), "{err}");
    // `lifeboat drill` of a drill whose runbook is not there: a usage error
    // (exit 2) before Docker is asked anything.
    let o = lifeboat(&["drill", drill.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
