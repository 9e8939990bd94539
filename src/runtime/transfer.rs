//! Bridges between async streams (Docker, HTTP) and the repository's
//! blocking reader and writer. Bounded channels: memory stays flat whatever
//! the size of the data.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ports::{Containers, Repository};
use crate::archive::Select;
use crate::engine::StepError;
use crate::repo::{Manifest, NewBackup, VerifiedBackup};

/// Chunks in flight between the two sides.
const DEPTH: usize = 8;
const CHUNK: usize = 1 << 20;
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Volume → Docker archive stream → zstd → sha256 → repository.
/// `progress` hears the bytes read so far, twice a second.
pub async fn store_volume(
    docker: &dyn Containers,
    repo: Arc<dyn Repository>,
    volume: &str,
    new: NewBackup,
    mut progress: impl FnMut(u64) + Send,
) -> Result<Manifest, StepError> {
    let storer = Storer::start(repo, new)?;
    let stream = match docker.read_volume(volume).await {
        Ok(s) => s,
        Err(e) => {
            storer.abort().await;
            return Err(super::docker(e));
        }
    };
    let mut stream = std::pin::pin!(stream);
    let (mut moved, mut last) = (0u64, Instant::now());
    // Docker sends ~20 KiB pieces; the writer gets them in 1 MiB batches, so
    // the hand-off between the two threads is rare and the queue deep enough
    // (DEPTH × 1 MiB) to ride out the encoder's pauses.
    let mut batch = BytesMut::with_capacity(CHUNK);
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                moved += chunk.len() as u64;
                batch.extend_from_slice(&chunk);
                if batch.len() >= CHUNK {
                    let full = std::mem::replace(&mut batch, BytesMut::with_capacity(CHUNK));
                    if !storer.send(full.freeze()).await {
                        break;
                    }
                }
                if last.elapsed() >= PROGRESS_EVERY {
                    progress(moved);
                    last = Instant::now();
                }
            }
            Err(e) => {
                storer.abort().await;
                return Err(StepError::new(format!("reading volume {volume}: {e}")));
            }
        }
    }
    if !batch.is_empty() {
        storer.send(batch.freeze()).await;
    }
    progress(moved);
    storer.commit().await
}

/// Repository → verify (sha256, every tar header) → empty the volume →
/// extract. Nothing touches the volume until the whole backup verified.
pub async fn restore_volume(
    docker: &dyn Containers,
    repo: Arc<dyn Repository>,
    volume: &str,
    id: String,
    progress: impl FnMut(u64, u64) + Send + 'static,
) -> Result<Manifest, StepError> {
    restore_verified(docker, repo, volume, id, None, progress).await
}

/// [`restore_volume`]; `verified`: the backup, when it was verified already
/// (ahead, while other steps ran).
pub async fn restore_verified(
    docker: &dyn Containers,
    repo: Arc<dyn Repository>,
    volume: &str,
    id: String,
    verified: Option<VerifiedBackup>,
    mut progress: impl FnMut(u64, u64) + Send + 'static,
) -> Result<Manifest, StepError> {
    // Until the archive goes to Docker, a failure has changed nothing.
    let m = repo.get(&id).map_err(|e| super::repo(e).untouched())?;
    ensure_room(docker, volume, &m)
        .await
        .map_err(StepError::untouched)?;
    let (manifest, stream) = stream_verified(repo, id, verified, None).await?;
    let total = manifest.raw_bytes;
    let (mut moved, mut last) = (0u64, Instant::now());
    let counted = stream.inspect(move |chunk| {
        if let Ok(c) = chunk {
            moved += c.len() as u64;
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                progress(moved, total);
            }
        }
    });
    docker
        .write_volume(volume, Box::pin(counted))
        .await
        .map_err(|e| StepError::new(format!("restoring {} into {volume}: {e}", manifest.id)))?;
    Ok(manifest)
}

/// Refuses to restore `m` into `volume` when the volume's filesystem has
/// less room than the backup unpacks to (its free space, plus what the
/// volume holds now, which the restore frees first). Unmeasurable (see
/// [`Containers::volume_room`]): the restore goes ahead, as it always did.
async fn ensure_room(docker: &dyn Containers, volume: &str, m: &Manifest) -> Result<(), StepError> {
    use crate::model::size::bytes;
    let Some(room) = docker
        .volume_room(volume, m.raw_bytes)
        .await
        .map_err(super::docker)?
    else {
        return Ok(());
    };
    let available = room.free.saturating_add(room.used);
    if m.raw_bytes <= available {
        return Ok(());
    }
    Err(super::repo(crate::repo::RepoError::NoRoom {
        id: m.id.clone(),
        doing: format!("restored into volume `{volume}`"),
        need: format!(
            "its unpacked size, {} ({} bytes)",
            bytes(m.raw_bytes),
            m.raw_bytes
        ),
        have: format!(
            "the volume's filesystem ({}) has {} ({} bytes) free and the volume's \
             contents take {} ({} bytes), {} ({available} bytes) in all",
            room.measured.display(),
            bytes(room.free),
            room.free,
            bytes(room.used),
            room.used,
            bytes(available)
        ),
        hint: "free space on the Docker host's filesystem, or restore into a volume on a \
               larger disk"
            .into(),
    }))
}

