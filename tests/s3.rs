//! The S3 store against a real S3-protocol server, `s3s-fs`, on loopback
//! (docs/architecture.md §9). These tests fail, not skip, when `s3s-fs` is not installed:
//! `cargo install s3s-fs@0.14.1 --features binary --locked`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use lifeboat::repo::{
    BackupKind, KeySettings, Keys, LocalRepo, Manifest, NewBackup, Origin, RepoError, Store,
};
use lifeboat::s3::{
    ObjectReader, S3Error, S3Options, S3Repo, S3Store, StaticCredentials, fetch_backup,
    list_manifests, manifest_key, object_key, pull_backup, push_backup,
};
use sha2::{Digest, Sha256};

mod common;
use common::volume_tar;
mod faults;
use faults::{Fault, Proxy, Request};

const ACCESS_KEY: &str = "lifeboat-test";
const SECRET_KEY: &str = "lifeboat-test-secret";
const MIB: usize = 1 << 20;

/// A running `s3s-fs` on a free loopback port with a temporary root; killed on drop.
struct Server {
    child: Option<Child>,
    port: u16,
    root: tempfile::TempDir,
}

fn s3s_fs() -> PathBuf {
    if let Some(p) = std::env::var_os("S3S_FS") {
        return p.into();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cargo_bin = home.join(".cargo/bin/s3s-fs");
    if cargo_bin.is_file() {
        return cargo_bin;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "s3s-fs is not installed; these tests need it: \
             cargo install s3s-fs@0.14.1 --features binary --locked"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let mut server = Self {
            child: None,
            port: 0,
            root,
        };
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn() {
                return server;
            }
        }
        panic!("s3s-fs did not start");
    }

    /// Starts s3s-fs on `self.port`; false if it exited (port taken).
    fn spawn(&mut self) -> bool {
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs could not be run");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("s3s-fs did not listen on port {} within 20 s", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        assert!(self.spawn(), "s3s-fs did not restart on port {}", self.port);
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn creds() -> StaticCredentials {
        StaticCredentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
            region: None,
        }
    }

    /// A store on `url` (the bucket is created).
    async fn store(&self, url: &str, options: S3Options) -> S3Store {
        let store = S3Store::open_with(url, &self.endpoint(), Self::creds(), options).unwrap();
        store.create_bucket().await.unwrap();
        store
    }

    /// Multipart uploads s3s-fs still holds (it has no ListMultipartUploads):
    /// its `.upload-<id>.json` records and `.upload_id-<id>.part-<n>` parts.
    fn pending_uploads(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(".upload"))
            .collect();
        names.sort();
        names
    }

    /// Runs the AWS CLI against this server.
    fn aws(&self, args: &[&str]) -> Output {
        let out = Command::new("aws")
            .arg("--endpoint-url")
            .arg(self.endpoint())
            .args(args)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .output()
            .expect("the AWS CLI (`aws`) is not installed");
        assert!(
            out.status.success(),
            "aws {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn options(part_mib: usize, parallel: usize) -> S3Options {
    S3Options {
        path_style: true,
        part_size: part_mib * MIB,
        parallel_parts: parallel,
        parallel_downloads: parallel,
        max_attempts: 3,
        initial_backoff: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(2),
        ..S3Options::default()
    }
}

/// `len` bytes: pseudo-random runs mixed with text, different per `seed`.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(4) {
            out.extend_from_slice(format!("line {x} of some text\n").as_bytes());
        } else {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn small_and_multipart_round_trip() {
    let server = Server::start();
    let store = server.store("s3://roundtrip/site-a", options(5, 3)).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, len) in [
        ("empty", 0),
        ("small", 1000),
        ("just-below", 5 * MIB - 1),
        ("exact", 10 * MIB),
        ("big", 40 * MIB + 12345),
    ] {
        let bytes = data(len, len as u64);
        let src = write_file(dir.path(), name, &bytes);
        let stats = store
            .upload_file_stats(&format!("files/{name}"), &src)
            .await
            .unwrap();
        assert_eq!(stats.bytes, len as u64, "{name}");
        let parts = len.div_ceil(5 * MIB);
        assert_eq!(
            stats.parts as usize,
            if len < 5 * MIB { 0 } else { parts },
            "{name}"
        );
        // Memory bound: never more part buffers than parallel_parts.
        assert!(
            (1..=3).contains(&stats.peak_buffered_parts),
            "{name}: {stats:?}"
        );
        let dst = dir.path().join(format!("{name}.down"));
        let got = store
            .download_to_file(&format!("files/{name}"), &dst)
            .await
            .unwrap();
        assert_eq!(got, len as u64);
        assert_eq!(
            sha256(&std::fs::read(&dst).unwrap()),
            sha256(&bytes),
            "{name}"
        );
        assert!(!dir.path().join(format!("{name}.down.partial")).exists());
    }
    let listed = store.list("files/").await.unwrap();
    let names: Vec<(&str, u64)> = listed.iter().map(|(k, s)| (k.as_str(), *s)).collect();
    assert_eq!(
        names,
        [
            ("files/big", (40 * MIB + 12345) as u64),
            ("files/empty", 0),
            ("files/exact", (10 * MIB) as u64),
            ("files/just-below", (5 * MIB - 1) as u64),
            ("files/small", 1000),
        ]
    );
    // Keys live under the prefix.
    assert!(
        server
            .root
            .path()
            .join("roundtrip/site-a/files/big")
            .is_file()
    );
    assert!(
        server.pending_uploads().is_empty(),
        "{:?}",
        server.pending_uploads()
    );

    // Small objects, delete, missing keys.
    store
        .put_small("m/one.json", b"{}\n".to_vec())
        .await
        .unwrap();
    assert_eq!(store.get_small("m/one.json").await.unwrap(), b"{}\n");
    store.delete("m/one.json").await.unwrap();
    let err = store.get_small("m/one.json").await.unwrap_err();
    assert!(matches!(err, S3Error::NotFound { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "s3://roundtrip/site-a/m/one.json does not exist"
    );
    let err = store
        .download_to_file("m/none", &dir.path().join("none"))
        .await
        .unwrap_err();
    assert!(matches!(err, S3Error::NotFound { .. }), "{err}");
    assert!(!dir.path().join("none.partial").exists());
    assert!(!dir.path().join("none").exists());
    // get_small refuses big objects.
    let err = store.get_small("files/big").await.unwrap_err();
    assert!(matches!(err, S3Error::TooLarge { .. }), "{err}");
    assert_eq!(store.url(), "s3://roundtrip/site-a");
}

#[tokio::test]
async fn parts_in_flight_are_bounded() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(30 * MIB, 7);
    let src = write_file(dir.path(), "f", &bytes);
    for parallel in [1, 2, 4] {
        let store = server.store("s3://bounded", options(5, parallel)).await;
        let stats = store.upload_file_stats("f", &src).await.unwrap();
        assert_eq!(stats.parts, 6);
        assert!(
            stats.peak_buffered_parts <= parallel && stats.peak_buffered_parts >= 1,
            "parallel {parallel}: {stats:?}"
        );
        if parallel == 1 {
            assert_eq!(stats.peak_buffered_parts, 1);
        }
    }
}

/// Waits until s3s-fs holds at least one uploaded part.
async fn first_part_landed(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server
        .pending_uploads()
        .iter()
        .any(|n| n.starts_with(".upload_id-"))
    {
        assert!(Instant::now() < deadline, "no part was uploaded");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_file_shrinking_mid_upload_leaves_no_object_and_no_pending_upload() {
    let server = Server::start();
    let store = server.store("s3://shrink", options(5, 1)).await;
    let dir = tempfile::tempdir().unwrap();
    let src = write_file(dir.path(), "f", &data(200 * MIB, 3));
    let upload = {
        let store = store.clone();
        let src = src.clone();
        tokio::spawn(async move { store.upload_file("backups/x/f", &src).await })
    };
    first_part_landed(&server).await;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&src)
        .unwrap()
        .set_len(7 * MIB as u64)
        .unwrap();
    let err = upload.await.unwrap().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, S3Error::Io { .. }), "{msg}");
    assert!(msg.contains(&src.display().to_string()), "{msg}");
    assert!(msg.contains("shrank"), "{msg}");
    assert_eq!(store.size("backups/x/f").await.unwrap(), None);
    assert!(store.list("").await.unwrap().is_empty());
    assert!(
        server.pending_uploads().is_empty(),
        "pending: {:?}",
        server.pending_uploads()
    );
}

