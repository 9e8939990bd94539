//! Volume backup / restore through the library, for `scripts/bench-volume.sh`
//! (docs/benchmarks.md, "Volume backup and restore").
//!
//! ```text
//! volume_io backup  VOLUME REPO_DIR       # prints: id=… raw_bytes=… stored_bytes=… files=… seconds=…
//! volume_io restore VOLUME REPO_DIR ID    # prints: id=… raw_bytes=… seconds=…
//! volume_io write   REPO_DIR TAR_FILE     # the backup writer alone (no Docker)
//! volume_io read    REPO_DIR ID           # the restore's two passes alone (no Docker)
//! ```
//!
//! `write` and `read` split the time of `backup` and `restore` into phases:
//! `write` feeds a tar file (e.g. from `docker cp CONTAINER:/data -`) to the
//! repository writer (zstd, sha256, tar scan, fsync) as `store_volume` does,
//! in 1 MiB chunks; `read` times pass 1 (`open_verified`: sha256, zstd, tar
//! scan) and pass 2 (the verified reader drained to nowhere) separately.
//!
//! Exactly what the `volume.backup` / `volume.restore` steps do, minus the
//! runbook: `lifeboat::steps::transfer::{store_volume, restore_volume}`
//! against the Docker engine (`DOCKER_HOST` or the local socket) and a local
//! repository. The restore target volume must exist; it is emptied first.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use lifeboat::docker::Docker;
use lifeboat::repo::{BackupKind, LocalRepo, NewBackup, Origin};
use lifeboat::steps::transfer::{restore_volume, store_volume};

const USAGE: &str = "usage: volume_io get VOLUME              (archive GET, bytes dropped)
       volume_io backup VOLUME REPO_DIR
       volume_io restore VOLUME REPO_DIR ID
       volume_io write REPO_DIR TAR_FILE
       volume_io read REPO_DIR ID";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["get", volume] => get(volume).await,
        ["backup", volume, repo] => backup(volume, repo).await,
        ["restore", volume, repo, id] => restore(volume, repo, id).await,
        ["write", repo, file] => write(repo, file),
        ["read", repo, id] => read(repo, id),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("volume_io: {e}");
            ExitCode::FAILURE
        }
    }
}

fn open(repo: &str) -> Result<Arc<LocalRepo>, String> {
    LocalRepo::open(repo)
        .map(Arc::new)
        .map_err(|e| format!("repository {repo}: {e}"))
}

async fn connect() -> Result<Docker, String> {
    Docker::connect().await.map_err(|e| e.to_string())
}

/// The archive stream alone, through the same helper and client as a backup:
/// the floor under `backup`.
async fn get(volume: &str) -> Result<String, String> {
    use futures_util::StreamExt;
    let docker = connect().await?;
    let start = Instant::now();
    let stream = docker
        .read_volume(volume)
        .await
        .map_err(|e| e.to_string())?;
    let mut stream = std::pin::pin!(stream);
    let (mut bytes, mut chunks) = (0u64, 0u64);
    while let Some(chunk) = stream.next().await {
        bytes += chunk.map_err(|e| e.to_string())?.len() as u64;
        chunks += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "raw_bytes={bytes} chunks={chunks} mean_chunk={} seconds={secs:.3}",
        bytes / chunks.max(1)
    ))
}

async fn backup(volume: &str, repo: &str) -> Result<String, String> {
    let (docker, repo) = (connect().await?, open(repo)?);
    let new = NewBackup {
        source: volume.to_string(),
        kind: BackupKind::Volume,
        origin: Origin {
            volume: Some(volume.to_string()),
            ..Origin::default()
        },
        tags: vec!["bench".into()],
        run_id: None,
        facts: Default::default(),
    };
    let start = Instant::now();
    let m = store_volume(&docker, repo, volume, new, |_| {})
        .await
        .map_err(|e| format!("backing up {volume}: {}", e.message))?;
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "id={} raw_bytes={} stored_bytes={} files={} seconds={secs:.3}",
        m.id,
        m.raw_bytes,
        m.stored_bytes,
        m.file_count.unwrap_or(0)
    ))
}

async fn restore(volume: &str, repo: &str, id: &str) -> Result<String, String> {
    let (docker, repo) = (connect().await?, open(repo)?);
    let start = Instant::now();
    let m = restore_volume(&docker, repo, volume, id.to_string(), |_, _| {})
        .await
        .map_err(|e| format!("restoring {id} into {volume}: {}", e.message))?;
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "id={} raw_bytes={} seconds={secs:.3}",
        m.id, m.raw_bytes
    ))
}

fn write(repo: &str, file: &str) -> Result<String, String> {
    let repo = open(repo)?;
    let mut input = std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?;
    let start = Instant::now();
    let mut writer = repo
        .create(NewBackup {
            source: "volume-io-write".into(),
            kind: BackupKind::Volume,
            origin: Origin::default(),
            tags: vec!["bench".into()],
            run_id: None,
            facts: Default::default(),
        })
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).map_err(|e| format!("{file}: {e}"))?;
        if n == 0 {
            break;
        }
        writer.write_all(&buf[..n]).map_err(|e| e.to_string())?;
    }
    let m = writer.finish().map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "id={} raw_bytes={} stored_bytes={} seconds={secs:.3}",
        m.id, m.raw_bytes, m.stored_bytes
    ))
}

fn read(repo: &str, id: &str) -> Result<String, String> {
    let repo = open(repo)?;
    let start = Instant::now();
    let verified = repo.open_verified(id).map_err(|e| e.to_string())?;
    let pass1 = start.elapsed().as_secs_f64();
    let mut reader = verified.into_reader().map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut raw = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let total = start.elapsed().as_secs_f64();
    Ok(format!(
        "id={id} raw_bytes={raw} pass1_seconds={pass1:.3} pass2_seconds={:.3} seconds={total:.3}",
        total - pass1
    ))
}