/// A backup being written. It lands in the repository only on `commit`.
pub struct Storer {
    tx: mpsc::Sender<Bytes>,
    decision: std::sync::mpsc::Sender<bool>,
    task: JoinHandle<Result<Manifest, String>>,
}

impl Storer {
    pub fn start(repo: Arc<dyn Repository>, new: NewBackup) -> Result<Self, StepError> {
        let mut writer = repo.create(new).map_err(super::repo)?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(DEPTH);
        let (decision, decided) = std::sync::mpsc::channel::<bool>();
        let task = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                writer
                    .write_all(&chunk)
                    .map_err(|e| format!("writing the backup: {e}"))?;
            }
            // Dropping the writer without finish() removes the partial object.
            match decided.recv() {
                Ok(true) => writer.finish().map_err(|e| e.to_string()),
                _ => Err("backup abandoned".into()),
            }
        });
        Ok(Self { tx, decision, task })
    }

    pub fn sender(&self) -> mpsc::Sender<Bytes> {
        self.tx.clone()
    }

    /// Sends one chunk; false if the writer gave up (its error comes from commit).
    pub async fn send(&self, chunk: Bytes) -> bool {
        self.tx.send(chunk).await.is_ok()
    }

    pub async fn commit(self) -> Result<Manifest, StepError> {
        self.finish(true).await
    }

    pub async fn abort(self) {
        let _ = self.finish(false).await;
    }

    async fn finish(self, keep: bool) -> Result<Manifest, StepError> {
        drop(self.tx);
        let _ = self.decision.send(keep);
        match self.task.await {
            Ok(Ok(manifest)) => Ok(manifest),
            Ok(Err(e)) => Err(StepError::new(e)),
            Err(e) => Err(StepError::new(format!("backup writer crashed: {e}"))),
        }
    }
}

/// Verifies a backup completely (sha256, and every tar header of a volume
/// archive) before anything else, then streams its decompressed bytes.
pub async fn verified_stream(
    repo: Arc<dyn Repository>,
    id: String,
) -> Result<
    (
        Manifest,
        impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ),
    StepError,
> {
    stream_verified(repo, id, None, None).await
}

/// [`verified_stream`] of `id`, or of `verified` when it was verified
/// already; `select`: only the entries it keeps.
async fn stream_verified(
    repo: Arc<dyn Repository>,
    id: String,
    verified: Option<VerifiedBackup>,
    select: Option<Select>,
) -> Result<
    (
        Manifest,
        impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ),
    StepError,
