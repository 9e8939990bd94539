//! Reading an object as a plain blocking [`Read`]: a task on the runtime GETs
//! it (resuming with a range GET when the stream breaks) and hands the body
//! over through a small bounded channel, so memory stays at a few chunks
//! whatever the object's size. For synchronous consumers (verification).

use std::io::{self, Read};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::error::chain;
use super::{S3Error, S3Store};

/// Body chunks buffered between the task and the reader.
const IN_FLIGHT: usize = 16;

/// The bytes of one object; ends with an error (never a short `Ok(0)`) when
/// the object cannot be read to its end, and repeats it on later reads.
pub struct ObjectReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    chunk: Bytes,
    failed: Option<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if let Some(e) = &self.failed {
                return Err(io::Error::other(e.clone()));
            }
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => self.failed = Some(e),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

impl S3Store {
    /// Streams `key`, which must be `size` bytes long, on `rt`. Must not be
    /// read from inside the runtime (it blocks).
    pub fn reader(&self, rt: &tokio::runtime::Handle, key: &str, size: u64) -> ObjectReader {
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let task = rt.spawn(self.clone().feed(self.full_key(key), size, tx));
        ObjectReader {
            rx,
            chunk: Bytes::new(),
            failed: None,
            task,
        }
    }

    /// Sends the object's bytes in order, then closes the channel; or sends
    /// why it could not.
    async fn feed(self, full: String, size: u64, tx: mpsc::Sender<Result<Bytes, String>>) {
        if let Err(e) = self.send_body(&full, size, &tx).await {
            let _ = tx.send(Err(e.to_string())).await;
        }
    }

    async fn send_body(
        &self,
        full: &str,
        size: u64,
        tx: &mpsc::Sender<Result<Bytes, String>>,
    ) -> Result<(), S3Error> {
        let mut at = 0u64;
        let mut etag: Option<String> = None;
        let mut failures = 0u32;
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
            etag = etag.or_else(|| out.e_tag().map(str::to_string));
            let mut body = out.body;
            let broke = loop {
                match body.try_next().await {
                    Ok(Some(chunk)) => {
                        at += chunk.len() as u64;
                        if at > size {
                            return Err(self.corrupt(
                                full,
                                format!("it has more than the {size} bytes its manifest says"),
                            ));
                        }
                        if tx.send(Ok(chunk)).await.is_err() {
                            return Ok(()); // the reader is gone
                        }
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            let Some(e) = broke else {
                if at != size {
                    return Err(
                        self.corrupt(full, format!("it has {at} bytes, its manifest says {size}"))
                    );
                }
                return Ok(());
            };
            if at == size {
                // Every byte came, then the SDK refused the body: its
                // checksum (the one S3 stored at upload) does not match.
                return Err(self.corrupt(full, format!("reading it to its end: {}", chain(&e))));
            }
            failures += 1;
            if failures >= self.options.max_attempts {
                return Err(S3Error::Request {
                    op: "GetObject",
                    bucket: self.bucket.clone(),
                    key: full.into(),
                    cause: format!(
                        "the download broke off at byte {at} of {size} ({failures} attempts): {}",
                        chain(&e)
                    ),
                });
            }
            tracing::warn!(
                key = full,
                at,
                size,
                "download broke off, resuming: {}",
                chain(&e)
            );
            let backoff = self.options.initial_backoff * 2u32.pow(failures - 1);
            tokio::time::sleep(backoff.min(Duration::from_secs(20))).await;
        }
    }
}
