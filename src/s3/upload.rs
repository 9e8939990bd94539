//! Uploads: one PutObject for small files, else a multipart upload streamed
//! from disk with at most `parallel_parts` part buffers alive at once.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::error::chain;
use super::{MAX_PARTS, S3Error, S3Store, content_type};

/// How long in-flight parts may take to finish after another part failed,
/// before they are cancelled and the upload is aborted.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadStats {
    pub bytes: u64,
    /// 0 for a single PutObject.
    pub parts: u32,
    pub part_size: usize,
    /// Part buffers allocated, never more than `parallel_parts` (memory ≈ this × `part_size`).
    pub peak_buffered_parts: usize,
}

impl S3Store {
    /// Uploads the file at `path` to `key`: a single PutObject below
    /// `part_size`, else a multipart upload whose parts are read from disk one
    /// at a time, at most `parallel_parts` in flight. On any failure the
    /// multipart upload is aborted: no object and no pending upload remain.
    /// Returns the bytes sent.
    pub async fn upload_file(&self, key: &str, path: &Path) -> Result<u64, S3Error> {
        self.upload_file_stats(key, path).await.map(|s| s.bytes)
    }

    /// [`upload_file`](Self::upload_file), with statistics.
    pub async fn upload_file_stats(&self, key: &str, path: &Path) -> Result<UploadStats, S3Error> {
        let full = self.full_key(key);
        let file = File::open(path).map_err(S3Error::io(path))?;
        let size = file.metadata().map_err(S3Error::io(path))?.len();
        let file = Arc::new(file);
        if size < self.options.part_size as u64 {
            let pool = Pool::new(1);
            let buf = pool.take(size as usize).await;
            let body = read_part(file.clone(), path.to_path_buf(), 0, buf).await?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&full)
                .content_type(content_type(&full))
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .body(ByteStream::from(body))
                .customize()
                .disable_payload_signing()
                .config_override(self.options.upload_config())
                .send()
                .await
                .map_err(|e| self.call("PutObject", &full).error(e))?;
            check_unchanged(&file, path, size)?;
            return Ok(UploadStats {
                bytes: size,
                parts: 0,
                part_size: self.options.part_size,
                peak_buffered_parts: 1,
            });
        }
        let part_size = part_size_for(size, self.options.part_size);
        let begun = SystemTime::now();
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .content_type(content_type(&full))
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.call("CreateMultipartUpload", &full).error(e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let upload = Upload {
            store: self.clone(),
            key: full.clone(),
            upload_id: upload_id.clone(),
            path: path.to_path_buf(),
            file,
            size,
            part_size,
            begun,
        };
        // Dropped before the end (the caller gave up): abort in the background.
        let mut guard = AbortOnDrop(Some((self.clone(), full.clone(), upload_id.clone())));
        let started = std::time::Instant::now();
        let result = match upload.parts().await {
            Ok((parts, peak)) => {
                let sent = started.elapsed();
                let done = match upload.complete(parts.clone()).await {
                    Ok(n) => Ok(n),
                    // The answer may be what was lost: S3 may have
                    // completed the upload. Then it is done, and there is
                    // nothing left to abort.
                    Err(e) => upload.completed_anyway(parts.len() as u32, e).await,
                }
                .map(|n| (n, peak));
                tracing::debug!(
                    key = %full,
                    parts_seconds = sent.as_secs_f64(),
                    complete_seconds = (started.elapsed() - sent).as_secs_f64(),
                    "multipart upload"
                );
                done
            }
            Err(e) => Err(e),
        };
        guard.0 = None;
        match result {
            Ok((parts, peak)) => Ok(UploadStats {
                bytes: size,
                parts,
                part_size,
                peak_buffered_parts: peak,
            }),
            Err(cause) => {
                tracing::warn!(key = %full, upload_id, "multipart upload failed, aborting: {cause}");
                match upload.abort().await {
                    Ok(()) => Err(cause),
                    Err(abort_error) => Err(S3Error::AbortFailed {
                        bucket: self.bucket.clone(),
                        key: full,
                        upload_id,
                        cause: Box::new(cause),
                        abort_error: Box::new(abort_error),
                    }),
                }
            }
        }
    }
}

/// The part size for a file of `size` bytes: `wanted`, or larger if the file
/// would need more than 10,000 parts (rounded up to whole MiB).
fn part_size_for(size: u64, wanted: usize) -> usize {
    let min = size.div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
    (wanted as u64).max(min) as usize
}