> {
    // Nothing was sent anywhere yet: a failure here changed nothing.
    let verified = verify(repo, id, verified).await?;
    let manifest = verified.manifest().clone();
    let mut reader = verified
        .into_reader()
        .map_err(|e| super::repo(e).untouched())?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(DEPTH);
    tokio::task::spawn_blocking(move || {
        let mut select = select;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = match read_full(&mut reader, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            buf.truncate(n);
            let chunk = match select.as_mut() {
                None if n == 0 => return,
                None => Ok(buf),
                Some(select) => {
                    let mut out = Vec::with_capacity(n);
                    let fed = if n == 0 {
                        select.finish(&mut out)
                    } else {
                        select.feed(&buf, &mut out)
                    };
                    fed.map(|()| out).map_err(std::io::Error::other)
                }
            };
            let last = n == 0 || chunk.is_err();
            if tx.blocking_send(chunk.map(Bytes::from)).is_err() || last {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((manifest, stream))
}

/// Pass 1 over backup `id` (sha256, every tar header), unless `verified`
/// is that backup, verified already. A failure changed nothing.
async fn verify(
    repo: Arc<dyn Repository>,
    id: String,
    verified: Option<VerifiedBackup>,
) -> Result<VerifiedBackup, StepError> {
    match verified.filter(|v| v.manifest().id == id) {
        Some(v) => Ok(v),
        None => tokio::task::spawn_blocking(move || repo.open_verified(&id))
            .await
            .map_err(|e| StepError::refused(format!("verification crashed: {e}")))?
            .map_err(|e| super::repo(e).untouched()),
    }
}

/// Repository → verify (sha256, every tar header) → find what `paths`
/// (relative to the volume's root, checked) select → replace those paths
/// of the volume with the backup's (`volume.restore` with `paths:`). The
/// rest of the volume is left as it is. Refused, before the volume is
/// touched, when the backup does not verify, a path selects nothing, or a
/// hard link under a path points out of them.
pub async fn restore_paths(
    docker: &dyn Containers,
    repo: Arc<dyn Repository>,
    volume: &str,
    id: String,
    verified: Option<VerifiedBackup>,
    paths: Vec<String>,
    mut progress: impl FnMut(u64, u64) + Send + 'static,
) -> Result<Manifest, StepError> {
    let verified = verify(repo.clone(), id.clone(), verified).await?;
    // Pass 2, reading only: what the paths select (the bytes are hashed and
    // scanned again on the way).
    let survey = verified
        .try_clone()
        .map_err(|e| super::repo(e).untouched())?;
    let (names, manifest_id) = (paths.clone(), id.clone());
    let (matched, need) = tokio::task::spawn_blocking(move || select_in(survey, &names))
        .await
        .map_err(|e| StepError::refused(format!("reading backup {manifest_id}: {e}")))??;
    let missing: Vec<String> = paths
        .iter()
        .zip(&matched)
        .filter(|(_, n)| **n == 0)
        .map(|(p, _)| format!("`{p}`"))
        .collect();
    if !missing.is_empty() {
        return Err(StepError::refused(format!(
            "{} match(es) nothing in backup {id}; paths are relative to the volume's root \
             (e.g. `appendonlydir`, not `/data/appendonlydir`); nothing was changed",
            missing.join(", ")
        )));
    }
    ensure_room_for(docker, volume, &id, need)
        .await
        .map_err(StepError::untouched)?;
    let select = Select::new(VOLUME_ROOT, &paths);
    let (manifest, stream) = stream_verified(repo, id, Some(verified), Some(select)).await?;
    let (mut moved, mut last) = (0u64, Instant::now());
    let counted = stream.inspect(move |chunk| {
        if let Ok(c) = chunk {
            moved += c.len() as u64;
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                progress(moved.min(need), need);
            }
        }
    });
    docker
        .write_volume_paths(volume, &paths, Box::pin(counted))
        .await
        .map_err(|e| {
            let message = format!("restoring {} into {volume}: {e}", manifest.id);
            match e {
                crate::docker::DockerError::Refused { .. } => StepError::refused(message),
                _ => StepError::new(message),
            }
        })?;
    Ok(manifest)
}

/// The top directory of a volume archive's entries.
const VOLUME_ROOT: &str = "data";

/// Reads a verified backup through a [`Select`] of `paths`: the entries each
/// path selects, and the data bytes of the files selected.
fn select_in(backup: VerifiedBackup, paths: &[String]) -> Result<(Vec<u64>, u64), StepError> {
    let id = backup.manifest().id.clone();
    let mut reader = backup
        .into_reader()
        .map_err(|e| super::repo(e).untouched())?;
    let mut select = Select::new(VOLUME_ROOT, paths);
    let (mut buf, mut out) = (vec![0u8; CHUNK], Vec::new());
    let refuse = |e: String| StepError::refused(format!("reading backup {id}: {e}"));
    loop {
        let n = read_full(&mut reader, &mut buf).map_err(|e| refuse(e.to_string()))?;
        out.clear();
        if n == 0 {
            select.finish(&mut out).map_err(|e| refuse(e.to_string()))?;
            return Ok((select.matched().to_vec(), select.kept_bytes()));
        }
        select
            .feed(&buf[..n], &mut out)
            .map_err(|e| refuse(e.to_string()))?;
    }
}

/// Refuses a partial restore of `need` bytes when the volume's filesystem
/// has less free room (what the paths hold now is not counted).
async fn ensure_room_for(
    docker: &dyn Containers,
    volume: &str,
    id: &str,
    need: u64,
) -> Result<(), StepError> {
    use crate::model::size::bytes;
    let Some(room) = docker
        .volume_room(volume, need)
        .await
        .map_err(super::docker)?
    else {
        return Ok(());
    };
    if need <= room.free {
        return Ok(());
    }
    Err(StepError::refused(format!(
        "the paths of backup {id} unpack to {} ({need} bytes), and the filesystem of volume \
         `{volume}` ({}) has {} free; free space on the Docker host",
        bytes(need),
        room.measured.display(),
        bytes(room.free)
    )))
}

/// Fills `buf` as far as the reader allows: fewer, bigger chunks.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
