//! Downloads: ranged GETs in parallel, each streamed to its offset in
//! `<path>.partial` in 1 MiB writes (bounded memory), resumed if a stream
//! breaks, each write handed to the disk at once (so the final fsync has
//! little left to do); then fsync, optional size/sha256 check, rename.

use std::fs::{self, File};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinSet;

use super::error::chain;
use super::resume::{Resume, next_chunk};
use super::{S3Error, S3Store};
use crate::repo::fsutil::start_writeback;
use crate::repo::hashing::hash_file;

/// Bytes written at once (memory ≈ `CHUNK × parallel_downloads` plus the HTTP buffers).
const CHUNK: usize = 1 << 20;

/// What the downloaded object must be.
pub(crate) struct Expect<'a> {
    pub size: u64,
    pub sha256: &'a str,
}

/// Removes the partial file unless disarmed.
struct Partial {
    path: PathBuf,
    armed: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl S3Store {
    /// Streams `key` to `path` (through `<path>.partial`, fsynced, then renamed);
    /// never holds the whole object in memory. Objects of `part_size` or more
    /// come down as `parallel_downloads` ranged GETs at once, each written at its
    /// offset. Returns the bytes written.
    pub async fn download_to_file(&self, key: &str, path: &Path) -> Result<u64, S3Error> {
        self.download(key, path, None).await
    }

    /// [`download_to_file`](Self::download_to_file); with `expect`, the size and
    /// sha256 are checked before the rename (a mismatch leaves nothing behind).
    pub(crate) async fn download(
        &self,
        key: &str,
        path: &Path,
        expect: Option<Expect<'_>>,
    ) -> Result<u64, S3Error> {
        let full = self.full_key(key);
        let mut partial_path = path.as_os_str().to_owned();
        partial_path.push(".partial");
        let partial_path = PathBuf::from(partial_path);
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| self.call("HeadObject", &full).error(e))?;
        let total = head.content_length().unwrap_or(0).max(0) as u64;
        let etag = head.e_tag().map(str::to_string);
        if let Some(x) = &expect
            && x.size != total
        {
            return Err(self.corrupt(
                &full,
                format!("it has {total} bytes, its manifest says {}", x.size),
            ));
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial_path)
            .map_err(S3Error::io(&partial_path))?;
        let file = Arc::new(file);
        let mut partial = Partial {
            path: partial_path.clone(),
            armed: true,
        };
        let part = self.options.part_size as u64;
        let mut tasks: JoinSet<Result<u64, S3Error>> = JoinSet::new();
        let mut next = 0u64;
        let mut bytes = 0u64;
        let mut failure = None;
        loop {
            while failure.is_none() && tasks.len() < self.options.parallel_downloads && next < total
            {
                let end = (next + part).min(total);
                tasks.spawn(self.clone().fetch_range(
                    full.clone(),
                    etag.clone(),
                    next..end,
                    total,
                    file.clone(),
                    partial_path.clone(),
                ));
                next = end;
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            match joined {
                Ok(Ok(n)) => bytes += n,
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                    tasks.abort_all();
                }
                Err(e) if e.is_cancelled() => {}
                Err(e) => {
                    failure.get_or_insert(S3Error::Io {
                        path: partial_path.clone(),
                        source: std::io::Error::other(chain(&e)),
                    });
                    tasks.abort_all();
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if bytes != total {
            return Err(self.corrupt(&full, format!("only {bytes} of its {total} bytes arrived")));
        }
        let sha256 = {
            let file = file.clone();
            let path = partial_path.clone();
            let hash = expect.is_some();
            tokio::task::spawn_blocking(move || -> std::io::Result<Option<String>> {
                file.sync_all()?;
                hash.then(|| hash_file(&file).map(|(sha, _)| sha))
                    .transpose()
            })
            .await
            .map_err(|e| S3Error::io(&path)(std::io::Error::other(chain(&e))))?
            .map_err(S3Error::io(&partial_path))?
        };
        if let (Some(x), Some(actual)) = (&expect, &sha256)
            && actual != x.sha256
        {
            return Err(self.corrupt(
                &full,
                format!("its sha256 is {actual}, its manifest says {}", x.sha256),
            ));
        }
        fs::rename(&partial_path, path).map_err(S3Error::io(path))?;
        partial.armed = false;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(S3Error::io(dir))?;
        }
        Ok(bytes)
    }

    /// GETs `range` of the object (`If-Match` its etag) and writes it at its
    /// offset in `CHUNK`s; if the stream breaks, asks again for the rest, as
    /// [`Resume`] says. Returns the bytes written.
    async fn fetch_range(
        self,
        full: String,
        etag: Option<String>,
        range: Range<u64>,
        total: u64,
        file: Arc<File>,
        path: PathBuf,
    ) -> Result<u64, S3Error> {
        let mut at = range.start;
        let mut resume = Resume::new(range.start);
        // One buffer per range, reused: no allocation churn across threads.
        let mut buf = Vec::with_capacity(CHUNK);
        while at < range.end {
            let mut request = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&full)
                .set_if_match(etag.clone());
            // A whole object is asked for without a range (an empty one has none).
            if !(at == 0 && range.end == total) {
                request = request.range(format!("bytes={at}-{}", range.end - 1));
            }
            let out = request
                .send()
                .await
                .map_err(|e| self.call("GetObject", &full).error(e))?;
            let mut body = out.body;
            let broke = loop {
                match next_chunk(&mut body, &self.options).await {
                    Ok(Some(chunk)) => {
                        if !buf.is_empty() && buf.len() + chunk.len() > CHUNK {
                            (buf, at) = write_at(&file, &path, buf, at).await?;
                        }
                        buf.extend_from_slice(&chunk);
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            if !buf.is_empty() {
                (buf, at) = write_at(&file, &path, buf, at).await?;
            }
            let Some(cause) = broke else {
                if at != range.end {
                    return Err(self.corrupt(
                        &full,
                        format!(
                            "bytes {}..{} came back as {} bytes",
                            range.start,
                            range.end,
                            at - range.start
                        ),
                    ));
                }
                break;
            };
            let Some(pause) = resume.broke(at, &self.options) else {
                return Err(S3Error::Request {
                    op: "GetObject",
                    bucket: self.bucket.clone(),
                    key: full,
                    cause: format!(
                        "the download broke off at byte {at} of {total} ({} times in a row \
                         without progress): {cause}",
                        resume.failures()
                    ),
                });
            };
            tracing::warn!(
                key = full,
                at,
                total,
                "download broke off, resuming: {cause}"
            );
            tokio::time::sleep(pause).await;
        }
        Ok(range.end - range.start)
    }

    pub(super) fn corrupt(&self, full: &str, reason: String) -> S3Error {
        S3Error::Corrupt {
            bucket: self.bucket.clone(),
            key: full.into(),
            reason,
        }
    }
}

/// Writes `data` at `at` (off the async threads); returns it emptied, and the next offset.
async fn write_at(
    file: &Arc<File>,
    path: &Path,
    mut data: Vec<u8>,
    at: u64,
) -> Result<(Vec<u8>, u64), S3Error> {
    let file = file.clone();
    let len = data.len() as u64;
    let data = tokio::task::spawn_blocking(move || {
        file.write_all_at(&data, at)?;
        start_writeback(&file, at, len);
        data.clear();
        Ok::<_, std::io::Error>(data)
    })
    .await
    .map_err(|e| S3Error::io(path)(std::io::Error::other(chain(&e))))?
    .map_err(S3Error::io(path))?;
    Ok((data, at + len))
}
