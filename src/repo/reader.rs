//! Pass 2: reading a backup that passed pass 1, checking it again on the way.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use zstd::stream::read::Decoder;

use super::hashing::Hashing;
use super::verify::drain;
use super::{BUF, BackupKind, Manifest, RepoError, volume_rules};
use crate::archive::Scanner;

/// A backup whose object passed every check; [`into_reader`](Self::into_reader) reads it.
#[derive(Debug)]
pub struct VerifiedBackup {
    manifest: Manifest,
    path: PathBuf,
    /// The file pass 1 read: a later rename over the path cannot swap it.
    file: File,
}

impl VerifiedBackup {
    pub(super) fn new(manifest: Manifest, path: PathBuf, file: File) -> Self {
        Self {
            manifest,
            path,
            file,
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The decompressed bytes. The stored bytes are hashed and (volumes) scanned
    /// again: a tar violation fails the read at once; a sha256 mismatch fails
    /// the read at the end instead of returning `Ok(0)`.
    pub fn into_reader(mut self) -> Result<Box<dyn Read + Send>, RepoError> {
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(RepoError::io(&self.path))?;
        let src = BufReader::with_capacity(BUF, Hashing::new(self.file));
        let decoder = Decoder::with_buffer(src).map_err(RepoError::io(&self.path))?;
        let scanner =
            (self.manifest.kind == BackupKind::Volume).then(|| Scanner::new(volume_rules()));
        Ok(Box::new(VerifiedReader {
            decoder: Some(decoder),
            scanner,
            manifest: self.manifest,
            path: self.path,
            raw_bytes: 0,
            failed: None,
        }))
    }
}

struct VerifiedReader {
    /// `None` once the end was reached and checked.
    decoder: Option<Decoder<'static, BufReader<Hashing<File>>>>,
    scanner: Option<Scanner>,
    manifest: Manifest,
    path: PathBuf,
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
    /// End of stream (or a zstd error): hash the rest and compare with the manifest.
    fn end(&mut self, zstd_error: Option<io::Error>) -> Result<(), RepoError> {
        let Some(decoder) = self.decoder.take() else {
            return Ok(());
        };
        let m = &self.manifest;
        let (sha256, _) = drain(decoder.finish(), &self.path)?;
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
        if let Some(e) = zstd_error {
            return Err(unreadable(format!("zstd: {e}")));
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