/// Aborts a multipart upload whose future was dropped (spawned on the runtime).
struct AbortOnDrop(Option<(S3Store, String, String)>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some((store, key, upload_id)) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                key,
                upload_id,
                "multipart upload left pending (no runtime to abort it)"
            );
            return;
        };
        runtime.spawn(async move {
            let result = store
                .client
                .abort_multipart_upload()
                .bucket(&store.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = result {
                tracing::warn!(
                    key,
                    upload_id,
                    "cannot abort the cancelled multipart upload: {e}"
                );
            }
        });
    }
}

/// One multipart upload in progress.
struct Upload {
    store: S3Store,
    key: String,
    upload_id: String,
    path: PathBuf,
    file: Arc<File>,
    size: u64,
    part_size: usize,
    /// When the upload was created (by this machine's clock).
    begun: SystemTime,
}

/// At most `parallel_parts` part buffers, reused. A buffer returns (and its
/// permit is released) only when the last reference to its bytes is dropped,
/// also any the HTTP client kept: memory stays ≤ `parallel_parts × part_size`
/// whatever the client does.
struct Pool {
    permits: Arc<Semaphore>,
    free: Mutex<Vec<Vec<u8>>>,
    allocated: AtomicUsize,
}

/// A pool buffer lent to one part, handed to the client as [`Bytes`].
struct Lent {
    buf: Vec<u8>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.pool
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buf);
    }
}

impl Pool {
    fn new(parallel: usize) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(parallel)),
            free: Mutex::new(Vec::new()),
            allocated: AtomicUsize::new(0),
        })
    }

    /// Waits for a free buffer; its length is set to `len`.
    async fn take(self: &Arc<Self>, len: usize) -> Lent {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buf = reused.unwrap_or_else(|| {
            self.allocated.fetch_add(1, Ordering::SeqCst);
            Vec::new()
        });
        buf.resize(len, 0);
        Lent {
            buf,
            pool: self.clone(),
            _permit: permit,
        }
    }
}

