//! Pass 1 over a stored object: sha256 of every stored byte, then (deep) zstd
//! decoding and, for volumes, the tar scan. Used by `open_verified` and
//! `verify`, and, over a stream, by [`Store::check`](super::Store::check).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use jiff::Timestamp;

use super::fsutil::open_object;
use super::hashing::{Hashing, hash_file_upto};
use super::keys::Keys;
use super::reader::{VerifiedBackup, decode};
use super::{BUF, BackupKind, LocalRepo, Manifest, RepoError, Verification, volume_rules};
use crate::archive::{ArchiveError, Scanner, Stats};

/// What a passed check saw.
#[derive(Debug)]
pub struct Checked {
    deep: bool,
    raw_bytes: u64,
    stats: Option<Stats>,
}

impl LocalRepo {
    /// Checks backup `id` completely (sha256, zstd, tar scan for volumes) and
    /// returns it ready to be read a second time.
    pub fn open_verified(&self, id: &str) -> Result<VerifiedBackup, RepoError> {
        let (m, _) = self.locate(id)?;
        self.check_expansion(&m, "restored")?;
        let path = self.object_path(&m);
        let mut file = open_object(&path, &m)?;
        check(&self.keys, &m, &path, &mut file, true)?;
        Ok(VerifiedBackup::new(m, path, file, self.keys.clone()))
    }

    /// Checks backup `id` (`deep`: also decompress and scan; else sha256 only)
    /// and records the result in its manifest. A check that could not be
    /// made ([`RepoError::NoKey`]) is an error and records nothing.
    pub fn verify(&self, id: &str, deep: bool) -> Result<Verification, RepoError> {
        let (mut m, manifest_path) = self.locate(id)?;
        let checked = match self.check_file(&m, deep) {
            Err(e) if e.is_not_a_verdict() => return Err(e),
            checked => checked,
        };
        let verification = Verification::of(id, checked, deep);
        m.verification = Some(verification.clone());
        m.store(&manifest_path)?;
        Ok(verification)
    }

    /// [`LocalRepo::verify`] without recording the result (a dry run).
    pub fn check(&self, id: &str, deep: bool) -> Result<Verification, RepoError> {
        let (m, _) = self.locate(id)?;
        match self.check_file(&m, deep) {
            Err(e) if e.is_not_a_verdict() => Err(e),
            checked => Ok(Verification::of(id, checked, deep)),
        }
    }

    /// Pass 1 over the object of `m`, without recording anything.
    pub(super) fn check_file(&self, m: &Manifest, deep: bool) -> Result<Checked, RepoError> {
        let path = self.object_path(m);
        let mut file = open_object(&path, m)?;
        check(&self.keys, m, &path, &mut file, deep)
    }
}

