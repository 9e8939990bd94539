//! Decoding a stored object (age, then zstd), and pass 2: reading a backup
//! that passed pass 1, checking it again on the way.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use zstd::stream::read::Decoder;

use super::hashing::hash_file_upto;
use super::keys::{Keys, Opened, Undecryptable};
use super::{BUF, BackupKind, Manifest, RepoError, volume_rules};
use crate::archive::Scanner;

/// The raw bytes of a stored object, decrypted and decompressed.
pub(super) type Decoded<R = io::Take<File>> = Decoder<'static, BufReader<Opened<BufReader<R>>>>;

/// Opens the stored object `stored` for decoding (its sha256 is checked
/// elsewhere). Err: why it cannot be decrypted ([`RepoError::NoKey`] when
/// the keys given do not open it).
pub(super) fn decode<R: Read>(
    keys: &Keys,
    m: &Manifest,
    stored: R,
) -> Result<Decoded<R>, RepoError> {
    let stored = BufReader::with_capacity(BUF, stored);
    let opened = match m.encryption {
        None => Opened::Plain(stored),
        Some(_) => Opened::Age(keys.decrypt(stored, &m.encrypted_to).map_err(|e| {
            let id = m.id.clone();
            match e {
                Undecryptable::NoKey(reason) => RepoError::NoKey { id, reason },
                Undecryptable::Damaged(reason) => RepoError::Decrypt { id, reason },
            }
        })?),
    };
    Decoder::with_buffer(BufReader::with_capacity(BUF, opened)).map_err(|e| RepoError::Unreadable {
        id: m.id.clone(),
        reason: format!("zstd: {e}"),
    })
}

/// A backup whose object passed every check; [`into_reader`](Self::into_reader) reads it.
#[derive(Debug)]
pub struct VerifiedBackup {
    manifest: Manifest,
    path: PathBuf,
    /// The file pass 1 read: a later rename over the path cannot swap it.
    file: File,
    keys: std::sync::Arc<Keys>,
}

impl VerifiedBackup {
    pub(super) fn new(
        manifest: Manifest,
        path: PathBuf,
        file: File,
        keys: std::sync::Arc<Keys>,
    ) -> Self {
        Self {
            manifest,
            path,
            file,
            keys,
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// A second handle on the same verified object (the same open file), to
    /// read it once more: a partial restore first looks for its paths.
    pub fn try_clone(&self) -> Result<Self, RepoError> {
        Ok(Self {
            manifest: self.manifest.clone(),
            path: self.path.clone(),
            file: self.file.try_clone().map_err(RepoError::io(&self.path))?,
            keys: self.keys.clone(),
        })
    }

    /// The decompressed bytes. The stored bytes are hashed and (volumes) scanned
    /// again: a tar violation fails the read at once; a sha256 mismatch fails
    /// the read at the end instead of returning `Ok(0)`.
    pub fn into_reader(mut self) -> Result<Box<dyn Read + Send>, RepoError> {
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(RepoError::io(&self.path))?;
        let clone = self.file.try_clone().map_err(RepoError::io(&self.path))?;
        // The stored bytes are hashed again on a thread of their own, with
        // `pread`, while this reader decodes: on 2 cores that hides the hash.
        let hashed = self.file.try_clone().map_err(RepoError::io(&self.path))?;
        let limit = self.manifest.stored_bytes;
        let hasher = std::thread::Builder::new()
            .name("lifeboat-sha256".into())
            .spawn(move || hash_file_upto(&hashed, limit.saturating_add(1)))
            .map_err(RepoError::io(&self.path))?;
        let decoder = decode(&self.keys, &self.manifest, clone.take(limit))?;
        let scanner =
            (self.manifest.kind == BackupKind::Volume).then(|| Scanner::new(volume_rules()));
        Ok(Box::new(VerifiedReader {
            decoder: Some(decoder),
            scanner,
            manifest: self.manifest,
            path: self.path,
            hasher: Some(hasher),
            raw_bytes: 0,
            failed: None,
        }))
    }
}

struct VerifiedReader {
    /// `None` once the end was reached and checked.
    decoder: Option<Decoded>,
    scanner: Option<Scanner>,
    manifest: Manifest,
    path: PathBuf,
    /// sha256 and length of the stored object, computed alongside.
    hasher: Option<std::thread::JoinHandle<io::Result<(String, u64)>>>,
    raw_bytes: u64,
    /// The first error, repeated by later reads.
    failed: Option<String>,
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(msg) = &self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg.clone()));
        }
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(0);
        };
        let result = match decoder.read(buf) {
            Ok(0) if !buf.is_empty() => self.end(None),
            Ok(n) if self.raw_bytes + n as u64 > self.manifest.raw_bytes => {
                self.decoder = None;
                Err(RepoError::Unreadable {
                    id: self.manifest.id.clone(),
                    reason: super::verify::oversize(&self.manifest),
                })
            }
            Ok(n) => match self.scanner.as_mut().map(|s| s.feed(&buf[..n])) {
                Some(Err(e)) => Err(RepoError::BadArchive {
                    id: self.manifest.id.clone(),
                    source: e,
                }),
                _ => {
                    self.raw_bytes += n as u64;
                    return Ok(n);
                }
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => self.end(Some(e)),
        };
        result.map(|()| 0).map_err(|e| {
            self.failed = Some(e.to_string());
            io::Error::new(io::ErrorKind::InvalidData, e)
        })
    }
}

impl VerifiedReader {
    /// End of stream (or a decoding error): hash the rest and compare with the manifest.
    fn end(&mut self, decode_error: Option<io::Error>) -> Result<(), RepoError> {
        if self.decoder.take().is_none() {
            return Ok(());
        }
        let m = &self.manifest;
        let hashed = match self.hasher.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(io::Error::other("the hashing thread failed")),
        };
        let (sha256, _) = hashed.map_err(RepoError::io(&self.path))?;
        if sha256 != m.sha256 {
            return Err(RepoError::Corrupt {
                id: m.id.clone(),
                path: self.path.clone(),
                expected: m.sha256.clone(),
                actual: sha256,
            });
        }
        let unreadable = |reason| RepoError::Unreadable {
            id: m.id.clone(),
            reason,
        };
        if let Some(e) = decode_error {
            return Err(unreadable(format!("decoding: {e}")));
        }
        if let Some(scanner) = &mut self.scanner {
            scanner.finish().map_err(|source| RepoError::BadArchive {
                id: m.id.clone(),
                source,
            })?;
        }
        if self.raw_bytes != m.raw_bytes {
            return Err(unreadable(format!(
                "it decompressed to {} bytes, its manifest says {}",
                self.raw_bytes, m.raw_bytes
            )));
        }
        Ok(())
    }
}