impl Upload {
    /// Uploads every part; returns them in order and the peak of buffered parts.
    async fn parts(&self) -> Result<(Vec<CompletedPart>, usize), S3Error> {
        let parallel = self.store.options.parallel_parts;
        let pool = Pool::new(parallel);
        let mut tasks: JoinSet<Result<CompletedPart, S3Error>> = JoinSet::new();
        let mut done = Vec::new();
        let mut offset = 0u64;
        let mut number = 1i32;
        let mut failure = None;
        loop {
            while failure.is_none() && tasks.len() < parallel && offset < self.size {
                let len = (self.size - offset).min(self.part_size as u64) as usize;
                tasks.spawn(self.part(number, offset, len, pool.clone()));
                offset += len as u64;
                number += 1;
            }
            let next = if failure.is_none() {
                tasks.join_next().await
            } else {
                match tokio::time::timeout(DRAIN_TIMEOUT, tasks.join_next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        tasks.shutdown().await;
                        None
                    }
                }
            };
            let Some(joined) = next else { break };
            let result = joined.unwrap_or_else(|e| {
                Err(S3Error::Request {
                    op: "UploadPart",
                    bucket: self.store.bucket.clone(),
                    key: self.key.clone(),
                    cause: format!("part task failed: {e}"),
                })
            });
            match result {
                Ok(part) => done.push(part),
                Err(e) if failure.is_none() => failure = Some(e),
                Err(e) => tracing::debug!("another part failed too: {e}"),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        check_unchanged(&self.file, &self.path, self.size)?;
        done.sort_by_key(|p| p.part_number());
        Ok((done, pool.allocated.load(Ordering::SeqCst)))
    }

    /// Reads and uploads one part.
    fn part(
        &self,
        number: i32,
        offset: u64,
        len: usize,
        pool: Arc<Pool>,
    ) -> impl Future<Output = Result<CompletedPart, S3Error>> + Send + 'static {
        let store = self.store.clone();
        let key = self.key.clone();
        let upload_id = self.upload_id.clone();
        let file = self.file.clone();
        let path = self.path.clone();
        async move {
            let buf = pool.take(len).await;
            let body = read_part(file, path, offset, buf).await?;
            let out = store
                .client
                .upload_part()
                .bucket(&store.bucket)
                .key(&key)
                .upload_id(&upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .body(ByteStream::from(body))
                .customize()
                .disable_payload_signing()
                .config_override(store.options.upload_config())
                .send()
                .await
                .map_err(|e| store.call("UploadPart", &key).error(e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(Into::into))
                .set_checksum_crc32(out.checksum_crc32().map(Into::into))
                .build())
        }
    }

    /// Completes the upload; returns the part count.
    async fn complete(&self, parts: Vec<CompletedPart>) -> Result<u32, S3Error> {
        let n = parts.len() as u32;
        self.store
            .client
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                self.store
                    .call("CompleteMultipartUpload", &self.key)
                    .error(e)
            })?;
        Ok(n)
    }

    /// After CompleteMultipartUpload failed with `cause`: whether the object
    /// is there anyway, as this upload of `parts` parts makes it (its size,
    /// and the part count in a multipart ETag). Then the part count, else `cause`.
    async fn completed_anyway(&self, parts: u32, cause: S3Error) -> Result<u32, S3Error> {
        let head = match self
            .store
            .client
            .head_object()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .send()
            .await
        {
            Ok(head) => head,
            Err(e) => {
                let e = self.store.call("HeadObject", &self.key).error(e);
                if !matches!(e, S3Error::NotFound { .. }) {
                    tracing::warn!(
                        key = self.key,
                        "cannot check whether the upload completed: {e}"
                    );
                }
                return Err(cause);
            }
        };
        let size = head.content_length().unwrap_or(-1);
        // `"<md5 of the parts' md5s>-<parts>"` on S3 and most servers.
        let etag_parts = head
            .e_tag()
            .map(|t| t.trim_matches('"'))
            .and_then(|t| t.rsplit_once('-'))
            .and_then(|(_, n)| n.parse::<u32>().ok());
        // Written since the upload began (S3 allows 15 minutes of clock skew).
        let begun = self
            .begun
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let recent = head
            .last_modified()
            .is_none_or(|t| t.secs() >= begun - 15 * 60);
        let ours =
            u64::try_from(size) == Ok(self.size) && etag_parts.is_none_or(|n| n == parts) && recent;
        if !ours {
            tracing::warn!(
                key = self.key,
                size,
                etag = head.e_tag(),
                "CompleteMultipartUpload failed and the object there is not this upload's"
            );
            return Err(cause);
        }
        tracing::warn!(
            key = self.key,
            "the answer to CompleteMultipartUpload was lost ({cause}), but the object is \
             complete on S3 ({size} bytes, {parts} parts)"
        );
        Ok(parts)
    }

    async fn abort(&self) -> Result<(), S3Error> {
        match self
            .store
            .client
            .abort_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match self.store.call("AbortMultipartUpload", &self.key).error(e) {
                // Already gone (completed or aborted): nothing is pending.
                S3Error::Request { cause, .. } if cause.starts_with("NoSuchUpload") => Ok(()),
                e => Err(e),
            },
        }
    }
}

/// Fills `buf` with the bytes at `offset` (off the async threads).
async fn read_part(
    file: Arc<File>,
    path: PathBuf,
    offset: u64,
    mut buf: Lent,
) -> Result<Bytes, S3Error> {
    tokio::task::spawn_blocking(move || {
        let len = buf.buf.len();
        file.read_exact_at(&mut buf.buf, offset).map_err(|e| {
            let e = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::Error::other(format!(
                    "the file shrank while it was being uploaded (no data at bytes {offset}..{})",
                    offset + len as u64
                ))
            } else {
                e
            };
            S3Error::Io {
                path: path.clone(),
                source: e,
            }
        })?;
        Ok(Bytes::from_owner(buf))
    })
    .await
    .map_err(|e| S3Error::Io {
        path: PathBuf::new(),
        source: std::io::Error::other(chain(&e)),
    })?
}

/// Fails if the file changed size while it was being uploaded.
fn check_unchanged(file: &File, path: &Path, size: u64) -> Result<(), S3Error> {
    let now = file.metadata().map_err(S3Error::io(path))?.len();
    if now != size {
        return Err(S3Error::Io {
            path: path.into(),
            source: std::io::Error::other(format!(
                "the file changed size while it was being uploaded ({size} → {now} bytes)"
            )),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes() {
        assert_eq!(part_size_for(40 << 20, 5 << 20), 5 << 20);
        // 100 GiB at 5 MiB would be 20,480 parts: grow to 11 MiB (10,000 × 11 MiB ≥ 100 GiB).
        let p = part_size_for(100 << 30, 5 << 20);
        assert_eq!(p, 11 << 20);
        assert!((100u64 << 30).div_ceil(p as u64) <= MAX_PARTS);
    }
}