#[tokio::test]
async fn server_killed_mid_upload_is_reported_with_the_pending_upload() {
    let mut server = Server::start();
    let store = server.store("s3://killed", options(5, 1)).await;
    let dir = tempfile::tempdir().unwrap();
    let src = write_file(dir.path(), "f", &data(200 * MIB, 4));
    let upload = {
        let store = store.clone();
        let src = src.clone();
        tokio::spawn(async move { store.upload_file("big", &src).await })
    };
    first_part_landed(&server).await;
    let killed_at = Instant::now();
    server.kill();
    let err = upload.await.unwrap().unwrap_err();
    assert!(
        killed_at.elapsed() < Duration::from_secs(20),
        "{:?}",
        killed_at.elapsed()
    );
    let msg = err.to_string();
    // The abort cannot reach the server either: the error says what is left and how to remove it.
    let S3Error::AbortFailed { upload_id, .. } = &err else {
        panic!("{msg}");
    };
    assert!(
        msg.contains("cannot reach S3 at http://127.0.0.1:"),
        "{msg}"
    );
    assert!(
        msg.contains("abort-multipart-upload --bucket killed --key big"),
        "{msg}"
    );
    server.restart();
    assert_eq!(store.size("big").await.unwrap(), None);
    assert!(!server.pending_uploads().is_empty());
    server.aws(&[
        "s3api",
        "abort-multipart-upload",
        "--bucket",
        "killed",
        "--key",
        "big",
        "--upload-id",
        upload_id,
    ]);
    assert!(
        server.pending_uploads().is_empty(),
        "{:?}",
        server.pending_uploads()
    );
}

