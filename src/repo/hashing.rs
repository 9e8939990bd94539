//! sha256 + byte count of everything passing through a reader or writer.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

/// Hashes what it writes on.
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

/// The running sha256 and byte count of a stored object being read, shared by
/// every [`Tap`] on it: the decoding layers read through one tap, and what they
/// leave unread is drained through another, so each stored byte is hashed once.
#[derive(Clone, Default)]
pub(super) struct Digesting(Arc<Mutex<(Sha256, u64)>>);

impl Digesting {
    /// A reader that hashes into this digest what it reads from `inner`.
    pub fn tap<R: Read>(&self, inner: R) -> Tap<R> {
        Tap {
            inner,
            digest: self.clone(),
        }
    }

    /// The hex sha256 and the byte count so far.
    pub fn result(&self) -> (String, u64) {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (hex::encode(state.0.clone().finalize()), state.1)
    }
}

pub(super) struct Tap<R> {
    inner: R,
    digest: Digesting,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.digest.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.0.update(&buf[..n]);
        state.1 += n as u64;
        Ok(n)
    }
}
