//! Pass 1 over a stored object: sha256 of every stored byte, then (deep) zstd
//! decoding and, for volumes, the tar scan. Used by `open_verified` and `verify`.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use jiff::Timestamp;

use super::hashing::Hashing;
use super::reader::VerifiedBackup;
use super::{BUF, BackupKind, LocalRepo, Manifest, RepoError, Verification, volume_rules};
use crate::archive::{ArchiveError, Scanner, Stats};

/// What a passed check saw.
pub(super) struct Checked {
    deep: bool,
    raw_bytes: u64,
    stats: Option<Stats>,
}

impl LocalRepo {
    /// Checks backup `id` completely (sha256, zstd, tar scan for volumes) and
    /// returns it ready to be read a second time.
    pub fn open_verified(&self, id: &str) -> Result<VerifiedBackup, RepoError> {
        let (m, _) = self.locate(id)?;
        let path = self.object_path(&m);
        let mut file = File::open(&path).map_err(RepoError::io(&path))?;
        check(&m, &path, &mut file, true)?;
        Ok(VerifiedBackup::new(m, path, file))
    }

    /// Checks backup `id` (`deep`: also decompress and scan; else sha256 only)
    /// and records the result in its manifest.
    pub fn verify(&self, id: &str, deep: bool) -> Result<Verification, RepoError> {
        let (mut m, manifest_path) = self.locate(id)?;
        let path = self.object_path(&m);
        let result = File::open(&path)
            .map_err(RepoError::io(&path))
            .and_then(|mut file| check(&m, &path, &mut file, deep));
        let verification = Verification {
            at: Timestamp::now(),
            ok: result.is_ok(),
            deep,
            detail: match result {
                Ok(c) => c.describe(),
                Err(RepoError::Corrupt {
                    path,
                    expected,
                    actual,
                    ..
                }) => format!(
                    "sha256 of {} is {actual}, its manifest says {expected}",
                    path.display()
                ),
                Err(e) => e.to_string(),
            },
        };
        if !verification.ok {
            tracing::warn!(id, "verification failed: {}", verification.detail);
        }
        m.verification = Some(verification.clone());
        m.store(&manifest_path)?;
        Ok(verification)
    }
}

impl Checked {
    fn describe(&self) -> String {
        let mut s = String::from("sha256 ok");
        if self.deep {
            s += &format!("; zstd ok ({} raw bytes)", self.raw_bytes);
        }
        if let Some(t) = &self.stats {
            s += &format!(
                "; tar ok ({} entries: {} files, {} dirs, {} symlinks, {} hard links)",
                t.entries, t.files, t.dirs, t.symlinks, t.hardlinks
            );
        }
        s
    }
}

enum Failure {
    Zstd(io::Error),
    Archive(ArchiveError),
}

/// Pass 1. A sha256 mismatch wins over any other failure: it is the likely cause.
pub(super) fn check(
    m: &Manifest,
    path: &Path,
    file: &mut File,
    deep: bool,
) -> Result<Checked, RepoError> {
    let mut src = BufReader::with_capacity(BUF, Hashing::new(&mut *file));
    let mut raw_bytes = 0;
    let mut scanner = (deep && m.kind == BackupKind::Volume).then(|| Scanner::new(volume_rules()));
    let mut failure = None;
    if deep {
        let mut decoder =
            zstd::stream::read::Decoder::with_buffer(src).map_err(RepoError::io(path))?;
        let mut buf = vec![0; BUF];
        loop {
            match decoder.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    raw_bytes += n as u64;
                    if let Some(Err(e)) = scanner.as_mut().map(|s| s.feed(&buf[..n])) {
                        failure = Some(Failure::Archive(e));
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(Failure::Zstd(e));
                    break;
                }
            }
        }
        src = decoder.finish();
    }
    let (sha256, stored) = drain(src, path)?;
    if sha256 != m.sha256 {
        return Err(RepoError::Corrupt {
            id: m.id.clone(),
            path: path.to_path_buf(),
            expected: m.sha256.clone(),
            actual: sha256,
        });
    }
    let unreadable = |reason: String| RepoError::Unreadable {
        id: m.id.clone(),
        reason,
    };
    let bad_archive = |source| RepoError::BadArchive {
        id: m.id.clone(),
        source,
    };
    match failure {
        Some(Failure::Zstd(e)) => return Err(unreadable(format!("zstd: {e}"))),
        Some(Failure::Archive(e)) => return Err(bad_archive(e)),
        None => {}
    }
    let stats = scanner
        .map(|mut s| s.finish())
        .transpose()
        .map_err(bad_archive)?;
    if stored != m.stored_bytes {
        return Err(unreadable(format!(
            "the object has {stored} bytes, its manifest says {}",
            m.stored_bytes
        )));
    }
    if deep && raw_bytes != m.raw_bytes {
        return Err(unreadable(format!(
            "it decompresses to {raw_bytes} bytes, its manifest says {}",
            m.raw_bytes
        )));
    }
    Ok(Checked {
        deep,
        raw_bytes,
        stats,
    })
}

/// Reads the rest of the object so the hash covers every stored byte.
pub(super) fn drain<R: Read>(
    mut src: BufReader<Hashing<R>>,
    path: &Path,
) -> Result<(String, u64), RepoError> {
    io::copy(&mut src, &mut io::sink()).map_err(RepoError::io(path))?;
    let (_, sha256, stored) = src.into_inner().finish();
    Ok((sha256, stored))
}
