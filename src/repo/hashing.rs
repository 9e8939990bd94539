//! sha256 + byte count of what a writer writes, or of a whole stored file.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Hashes what it writes on, or what is read through it.
pub(super) struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    bytes: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner value, the hex sha256 and the byte count.
    pub fn finish(self) -> (T, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The hex sha256 and length of everything in `file`, read with `pread`: it
/// neither uses nor moves the file's offset, so another thread can read the
/// same file (through a clone) at the same time.
pub(crate) fn hash_file(file: &std::fs::File) -> io::Result<(String, u64)> {
    hash_file_upto(file, u64::MAX)
}

/// [`hash_file`] of at most the first `limit` bytes: a file that grows, or
/// never ends, is not read past them.
pub(crate) fn hash_file_upto(file: &std::fs::File, limit: u64) -> io::Result<(String, u64)> {
    use std::os::unix::fs::FileExt;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; super::BUF];
    let mut at = 0u64;
    while at < limit {
        let want = usize::try_from(limit - at).map_or(buf.len(), |left| left.min(buf.len()));
        match file.read_at(&mut buf[..want], at) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                at += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((hex::encode(hasher.finalize()), at))
}
