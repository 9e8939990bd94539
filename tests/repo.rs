//! The local backup repository: write, list, resolve, verify, read back, delete,
//! and restore by hand with `zstd`, `tar` and `sha256sum`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use lifeboat::repo::{
    BackupKind, KeySettings, Keys, LocalRepo, Manifest, NewBackup, Origin, RepoError, Store,
};
use sha2::{Digest, Sha256};

mod common;
use common::volume_tar;

fn repo() -> (tempfile::TempDir, LocalRepo) {
    let dir = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(dir.path().join("repo")).unwrap();
    (dir, repo)
}

/// A tar whose first file is named `name` verbatim (the `tar` crate refuses `..`).
fn tar_with_raw_name(name: &str) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(4);
    h.set_mode(0o644);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"root"[..]).unwrap();
    b.into_inner().unwrap()
}

fn new(source: &str, kind: BackupKind, run_id: Option<&str>) -> NewBackup {
    NewBackup {
        source: source.into(),
        kind,
        origin: Origin {
            volume: (kind == BackupKind::Volume).then(|| source.into()),
            ..Origin::default()
        },
        tags: vec!["test".into()],
        run_id: run_id.map(Into::into),
        facts: Default::default(),
    }
}

fn write(repo: &LocalRepo, backup: NewBackup, raw: &[u8]) -> Manifest {
    let mut w = repo.create(backup).unwrap();
    // Uneven chunks, like a network stream.
    for chunk in raw.chunks(777) {
        w.write_all(chunk).unwrap();
    }
    assert_eq!(w.raw_bytes(), raw.len() as u64);
    w.finish().unwrap()
}

fn read_back(repo: &LocalRepo, id: &str) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    repo.open_verified(id)
        .unwrap()
        .into_reader()
        .unwrap()
        .read_to_end(&mut out)?;
    Ok(out)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|it| {
            it.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn source_dir(repo: &LocalRepo, source: &str) -> PathBuf {
    repo.root().join("backups").join(source)
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
fn a_volume_backup_reads_back_exactly() {
    let (_t, repo) = repo();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let raw = volume_tar(&[("a.txt", b"hello\n"), ("empty", b""), ("big.bin", &big)]);
    let m = write(&repo, new("pgdata", BackupKind::Volume, None), &raw);

    assert_eq!(m.format, 1);
    assert_eq!(m.source, "pgdata");
    assert_eq!(m.kind, BackupKind::Volume);
    assert_eq!(m.object, format!("{}.tar.zst", m.id));
    assert_eq!(m.raw_bytes, raw.len() as u64);
    assert_eq!(m.file_count, Some(3));
    assert_eq!(m.compression, "zstd");
    assert_eq!(m.encryption, None);
    assert_eq!(m.tags, ["test"]);
    assert!(m.verification.is_none());
    let object = fs::read(repo.object_path(&m)).unwrap();
    assert_eq!(m.stored_bytes, object.len() as u64);
    assert_eq!(m.sha256, hex::encode(Sha256::digest(&object)));
    assert_eq!(
        files_in(&source_dir(&repo, "pgdata")),
        [format!("{}.json", m.id), m.object.clone()]
    );

    assert_eq!(read_back(&repo, &m.id).unwrap(), raw);
    assert_eq!(repo.get(&m.id).unwrap(), m);
}

#[test]
fn exec_and_http_backups_are_raw_bytes() {
    let (_t, repo) = repo();
    let dump = b"-- PostgreSQL database dump\nCREATE TABLE t ();\n".repeat(1000);
    let m = write(&repo, new("shop-db", BackupKind::Exec, None), &dump);
    assert_eq!(m.object, format!("{}.raw.zst", m.id));
    assert_eq!(m.file_count, None);
    assert!(m.stored_bytes < m.raw_bytes / 10, "{m:?}");
    assert_eq!(read_back(&repo, &m.id).unwrap(), dump);

    let empty = write(&repo, new("qdrant", BackupKind::Http, None), b"");
    assert_eq!(empty.raw_bytes, 0);
    assert_eq!(read_back(&repo, &empty.id).unwrap(), b"");
}

/// A store whose objects are the local repository's, read as a stream that
/// fails after 1000 bytes with `fail` (or not at all).
struct Streamed {
    repo: LocalRepo,
    fail: Option<std::io::ErrorKind>,
}

struct Failing(std::io::ErrorKind);

impl std::io::Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(self.0, "the connection was reset"))
    }
}

impl Store for Streamed {
    fn kind(&self) -> &'static str {
        "stream"
    }
    fn describe(&self) -> String {
        "stream://test".into()
    }
    fn object_location(&self, m: &Manifest) -> String {
        format!("stream://test/{}", m.object)
    }
    fn manifests(&self) -> Result<Vec<Manifest>, RepoError> {
        self.repo.list()
    }
    fn reload(&self, m: &Manifest) -> Result<Option<Manifest>, RepoError> {
        Store::reload(&self.repo, m)
    }
    fn save_manifest(&self, m: &Manifest) -> Result<(), RepoError> {
        Store::save_manifest(&self.repo, m)
    }
    fn open_object(&self, m: &Manifest) -> Result<Box<dyn std::io::Read + Send>, RepoError> {
        let file = Store::open_object(&self.repo, m)?;
        Ok(match self.fail {
            None => file,
            Some(kind) => Box::new(std::io::Read::chain(
                std::io::Read::take(file, 1000),
                Failing(kind),
            )),
        })
    }
    fn remove(&self, m: &Manifest) -> Result<u64, RepoError> {
        self.repo.delete(&m.id)
    }
    fn keys(&self) -> &Keys {
        self.repo.keys()
    }
}

