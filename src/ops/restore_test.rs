//! `lifeboat backups verify --restore-test`: restore a volume backup into a
//! scratch volume, read it back, compare, and remove the volume.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;

use crate::archive::{Rules, Scanner};
use crate::docker::Docker;
use crate::repo::{BackupKind, LocalRepo, Manifest};
use crate::steps::transfer::restore_volume;

/// The label on scratch volumes: which backup they test.
const LABEL: &str = "lifeboat.restore-test";

/// Restores `m` (already in `repo`) into `lifeboat-restore-test-<id>` and
/// checks what Docker then holds against the manifest. The volume is removed
/// whatever happens. Ok: what was seen.
pub async fn restore_test(
    docker: &Docker,
    repo: Arc<LocalRepo>,
    m: &Manifest,
) -> Result<String, String> {
    if m.kind != BackupKind::Volume {
        return Err(format!(
            "backup {} is a{} backup: only volume backups can be restore-tested",
            m.id,
            if m.kind == BackupKind::Exec {
                "n exec"
            } else {
                "n http"
            }
        ));
    }
    let volume = format!("lifeboat-restore-test-{}", m.id.to_ascii_lowercase());
    let labels = BTreeMap::from([(LABEL.to_string(), m.id.clone())]);
    docker
        .create_volume(&volume, &labels)
        .await
        .map_err(|e| e.to_string())?;
    let result = restore_and_count(docker, repo, &volume, m).await;
    let removed = docker.remove_volume(&volume).await;
    match (result, removed) {
        (Ok(seen), Ok(())) => Ok(seen),
        (Ok(_), Err(e)) => Err(format!(
            "the restore test passed, but removing {volume}: {e}"
        )),
        (Err(e), _) => Err(e),
    }
}

async fn restore_and_count(
    docker: &Docker,
    repo: Arc<LocalRepo>,
    volume: &str,
    m: &Manifest,
) -> Result<String, String> {
    let started = Instant::now();
    restore_volume(docker, repo, volume, m.id.clone(), |_, _| {})
        .await
        .map_err(|e| e.to_string())?;
    let restored_in = started.elapsed();
    let stream = docker
        .read_volume(volume)
        .await
        .map_err(|e| format!("reading {volume} back: {e}"))?;
    let mut stream = std::pin::pin!(stream);
    let mut scanner = Scanner::new(Rules {
        root: Some("data".into()),
    });
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading {volume} back: {e}"))?;
        scanner
            .feed(&chunk)
            .map_err(|e| format!("reading {volume} back: {e}"))?;
    }
    let stats = scanner
        .finish()
        .map_err(|e| format!("reading {volume} back: {e}"))?;
    if let Some(want) = m.file_count
        && want != stats.files
    {
        return Err(format!(
            "the scratch volume holds {} files after the restore, the backup has {want}",
            stats.files
        ));
    }
    Ok(format!(
        "restore test ok: restored into a scratch volume in {:.1} s, read back {} files, {} dirs, {} symlinks",
        restored_in.as_secs_f64(),
        stats.files,
        stats.dirs,
        stats.symlinks
    ))
}
