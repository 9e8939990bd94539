//! Reading an object as a plain blocking [`Read`]: a task on the runtime GETs
//! it (resuming with a range GET when the stream breaks) and hands the body
//! over through a small bounded channel, so memory stays at a few chunks
//! whatever the object's size. For synchronous consumers (verification).

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::resume::{Resume, next_chunk};
use super::{S3Error, S3Store};

/// Body chunks buffered between the task and the reader.
const IN_FLIGHT: usize = 16;

/// Why the bytes stopped: the object is not what its manifest says, or it
/// could not be read (network, permissions, the server).
enum Stop {
    Damaged(String),
    Unreachable(String),
}

/// The bytes of one object; ends with an error (never a short `Ok(0)`) when
/// the object cannot be read to its end, and repeats it on later reads. The
/// error's kind tells damage ([`io::ErrorKind::InvalidData`]: the object
/// differs from its manifest or fails S3's checksum) from a failure to read
/// it (any other kind), which says nothing about the backup.
pub struct ObjectReader {
    rx: mpsc::Receiver<Stop>,
    chunk: Bytes,
    chunks: mpsc::Receiver<Bytes>,
    failed: Option<(io::ErrorKind, String)>,
    size: u64,
    delivered: u64,
    resumed: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl ObjectReader {
    /// How many times a broken stream was resumed with a range GET.
    pub fn resumed(&self) -> u32 {
        self.resumed.load(Ordering::Relaxed)
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if let Some((kind, e)) = &self.failed {
                return Err(io::Error::new(*kind, e.clone()));
            }
            match self.chunks.blocking_recv() {
                Some(chunk) => self.chunk = chunk,
                // The task ended: with a reason, or with every byte, or it died.
                None => {
                    self.failed = Some(match self.rx.try_recv() {
                        Ok(Stop::Damaged(e)) => (io::ErrorKind::InvalidData, e),
                        Ok(Stop::Unreachable(e)) => (io::ErrorKind::Other, e),
                        Err(_) if self.delivered == self.size => return Ok(0),
                        Err(_) => (
                            io::ErrorKind::Other,
                            format!(
                                "the download stopped at byte {} of {}",
                                self.delivered, self.size
                            ),
                        ),
                    });
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        self.delivered += n as u64;
        Ok(n)
    }
}

impl S3Store {
    /// Streams `key`, which must be `size` bytes long, on `rt`. Must not be
    /// read from inside the runtime (it blocks).
    pub fn reader(&self, rt: &tokio::runtime::Handle, key: &str, size: u64) -> ObjectReader {
        let (tx, chunks) = mpsc::channel(IN_FLIGHT);
        let (stop_tx, rx) = mpsc::channel(1);
        let resumed = Arc::new(AtomicU32::new(0));
        let feed = self
            .clone()
            .feed(self.full_key(key), size, tx, stop_tx, resumed.clone());
        ObjectReader {
            rx,
            chunk: Bytes::new(),
            chunks,
            failed: None,
            size,
            delivered: 0,
            resumed,
            task: rt.spawn(feed),
        }
    }

    /// Sends the object's bytes in order; or, first, why it could not.
    async fn feed(
        self,
        full: String,
        size: u64,
        tx: mpsc::Sender<Bytes>,
        stop: mpsc::Sender<Stop>,
        resumed: Arc<AtomicU32>,
    ) {
        if let Err(e) = self.send_body(&full, size, &tx, &resumed).await {
            let why = match e {
                S3Error::Corrupt { .. } => Stop::Damaged(e.to_string()),
                e => Stop::Unreachable(e.to_string()),
            };
            // The reason goes first: the reader looks for it once the
            // chunks end, which is when `tx` is dropped.
            let _ = stop.send(why).await;
        }
    }

    async fn send_body(
        &self,
        full: &str,
        size: u64,
        tx: &mpsc::Sender<Bytes>,
        resumed: &AtomicU32,
    ) -> Result<(), S3Error> {
        let mut at = 0u64;
        let mut etag: Option<String> = None;
        let mut resume = Resume::new(0);
        loop {
            let mut request = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(full)
                .set_if_match(etag.clone());
            if at > 0 {
                request = request.range(format!("bytes={at}-"));
            }
            let out = request
                .send()
                .await
                .map_err(|e| self.call("GetObject", full).error(e))?;
            // A server that ignores the range would send the start again.
            let expected = format!("bytes {at}-");
            if at > 0
                && !out
                    .content_range()
                    .is_some_and(|r| r.starts_with(&expected))
            {
                return Err(S3Error::Request {
                    op: "GetObject",
                    bucket: self.bucket.clone(),
                    key: full.into(),
                    cause: format!(
                        "asked to resume at byte {at}, the server answered with range {:?}",
                        out.content_range()
                    ),
                });
            }
            etag = etag.or_else(|| out.e_tag().map(str::to_string));
            let mut body = out.body;
            let broke = loop {
                match next_chunk(&mut body, &self.options).await {
                    Ok(Some(chunk)) => {
                        at += chunk.len() as u64;
                        if at > size {
                            return Err(self.corrupt(
                                full,
                                format!("it has more than the {size} bytes its manifest says"),
                            ));
                        }
                        if tx.send(chunk).await.is_err() {
                            return Ok(()); // the reader is gone
                        }
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            let Some(cause) = broke else {
                if at != size {
                    return Err(
                        self.corrupt(full, format!("it has {at} bytes, its manifest says {size}"))
                    );
                }
                return Ok(());
            };
            if at == size && cause.contains("checksum mismatch") {
                // Every byte came, then the SDK refused the body: the
                // checksum S3 stored at upload does not match.
                return Err(self.corrupt(full, format!("reading it to its end: {cause}")));
            }
            if at == size {
                // Every byte is here: the sha256 decides.
                return Ok(());
            }
            let Some(pause) = resume.broke(at, &self.options) else {
                return Err(S3Error::Request {
                    op: "GetObject",
                    bucket: self.bucket.clone(),
                    key: full.into(),
                    cause: format!(
                        "the download broke off at byte {at} of {size} ({} times in a row \
                         without progress): {cause}",
                        resume.failures()
                    ),
                });
            };
            tracing::warn!(
                key = full,
                at,
                size,
                "download broke off, resuming: {cause}"
            );
            resumed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(pause).await;
        }
    }
}