#[test]
fn a_streamed_check_tells_damage_from_a_store_that_cannot_be_read() {
    let (_t, repo) = repo();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let raw = volume_tar(&[("a.txt", &big), ("b.txt", b"b")]);
    let m = write(&repo, new("v", BackupKind::Volume, None), &raw);
    let check = |fail| {
        Streamed {
            repo: repo.clone(),
            fail,
        }
        .check(&m, true)
    };
    // The whole stream: the same verdict as the file-based check.
    let ok = check(None).unwrap().describe();
    assert_eq!(ok, repo.verify(&m.id, true).unwrap().detail);
    assert!(ok.contains("tar ok (3 entries: 2 files, 1 dirs"), "{ok}");
    // Cut off by the network: not a verdict on the backup.
    let e = check(Some(std::io::ErrorKind::ConnectionReset)).unwrap_err();
    assert!(matches!(e, RepoError::Unavailable { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "stream://test/{} could not be read, so backup {} was not checked: the connection was reset",
            m.object, m.id
        )
    );
    // Refused as damaged by the store (a checksum): the backup is bad.
    let e = check(Some(std::io::ErrorKind::InvalidData)).unwrap_err();
    assert!(matches!(e, RepoError::Unreadable { .. }), "{e}");
}

#[test]
fn latest_never_means_a_safety_backup() {
    let (_t, repo) = repo();
    let raw = volume_tar(&[("x", b"1")]);
    let nightly = write(&repo, new("a", BackupKind::Volume, None), &raw);
    assert!(repo.verify(&nightly.id, false).unwrap().ok);
    // A run saved the volume as it found it (emptied) and failed; it is the newest.
    let mut safety = new("a", BackupKind::Volume, Some("run-1"));
    safety.tags = vec!["safety".into()];
    let found = write(&repo, safety, &volume_tar(&[]));
    assert!(repo.verify(&found.id, false).unwrap().ok);
    assert_eq!(repo.list().unwrap()[0].id, found.id);
    // A second attempt (another run) restores the nightly backup, not the damage.
    for reference in ["latest", "latest-verified"] {
        let m = repo.resolve("a", reference, Some("run-2")).unwrap();
        assert_eq!(m.id, nightly.id, "{reference}");
    }
    // The safety backup is still restorable by id.
    assert_eq!(
        repo.resolve("a", &found.id, Some("run-2")).unwrap().id,
        found.id
    );
    // Only safety backups and this run's own: `latest` says why there is none.
    assert!(repo.delete(&nightly.id).unwrap() > 0);
    write(&repo, new("a", BackupKind::Volume, Some("run-2")), &raw);
    let e = repo.resolve("a", "latest", Some("run-2")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "no backup of `a` matches `latest`: of its 2 backup(s), 1 were written by this run \
             (run-2), which must not restore its own; 1 are safety backups (tag `safety`: the \
             data as a run found it, before a destructive step), which `latest` never means; \
             restore one by id if that is what you want (newest: {})",
            found.id
        )
    );
}