#[tokio::test]
async fn a_cancelled_upload_is_aborted() {
    let server = Server::start();
    let store = server.store("s3://cancel", options(5, 2)).await;
    let dir = tempfile::tempdir().unwrap();
    let src = write_file(dir.path(), "f", &data(200 * MIB, 9));
    let upload = {
        let store = store.clone();
        let src = src.clone();
        tokio::spawn(async move { store.upload_file("big", &src).await })
    };
    first_part_landed(&server).await;
    upload.abort();
    assert!(upload.await.unwrap_err().is_cancelled());
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.pending_uploads().is_empty() {
        assert!(
            Instant::now() < deadline,
            "still pending: {:?}",
            server.pending_uploads()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.size("big").await.unwrap(), None);
}

#[tokio::test]
async fn server_killed_mid_download_leaves_no_file() {
    let mut server = Server::start();
    let store = server.store("s3://killdown", options(5, 1)).await;
    let dir = tempfile::tempdir().unwrap();
    let src = write_file(dir.path(), "f", &data(300 * MIB, 8));
    store.upload_file("big", &src).await.unwrap();
    let dst = dir.path().join("down");
    let partial = dir.path().join("down.partial");
    let download = {
        let store = store.clone();
        let dst = dst.clone();
        tokio::spawn(async move { store.download_to_file("big", &dst).await })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&partial).map_or(true, |m| m.len() == 0) {
        assert!(Instant::now() < deadline, "the download did not start");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    let err = download.await.unwrap().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("s3://killdown/big") || msg.contains("cannot reach S3"),
        "{msg}"
    );
    assert!(!partial.exists(), "{msg}");
    assert!(!dst.exists(), "{msg}");
}

/// Reads `n` bytes of `r` (all of it when `None`) on a blocking thread.
async fn read_some(
    mut r: ObjectReader,
    n: Option<usize>,
) -> (ObjectReader, std::io::Result<Vec<u8>>) {
    tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        let read = match n {
            Some(n) => {
                got.resize(n, 0);
                r.read_exact(&mut got)
            }
            None => r.read_to_end(&mut got).map(|_| ()),
        };
        (r, read.map(|()| got))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_streams_resumes_after_a_restart_and_fails_loudly_when_the_server_is_gone() {
    let mut server = Server::start();
    let patient = S3Options {
        max_attempts: 10,
        initial_backoff: Duration::from_millis(200),
        ..options(5, 2)
    };
    let store = server.store("s3://stream", patient).await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(48 * MIB, 9);
    store
        .upload_file("big", &write_file(dir.path(), "f", &bytes))
        .await
        .unwrap();
    let rt = tokio::runtime::Handle::current();
    let size = bytes.len() as u64;

    let (_, whole) = read_some(store.reader(&rt, "big", size), None).await;
    assert!(whole.unwrap() == bytes);
    // An object longer than its manifest says is an error, not a silent cut.
    let (_, err) = read_some(store.reader(&rt, "big", size - 1), None).await;
    let err = err.unwrap_err().to_string();
    assert!(err.contains("it has more than the"), "{err}");

    // The server restarts mid-read: the reader asks for the rest and the
    // bytes come out whole and in order.
    let (r, head) = read_some(store.reader(&rt, "big", size), Some(8 * MIB)).await;
    server.restart();
    let (r, tail) = read_some(r, None).await;
    let mut got = head.unwrap();
    got.extend(tail.unwrap());
    assert!(got == bytes, "{} of {} bytes", got.len(), bytes.len());
    // (40 MiB were still to come: more than the channel and the sockets hold.)
    assert!(r.resumed() >= 1, "the read never resumed");

    // The server is gone for good: an error after the retries, then the
    // same error again, never a short end of file.
    let quick = server.store("s3://stream", options(5, 2)).await;
    let (r, _) = read_some(quick.reader(&rt, "big", size), Some(8 * MIB)).await;
    server.kill();
    let (r, err) = read_some(r, None).await;
    let err = err.unwrap_err().to_string();
    let (_, again) = read_some(r, Some(1)).await;
    assert_eq!(again.unwrap_err().to_string(), err);
}

#[test]
fn a_manifest_update_is_applied_again_when_another_machine_changed_it_first() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::start();
    let store = rt.block_on(server.store("s3://cas/p", options(5, 2)));
    let dir = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(dir.path().join("repo")).unwrap();
    let m = local_backup(&repo, "pgdata", &volume_tar(&[("a", b"1")]));
    rt.block_on(push_backup(&store, &repo, &m.id)).unwrap();
    let here = S3Repo::new(store.clone(), rt.handle().clone(), repo.shared_keys());
    let elsewhere = S3Repo::new(store.clone(), rt.handle().clone(), repo.shared_keys());
    // This machine tags the backup; between its read and its write, another
    // machine pins it. Without a conditional PUT the pin would be lost.
    let raced = std::cell::Cell::new(false);
    let changed = here
        .update_manifest(&m, &|fresh: &mut Manifest| {
            if !raced.replace(true) {
                let mut other = fresh.clone();
                other.pinned = true;
                elsewhere.save_manifest(&other).unwrap();
            }
            fresh.tags.push("checked".into());
            true
        })
        .unwrap();
    assert!(changed);
    let now = here.reload(&m).unwrap().unwrap();
    assert!(now.pinned, "the other machine's pin was lost");
    assert_eq!(now.tags, vec!["s3-test".to_string(), "checked".to_string()]);
    // No change: nothing written; a deleted backup: an error, not "unchanged".
    assert!(!here.update_manifest(&m, &|_: &mut Manifest| false).unwrap());
    here.remove(&m).unwrap();
    let err = here
        .update_manifest(&m, &|_: &mut Manifest| true)
        .unwrap_err();
    assert!(matches!(err, RepoError::Gone { .. }), "{err}");
}

#[tokio::test]
async fn server_down_fails_after_retries_with_a_clear_error() {
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let opts = S3Options {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(200),
        ..options(5, 2)
    };
    let store = S3Store::open_with("s3://nobody/p", &endpoint, Server::creds(), opts).unwrap();
    let started = Instant::now();
    let err = store.put_small("k", b"x".to_vec()).await.unwrap_err();
    let elapsed = started.elapsed();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("cannot reach S3 at {endpoint} after 4 attempts: ")),
        "{msg}"
    );
    assert!(msg.contains("onnection refused"), "{msg}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    // It did wait between attempts (at least some backoff).
    assert!(elapsed > Duration::from_millis(50), "{elapsed:?}");
    let dir = tempfile::tempdir().unwrap();
    let src = write_file(dir.path(), "f", &data(12 * MIB, 1));
    let err = store.upload_file("f", &src).await.unwrap_err();
    assert!(matches!(err, S3Error::Unreachable { .. }), "{err}");
    let err = store.list("").await.unwrap_err();
    assert!(matches!(err, S3Error::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn listing_follows_every_page() {
    let server = Server::start();
    let store = server.store("s3://many/pfx", options(5, 4)).await;
    let other = server.store("s3://many/pfx-other", options(5, 4)).await;
    other.put_small("k/not-mine", b"x".to_vec()).await.unwrap();
    let keys: Vec<String> = (0..1100).map(|i| format!("k/{i:05}")).collect();
    stream::iter(keys.clone())
        .map(|k| {
            let store = store.clone();
            async move {
                let body = k.as_bytes().to_vec();
                store.put_small(&k, body).await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let all = store.list("").await.unwrap();
    assert_eq!(all.len(), 1100);
    assert_eq!(all.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), keys);
    assert!(all.iter().all(|(_, s)| *s == 7));
    let small_pages = store.list_pages("k/", Some(97)).await.unwrap();
    assert_eq!(small_pages, all);
    assert_eq!(other.list("").await.unwrap().len(), 1);
}

fn local_backup(repo: &LocalRepo, source: &str, raw: &[u8]) -> Manifest {
    let mut w = repo
        .create(NewBackup {
            source: source.into(),
            kind: BackupKind::Volume,
            origin: Origin {
                volume: Some(source.into()),
                ..Origin::default()
            },
            tags: vec!["s3-test".into()],
            run_id: None,
            facts: Default::default(),
        })
        .unwrap();
    w.write_all(raw).unwrap();
    w.finish().unwrap()
}

#[tokio::test]
async fn push_list_pull_restores_on_a_fresh_machine() {
    let server = Server::start();
    let store = server.store("s3://offsite/prod", options(5, 2)).await;
    let here = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(here.path().join("repo")).unwrap();
    let big = data(9 * MIB, 11);
    let tar_a = volume_tar(&[("a.txt", b"hello"), ("big.bin", &big)]);
    let tar_b = volume_tar(&[("b.txt", b"world")]);
    let a = local_backup(&repo, "pgdata", &tar_a);
    let b = local_backup(&repo, "redis-data", &tar_b);
    assert!(
        a.stored_bytes > 5 * MIB as u64,
        "multipart: {}",
        a.stored_bytes
    );
    push_backup(&store, &repo, &a.id).await.unwrap();
    push_backup(&store, &repo, &b.id).await.unwrap();
    // Pushing again sends only the manifest.
    push_backup(&store, &repo, &a.id).await.unwrap();

    // Junk beside them is skipped: an unparsable manifest, one without its object.
    store
        .put_small(
            "backups/pgdata/20250101T000000Z-abcdef.json",
            b"not json".to_vec(),
        )
        .await
        .unwrap();
    let mut orphan = a.clone();
    orphan.id = "20250102T000000Z-abcdef".into();
    orphan.object = format!("{}.tar.zst", orphan.id);
    store
        .put_small(&manifest_key(&orphan), serde_json::to_vec(&orphan).unwrap())
        .await
        .unwrap();

    // A brand-new machine: a new store, an empty repository.
    let fresh = S3Store::open_with(
        "s3://offsite/prod/",
        &server.endpoint(),
        Server::creds(),
        options(5, 2),
    )
    .unwrap();
    let catalog = list_manifests(&fresh).await.unwrap();
    let ids: Vec<&str> = catalog.iter().map(|m| m.id.as_str()).collect();
    let want = vec![b.id.as_str(), a.id.as_str()]; // b was written after a
    assert_eq!(ids, want, "newest first, junk skipped");
    assert_eq!(
        catalog.iter().find(|m| m.id == a.id).unwrap(),
        &a,
        "manifest round trip"
    );

    let there = tempfile::tempdir().unwrap();
    let repo2 = LocalRepo::open(there.path().join("repo")).unwrap();
    for m in &catalog {
        pull_backup(&fresh, &repo2, m).await.unwrap();
    }
    for (m, tar) in [(&a, &tar_a), (&b, &tar_b)] {
        let mut restored = Vec::new();
        std::io::Read::read_to_end(
            &mut repo2.open_verified(&m.id).unwrap().into_reader().unwrap(),
            &mut restored,
        )
        .unwrap();
        assert_eq!(&restored, tar);
        assert_eq!(
            std::fs::read(repo2.object_path(m)).unwrap(),
            std::fs::read(repo.object_path(m)).unwrap()
        );
    }
    assert_eq!(repo2.list().unwrap().len(), 2);
    // The same layout as the local repository, under the prefix.
    assert!(
        server
            .root
            .path()
            .join(format!("offsite/prod/{}", object_key(&a)))
            .is_file()
    );
    assert!(
        there
            .path()
            .join(format!("repo/backups/pgdata/{}.json", a.id))
            .is_file()
    );

    // Pulling again: the local copy is right, nothing is downloaded (the file is not replaced).
    let obj = repo2.object_path(&a);
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&obj).unwrap());
    pull_backup(&fresh, &repo2, &a).await.unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&obj).unwrap()),
        inode
    );

    // A damaged object on S3 (same size) is refused and leaves nothing locally.
    let damaged = here.path().join("damaged");
    let mut bytes = std::fs::read(repo.object_path(&b)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&damaged, &bytes).unwrap();
    fresh.upload_file(&object_key(&b), &damaged).await.unwrap();
    let third = tempfile::tempdir().unwrap();
    let repo3 = LocalRepo::open(third.path().join("repo")).unwrap();
    let err = pull_backup(&fresh, &repo3, &b).await.unwrap_err();
    assert!(matches!(err, S3Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("sha256"), "{err}");
    let dir = third.path().join("repo/backups/redis-data");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");

    // A manifest that would write outside the repository is refused.
    let mut evil = a.clone();
    evil.source = "../../etc".into();
    let err = pull_backup(&fresh, &repo3, &evil).await.unwrap_err();
    assert!(matches!(err, S3Error::BadManifest { .. }), "{err}");
}

#[tokio::test]
async fn the_aws_cli_reads_what_lifeboat_wrote_and_back() {
    let server = Server::start();
    let store = server.store("s3://interop/x", options(5, 3)).await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(13 * MIB + 7, 5);
    let src = write_file(dir.path(), "f", &bytes);
    store.upload_file("dir/multipart.bin", &src).await.unwrap();
    store
        .put_small("dir/m.json", b"{\"a\": 1}\n".to_vec())
        .await
        .unwrap();
    let out = server.aws(&["s3", "cp", "s3://interop/x/dir/multipart.bin", "-"]);
    assert!(out.stdout == bytes, "the AWS CLI read different bytes");
    let out = server.aws(&["s3", "cp", "s3://interop/x/dir/m.json", "-"]);
    assert_eq!(out.stdout, b"{\"a\": 1}\n");
    let out = server.aws(&["s3", "ls", "--recursive", "s3://interop/x/"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(&format!("{} x/dir/multipart.bin", bytes.len())),
        "{listing}"
    );

    // And lifeboat reads what the AWS CLI wrote (its own multipart upload).
    let theirs = data(21 * MIB, 6);
    let theirs_path = write_file(dir.path(), "theirs", &theirs);
    server.aws(&[
        "s3",
        "cp",
        theirs_path.to_str().unwrap(),
        "s3://interop/x/theirs.bin",
    ]);
    let dst = dir.path().join("theirs.down");
    store.download_to_file("theirs.bin", &dst).await.unwrap();
    assert!(std::fs::read(&dst).unwrap() == theirs);
}

/// The ```sh block of docs/restore-by-hand.md whose first line is `# manual-restore: NAME`.
fn manual_block(name: &str) -> String {
    let doc = std::fs::read_to_string("docs/restore-by-hand.md").unwrap();
    let marker = format!("```sh\n# manual-restore: {name}\n");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/restore-by-hand.md has no `{name}` block"))
        + marker.len();
    let len = doc[start..].find("```").unwrap();
    doc[start..start + len].to_string()
}

/// Runs `script` with bash in `dir`, the AWS CLI pointed at `server`.
fn by_hand(server: &Server, dir: &Path, script: &str, vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", server.endpoint())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[tokio::test]
async fn the_documented_manual_restore_works() {
    let server = Server::start();
    let store = server.store("s3://manual/prod", options(5, 2)).await;
    let here = tempfile::tempdir().unwrap();
    let key = here.path().join("age.key");
    let keygen = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen (the `age` package) is not installed");
    assert!(keygen.status.success(), "{keygen:?}");
    let plain = LocalRepo::open(here.path().join("repo")).unwrap();
    let keys = Keys::load(&KeySettings {
        identity_file: Some(key.clone()),
        ..KeySettings::default()
    })
    .unwrap();
    let encrypted = LocalRepo::open(here.path().join("repo"))
        .unwrap()
        .with_keys(keys);
    let big = data(7 * MIB, 5);
    let tar = volume_tar(&[("PG_VERSION", b"15\n"), ("base.bin", &big)]);
    let a = local_backup(&plain, "shop_pg-data", &tar);
    let b = local_backup(&encrypted, "shop_pg-data", &tar);
    assert!(a.encryption.is_none() && b.encryption.as_deref() == Some("age"));
    for m in [&a, &b] {
        push_backup(&store, &plain, &m.id).await.unwrap();
    }

    let download = manual_block("download");
    for (m, extract) in [(&a, "extract"), (&b, "extract encrypted")] {
        let work = tempfile::tempdir().unwrap();
        let script = format!("{download}{}", manual_block(extract));
        let vars = [
            ("S3", "s3://manual/prod"),
            ("SOURCE", "shop_pg-data"),
            ("ID", m.id.as_str()),
            ("AGE_KEY", key.to_str().unwrap()),
        ];
        let out = by_hand(&server, work.path(), &script, &vars);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{extract}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.lines().last(),
            Some(format!("{}: OK", m.object).as_str())
        );
        let restored = work.path().join("restored/data");
        assert_eq!(std::fs::read(restored.join("PG_VERSION")).unwrap(), b"15\n");
        assert!(std::fs::read(restored.join("base.bin")).unwrap() == big);
    }

    // A damaged object on S3: the procedure stops (the AWS CLI's own checksum
    // or `sha256sum -c`, whichever sees it first).
    let stored = server
        .root
        .path()
        .join("manual/prod/backups/shop_pg-data")
        .join(&b.object);
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&stored, bytes).unwrap();
    let work = tempfile::tempdir().unwrap();
    let vars = [
        ("S3", "s3://manual/prod"),
        ("SOURCE", "shop_pg-data"),
        ("ID", b.id.as_str()),
    ];
    let out = by_hand(&server, work.path(), &download, &vars);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stdout.lines().last() == Some(format!("{}: FAILED", b.object).as_str())
            || stderr.contains("did not match calculated checksum"),
        "{stdout}{stderr}"
    );
}

