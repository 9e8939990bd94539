//! `lifeboat backups …` run as a user would, against a temporary repository
//! filled with real backups through the library.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jiff::{SignedDuration, Timestamp};
use lifeboat::repo::{BackupKind, LocalRepo, Manifest, NewBackup, Origin};
use serde_json::Value;

mod common;
use common::volume_tar;

struct Repo {
    dir: tempfile::TempDir,
    repo: LocalRepo,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = LocalRepo::open(dir.path().join("repo")).unwrap();
        Self { dir, repo }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// A real volume backup of `source`, taken `age` ago, with `tags`.
    fn backup(&self, source: &str, age: SignedDuration, tags: &[&str]) -> Manifest {
        let mut w = self
            .repo
            .create(NewBackup {
                source: source.into(),
                kind: BackupKind::Volume,
                origin: Origin {
                    volume: Some(source.into()),
                    ..Origin::default()
                },
                tags: tags.iter().map(|t| t.to_string()).collect(),
                run_id: Some("run-test".into()),
                facts: Default::default(),
            })
            .unwrap();
        let body = format!("{source} is {age:#}\n");
        std::io::Write::write_all(
            &mut w,
            &volume_tar(&[("PG_VERSION", b"16\n"), ("base/1", body.as_bytes())]),
        )
        .unwrap();
        let m = w.finish().unwrap();
        self.set_created(&m, Timestamp::now() - age)
    }

    fn manifest_path(&self, m: &Manifest) -> PathBuf {
        self.root()
            .join("backups")
            .join(&m.source)
            .join(format!("{}.json", m.id))
    }

    /// Rewrites `created_at` in the manifest, as if the backup were older.
    fn set_created(&self, m: &Manifest, at: Timestamp) -> Manifest {
        let path = self.manifest_path(m);
        let mut json: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        json["created_at"] = Value::String(at.to_string());
        fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        self.repo.get(&m.id).unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .arg("--repo")
            .arg(self.root())
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("LIFEBOAT_REPO")
            .env_remove("LIFEBOAT_STATE")
            .env("NO_COLOR", "1")
            .output()
            .expect("run lifeboat")
    }

    fn json(&self, args: &[&str]) -> Value {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
    }

    fn ids(&self) -> Vec<String> {
        self.repo
            .list()
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

fn ids_of(json: &Value) -> Vec<&str> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect()
}

fn flip_byte(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x40], at).unwrap();
}