#[test]
fn list_get_and_resolve() {
    let (_t, repo) = repo();
    assert!(repo.list().unwrap().is_empty());
    let raw = volume_tar(&[("x", b"1")]);
    let a1 = write(&repo, new("a", BackupKind::Volume, Some("run-1")), &raw);
    let b1 = write(&repo, new("b", BackupKind::Volume, None), &raw);
    let a2 = write(&repo, new("a", BackupKind::Volume, None), &raw);
    let a3 = write(&repo, new("a", BackupKind::Volume, Some("run-2")), &raw);

    let ids: Vec<String> = repo.list().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        [a3.id.clone(), a2.id.clone(), b1.id.clone(), a1.id.clone()]
    );
    assert_eq!(repo.get(&b1.id).unwrap(), b1);

    assert_eq!(repo.resolve("a", "latest", None).unwrap().id, a3.id);
    assert_eq!(
        repo.resolve("a", "latest", Some("run-2")).unwrap().id,
        a2.id
    );
    assert_eq!(repo.resolve("a", &a1.id, Some("run-1")).unwrap().id, a1.id);
    assert_eq!(repo.resolve("b", "latest", None).unwrap().id, b1.id);

    // latest-verified: nothing verified yet, then the one that was.
    let e = repo.resolve("a", "latest-verified", None).unwrap_err();
    assert!(matches!(e, RepoError::NoBackup { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("none of its 3 backup(s) has passed verification"),
        "{e}"
    );
    assert!(repo.verify(&a1.id, true).unwrap().ok);
    assert_eq!(
        repo.resolve("a", "latest-verified", None).unwrap().id,
        a1.id
    );
    let e = repo
        .resolve("a", "latest-verified", Some("run-1"))
        .unwrap_err();
    assert!(matches!(e, RepoError::NoBackup { .. }), "{e}");

    // An id of another source.
    let e = repo.resolve("a", &b1.id, None).unwrap_err();
    assert!(matches!(e, RepoError::WrongSource { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!("backup `{}` is a backup of `b`, not of `a`", b1.id)
    );

    // Unknown sources, ids and references.
    let e = repo.resolve("c", "latest", None).unwrap_err();
    assert!(e.to_string().contains("it has backups of `a`, `b`"), "{e}");
    let e = repo.resolve("b", "latest-verified", Some("x")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("no backup of `b` matches `latest-verified`: "),
        "{e}"
    );
    let e = repo.resolve("a", "newest", None).unwrap_err();
    assert!(e.to_string().contains("neither `latest`"), "{e}");
    let mut typo = a2.id.clone();
    typo.pop();
    let e = repo.get(&typo).unwrap_err();
    assert!(matches!(e, RepoError::NotFound { .. }), "{e}");
    assert!(
        e.to_string().contains(&format!("did you mean `{}`", a2.id)),
        "{e}"
    );
    let e = repo.resolve("../a", "latest", None).unwrap_err();
    assert!(matches!(e, RepoError::InvalidSource(_)), "{e}");
    assert!(matches!(
        repo.get("../../etc/passwd"),
        Err(RepoError::NotFound { .. })
    ));

    let only_run = write(&repo, new("d", BackupKind::Exec, Some("run-9")), b"x");
    let e = repo.resolve("d", "latest", Some("run-9")).unwrap_err();
    assert!(e.to_string().contains("written by this run (run-9)"), "{e}");
    assert_eq!(repo.resolve("d", "latest", None).unwrap(), only_run);
}

/// The plan (over the world's backups) and a running step (over the
/// repository's manifests) pick the same backup, or both none.
#[test]
fn plan_time_and_run_time_resolution_agree() {
    let (_t, repo) = repo();
    let raw = volume_tar(&[("x", b"1")]);
    let verified = write(&repo, new("a", BackupKind::Volume, Some("run-1")), &raw);
    assert!(repo.verify(&verified.id, false).unwrap().ok);
    let plain = write(&repo, new("a", BackupKind::Volume, Some("run-1")), &raw);
    let mut safety = new("a", BackupKind::Volume, Some("run-2"));
    safety.tags = vec!["safety".into()];
    let safety = write(&repo, safety, &raw);
    let other = write(&repo, new("b", BackupKind::Volume, Some("run-2")), &raw);
    let only_safety = {
        let mut n = new("c", BackupKind::Volume, None);
        n.tags = vec!["safety".into()];
        write(&repo, n, &raw)
    };
    let unverified = write(&repo, new("d", BackupKind::Volume, None), &raw);
    let world = lifeboat::model::world::World {
        backups: repo.list().unwrap().iter().map(|m| m.to_world()).collect(),
        ..Default::default()
    };
    let ids = [
        &verified,
        &plain,
        &safety,
        &other,
        &only_safety,
        &unverified,
    ];
    let mut references: Vec<String> = ["latest", "latest-verified", "run:run-1", "run:run-2"]
        .map(String::from)
        .to_vec();
    references.extend(ids.iter().map(|m| m.id.clone()));
    let mut seen = 0;
    for source in ["a", "b", "c", "d", "e"] {
        for reference in &references {
            let plan = world
                .resolve_backup(source, reference)
                .ok()
                .map(|b| b.id.clone());
            let run = repo.resolve(source, reference, None).ok().map(|m| m.id);
            assert_eq!(plan, run, "{source} {reference}");
            seen += usize::from(plan.is_some());
        }
    }
    assert_eq!(
        world.resolve_backup("a", "latest").unwrap().id,
        plain.id,
        "newest that is not a safety backup"
    );
    assert!(seen > 10, "{seen}");
}

#[test]
fn invalid_sources_are_refused() {
    let (_t, repo) = repo();
    for bad in ["", "../etc", "a/b", ".hidden", "-x", "with space"] {
        let e = repo.create(new(bad, BackupKind::Exec, None)).err().unwrap();
        assert!(matches!(e, RepoError::InvalidSource(_)), "{bad}: {e}");
        assert!(e.to_string().contains("Docker volume names"), "{e}");
    }
    assert!(!repo.root().exists());
}

#[test]
fn a_flipped_byte_is_corrupt_before_any_reader_exists() {
    let (_t, repo) = repo();
    let raw = volume_tar(&[("x", &[9; 100_000])]);
    let m = write(&repo, new("v", BackupKind::Volume, None), &raw);
    let path = repo.object_path(&m);
    flip_byte(&path, m.stored_bytes / 2);

    let e = repo.open_verified(&m.id).unwrap_err();
    assert!(matches!(e, RepoError::Corrupt { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("backup {} is corrupt: sha256 of ", m.id)),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.ends_with(&format!("its manifest says {}", m.sha256)),
        "{msg}"
    );

    let v = repo.verify(&m.id, false).unwrap();
    assert!(!v.ok && !v.deep, "{v:?}");
    assert!(v.detail.contains("its manifest says"), "{v:?}");
    assert_eq!(repo.get(&m.id).unwrap().verification, Some(v));
    assert!(repo.resolve("v", "latest-verified", None).is_err());
}

#[test]
fn a_change_after_pass_one_fails_the_reader_at_the_end() {
    let (_t, repo) = repo();
    let raw = volume_tar(&[("x", &[1; 50_000])]);
    let m = write(&repo, new("v", BackupKind::Volume, None), &raw);
    let verified = repo.open_verified(&m.id).unwrap();
    assert_eq!(verified.manifest(), &m);
    // Change the last byte: the zstd frame checksum or our sha256 must catch it.
    flip_byte(&repo.object_path(&m), m.stored_bytes - 1);
    let mut out = Vec::new();
    let e = verified
        .into_reader()
        .unwrap()
        .read_to_end(&mut out)
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("is corrupt"), "{e}");
}

#[test]
fn unsafe_archives_are_refused_when_writing() {
    let (_t, repo) = repo();
    for name in ["data/../../etc/passwd", "/etc/passwd", "etc/passwd"] {
        let mut w = repo.create(new("v", BackupKind::Volume, None)).unwrap();
        let write = w.write_all(&tar_with_raw_name(name));
        assert!(write.is_err(), "{name}");
        let e = w.finish().unwrap_err();
        assert!(matches!(e, RepoError::BadArchive { .. }), "{e}");
        assert!(e.to_string().contains(name), "{e}");
    }
    // A truncated tar is refused by finish().
    let raw = volume_tar(&[("x", b"1")]);
    let mut w = repo.create(new("v", BackupKind::Volume, None)).unwrap();
    w.write_all(&raw[..raw.len() - 1024]).unwrap();
    let e = w.finish().unwrap_err();
    assert!(e.to_string().contains("no end-of-archive marker"), "{e}");
    assert!(files_in(&source_dir(&repo, "v")).is_empty());
    assert!(repo.list().unwrap().is_empty());
}

#[test]
fn an_unsafe_archive_in_the_repository_is_refused_when_reading() {
    let (_t, repo) = repo();
    // Written as an exec backup (not scanned), then relabelled as a volume.
    let m = write(
        &repo,
        new("v", BackupKind::Exec, None),
        &tar_with_raw_name("data/../../etc/passwd"),
    );
    let dir = source_dir(&repo, "v");
    let object = format!("{}.tar.zst", m.id);
    fs::rename(dir.join(&m.object), dir.join(&object)).unwrap();
    let relabelled = Manifest {
        kind: BackupKind::Volume,
        object,
        ..m.clone()
    };
    fs::write(
        dir.join(format!("{}.json", m.id)),
        serde_json::to_vec_pretty(&relabelled).unwrap(),
    )
    .unwrap();

    let e = repo.open_verified(&m.id).unwrap_err();
    assert!(matches!(e, RepoError::BadArchive { .. }), "{e}");
    assert!(e.to_string().contains("data/../../etc/passwd"), "{e}");
    let v = repo.verify(&m.id, true).unwrap();
    assert!(!v.ok && v.deep, "{v:?}");
    // sha256 alone cannot see it.
    assert!(repo.verify(&m.id, false).unwrap().ok);
}

/// One ustar entry with `name`, `typeflag` and `link` verbatim.
fn raw_entry(name: &str, typeflag: u8, data: &[u8], link: &str) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    h.as_mut_bytes()[156] = typeflag;
    h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    let mut v = h.as_bytes().to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

/// A GNU long-name entry (a path longer than 100 bytes).
fn long_entry(name: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, name, &b"x"[..]).unwrap();
    let mut v = b.into_inner().unwrap();
    v.truncate(v.len() - 1024);
    v
}

fn raw_tar(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut v = entries.concat();
    v.extend_from_slice(&[0; 1024]);
    v
}

/// Stores `raw` as a volume backup without the writer's scan (written as an
/// exec backup, then relabelled), as a crafted or damaged repository holds it.
fn store_unchecked_volume(repo: &LocalRepo, source: &str, raw: &[u8]) -> Manifest {
    let m = write(repo, new(source, BackupKind::Exec, None), raw);
    let dir = source_dir(repo, source);
    let object = format!("{}.tar.zst", m.id);
    fs::rename(dir.join(&m.object), dir.join(&object)).unwrap();
    let relabelled = Manifest {
        kind: BackupKind::Volume,
        object,
        ..m
    };
    fs::write(
        dir.join(format!("{}.json", relabelled.id)),
        serde_json::to_vec_pretty(&relabelled).unwrap(),
    )
    .unwrap();
    relabelled
}

/// Archives Docker would extract through a symlink (issue 9, item 3) or
/// refuse half-way after the volume was emptied (item 4).
fn crafted_archives() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let root = || raw_entry("data/", b'5', b"", "");
    vec![
        (
            "symlink to /etc, then a file under it",
            raw_tar(&[
                root(),
                raw_entry("data/link", b'2', b"", "/etc"),
                raw_entry("data/link/evil", b'0', b"x", ""),
            ]),
            "under `data/link`, a symlink",
        ),
        (
            "symlink climbing out of the volume",
            raw_tar(&[
                root(),
                raw_entry("data/link", b'2', b"", "../../etc"),
                raw_entry("data/link/evil", b'0', b"x", ""),
            ]),
            "leaves the volume",
        ),
        (
            "`data` is a file",
            raw_tar(&[raw_entry("data", b'0', b"x", "")]),
            "must be a directory",
        ),
        (
            "`data` is a symlink",
            raw_tar(&[raw_entry("data", b'2', b"", "/tmp")]),
            "must be a directory",
        ),
        (
            "typeflag 7",
            raw_tar(&[root(), raw_entry("data/c", b'7', b"abc", "")]),
            "contiguous file",
        ),
        (
            "hard link through a symlink",
            raw_tar(&[
                root(),
                raw_entry("data/link", b'2', b"", "/etc"),
                raw_entry("data/pw", b'1', b"", "data/link/passwd"),
            ]),
            "a symlink",
        ),
        (
            "hard link to a missing target",
            raw_tar(&[root(), raw_entry("data/h", b'1', b"", "data/missing")]),
            "not a file earlier in the archive",
        ),
        (
            "a path 2,000 directories deep",
            raw_tar(&[root(), long_entry(&format!("data/{}f", "a/".repeat(2000)))]),
            "deep",
        ),
    ]
}

#[test]
fn deep_verify_calls_crafted_archives_damaged() {
    let (_t, repo) = repo();
    for (what, raw, reason) in crafted_archives() {
        let m = store_unchecked_volume(&repo, "v", &raw);
        let v = repo.verify(&m.id, true).unwrap();
        assert!(!v.ok, "{what}: {v:?}");
        assert!(v.detail.contains(reason), "{what}: {}", v.detail);
        assert!(!repo.get(&m.id).unwrap().verified(), "{what}");
        let e = repo.open_verified(&m.id).unwrap_err();
        assert!(matches!(e, RepoError::BadArchive { .. }), "{what}: {e}");
        assert!(e.to_string().contains(reason), "{what}: {e}");
        // The writer refuses them too.
        let mut w = repo.create(new("w", BackupKind::Volume, None)).unwrap();
        let written = w.write_all(&raw).map_err(|e| e.to_string());
        let finished = w.finish().map(|_| ()).map_err(|e| e.to_string());
        assert!(written.is_err() || finished.is_err(), "{what}");
    }
}

/// Runs `f` on a thread; fails the test if it takes more than 10 s (a check
/// that reads an endless object would otherwise hang the suite).
fn within_10s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what}: still reading after 10 s"))
}