/// `lifeboat backups …` on a brand-new machine whose repository is S3.
fn lifeboat_backups(server: &Server, state: &Path, args: &[&str]) -> (i32, String) {
    lifeboat_backups_at(&server.endpoint(), "s3://catalog/prod", state, args)
}

/// `lifeboat backups …` with the repository `url` at `endpoint`.
fn lifeboat_backups_at(endpoint: &str, url: &str, state: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("backups")
        .args(args)
        .args(["--repo", url])
        .env("LIFEBOAT_STATE", state)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("LIFEBOAT_REPO")
        .env_remove("LIFEBOAT_OFFSITE")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn the_backups_commands_work_on_s3_from_a_new_machine() {
    let server = Server::start();
    let store = server.store("s3://catalog/prod", options(5, 2)).await;
    let old = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(old.path().join("repo")).unwrap();
    let mut ids = Vec::new();
    for i in 0..3u8 {
        let m = local_backup(&repo, "pgdata", &volume_tar(&[("n.txt", &[b'0' + i])]));
        push_backup(&store, &repo, &m.id).await.unwrap();
        ids.push(m.id);
        // Distinct creation times.
        std::thread::sleep(Duration::from_millis(1100));
    }
    drop(old);
    let state = tempfile::tempdir().unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let (code, out) = lifeboat_backups(&server, state.path(), &all);
        assert_eq!(code, 0, "{out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let remote_manifest = |id: &str| -> serde_json::Value {
        let out = server.aws(&[
            "s3",
            "cp",
            &format!("s3://catalog/prod/backups/pgdata/{id}.json"),
            "-",
        ]);
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // The catalog comes from the manifests on S3, newest first.
    let listed = json(&["list"]);
    let listed_ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_ids, vec![&*ids[2], &*ids[1], &*ids[0]]);
    assert_eq!(listed[0]["locations"], serde_json::json!(["s3"]));
    let (_, table) = lifeboat_backups(&server, state.path(), &["list"]);
    assert!(table.lines().next().unwrap().ends_with("WHERE"), "{table}");

    // verify streams the object from S3 (no local copy is left), checks
    // it, and records the result in the manifest on S3.
    let verified = json(&["verify", &ids[1], "--deep"]);
    assert_eq!(verified[0]["ok"], true, "{verified}");
    assert_eq!(verified[0]["deep"], true);
    let detail = verified[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("tar ok (2 entries: 1 files, 1 dirs"),
        "{detail}"
    );
    assert_eq!(remote_manifest(&ids[1])["verification"]["ok"], true);
    let cache = state.path().join("cache");
    let listing = || {
        String::from_utf8(
            Command::new("find")
                .arg(state.path())
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
    };
    assert_eq!(
        json(&["show", &ids[1]])["locations"],
        serde_json::json!(["s3"]),
        "{}",
        listing()
    );
    assert!(
        !cache.join("catalog_prod/backups").exists(),
        "{}",
        listing()
    );
    // A byte flipped in an object on S3 fails its verification, recorded on S3.
    let stored = server
        .root
        .path()
        .join("catalog/prod/backups/pgdata")
        .join(format!("{}.tar.zst", ids[0]));
    let mut bytes = std::fs::read(&stored).unwrap();
    let good = bytes.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&stored, &bytes).unwrap();
    let (code, out) = lifeboat_backups(&server, state.path(), &["verify", &ids[0]]);
    assert_eq!(code, 3, "{out}");
    // (The SDK checks the CRC32 s3s-fs stored at upload before lifeboat's sha256 can.)
    let said = format!(
        "FAILED  {id}  backup {id} cannot be read: \
         s3://catalog/prod/backups/pgdata/{id}.tar.zst is damaged: reading it to its end: ",
        id = ids[0]
    );
    assert!(
        out.contains(&said) && out.contains("checksum mismatch"),
        "{out}"
    );
    assert_eq!(remote_manifest(&ids[0])["verification"]["ok"], false);
    std::fs::write(&stored, good).unwrap();

    // pin is recorded on S3; prune keeps the pinned and the newest one.
    assert_eq!(json(&["pin", &ids[0]])["changed"], true);
    assert_eq!(remote_manifest(&ids[0])["pinned"], true);
    // Another machine pins ids[1] on S3 after this one cached it unpinned:
    // prune reads the manifest again before deleting, and keeps it.
    let mut other = remote_manifest(&ids[1]);
    other["pinned"] = serde_json::json!(true);
    let pinned_elsewhere = state.path().join("pinned.json");
    std::fs::write(
        &pinned_elsewhere,
        serde_json::to_vec_pretty(&other).unwrap(),
    )
    .unwrap();
    server.aws(&[
        "s3",
        "cp",
        pinned_elsewhere.to_str().unwrap(),
        &format!("s3://catalog/prod/backups/pgdata/{}.json", ids[1]),
    ]);
    let kept = json(&["prune", "--keep-last", "1"]);
    assert_eq!(kept["deleted"], 0, "{kept}");
    assert_eq!(remote_manifest(&ids[1])["pinned"], true);
    assert_eq!(json(&["unpin", &ids[1]])["pinned"], false);
    assert_eq!(remote_manifest(&ids[1])["pinned"], false);
    let pruned = json(&["prune", "--keep-last", "1"]);
    assert_eq!(pruned["deleted"], 1, "{pruned}");
    assert_eq!(pruned["sources"][0]["deleted"], serde_json::json!([ids[1]]));
    let left: Vec<String> = store
        .list("backups/pgdata/")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(!left.iter().any(|k| k.contains(&*ids[1])), "{left:?}");
    assert_eq!(left.len(), 4, "{left:?}");

    // delete removes every copy and reports what it freed.
    let deleted = json(&["delete", &ids[2], "--force"]);
    assert!(deleted["freed_bytes"].as_u64().unwrap() > 0);
    let after = json(&["list"]);
    assert_eq!(after.as_array().unwrap().len(), 1);
    assert_eq!(after[0]["id"], ids[0].as_str());
}

/// A store on `url` that talks to `proxy` (the bucket must exist).
fn through(proxy: &Proxy, url: &str, options: S3Options) -> S3Store {
    S3Store::open_with(url, &proxy.endpoint(), Server::creds(), options).unwrap()
}

/// `CompleteMultipartUpload`: a POST to an upload (`?uploadId=`).
fn is_complete(r: &Request) -> bool {
    r.method == "POST" && r.target.contains("uploadId=")
}

#[tokio::test]
async fn a_lost_complete_answer_still_ends_with_a_whole_backup_and_nothing_pending() {
    let server = Server::start();
    server.store("s3://lostcomplete/p", options(5, 2)).await;
    let proxy = Proxy::start(server.port);
    let store = through(&proxy, "s3://lostcomplete/p", options(5, 2));
    let dir = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(dir.path().join("repo")).unwrap();
    let tar = volume_tar(&[("big.bin", &data(12 * MIB, 17))]);
    let m = local_backup(&repo, "pgdata", &tar);
    assert!(
        m.stored_bytes > 5 * MIB as u64,
        "multipart: {}",
        m.stored_bytes
    );

    // S3 completes the upload, its answer is lost: the object is whole on
    // S3, so the backup is finished (manifest written), nothing pending.
    proxy.add(is_complete, Fault::DropResponse, 1);
    push_backup(&store, &repo, &m.id).await.unwrap();
    assert!(
        proxy
            .log()
            .iter()
            .any(|(r, f)| is_complete(r) && *f == Some(Fault::DropResponse)),
        "the answer was not dropped: {:?}",
        proxy.log()
    );
    let listed = list_manifests(&store).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, m.id);
    assert_eq!(server.pending_uploads(), Vec::<String>::new());
    let there = tempfile::tempdir().unwrap();
    let repo2 = LocalRepo::open(there.path().join("repo")).unwrap();
    pull_backup(&store, &repo2, &listed[0]).await.unwrap();
    repo2.open_verified(&m.id).unwrap();

    // The upload is never completed (S3 never gets the request): an error
    // that does not send the user to abort anything, no object, no
    // manifest, nothing pending.
    let m2 = local_backup(&repo, "redis-data", &tar);
    proxy.add(is_complete, Fault::Refuse, usize::MAX);
    let err = push_backup(&store, &repo, &m2.id).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("CompleteMultipartUpload"), "{msg}");
    assert!(!msg.contains("abort-multipart-upload"), "{msg}");
    assert_eq!(store.size(&object_key(&m2)).await.unwrap(), None, "{msg}");
    assert_eq!(store.size(&manifest_key(&m2)).await.unwrap(), None, "{msg}");
    assert_eq!(server.pending_uploads(), Vec::<String>::new(), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_download_survives_a_flaky_link_that_verify_survives() {
    let server = Server::start();
    let direct = server.store("s3://flaky", options(5, 2)).await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(12 * MIB + 321, 23);
    direct
        .upload_file("big", &write_file(dir.path(), "f", &bytes))
        .await
        .unwrap();
    let proxy = Proxy::start(server.port);
    // Every answer to a GET breaks off after 1 MiB: progress every time,
    // more breaks per range than `max_attempts` (3).
    proxy.add(|r| r.method == "GET", Fault::CutBodyAfter(MIB), usize::MAX);
    let store = through(&proxy, "s3://flaky", options(5, 2));
    let size = bytes.len() as u64;

    // verify's stream gets through.
    let rt = tokio::runtime::Handle::current();
    let (r, read) = read_some(store.reader(&rt, "big", size), None).await;
    assert!(read.unwrap() == bytes);
    assert!(r.resumed() >= 5, "{}", r.resumed());

    // So does the download a restore makes.
    let dst = dir.path().join("down");
    let got = store.download_to_file("big", &dst).await;
    let cuts = proxy
        .log()
        .iter()
        .filter(|(_, f)| *f == Some(Fault::CutBodyAfter(MIB)))
        .count();
    assert_eq!(got.unwrap(), size, "after {cuts} cut answers");
    assert!(std::fs::read(&dst).unwrap() == bytes);
}

#[test]
fn a_server_that_accepts_and_never_answers_is_given_up_on() {
    let proxy = Proxy::start(free_port());
    proxy.add(|_| true, Fault::Stall, usize::MAX);
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["backups", "list", "--repo", "s3://stalled/p"])
        .env("LIFEBOAT_STATE", state.path())
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("LIFEBOAT_S3_READ_TIMEOUT", "1s")
        .env("LIFEBOAT_S3_MAX_ATTEMPTS", "2")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("LIFEBOAT_REPO")
        .env_remove("LIFEBOAT_OFFSITE")
        .env_remove("LIFEBOAT_CONFIG")
        .current_dir(state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(40) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still waiting after 40 s on a server that never answers ({} requests)",
                proxy.log().len()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(5), "{err}");
    assert!(err.contains("cannot reach S3"), "{err}");
    assert!(
        err.contains("timed out") || err.contains("timeout"),
        "{err}"
    );
    assert!(err.contains("LIFEBOAT_S3_READ_TIMEOUT"), "{err}");
    // Two attempts, each given up after 1 s (plus the pause between them).
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(proxy.log().len(), 2, "{:?}", proxy.log());
}