#[test]
fn list_filters_and_json() {
    let r = Repo::new();
    let pg_old = r.backup("pgdata", hours(24 * 10), &["nightly"]);
    let pg_mid = r.backup("pgdata", hours(48), &["nightly"]);
    let redis = r.backup("redis", hours(24 * 5), &["nightly"]);
    let pg_new = r.backup("pgdata", hours(1), &["pre-upgrade"]);

    let all = r.json(&["backups", "list", "--format", "json"]);
    assert_eq!(
        ids_of(&all),
        [&pg_new.id, &pg_mid.id, &redis.id, &pg_old.id],
        "newest first"
    );
    let first = &all[0];
    assert_eq!(first["source"], "pgdata");
    assert_eq!(first["kind"], "volume");
    assert_eq!(first["created_at"], pg_new.created_at.to_string());
    assert_eq!(first["stored_bytes"], pg_new.stored_bytes);
    assert_eq!(first["raw_bytes"], pg_new.raw_bytes);
    assert_eq!(first["file_count"], 2);
    assert_eq!(first["tags"], serde_json::json!(["pre-upgrade"]));
    assert_eq!(first["pinned"], false);
    assert_eq!(first["verified"], false);
    assert_eq!(first["sha256"], pg_new.sha256);
    assert_eq!(first["run_id"], "run-test");
    assert_eq!(
        first["path"],
        r.repo.object_path(&pg_new).display().to_string()
    );

    let pg = r.json(&["backups", "list", "--source", "pgdata", "--format", "json"]);
    assert_eq!(ids_of(&pg), [&pg_new.id, &pg_mid.id, &pg_old.id]);
    let recent = r.json(&["backups", "list", "--since", "3d", "--format", "json"]);
    assert_eq!(ids_of(&recent), [&pg_new.id, &pg_mid.id]);
    let since = (Timestamp::now() - hours(24 * 6)).to_string();
    let since = r.json(&["backups", "list", "--since", &since, "--format", "json"]);
    assert_eq!(ids_of(&since), [&pg_new.id, &pg_mid.id, &redis.id]);
    let nightly_pg = r.json(&[
        "backups", "list", "--tag", "nightly", "--source", "pgdata", "--format", "json",
    ]);
    assert_eq!(ids_of(&nightly_pg), [&pg_mid.id, &pg_old.id]);
    let none = r.json(&["backups", "list", "--tag", "nope", "--format", "json"]);
    assert_eq!(none, serde_json::json!([]));

    let o = r.run(&["backups", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    for column in [
        "ID",
        "SOURCE",
        "CREATED",
        "AGE",
        "STORED / RAW",
        "FILES",
        "TAGS",
        "VERIFIED",
        "PINNED",
    ] {
        assert!(lines[0].contains(column), "{text}");
    }
    assert!(lines[1].starts_with(&pg_new.id), "{text}");
    assert!(lines[1].contains("pgdata"), "{text}");
    assert!(lines[1].contains("pre-upgrade"), "{text}");
    assert!(lines[1].contains("never"), "{text}");
    assert!(lines[3].contains(" 5d "), "{text}");
    assert!(lines[5].starts_with("4 backup(s), "), "{text}");

    let o = r.run(&["backups", "list", "--source", "mysql"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "No backups of `mysql`; the repository has backups of `pgdata`, `redis`.\n"
    );
    let o = r.run(&["backups", "list", "--since", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("neither an RFC 3339 time"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_empty_repository_says_so() {
    let r = Repo::new();
    let o = r.run(&["backups", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("No backups in {}.\n", r.root().display())
    );
    assert_eq!(
        r.json(&["backups", "list", "--format", "json"]),
        serde_json::json!([])
    );
}

#[test]
fn show_prints_the_manifest() {
    let r = Repo::new();
    let m = r.backup("pgdata", hours(3), &["nightly"]);
    let json = r.json(&["backups", "show", &m.id, "--format", "json"]);
    assert_eq!(json["id"], m.id);
    assert_eq!(json["object"], m.object);
    assert_eq!(json["origin"]["volume"], "pgdata");
    assert_eq!(json["compression"], "zstd");

    let o = r.run(&["backups", "show", &m.id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for line in [
        format!("id:          {}", m.id),
        "source:      pgdata".to_string(),
        "kind:        volume".to_string(),
        "files:       2".to_string(),
        format!("sha256:      {}", m.sha256),
        "tags:        nightly".to_string(),
        "pinned:      no".to_string(),
        "run:         run-test".to_string(),
        "verified:    never (lifeboat backups verify ID)".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
    }

    let typo = format!("{}x", &m.id[..m.id.len() - 1]);
    let o = r.run(&["backups", "show", &typo]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("(did you mean `{}`?)", m.id)),
        "{}",
        stderr(&o)
    );
}

#[test]
fn verify_records_results_and_fails_with_3_on_corruption() {
    let r = Repo::new();
    let a = r.backup("pgdata", hours(2), &[]);
    let b = r.backup("redis", hours(1), &[]);

    let o = r.run(&["backups", "verify", &a.id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "✓ ok      {}  sha256 ok\n1 of 1 backup(s) passed (sha256; --deep also decompresses and scans).\n",
            a.id
        )
    );
    assert!(r.repo.get(&a.id).unwrap().verified());
    assert!(r.repo.get(&b.id).unwrap().verification.is_none());

    let all = r.json(&["backups", "verify", "--all", "--deep", "--format", "json"]);
    assert_eq!(ids_of(&all), [&b.id, &a.id]);
    for v in all.as_array().unwrap() {
        assert_eq!(v["ok"], true);
        assert_eq!(v["deep"], true);
        assert!(v["detail"].as_str().unwrap().contains("tar ok"), "{v}");
    }

    flip_byte(&r.repo.object_path(&b), 20);
    let o = r.run(&["backups", "verify", "--all"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("✗ FAILED  {}  sha256 of ", b.id)),
        "{text}"
    );
    assert!(text.contains(&format!("✓ ok      {}", a.id)), "{text}");
    assert!(
        text.ends_with("1 of 2 backup(s) passed (sha256; --deep also decompresses and scans).\n"),
        "{text}"
    );
    let listed = r.json(&["backups", "list", "--format", "json"]);
    assert_eq!(listed[0]["id"], b.id.as_str());
    assert_eq!(listed[0]["verified"], false);
    assert_eq!(listed[0]["verification"]["ok"], false);
    assert_eq!(listed[1]["verified"], true);

    let o = r.run(&["backups", "verify", "--source", "pgdata", "--deep"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = r.run(&["backups", "verify", "--source", "redis", "--format", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json[0]["ok"], false);

    let o = r.run(&["backups", "verify", "20200101T000000Z-000000"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no backup with id `20200101T000000Z-000000`"),
        "{}",
        stderr(&o)
    );
    let o = r.run(&["backups", "verify"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an id, --all or --source is required"
    );
}

#[test]
fn pin_and_unpin() {
    let r = Repo::new();
    let m = r.backup("pgdata", hours(1), &[]);
    let before = fs::read_to_string(r.manifest_path(&m)).unwrap();

    let o = r.run(&["backups", "pin", &m.id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "Backup {} of `pgdata` pinned: retention and `backups delete` keep it.\n",
            m.id
        )
    );
    let pinned = r.repo.get(&m.id).unwrap();
    assert!(pinned.pinned);
    assert_eq!(
        Manifest {
            pinned: false,
            ..pinned
        },
        m,
        "only `pinned` changed"
    );
    let o = r.run(&["backups", "pin", &m.id]);
    assert!(
        stdout(&o).ends_with("was already pinned.\n"),
        "{}",
        stdout(&o)
    );
    let listed = r.json(&["backups", "list", "--format", "json"]);
    assert_eq!(listed[0]["pinned"], true);
    assert!(
        stdout(&r.run(&["backups", "list"]))
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("pinned")
    );

    let json = r.json(&["backups", "unpin", &m.id, "--format", "json"]);
    assert_eq!(
        json,
        serde_json::json!({"id": m.id, "source": "pgdata", "pinned": false, "changed": true})
    );
    assert!(!r.repo.get(&m.id).unwrap().pinned);
    // Atomic rewrite: no temporary file is left, the manifest reads back the same.
    let dir = r.root().join("backups/pgdata");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [format!("{}.json", m.id), m.object.clone()]);
    assert_eq!(
        serde_json::from_str::<Value>(&fs::read_to_string(r.manifest_path(&m)).unwrap()).unwrap(),
        serde_json::from_str::<Value>(&before).unwrap()
    );

    let o = r.run(&["backups", "pin", "nope"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn delete_refuses_pinned_and_last_backups_without_force() {
    let r = Repo::new();
    let old = r.backup("pgdata", hours(48), &[]);
    let new = r.backup("pgdata", hours(1), &[]);
    let only = r.backup("redis", hours(1), &[]);
    r.repo.pin(&old.id).unwrap();

    let o = r.run(&["backups", "delete", &old.id]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is pinned; unpin it first"),
        "{}",
        stderr(&o)
    );
    let o = r.run(&["backups", "delete", &only.id]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!(
            "backup {} is the only backup of `redis`; add --force",
            only.id
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(r.ids().len(), 3, "nothing was deleted");

    let size = |m: &Manifest| {
        fs::metadata(r.manifest_path(m)).unwrap().len()
            + fs::metadata(r.repo.object_path(m)).unwrap().len()
    };
    let freed = size(&new);
    let o = r.run(&["backups", "delete", &new.id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with(&format!("freed ({freed} bytes).\n")),
        "{}",
        stdout(&o)
    );
    assert!(!r.repo.object_path(&new).exists());
    assert!(!r.manifest_path(&new).exists());

    let freed = size(&only);
    let json = r.json(&["backups", "delete", &only.id, "--force", "--format", "json"]);
    assert_eq!(
        json,
        serde_json::json!({"id": only.id, "source": "redis", "freed_bytes": freed})
    );
    // The pinned one is now also the last one: --force covers both.
    let o = r.run(&["backups", "delete", &old.id]);
    assert_eq!(o.status.code(), Some(2));
    let o = r.run(&["backups", "delete", &old.id, "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(r.ids().is_empty());
}

#[test]
fn prune_dry_run_then_for_real() {
    let r = Repo::new();
    // pgdata: one backup a day for 8 days, the oldest pinned; redis: one old backup.
    let pg: Vec<Manifest> = (0..8)
        .rev()
        .map(|d| r.backup("pgdata", hours(24 * d + 1), &[]))
        .collect();
    let redis = r.backup("redis", hours(24 * 30), &[]);
    r.repo.pin(&pg[0].id).unwrap();
    let everything = r.ids();
    assert_eq!(everything.len(), 9);

    let dry = r.json(&[
        "backups",
        "prune",
        "--keep-last",
        "2",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["policy"], "keep last 2");
    assert_eq!(dry["forgotten"], 5);
    assert_eq!(dry["deleted"], 0);
    assert_eq!(dry["freed_bytes"], 0);
    assert_eq!(r.ids(), everything, "a dry run deletes nothing");
    let sources = dry["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[0]["source"], "pgdata");
    assert_eq!(sources[0]["kept"], 3);
    assert_eq!(sources[0]["forgotten"], 5);
    let decisions = sources[0]["decisions"].as_array().unwrap();
    assert_eq!(decisions[0]["id"], pg[7].id.as_str());
    assert_eq!(decisions[0]["reasons"], serde_json::json!(["last 1"]));
    assert_eq!(decisions[1]["reasons"], serde_json::json!(["last 2"]));
    assert_eq!(decisions[2]["keep"], false);
    assert_eq!(decisions[2]["reasons"], serde_json::json!([]));
    assert_eq!(decisions[7]["id"], pg[0].id.as_str());
    assert_eq!(decisions[7]["reasons"], serde_json::json!(["pinned"]));
    assert_eq!(sources[1]["source"], "redis");
    assert_eq!(sources[1]["kept"], 1);
    assert_eq!(
        sources[1]["decisions"][0]["reasons"],
        serde_json::json!(["last 1"])
    );

    let o = r.run(&["backups", "prune", "--keep-last", "2", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("Policy: keep last 2.\n\npgdata: keep 3, forget 5\n"),
        "{text}"
    );
    assert!(text.contains(&format!("  forget   {}", pg[5].id)), "{text}");
    assert!(
        text.contains("Dry run: 5 of 9 backup(s) would be deleted"),
        "{text}"
    );
    assert!(text.ends_with("; nothing was deleted.\n"), "{text}");
    assert_eq!(r.ids(), everything);

    let o = r.run(&["backups", "prune", "--keep-last", "2", "--source", "pgdata"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(&format!("  DELETED  {}", pg[1].id)), "{text}");
    assert!(text.contains("Deleted 5 of 8 backup(s), freed"), "{text}");
    assert!(!text.contains("redis"), "{text}");
    for m in &pg[1..6] {
        assert!(!r.repo.object_path(m).exists(), "{} deleted", m.id);
        assert!(!r.manifest_path(m).exists());
    }
    let left: Vec<String> = r.ids();
    assert_eq!(
        left,
        [&pg[7].id, &pg[6].id, &pg[0].id, &redis.id].map(String::clone)
    );

    // The pin, and the only backup of redis (kept by every non-empty policy).
    let o = r.run(&[
        "backups",
        "prune",
        "--keep-within",
        "1h",
        "--keep-last",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(&format!("  keep     {}", redis.id)), "{text}");
    assert!(text.contains("Deleted 1 of 4 backup(s)"), "{text}");
    assert_eq!(
        r.ids(),
        [&pg[7].id, &pg[0].id, &redis.id].map(String::clone)
    );

    let o = r.run(&["backups", "prune", "--keep-last", "1"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).ends_with("Nothing to prune: the policy keeps all 3 backup(s).\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn prune_refuses_an_empty_policy_and_unknown_sources() {
    let r = Repo::new();
    let m = r.backup("pgdata", hours(24 * 400), &[]);
    for args in [
        &["backups", "prune"][..],
        &["backups", "prune", "--keep-daily", "0"],
        &["backups", "prune", "--dry-run"],
    ] {
        let o = r.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains("an empty policy keeps every backup, so nothing was deleted"),
            "{}",
            stderr(&o)
        );
    }
    let o = r.run(&["backups", "prune", "--keep-last", "1", "--source", "mysql"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no backups of `mysql`") && stderr(&o).contains("`pgdata`"),
        "{}",
        stderr(&o)
    );
    let o = r.run(&["backups", "prune", "--keep-within", "7"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a retention duration needs a unit"),
        "{}",
        stderr(&o)
    );
    assert_eq!(r.ids(), [m.id]);
}

#[test]
fn help_has_examples() {
    let r = Repo::new();
    for sub in ["list", "show", "verify", "delete", "pin", "unpin", "prune"] {
        let o = r.run(&["backups", sub, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{sub}");
        assert!(
            stdout(&o).contains("lifeboat backups "),
            "{sub}: {}",
            stdout(&o)
        );
    }
    let o = r.run(&["backups", "--help"]);
    assert!(stdout(&o).contains("prune"), "{}", stdout(&o));
}

/// Whether a Docker engine answers (`lifeboat run` probes the live world first).
#[test]
fn the_backup_prune_step_applies_the_policy_to_its_source() {
    // `lifeboat run` probes the live world: this test needs Docker and fails without it.
    let r = Repo::new();
    let dump: Vec<Manifest> = (0..6)
        .rev()
        .map(|d| r.backup("shop-db", hours(24 * d + 2), &[]))
        .collect();
    let other = r.backup("redis", hours(24 * 90), &[]);
    r.repo.pin(&dump[0].id).unwrap();
    let runbook = r.dir.path().join("prune.yaml");
    fs::write(
        &runbook,
        "runbook: prune-test\n\
         description: retention only\n\
         steps:\n  \
           - id: prune\n    \
             uses: backup.prune\n    \
             with: { name: shop-db, keep_last: 2, keep_within: 1h }\n",
    )
    .unwrap();
    let o = r.run(&[
        "run",
        runbook.to_str().unwrap(),
        "--yes",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    // Kept: the 2 newest and the pin; the other source is not touched.
    assert_eq!(
        r.ids(),
        [&dump[5].id, &dump[4].id, &dump[0].id, &other.id].map(String::clone)
    );
    let finished = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e.to_string().contains("\"deleted\""))
        .unwrap_or_else(|| panic!("no step outputs in\n{}", stdout(&o)));
    let text = finished.to_string();
    for id in &dump[1..4] {
        assert!(text.contains(&id.id), "{id:?} deleted: {text}");
    }
    assert!(text.contains("\"kept\":3"), "{text}");
}

/// lifeboat as a user runs it in a directory holding `lifeboat.yaml`.
fn in_dir(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(args)
        .current_dir(dir)
        .env_remove("LIFEBOAT_REPO")
        .env_remove("LIFEBOAT_STATE")
        .env_remove("LIFEBOAT_CONFIG")
        .env_remove("LIFEBOAT_OFFSITE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run lifeboat")
}

#[test]
fn the_config_file_names_the_repository_and_the_retention_policy() {
    let r = Repo::new();
    for days in [3, 2, 1] {
        r.backup("shop_pg-data", SignedDuration::from_hours(24 * days), &[]);
    }
    fs::write(
        r.dir.path().join("lifeboat.yaml"),
        "repo: repo\nstate_dir: state\nretention: { keep_last: 2 }\n",
    )
    .unwrap();
    let o = in_dir(r.dir.path(), &["backups", "prune", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pruned: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pruned["policy"], "keep last 2");
    assert_eq!(pruned["deleted"], 1);
    assert_eq!(r.ids().len(), 2);
    // A flag still wins over the file.
    let o = in_dir(
        r.dir.path(),
        &[
            "backups",
            "prune",
            "--keep-last",
            "1",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    let dry: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(dry["forgotten"], 1);

    // A mistake in the file: its position, exit 2, nothing done.
    fs::write(
        r.dir.path().join("lifeboat.yaml"),
        "repo: repo\nretention:\n  keep_lats: 2\n",
    )
    .unwrap();
    let o = in_dir(r.dir.path(), &["backups", "prune"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: lifeboat.yaml:3:3: retention: unknown field `keep_lats`"),
        "{}",
        stderr(&o)
    );
    assert_eq!(r.ids().len(), 2);
    // --config names another file; a missing one is an error too.
    let o = in_dir(r.dir.path(), &["--config", "nope.yaml", "backups", "list"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("config file nope.yaml: "),
        "{}",
        stderr(&o)
    );
}

/// Midnight UTC `days` days before today.
fn midnight_days_ago(days: i64) -> Timestamp {
    let today = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp();
    today - hours(24 * days)
}

/// The decisions of a prune's JSON output for one source: (id, keep, reasons).
fn decisions_of(json: &Value, source: &str) -> Vec<(String, bool, Vec<String>)> {
    let s = json["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == source)
        .unwrap_or_else(|| panic!("no source {source} in {json}"));
    s["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                d["keep"].as_bool().unwrap(),
                d["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn prune_does_not_let_a_safety_backup_take_the_slot_of_that_days_nightly() {
    let r = Repo::new();
    // Verified nightlies at 02:00 UTC for 12 days; two days ago an incident run
    // took a safety backup of the (emptied) volume at 10:00, after that night's
    // nightly, and another safety backup 30 days ago.
    let base = midnight_days_ago(2);
    let nightly: Vec<Manifest> = (0..12)
        .rev()
        .map(|d| {
            let m = r.backup("pgdata", hours(1), &["nightly"]);
            r.set_created(&m, base - hours(24 * d) + hours(2))
        })
        .collect();
    let that_night = nightly.last().unwrap().clone();
    let safety = r.backup("pgdata", hours(1), &["safety"]);
    let safety = r.set_created(&safety, base + hours(10));
    let old_safety = r.backup("pgdata", hours(1), &["safety"]);
    let old_safety = r.set_created(&old_safety, base - hours(24 * 28));
    let o = r.run(&["backups", "verify", "--source", "pgdata"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let everything = r.ids();

    let args = [
        "backups",
        "prune",
        "--keep-daily",
        "7",
        "--keep-weekly",
        "4",
        "--format",
        "json",
    ];
    let dry = r.json(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(r.ids(), everything);
    let decisions = decisions_of(&dry, "pgdata");
    let of = |id: &str| {
        decisions
            .iter()
            .find(|d| d.0 == id)
            .unwrap_or_else(|| panic!("no decision for {id}: {decisions:?}"))
            .clone()
    };
    let day = (base + hours(2))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d")
        .to_string();
    // That day's slot is the nightly's, not the safety copy's.
    let (_, keep, reasons) = of(&that_night.id);
    assert!(
        keep,
        "the nightly of the incident day is kept: {decisions:?}"
    );
    assert!(reasons.contains(&format!("daily {day}")), "{reasons:?}");
    // The safety copy has a rule of its own: kept 7 days by default.
    let (_, keep, reasons) = of(&safety.id);
    assert!(keep, "{decisions:?}");
    assert_eq!(reasons, ["safety backup within 7d"]);
    let (_, keep, reasons) = of(&old_safety.id);
    assert!(!keep, "a 4-week-old safety copy is forgotten: {reasons:?}");
    // 7 daily nightlies, not 6.
    let daily: Vec<&String> = decisions
        .iter()
        .filter(|d| d.2.iter().any(|r| r.starts_with("daily ")))
        .map(|d| &d.0)
        .collect();
    assert_eq!(daily.len(), 7, "{decisions:?}");
    assert!(daily.iter().all(|id| nightly.iter().any(|n| &n.id == *id)));
    assert_eq!(dry["keep_safety"], "7d");
    let o = r.run(&[
        "backups",
        "prune",
        "--keep-daily",
        "7",
        "--keep-weekly",
        "4",
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(
            "Safety backups (tag `safety`, 2 of them) do not count in these rules; \
             they are kept for 7d from now (--keep-safety)."
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("  keep     {}", that_night.id)),
        "{text}"
    );
    assert!(
        text.contains(&format!("  forget   {}", old_safety.id)),
        "{text}"
    );

    // --keep-safety changes the safety rule only; 0d forgets safety copies.
    let dry = r.json(&[&args[..], &["--dry-run", "--keep-safety", "0d"]].concat());
    let decisions = decisions_of(&dry, "pgdata");
    let safety_kept = decisions
        .iter()
        .filter(|d| d.0 == safety.id || d.0 == old_safety.id)
        .filter(|d| d.1)
        .count();
    assert_eq!(safety_kept, 0, "{decisions:?}");
    let dry = r.json(&[&args[..], &["--dry-run", "--keep-safety", "1m"]].concat());
    let decisions = decisions_of(&dry, "pgdata");
    assert!(
        decisions.iter().any(|d| d.0 == old_safety.id && d.1),
        "1 month keeps the 4-week-old one: {decisions:?}"
    );

    // For real: that night's nightly survives, the old safety copy does not.
    let pruned = r.json(&args);
    assert_eq!(pruned["dry_run"], false);
    let left = r.ids();
    assert!(left.contains(&that_night.id), "{left:?}");
    assert!(left.contains(&safety.id), "{left:?}");
    assert!(!left.contains(&old_safety.id), "{left:?}");
    // `latest-verified` still finds that night's nightly.
    let listed = r.json(&["backups", "list", "--source", "pgdata", "--format", "json"]);
    assert!(ids_of(&listed).contains(&that_night.id.as_str()));
}

#[test]
fn prune_tag_filters_and_keep_tag() {
    let r = Repo::new();
    let base = midnight_days_ago(1);
    let at = |m: Manifest, h: i64| r.set_created(&m, base - hours(h));
    let a = at(r.backup("pgdata", hours(1), &["nightly"]), 1);
    let b = at(r.backup("pgdata", hours(1), &["nightly"]), 25);
    let c = at(r.backup("pgdata", hours(1), &["manual", "pre-upgrade"]), 30);
    let d = at(r.backup("pgdata", hours(1), &["nightly"]), 49);
    let e = at(r.backup("pgdata", hours(1), &["manual"]), 60);

    // --tag: only backups with that tag are considered; the others are not touched.
    let dry = r.json(&[
        "backups",
        "prune",
        "--keep-last",
        "1",
        "--tag",
        "nightly",
        "--dry-run",
        "--format",
        "json",
    ]);
    let decisions = decisions_of(&dry, "pgdata");
    let ids: Vec<&str> = decisions.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(ids, [&a.id, &b.id, &d.id], "{decisions:?}");
    assert_eq!(dry["forgotten"], 2);
    // restic: `a,b` means both tags; repeated options mean either.
    let dry = r.json(&[
        "backups",
        "prune",
        "--keep-last",
        "1",
        "--tag",
        "manual,pre-upgrade",
        "--tag",
        "nope",
        "--dry-run",
        "--format",
        "json",
    ]);
    let decisions = decisions_of(&dry, "pgdata");
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0].0, c.id);

    // --keep-tag keeps every backup with the tags, and they still count in the rules.
    let dry = r.json(&[
        "backups",
        "prune",
        "--keep-last",
        "1",
        "--keep-tag",
        "manual",
        "--dry-run",
        "--format",
        "json",
    ]);
    let decisions = decisions_of(&dry, "pgdata");
    let kept: Vec<&str> = decisions
        .iter()
        .filter(|d| d.1)
        .map(|d| d.0.as_str())
        .collect();
    assert_eq!(kept, [&a.id, &c.id, &e.id], "{decisions:?}");
    assert_eq!(decisions[2].2, ["tags manual"]);

    // A tag filter that selects nothing of a source: a clear message, nothing deleted.
    let before = r.ids();
    for bad in [
        &["--tag", ""][..],
        &["--tag", "a,,b"],
        &["--keep-tag", ","],
        &["--keep-safety", "7"],
        &["--keep-safety", "1h30m"],
    ] {
        let o = r.run(&[&["backups", "prune", "--keep-last", "1"][..], bad].concat());
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stdout(&o));
        assert!(!stderr(&o).is_empty());
    }
    assert_eq!(r.ids(), before);
}

#[test]
fn retention_durations_use_restics_units() {
    let r = Repo::new();
    let newest = r.backup("pgdata", hours(24), &[]);
    let d40 = r.backup("pgdata", hours(24 * 40), &[]);
    let d100 = r.backup("pgdata", hours(24 * 100), &[]);
    let d250 = r.backup("pgdata", hours(24 * 250), &[]);
    let before = r.ids();

    // `m` is months, as in restic: 6 months back from the newest backup.
    let dry = r.json(&[
        "backups",
        "prune",
        "--keep-within",
        "6m",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(dry["policy"], "keep within 6m");
    let kept: Vec<String> = decisions_of(&dry, "pgdata")
        .into_iter()
        .filter(|d| d.1)
        .map(|d| d.0)
        .collect();
    assert_eq!(
        kept,
        [&newest.id, &d40.id, &d100.id].map(String::clone),
        "6m is six months"
    );
    let decisions = decisions_of(&dry, "pgdata");
    assert_eq!(decisions[0].2, ["within 6m"]);
    assert_eq!(decisions[3].0, d250.id);
    assert!(!decisions[3].1);

    // Units largest first, each once: `6m2d` is six months and two days.
    let dry = r.json(&[
        "backups",
        "prune",
        "--keep-within",
        "6m2d",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(dry["policy"], "keep within 6m2d");
    let dry = r.json(&[
        "backups",
        "prune",
        "--keep-within",
        "1y",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(dry["forgotten"], 0);

    // Ambiguous or foreign units are refused, saying why; nothing is deleted.
    for (text, says) in [
        ("1h30m", "largest first"),
        ("2d6m", "largest first"),
        ("30s", "`s`"),
        ("90min", "`min`"),
        ("2w", "14d"),
        ("7", "needs a unit"),
        ("1d1d", "once"),
        ("-1d", "number"),
        ("", "empty"),
        ("99999999999d", "too long"),
    ] {
        let o = r.run(&["backups", "prune", "--keep-within", text]);
        assert_eq!(o.status.code(), Some(2), "{text}: {}", stdout(&o));
        assert!(
            stderr(&o).contains(says),
            "{text}: expected `{says}` in {}",
            stderr(&o)
        );
    }
    assert_eq!(r.ids(), before);

    // restic's --keep-within-daily/weekly/monthly/yearly: the newest backup of
    // each day (week, month, year) within the duration of the newest backup.
    let dry = r.json(&[
        "backups",
        "prune",
        "--keep-within-daily",
        "2m",
        "--dry-run",
        "--format",
        "json",
    ]);
    let kept: Vec<(String, Vec<String>)> = decisions_of(&dry, "pgdata")
        .into_iter()
        .filter(|d| d.1)
        .map(|d| (d.0, d.2))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0].0, newest.id);
    assert!(kept[0].1[0].starts_with("daily "), "{kept:?}");
    assert!(kept[0].1[0].ends_with(" (within 2m)"), "{kept:?}");
    assert_eq!(kept[1].0, d40.id);
    let dry = r.json(&[
        "backups",
        "prune",
        "--keep-within-monthly",
        "1y",
        "--keep-within-yearly",
        "2y",
        "--keep-within-weekly",
        "1m",
        "--keep-within-hourly",
        "1d",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(
        dry["policy"],
        "keep hourly within 1d, weekly within 1m, monthly within 1y, yearly within 2y"
    );
    assert_eq!(dry["forgotten"], 0);

    let o = r.run(&["backups", "prune", "--help"]);
    let help = stdout(&o);
    for needle in [
        "--keep-within-daily",
        "--keep-tag",
        "--keep-safety",
        "--tag",
        "--time-zone",
        "m = months",
        "UTC",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

#[test]
fn calendar_days_across_a_dst_change_count_as_days() {
    // Europe/Berlin went from CET to CEST on 29 March 2026 (02:00 → 03:00):
    // that day has 23 hours. One day back from 29 March 12:00 CEST is
    // 28 March 12:00 CET, 23 hours earlier (restic: AddDate in local time).
    let r = Repo::new();
    let at = |m: Manifest, t: &str| {
        let t: jiff::Zoned = t.parse().unwrap();
        r.set_created(&m, t.timestamp())
    };
    let newest = at(
        r.backup("pgdata", hours(1), &[]),
        "2026-03-29T12:00:00+02:00[Europe/Berlin]",
    );
    let inside = at(
        r.backup("pgdata", hours(1), &[]),
        "2026-03-28T12:30:00+01:00[Europe/Berlin]",
    );
    // 23.5 hours before the newest: inside 24 hours, outside one calendar day.
    let outside = at(
        r.backup("pgdata", hours(1), &[]),
        "2026-03-28T11:30:00+01:00[Europe/Berlin]",
    );
    let old = at(
        r.backup("pgdata", hours(1), &[]),
        "2026-03-20T08:00:00+01:00[Europe/Berlin]",
    );
    let kept = |args: &[&str]| -> Vec<String> {
        let dry = r.json(
            &[
                &["backups", "prune", "--dry-run", "--format", "json"][..],
                args,
            ]
            .concat(),
        );
        decisions_of(&dry, "pgdata")
            .into_iter()
            .filter(|d| d.1)
            .map(|d| d.0)
            .collect()
    };
    assert_eq!(
        kept(&["--keep-within", "1d", "--time-zone", "Europe/Berlin"]),
        [&newest.id, &inside.id].map(String::clone)
    );
    // In UTC a day is 24 hours.
    assert_eq!(
        kept(&["--keep-within", "1d"]),
        [&newest.id, &inside.id, &outside.id].map(String::clone)
    );
    // Daily buckets are calendar days of the zone: 28 March 23:30 CET is
    // 28 March in Berlin but 28 March 22:30 UTC; 00:30 CET on 21 March is
    // 20 March 23:30 UTC.
    let late = at(
        r.backup("pgdata", hours(1), &[]),
        "2026-03-21T00:30:00+01:00[Europe/Berlin]",
    );
    let reasons = |args: &[&str], id: &str| -> Vec<String> {
        let dry = r.json(
            &[
                &["backups", "prune", "--dry-run", "--format", "json"][..],
                args,
            ]
            .concat(),
        );
        decisions_of(&dry, "pgdata")
            .into_iter()
            .find(|d| d.0 == id)
            .unwrap()
            .2
    };
    assert_eq!(
        reasons(
            &["--keep-daily", "3", "--time-zone", "Europe/Berlin"],
            &late.id
        ),
        ["daily 2026-03-21"]
    );
    assert_eq!(
        reasons(&["--keep-daily", "3"], &late.id),
        ["daily 2026-03-20"]
    );
    assert_eq!(
        reasons(
            &["--keep-daily", "4", "--time-zone", "Europe/Berlin"],
            &old.id
        ),
        ["daily 2026-03-20"]
    );
    let o = r.run(&[
        "backups",
        "prune",
        "--keep-daily",
        "1",
        "--time-zone",
        "Mars/Olympus",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Mars/Olympus"), "{}", stderr(&o));
}

#[test]
fn the_backup_prune_step_and_the_config_file_keep_safety_backups_out_of_the_rules() {
    // `lifeboat run` probes the live world: this test needs Docker and fails without it.
    let r = Repo::new();
    let base = midnight_days_ago(2);
    let nightly: Vec<Manifest> = (0..6)
        .rev()
        .map(|d| {
            let m = r.backup("shop-db", hours(1), &["nightly"]);
            r.set_created(&m, base - hours(24 * d) + hours(2))
        })
        .collect();
    let that_night = nightly.last().unwrap().clone();
    let safety = r.backup("shop-db", hours(1), &["safety"]);
    let safety = r.set_created(&safety, base + hours(10));
    let old_safety = r.backup("shop-db", hours(1), &["safety"]);
    let old_safety = r.set_created(&old_safety, base - hours(24 * 20));
    let runbook = r.dir.path().join("prune.yaml");
    fs::write(
        &runbook,
        "runbook: prune-safety\n\
         description: retention only\n\
         steps:\n  \
           - id: prune\n    \
             uses: backup.prune\n    \
             with: { name: shop-db, keep_daily: 3 }\n",
    )
    .unwrap();
    let run = || {
        let o = r.run(&["run", runbook.to_str().unwrap(), "--yes"]);
        assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    };
    run();
    let left = r.ids();
    assert!(
        left.contains(&that_night.id),
        "that night's nightly: {left:?}"
    );
    assert!(left.contains(&safety.id), "{left:?}");
    assert!(
        !left.contains(&old_safety.id),
        "older than 7 days: {left:?}"
    );
    // 3 daily nightlies (that night's is one of them), not 2, and the safety copy.
    assert_eq!(left.len(), 4, "{left:?}");

    // The config file's keep_safety applies to a step that does not set it.
    let old_safety = r.backup("shop-db", hours(1), &["safety"]);
    let old_safety = r.set_created(&old_safety, base - hours(24 * 20));
    fs::write(
        r.dir.path().join("lifeboat.yaml"),
        "retention: { keep_safety: 1m }\n",
    )
    .unwrap();
    run();
    let left = r.ids();
    assert!(left.contains(&old_safety.id), "kept for a month: {left:?}");
    assert_eq!(left.len(), 5, "{left:?}");

    // The step's own keep_safety wins over the file's; `0d` keeps none.
    fs::write(
        &runbook,
        "runbook: prune-safety\n\
         description: retention only\n\
         steps:\n  \
           - id: prune\n    \
             uses: backup.prune\n    \
             with: { name: shop-db, keep_daily: 3, keep_safety: 0d }\n",
    )
    .unwrap();
    run();
    let left = r.ids();
    assert!(!left.contains(&old_safety.id), "{left:?}");
    assert!(!left.contains(&safety.id), "{left:?}");
    assert!(left.contains(&that_night.id), "{left:?}");
    assert_eq!(left.len(), 3, "{left:?}");
}