/// Issue 9, item 5: an object that never ends (a symlink to /dev/zero, a
/// sparse terabyte, a FIFO) is refused at once, by verify and by a restore.
#[test]
fn an_object_that_never_ends_is_refused_at_once() {
    let (_t, repo) = repo();
    let raw = volume_tar(&[("a", b"1")]);
    type Make<'a> = &'a dyn Fn(&Path);
    let endless: [(&str, Make); 4] = [
        ("a symlink to /dev/zero", &|p: &Path| {
            fs::remove_file(p).unwrap();
            std::os::unix::fs::symlink("/dev/zero", p).unwrap();
        }),
        ("a sparse 1 TiB file", &|p: &Path| {
            fs::OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(1 << 40)
                .unwrap();
        }),
        ("a FIFO", &|p: &Path| {
            fs::remove_file(p).unwrap();
            let made = Command::new("mkfifo").arg(p).status().unwrap();
            assert!(made.success());
        }),
        ("one byte longer", &|p: &Path| {
            let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
            f.write_all(b"x").unwrap();
        }),
    ];
    for (what, make) in endless {
        let m = write(&repo, new("v", BackupKind::Volume, None), &raw);
        make(&repo.object_path(&m));
        for deep in [false, true] {
            let (r, id) = (repo.clone(), m.id.clone());
            let v = within_10s(what, move || r.verify(&id, deep)).unwrap();
            assert!(!v.ok, "{what}: {v:?}");
            assert!(
                v.detail.contains("regular file") || v.detail.contains("its manifest says"),
                "{what}: {}",
                v.detail
            );
            let (r, id) = (repo.clone(), m.id.clone());
            let checked = within_10s(what, move || Store::check(&r, &r.get(&id).unwrap(), deep));
            assert!(checked.is_err(), "{what}");
        }
        let (r, id) = (repo.clone(), m.id.clone());
        let opened = within_10s(what, move || r.open_verified(&id).map(|_| ()));
        let e = opened.unwrap_err();
        assert!(matches!(e, RepoError::Unreadable { .. }), "{what}: {e}");
        let (r, m2) = (repo.clone(), m.clone());
        let streamed = within_10s(what, move || Store::open_object(&r, &m2).map(|_| ()));
        assert!(streamed.is_err(), "{what}");
    }
    // A manifest that never ends is refused too, and listings skip it.
    let m = write(&repo, new("w", BackupKind::Exec, None), b"x");
    let manifest = source_dir(&repo, "w").join(format!("{}.json", m.id));
    fs::remove_file(&manifest).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &manifest).unwrap();
    let (r, id) = (repo.clone(), m.id.clone());
    let e = within_10s("a manifest linked to /dev/zero", move || r.get(&id)).unwrap_err();
    assert!(matches!(e, RepoError::NotFound { .. }), "{e}");
    let r = repo.clone();
    let listed = within_10s("listing", move || r.list().unwrap());
    assert!(listed.iter().all(|l| l.id != m.id));
}