/// The JSON document `out` starts with (log lines on stderr may follow it).
fn first_json(out: &str) -> serde_json::Value {
    serde_json::Deserializer::from_str(out)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON: {out}"))
}

/// Runs `f` on a runtime of its own (from a proxy's thread).
fn blocking<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_fails_on_a_backup_another_machine_just_pruned() {
    let server = Server::start();
    let direct = server.store("s3://pinrace/prod", options(5, 2)).await;
    let old = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(old.path().join("repo")).unwrap();
    let m = local_backup(&repo, "pgdata", &volume_tar(&[("a", b"1")]));
    push_backup(&direct, &repo, &m.id).await.unwrap();
    let proxy = Proxy::start(server.port);
    // lifeboat lists the manifest (first GET), then reads it again to pin
    // it: in between, another machine's prune deletes the backup.
    let gets = std::sync::atomic::AtomicUsize::new(0);
    let (name, other) = (format!("{}.json", m.id), direct.clone());
    let (mkey, okey) = (manifest_key(&m), object_key(&m));
    proxy.add(
        move |r| {
            if r.method == "GET"
                && r.target.contains(&name)
                && gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1
            {
                blocking(async {
                    other.delete(&mkey).await.unwrap();
                    other.delete(&okey).await.unwrap();
                });
            }
            false
        },
        Fault::Refuse,
        usize::MAX,
    );
    let state = tempfile::tempdir().unwrap();
    let (code, out) = lifeboat_backups_at(
        &proxy.endpoint(),
        "s3://pinrace/prod",
        state.path(),
        &["pin", &m.id],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "backup {} is no longer in s3://pinrace/prod",
            m.id
        )),
        "{out}"
    );
    assert!(out.contains("deleted after it was listed"), "{out}");
    assert!(!out.contains("pinned"), "{out}");
    assert_eq!(direct.size(&manifest_key(&m)).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_a_backup_pinned_between_its_check_and_its_delete() {
    let server = Server::start();
    let direct = server.store("s3://prunerace/prod", options(5, 2)).await;
    let old = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(old.path().join("repo")).unwrap();
    let a = local_backup(&repo, "pgdata", &volume_tar(&[("a", b"1")]));
    std::thread::sleep(Duration::from_millis(1100));
    let b = local_backup(&repo, "pgdata", &volume_tar(&[("b", b"2")]));
    for m in [&a, &b] {
        push_backup(&direct, &repo, &m.id).await.unwrap();
    }
    let proxy = Proxy::start(server.port);
    // `prune --keep-last 1` forgets `a` and checks that it is not pinned;
    // when it next goes to change `a`'s manifest (delete it, or mark it),
    // another machine pins `a` first.
    let name = format!("{}.json", a.id);
    let (other, key) = (direct.clone(), manifest_key(&a));
    let mut pinned = a.clone();
    pinned.pinned = true;
    let json = serde_json::to_vec_pretty(&pinned).unwrap();
    let raced = std::sync::atomic::AtomicBool::new(false);
    proxy.add(
        move |r| {
            if matches!(r.method.as_str(), "PUT" | "DELETE")
                && r.target.contains(&name)
                && !raced.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                blocking(other.put_small(&key, json.clone())).unwrap();
            }
            false
        },
        Fault::Refuse,
        usize::MAX,
    );
    let state = tempfile::tempdir().unwrap();
    let (code, out) = lifeboat_backups_at(
        &proxy.endpoint(),
        "s3://prunerace/prod",
        state.path(),
        &["prune", "--keep-last", "1", "--format", "json"],
    );
    assert_eq!(code, 0, "{out}");
    let report = first_json(&out);
    assert_eq!(report["deleted"], 0, "{out}");
    // The pin and the backup are still there.
    let stored: Manifest =
        serde_json::from_slice(&direct.get_small(&manifest_key(&a)).await.unwrap()).unwrap();
    assert!(stored.pinned, "{stored:?}");
    assert_eq!(
        direct.size(&object_key(&a)).await.unwrap(),
        Some(a.stored_bytes)
    );
    assert_eq!(list_manifests(&direct).await.unwrap().len(), 2);
    // Once unpinned, the next prune deletes it, and it is gone for good.
    proxy.clear();
    let (code, out) = lifeboat_backups_at(
        &proxy.endpoint(),
        "s3://prunerace/prod",
        state.path(),
        &["unpin", &a.id],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = lifeboat_backups_at(
        &proxy.endpoint(),
        "s3://prunerace/prod",
        state.path(),
        &["prune", "--keep-last", "1", "--format", "json"],
    );
    assert_eq!(code, 0, "{out}");
    let left = list_manifests(&direct).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].id, b.id);
    assert_eq!(direct.size(&object_key(&a)).await.unwrap(), None);
}