impl Verification {
    /// The record of a check of backup `id` that ended with `result`.
    pub fn of(id: &str, result: Result<Checked, RepoError>, deep: bool) -> Self {
        let v = Self {
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
        if !v.ok {
            tracing::warn!(id, "verification failed: {}", v.detail);
        }
        v
    }
}

impl Checked {
    pub fn describe(&self) -> String {
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
    Decode(io::Error),
    /// Decoding went past the manifest's raw size, and stopped there.
    Oversize,
    Archive(ArchiveError),
    Key(RepoError),
}

/// Pass 1. The sha256 of every stored byte is computed on one thread while
/// (deep) another decrypts, decompresses and scans: on 2 cores pass 1 takes
/// the time of the slower of the two, not their sum. A sha256 mismatch wins
/// over any other failure: it is the likely cause.
pub(super) fn check(
    keys: &Keys,
    m: &Manifest,
    path: &Path,
    file: &mut File,
    deep: bool,
) -> Result<Checked, RepoError> {
    let file: &File = file;
    let (hashed, decoded) = std::thread::scope(|s| {
        // One byte past the manifest's size shows a longer file; no more is read.
        let hasher = s.spawn(|| hash_file_upto(file, m.stored_bytes.saturating_add(1)));
        let decoded = if deep {
            file.try_clone()
                .map_err(RepoError::io(path))
                .map(|clone| decode_all(keys, m, clone.take(m.stored_bytes)))
        } else {
            Ok(Decoding::default())
        };
        let hashed = hasher
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the hashing thread panicked")));
        (hashed.map_err(RepoError::io(path)), decoded)
    });
    conclude(m, path, (hashed, decoded), deep)
}

/// The verdict on what hashing (sha256, bytes) and decoding saw.
fn conclude(
    m: &Manifest,
    path: &Path,
    (hashed, decoded): (
        Result<(String, u64), RepoError>,
        Result<Decoding, RepoError>,
    ),
    deep: bool,
) -> Result<Checked, RepoError> {
    let (sha256, stored) = hashed?;
    let Decoding {
        raw_bytes,
        mut scanner,
        failure,
    } = decoded?;
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
        Some(Failure::Decode(e)) => return Err(unreadable(format!("decoding: {e}"))),
        Some(Failure::Oversize) => return Err(unreadable(oversize(m))),
        Some(Failure::Archive(e)) => return Err(bad_archive(e)),
        Some(Failure::Key(e)) => return Err(e),
        None => {}
    }
    let stats = scanner
        .as_mut()
        .map(Scanner::finish)
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

/// Pass 1 over a stream of the stored bytes (an object on S3), read once:
/// hashed on the way into the decoder (deep), or only hashed. `place` names
/// the object in errors. A read error of kind `InvalidData` means the object
/// is damaged; any other kind, that it could not be read
/// ([`RepoError::Unavailable`]).
pub(super) fn check_stream(
    keys: &Keys,
    m: &Manifest,
    place: &Path,
    stored: impl Read,
    deep: bool,
) -> Result<Checked, RepoError> {
    // One byte past the manifest's size shows a longer object; no more is read.
    let mut hashing = Hashing::new(stored.take(m.stored_bytes.saturating_add(1)));
    let decoded = if deep {
        decode_all(keys, m, &mut hashing)
    } else {
        Decoding::default()
    };
    // What the decoder did not need (or everything, when not deep) is hashed too.
    let drained = io::copy(&mut hashing, &mut io::sink());
    let (_, sha256, stored) = hashing.finish();
    let hashed = drained.map(|_| (sha256, stored)).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData {
            RepoError::Unreadable {
                id: m.id.clone(),
                reason: e.to_string(),
            }
        } else {
            RepoError::Unavailable {
                id: m.id.clone(),
                place: place.display().to_string(),
                reason: e.to_string(),
            }
        }
    });
    conclude(m, place, (hashed, Ok(decoded)), deep)
}

/// What decoding a stored object to its end saw.
#[derive(Default)]
struct Decoding {
    raw_bytes: u64,
    /// Volumes: the tar scan so far.
    scanner: Option<Scanner>,
    failure: Option<Failure>,
}

/// Decrypts, decompresses and (volumes) scans the whole object; stops at the
/// first failure. The stored bytes are hashed by the caller, not here.
fn decode_all(keys: &Keys, m: &Manifest, stored: impl Read) -> Decoding {
    let mut d = Decoding {
        scanner: (m.kind == BackupKind::Volume).then(|| Scanner::new(volume_rules())),
        ..Decoding::default()
    };
    let mut decoder = match decode(keys, m, stored) {
        Ok(decoder) => decoder,
        Err(e) => {
            d.failure = Some(Failure::Key(e));
            return d;
        }
    };
    let mut buf = vec![0; BUF];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                d.raw_bytes += n as u64;
                if d.raw_bytes > m.raw_bytes {
                    d.failure = Some(Failure::Oversize);
                    break;
                }
                if let Some(Err(e)) = d.scanner.as_mut().map(|s| s.feed(&buf[..n])) {
                    d.failure = Some(Failure::Archive(e));
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                d.failure = Some(Failure::Decode(e));
                break;
            }
        }
    }
    d
}

/// Why a decoder was stopped past `m.raw_bytes`.
pub(super) fn oversize(m: &Manifest) -> String {
    format!(
        "it decompresses to more than the {} bytes its manifest says (decoding stopped there)",
        m.raw_bytes
    )
}