/// A zstd bomb: the object is what its manifest says, but decompresses to
/// far more than the manifest's raw size. Decoding stops past that size.
#[test]
fn decoding_stops_at_the_manifests_raw_size() {
    let (_t, repo) = repo();
    let m = write(&repo, new("v", BackupKind::Exec, None), b"small");
    // 1 GiB of zeros compresses to a few dozen KiB; write that as the object.
    let path = repo.object_path(&m);
    let file = fs::File::create(&path).unwrap();
    let mut enc = zstd::stream::write::Encoder::new(file, 19).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(1 << 10) {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap();
    let stored = fs::read(&path).unwrap();
    let bomb = Manifest {
        sha256: hex::encode(Sha256::digest(&stored)),
        stored_bytes: stored.len() as u64,
        ..m.clone()
    };
    fs::write(
        source_dir(&repo, "v").join(format!("{}.json", m.id)),
        serde_json::to_vec_pretty(&bomb).unwrap(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let r = repo.clone();
    let id = m.id.clone();
    let v = within_10s("zstd bomb", move || r.verify(&id, true)).unwrap();
    assert!(!v.ok, "{v:?}");
    assert!(v.detail.contains("more than the 5 bytes"), "{}", v.detail);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let r = repo.clone();
    let id = m.id.clone();
    let e = within_10s("zstd bomb", move || r.open_verified(&id).map(|_| ())).unwrap_err();
    assert!(e.to_string().contains("more than the 5 bytes"), "{e}");
}

/// Issue 9, item 8: a fetch into the local repository (the cache a restore
/// reads from) needs room for the stored object; refused with the numbers.
#[test]
fn a_fetch_needs_room_for_the_stored_object() {
    let (_t, repo) = repo();
    let m = write(&repo, new("v", BackupKind::Exec, None), b"small");
    repo.ensure_room_for(&m).unwrap();
    let huge = Manifest {
        stored_bytes: 1 << 50,
        ..m.clone()
    };
    let e = repo.ensure_room_for(&huge).unwrap_err();
    assert!(matches!(e, RepoError::NoRoom { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("fetched into the local repository"), "{text}");
    assert!(text.contains("1125899906842624 bytes"), "{text}");
    assert!(text.contains("bytes) free"), "{text}");
    // A repository directory not made yet is measured at its parent.
    let later = LocalRepo::open(repo.root().join("not/made/yet")).unwrap();
    later.ensure_room_for(&m).unwrap();
    assert!(later.ensure_room_for(&huge).is_err());
}

/// Issue 9, item 8: with `restore.max_expansion`, a backup that claims to
/// unpack to more than that many times its stored size is refused before a
/// restore reads it or a fetch downloads it, with the numbers.
#[test]
fn a_backup_that_unpacks_too_far_is_refused_with_max_expansion() {
    let (_t, repo) = repo();
    let zeros = volume_tar(&[("zeros", &[0u8; 1 << 20])]);
    let m = write(&repo, new("v", BackupKind::Volume, None), &zeros);
    assert!(m.raw_bytes > 100 * m.stored_bytes, "{m:?}");
    assert!(repo.open_verified(&m.id).is_ok(), "no limit by default");
    let strict = repo.clone().with_max_expansion(Some(100.0));
    let e = strict.open_verified(&m.id).unwrap_err();
    assert!(matches!(e, RepoError::NoRoom { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("cannot be restored"), "{text}");
    assert!(text.contains(&format!("({} bytes)", m.raw_bytes)), "{text}");
    assert!(text.contains("restore.max_expansion (100)"), "{text}");
    let e = strict.ensure_room_for(&m).unwrap_err();
    assert!(
        e.to_string().contains("fetched into the local repository"),
        "{e}"
    );
    let loose = repo.clone().with_max_expansion(Some(1e6));
    assert!(loose.open_verified(&m.id).is_ok());
}

#[test]
fn a_dropped_writer_leaves_nothing() {
    let (_t, repo) = repo();
    let raw = volume_tar(&[("x", &[5; 3 << 20])]);
    let mut w = repo.create(new("v", BackupKind::Volume, None)).unwrap();
    w.write_all(&raw[..2 << 20]).unwrap();
    assert_eq!(w.raw_bytes(), 2 << 20);
    let dir = source_dir(&repo, "v");
    assert_eq!(files_in(&dir), [format!("{}.tar.zst.partial", w.id())]);
    drop(w);
    assert!(files_in(&dir).is_empty());
    assert!(repo.list().unwrap().is_empty());
}

#[test]
fn manifests_round_trip_through_json() {
    let (_t, repo) = repo();
    let mut backup = new("redis-data", BackupKind::Volume, Some("run-7"));
    backup.origin = Origin {
        volume: Some("redis-data".into()),
        container: Some("shop-redis-1".into()),
        image: Some("redis:7".into()),
        image_digest: Some("sha256:abc".into()),
        compose_project: Some("shop".into()),
        compose_service: Some("redis".into()),
        command: None,
        url: None,
    };
    let m = write(&repo, backup, &volume_tar(&[("dump.rdb", b"REDIS")]));
    let text =
        fs::read_to_string(source_dir(&repo, "redis-data").join(format!("{}.json", m.id))).unwrap();
    assert!(text.starts_with("{\n  \"format\": 1,\n"), "{text}");
    assert!(text.ends_with("}\n"));
    assert!(
        !text.contains("\"url\""),
        "none origin fields are left out: {text}"
    );
    assert!(text.contains("\"kind\": \"volume\""), "{text}");
    let parsed: Manifest = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, m);

    let v = repo.verify(&m.id, true).unwrap();
    let again = repo.get(&m.id).unwrap();
    let json = serde_json::to_string(&again).unwrap();
    assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), again);
    assert_eq!(again.verification.as_ref(), Some(&v));
}

#[test]
fn verify_records_its_result() {
    let (_t, repo) = repo();
    let m = write(
        &repo,
        new("v", BackupKind::Volume, None),
        &volume_tar(&[("a", b"1"), ("b", b"2")]),
    );
    assert_eq!(m.to_world().verified_at, None);

    let shallow = repo.verify(&m.id, false).unwrap();
    assert!(shallow.ok && !shallow.deep, "{shallow:?}");
    assert_eq!(shallow.detail, "sha256 ok");

    let deep = repo.verify(&m.id, true).unwrap();
    assert!(deep.ok && deep.deep, "{deep:?}");
    assert!(
        deep.detail.contains("tar ok (3 entries: 2 files, 1 dirs"),
        "{deep:?}"
    );
    let stored = repo.get(&m.id).unwrap();
    assert_eq!(stored.verification, Some(deep.clone()));
    let world = stored.to_world();
    assert_eq!(world.verified_at, Some(deep.at));
    assert_eq!(
        (world.id, world.stored_bytes),
        (m.id.clone(), m.stored_bytes)
    );

    fs::remove_file(repo.object_path(&m)).unwrap();
    let missing = repo.verify(&m.id, false).unwrap();
    assert!(!missing.ok, "{missing:?}");
    assert_eq!(repo.get(&m.id).unwrap().to_world().verified_at, None);
}

#[test]
fn delete_removes_both_files() {
    let (_t, repo) = repo();
    let keep = write(&repo, new("v", BackupKind::Exec, None), b"keep");
    let m = write(
        &repo,
        new("v", BackupKind::Volume, None),
        &volume_tar(&[("a", b"1")]),
    );
    let dir = source_dir(&repo, "v");
    let manifest_len = fs::metadata(dir.join(format!("{}.json", m.id)))
        .unwrap()
        .len();
    assert_eq!(repo.delete(&m.id).unwrap(), manifest_len + m.stored_bytes);
    assert!(matches!(repo.get(&m.id), Err(RepoError::NotFound { .. })));
    assert_eq!(repo.list().unwrap(), std::slice::from_ref(&keep));
    assert_eq!(files_in(&dir), [format!("{}.json", keep.id), keep.object]);
    assert!(matches!(
        repo.delete(&m.id),
        Err(RepoError::NotFound { .. })
    ));
}

#[test]
fn list_skips_bad_manifests_and_partial_files() {
    let (_t, repo) = repo();
    let m = write(&repo, new("v", BackupKind::Exec, None), b"ok");
    let dir = source_dir(&repo, "v");
    fs::write(dir.join("20260101T000000Z-abcdef.json"), "{ not json").unwrap();
    fs::write(dir.join("20260101T000000Z-abcde0.tar.zst.partial"), "junk").unwrap();
    fs::write(dir.join("20260101T000000Z-abcde1.json.partial"), "junk").unwrap();
    fs::write(dir.join("notes.txt"), "hi").unwrap();
    fs::create_dir_all(repo.root().join("backups/.trash")).unwrap();
    assert_eq!(repo.list().unwrap(), [m]);
    let e = repo.get("20260101T000000Z-abcdef").unwrap_err();
    assert!(matches!(e, RepoError::BadManifest { .. }), "{e}");
    assert!(
        e.to_string().contains("20260101T000000Z-abcdef.json"),
        "{e}"
    );
}

/// An age X25519 identity file in `dir`; returns its path and public key.
fn age_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let path = dir.join(name);
    use age::secrecy::ExposeSecret;
    fs::write(
        &path,
        format!(
            "# public key: {public}\n{}\n",
            identity.to_string().expose_secret()
        ),
    )
    .unwrap();
    (path, public)
}

fn keyed(root: &Path, settings: KeySettings) -> LocalRepo {
    LocalRepo::open(root)
        .unwrap()
        .with_keys(Keys::load(&settings).unwrap())
}

fn open_error(repo: &LocalRepo, id: &str) -> String {
    repo.open_verified(id).unwrap_err().to_string()
}

#[test]
fn encrypted_backups_hash_the_stored_bytes_and_need_the_key() {
    let (dir, plain) = repo();
    let (key, public) = age_key(dir.path(), "key.txt");
    let (other_key, _) = age_key(dir.path(), "other.txt");
    let identity = |path: &Path| KeySettings {
        identity_file: Some(path.to_path_buf()),
        ..KeySettings::default()
    };
    let repo = keyed(plain.root(), identity(&key));
    let tar = volume_tar(&[("a.txt", b"secret rows"), ("b.bin", &[7u8; 300_000])]);
    let m = write(&repo, new("pg-data", BackupKind::Volume, None), &tar);

    assert_eq!(m.object, format!("{}.tar.zst.age", m.id));
    assert_eq!(m.encryption.as_deref(), Some("age"));
    assert_eq!(m.encrypted_to, vec![public.clone()]);
    let stored = fs::read(repo.object_path(&m)).unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
    assert_eq!(hex::encode(Sha256::digest(&stored)), m.sha256);
    assert_eq!(stored.len() as u64, m.stored_bytes);
    assert_eq!(read_back(&repo, &m.id).unwrap(), tar);

    // Without a key: the sha256 can be checked, the contents cannot be read.
    assert!(plain.verify(&m.id, false).unwrap().ok);
    let no_key = open_error(&plain, &m.id);
    assert!(no_key.contains("cannot be decrypted"), "{no_key}");
    assert!(no_key.contains("no key was given"), "{no_key}");
    assert!(no_key.contains(&public), "{no_key}");
    // A deep check without the key cannot be made: that is not damage.
    let e = plain.verify(&m.id, true).unwrap_err();
    assert!(matches!(e, RepoError::NoKey { .. }), "{e}");
    assert!(e.to_string().contains("no key was given"), "{e}");
    assert!(
        plain.get(&m.id).unwrap().verified(),
        "the shallow check stands"
    );

    // The wrong key says so, and names the file it came from.
    let wrong = keyed(plain.root(), identity(&other_key));
    let e = open_error(&wrong, &m.id);
    assert!(e.contains("does not decrypt it"), "{e}");
    assert!(e.contains("other.txt"), "{e}");
    assert!(matches!(
        wrong.verify(&m.id, true).unwrap_err(),
        RepoError::NoKey { .. }
    ));

    // A flipped byte is still corrupt first, key or not.
    flip_byte(&repo.object_path(&m), 200);
    assert!(matches!(
        repo.open_verified(&m.id).unwrap_err(),
        RepoError::Corrupt { .. }
    ));
}

/// Issue 9, item 6: `backups verify --deep` without the age key cannot
/// check an encrypted backup. It exits 5 and records nothing, so
/// `latest-verified` still finds the good backup; the other backups are
/// still checked.
#[test]
fn verify_without_the_key_records_nothing_and_exits_5() {
    let (dir, plain) = repo();
    let (key, _) = age_key(dir.path(), "key.txt");
    let settings = KeySettings {
        identity_file: Some(key.clone()),
        ..KeySettings::default()
    };
    let repo = keyed(plain.root(), settings);
    let tar = volume_tar(&[("a.txt", b"rows")]);
    let m = write(&repo, new("pg-data", BackupKind::Volume, None), &tar);
    let other = write(&plain, new("plain", BackupKind::Volume, None), &tar);
    let lifeboat = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .arg("--repo")
            .arg(plain.root())
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(args)
            .env_remove("LIFEBOAT_AGE_IDENTITY")
            .env_remove("LIFEBOAT_AGE_PASSPHRASE_FILE")
            .env_remove("LIFEBOAT_REPO")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let key_arg = key.to_str().unwrap();
    let o = lifeboat(&[
        "backups",
        "verify",
        &m.id,
        "--deep",
        "--age-identity",
        key_arg,
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let verified = plain.get(&m.id).unwrap().verification.unwrap();
    assert!(verified.ok && verified.deep);

    let o = lifeboat(&["backups", "verify", &m.id, "--deep"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(5), "{out}{err}");
    assert!(!out.contains("FAILED"), "{out}");
    assert!(format!("{out}{err}").contains("not checked"), "{out}{err}");
    assert!(
        format!("{out}{err}").contains("LIFEBOAT_AGE_IDENTITY"),
        "{out}{err}"
    );
    assert_eq!(
        plain.get(&m.id).unwrap().verification,
        Some(verified),
        "nothing recorded"
    );
    assert_eq!(
        plain
            .resolve("pg-data", "latest-verified", None)
            .unwrap()
            .id,
        m.id
    );

    // With --all, the backups that can be checked still are.
    let o = lifeboat(&["backups", "verify", "--all", "--deep", "--format", "json"]);
    assert_eq!(o.status.code(), Some(5), "{o:?}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let by_id = |id: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id(&other.id)["ok"], true);
    assert_eq!(by_id(&m.id)["ok"], serde_json::Value::Null);
    assert_eq!(by_id(&m.id)["checked"], false);
    assert!(plain.get(&other.id).unwrap().verified());
}

#[test]
fn a_passphrase_file_encrypts_and_decrypts() {
    let (dir, plain) = repo();
    let pass = dir.path().join("pass");
    fs::write(&pass, "correct horse battery staple\n").unwrap();
    let settings = |p: &Path| KeySettings {
        passphrase_file: Some(p.to_path_buf()),
        ..KeySettings::default()
    };
    let repo = keyed(plain.root(), settings(&pass));
    let m = write(
        &repo,
        new("dump", BackupKind::Exec, None),
        b"pg_dump output",
    );
    assert_eq!(m.object, format!("{}.raw.zst.age", m.id));
    assert_eq!(m.encrypted_to, vec!["passphrase".to_string()]);
    assert_eq!(read_back(&repo, &m.id).unwrap(), b"pg_dump output");

    let wrong = dir.path().join("wrong");
    fs::write(&wrong, "incorrect\n").unwrap();
    let e = open_error(&keyed(plain.root(), settings(&wrong)), &m.id);
    assert!(e.contains("does not decrypt it"), "{e}");
}

#[test]
fn key_settings_mistakes_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let load = |s: KeySettings| Keys::load(&s).unwrap_err();
    let e = load(KeySettings {
        recipients: vec!["age1nope".into()],
        ..KeySettings::default()
    });
    assert!(
        e.starts_with("age recipient: `age1nope` is not an age public key"),
        "{e}"
    );
    let list = dir.path().join("recipients");
    fs::write(&list, "# ops team\nssh-ed25519 AAAA\n").unwrap();
    let e = load(KeySettings {
        recipients_file: Some(list.clone()),
        ..KeySettings::default()
    });
    assert!(e.starts_with(&format!("{}:2: ", list.display())), "{e}");
    let (_, public) = age_key(dir.path(), "key.txt");
    let pass = dir.path().join("pass");
    fs::write(&pass, "p\n").unwrap();
    let e = load(KeySettings {
        recipients: vec![public],
        passphrase_file: Some(pass),
        ..KeySettings::default()
    });
    assert!(e.contains("a passphrase and to public keys at once"), "{e}");
    let e = load(KeySettings {
        identity_file: Some(dir.path().join("missing")),
        ..KeySettings::default()
    });
    assert!(e.starts_with("age identity file "), "{e}");
}

#[test]
fn a_person_can_restore_with_zstd_tar_and_sha256sum() {
    let (_t, repo) = repo();
    let raw = volume_tar(&[("a.txt", b"hello\n"), ("sub/b.bin", &[3; 70_000])]);
    let m = write(&repo, new("v", BackupKind::Volume, None), &raw);
    let object = repo.object_path(&m);
    let sh = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&object)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let listing = sh(r#"zstd -d < "$1" | tar -t"#);
    assert_eq!(listing, "data/\ndata/a.txt\ndata/sub/b.bin\n");
    let sum = sh(r#"sha256sum "$1""#);
    assert_eq!(sum.split_whitespace().next(), Some(m.sha256.as_str()));
    assert_eq!(
        sh(r#"zstd -d < "$1" | wc -c"#).trim(),
        m.raw_bytes.to_string()
    );
}

/// `cargo test --release --test repo -- --ignored --nocapture throughput`
#[test]
#[ignore = "a 500 MiB measurement, run by hand in release (docs/benchmarks.md)"]
fn throughput() {
    use std::time::Instant;
    let (t, repo) = repo();
    // ~500 MiB of mixed data: incompressible, text-like and zeros.
    let tar_path = t.path().join("input.tar");
    let mut b = tar::Builder::new(std::io::BufWriter::new(
        fs::File::create(&tar_path).unwrap(),
    ));
    b.append_data(&mut dir_header(), "data/", &[][..]).unwrap();
    let mut x = 0x9e3779b97f4a7c15u64;
    let mut chunk = vec![0u8; 4 << 20];
    for i in 0..125 {
        match i % 3 {
            0 => chunk.chunks_mut(8).for_each(|c| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                c.copy_from_slice(&x.to_le_bytes());
            }),
            1 => chunk.iter_mut().enumerate().for_each(|(j, c)| {
                *c = b"INSERT INTO t VALUES (42, 'lifeboat');\n"[j % 39]
                    ^ ((j / 4096 + i) as u8 & 1);
            }),
            _ => chunk.fill(0),
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(chunk.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("data/f{i}"), &chunk[..])
            .unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
    let size = fs::metadata(&tar_path).unwrap().len();
    let mib = size as f64 / (1 << 20) as f64;

    // Baseline: the same zstd settings into a sink (no hashing, scanning, disk).
    let start = Instant::now();
    let mut enc = zstd::stream::write::Encoder::new(std::io::sink(), 3).unwrap();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    enc.multithread(workers as u32).unwrap();
    std::io::copy(&mut fs::File::open(&tar_path).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let baseline = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut w = repo.create(new("v", BackupKind::Volume, None)).unwrap();
    std::io::copy(&mut fs::File::open(&tar_path).unwrap(), &mut w).unwrap();
    let m = w.finish().unwrap();
    let write = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let verified = repo.open_verified(&m.id).unwrap();
    let pass1 = start.elapsed().as_secs_f64();
    let n = std::io::copy(&mut verified.into_reader().unwrap(), &mut std::io::sink()).unwrap();
    let total = start.elapsed().as_secs_f64();
    assert_eq!(n, size);
    println!(
        "{mib:.0} MiB raw -> {:.0} MiB stored; writer {:.0} MiB/s ({write:.2}s); \
         open_verified {:.0} MiB/s ({pass1:.2}s); reader {:.0} MiB/s ({:.2}s); both {:.0} MiB/s; \
         zstd alone {:.0} MiB/s",
        m.stored_bytes as f64 / (1 << 20) as f64,
        mib / write,
        mib / pass1,
        mib / (total - pass1),
        total - pass1,
        mib / total,
        mib / baseline,
    );
}

fn dir_header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h
}

/// Callers move these into `spawn_blocking` and across tasks.
#[test]
fn handles_are_send() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<lifeboat::repo::BackupWriter>();
    send::<lifeboat::repo::VerifiedBackup>();
    send_sync::<LocalRepo>();
    send_sync::<RepoError>();
    send_sync::<Manifest>();
    send::<lifeboat::archive::Scanner>();
}