#[tokio::test]
async fn a_damaged_or_missing_cached_object_is_fetched_again_from_s3() {
    let server = Server::start();
    let store = server.store("s3://cache/prod", options(5, 2)).await;
    let here = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(here.path().join("repo")).unwrap();
    let tar = volume_tar(&[("a.txt", b"hello"), ("big.bin", &data(2 * MIB, 5))]);
    let m = local_backup(&repo, "pgdata", &tar);
    push_backup(&store, &repo, &m.id).await.unwrap();
    let there = tempfile::tempdir().unwrap();
    let cache = LocalRepo::open(there.path().join("cache")).unwrap();
    // Only on S3: fetched.
    assert_eq!(
        fetch_backup(&store, &cache, &m.id).await.unwrap().unwrap(),
        m
    );
    let object = cache.object_path(&m);
    let good = std::fs::read(&object).unwrap();
    // A good cached copy is used as it is (not downloaded again).
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&object).unwrap());
    fetch_backup(&store, &cache, &m.id).await.unwrap().unwrap();
    let now = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&object).unwrap());
    assert_eq!(now, inode);
    // A flipped byte, a truncated file, a missing file: fetched again,
    // and the restore's verification passes.
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 1;
    for damage in [Some(flipped), Some(good[..good.len() - 7].to_vec()), None] {
        match damage {
            Some(bytes) => std::fs::write(&object, bytes).unwrap(),
            None => std::fs::remove_file(&object).unwrap(),
        }
        assert!(cache.open_verified(&m.id).is_err());
        fetch_backup(&store, &cache, &m.id).await.unwrap().unwrap();
        assert!(std::fs::read(&object).unwrap() == good);
        cache.open_verified(&m.id).unwrap();
    }
    // Neither here nor on S3: None.
    assert!(
        fetch_backup(&store, &cache, "20200101T000000Z-abcdef")
            .await
            .unwrap()
            .is_none()
    );
    // Damaged here and gone from S3: left for the restore's verification to
    // refuse (a short object is refused by its size before it is hashed).
    store.delete(&manifest_key(&m)).await.unwrap();
    std::fs::write(&object, &good[1..]).unwrap();
    fetch_backup(&store, &cache, &m.id).await.unwrap().unwrap();
    assert!(matches!(
        cache.open_verified(&m.id),
        Err(RepoError::Unreadable { reason, .. }) if reason.contains("manifest says")
    ));
}

#[test]
fn a_backup_a_prune_started_deleting_cannot_be_pinned_and_the_next_prune_finishes_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::start();
    let store = rt.block_on(server.store("s3://marked/p", options(5, 2)));
    let dir = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(dir.path().join("repo")).unwrap();
    let m = local_backup(&repo, "pgdata", &volume_tar(&[("a", b"1")]));
    rt.block_on(push_backup(&store, &repo, &m.id)).unwrap();
    // A prune marked the manifest, then died before deleting anything.
    let mut marked = serde_json::to_value(&m).unwrap();
    marked["deleting"] = serde_json::json!("2026-11-30T06:00:00Z");
    rt.block_on(store.put_small(&manifest_key(&m), serde_json::to_vec(&marked).unwrap()))
        .unwrap();
    let s3 = S3Repo::new(store.clone(), rt.handle().clone(), repo.shared_keys());
    let err = s3
        .update_manifest(&m, &|m: &mut Manifest| {
            m.pinned = true;
            true
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("a prune has been deleting it since 2026-11-30T06:00:00Z"),
        "{msg}"
    );
    assert!(msg.contains("nothing was changed"), "{msg}");
    assert_eq!(s3.reload(&m).unwrap(), None);
    assert_eq!(s3.remove_unpinned(&m).unwrap(), Some(m.stored_bytes));
    assert_eq!(rt.block_on(store.list("")).unwrap(), vec![]);
    // Gone already: nothing to free, no error.
    assert_eq!(s3.remove_unpinned(&m).unwrap(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_a_backup_pinned_by_a_plain_put_right_after_it_deleted_the_manifest() {
    let server = Server::start();
    let direct = server.store("s3://prunelate/prod", options(5, 2)).await;
    let old = tempfile::tempdir().unwrap();
    let repo = LocalRepo::open(old.path().join("repo")).unwrap();
    let a = local_backup(&repo, "pgdata", &volume_tar(&[("a", b"1")]));
    std::thread::sleep(Duration::from_millis(1100));
    let b = local_backup(&repo, "pgdata", &volume_tar(&[("b", b"2")]));
    for m in [&a, &b] {
        push_backup(&direct, &repo, &m.id).await.unwrap();
    }
    let proxy = Proxy::start(server.port);
    // Another machine (or a person with the AWS CLI, which knows nothing of
    // lifeboat's marks) writes `a`'s manifest, pinned, just after prune
    // deleted it and before prune's next request about `a`.
    let (name, object) = (format!("{}.json", a.id), a.object.clone());
    let (other, key) = (direct.clone(), manifest_key(&a));
    let mut pinned = a.clone();
    pinned.pinned = true;
    let json = serde_json::to_vec_pretty(&pinned).unwrap();
    let deleted = std::sync::atomic::AtomicBool::new(false);
    let raced = std::sync::atomic::AtomicBool::new(false);
    proxy.add(
        move |r| {
            let about_a = r.target.contains(&name) || r.target.contains(&object);
            if deleted.load(std::sync::atomic::Ordering::SeqCst)
                && about_a
                && !raced.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                blocking(other.put_small(&key, json.clone())).unwrap();
            }
            if r.method == "DELETE" && r.target.contains(&name) {
                deleted.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            false
        },
        Fault::Refuse,
        usize::MAX,
    );
    let state = tempfile::tempdir().unwrap();
    let (code, out) = lifeboat_backups_at(
        &proxy.endpoint(),
        "s3://prunelate/prod",
        state.path(),
        &["prune", "--keep-last", "1", "--format", "json"],
    );
    assert_eq!(code, 0, "{out}");
    let report = first_json(&out);
    assert_eq!(report["deleted"], 0, "{out}");
    // The pinned backup is whole: its manifest and its object.
    let listed = list_manifests(&direct).await.unwrap();
    let kept = listed.iter().find(|m| m.id == a.id);
    assert!(kept.is_some_and(|m| m.pinned), "{listed:?}");
    assert_eq!(
        direct.size(&object_key(&a)).await.unwrap(),
        Some(a.stored_bytes)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_whose_answers_stall_mid_body_are_resumed_after_the_read_timeout() {
    let server = Server::start();
    let direct = server.store("s3://stallbody", options(5, 2)).await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(6 * MIB + 77, 29);
    direct
        .upload_file("big", &write_file(dir.path(), "f", &bytes))
        .await
        .unwrap();
    let proxy = Proxy::start(server.port);
    // Every answer to a GET sends 2 MiB, then nothing, the connection open.
    proxy.add(
        |r| r.method == "GET",
        Fault::StallBodyAfter(2 * MIB),
        usize::MAX,
    );
    let quick = S3Options {
        read_timeout: Duration::from_secs(1),
        ..options(5, 2)
    };
    let store = through(&proxy, "s3://stallbody", quick);
    let size = bytes.len() as u64;
    let started = Instant::now();
    let dst = dir.path().join("down");
    let got = tokio::time::timeout(Duration::from_secs(60), store.download_to_file("big", &dst))
        .await
        .expect("the download hung on a stalled answer");
    assert_eq!(got.unwrap(), size);
    assert!(std::fs::read(&dst).unwrap() == bytes);
    let rt = tokio::runtime::Handle::current();
    let (_, read) = tokio::time::timeout(
        Duration::from_secs(60),
        read_some(store.reader(&rt, "big", size), None),
    )
    .await
    .expect("verify's stream hung on a stalled answer");
    assert!(read.unwrap() == bytes);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_s3_timeouts_and_attempts_are_usage_errors() {
    let state = tempfile::tempdir().unwrap();
    for (var, value, said) in [
        (
            "LIFEBOAT_S3_READ_TIMEOUT",
            "soon",
            "LIFEBOAT_S3_READ_TIMEOUT: `soon` is not a duration longer than 0 (like 15s or 5m)",
        ),
        (
            "LIFEBOAT_S3_ATTEMPT_TIMEOUT",
            "0s",
            "LIFEBOAT_S3_ATTEMPT_TIMEOUT: `0s` is not a duration longer than 0",
        ),
        (
            "LIFEBOAT_S3_MAX_ATTEMPTS",
            "0",
            "LIFEBOAT_S3_MAX_ATTEMPTS: `0` is not a whole number of at least 1",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(["backups", "list", "--repo", "s3://badopts/p"])
            .env("LIFEBOAT_STATE", state.path())
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .env(var, value)
            .env_remove("LIFEBOAT_CONFIG")
            .current_dir(state.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {err}");
        assert!(err.contains(said), "{var}: {err}");
    }
}
