//! Writing a backup: raw bytes in, zstd + sha256 + (for volumes) tar scan, atomic publish.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use jiff::Timestamp;
use zstd::stream::write::Encoder;

use super::fsutil::WriteBehind;
use super::hashing::Hashing;
use super::id::{check_source, new_id};
use super::keys::Sealed;
use super::manifest::FORMAT;
use super::{BUF, BackupKind, LocalRepo, Manifest, Origin, RepoError, fsutil, volume_rules};
use crate::archive::{ArchiveError, Scanner};

/// What a new backup is; the rest of its manifest is filled in while writing.
#[derive(Debug, Clone)]
pub struct NewBackup {
    pub source: String,
    pub kind: BackupKind,
    pub origin: Origin,
    pub tags: Vec<String>,
    pub run_id: Option<String>,
    /// What the backup step recorded about the data ([`Manifest::facts`]).
    pub facts: std::collections::BTreeMap<String, String>,
}

type Sink = Encoder<'static, Sealed<Hashing<BufWriter<WriteBehind>>>>;

/// Receives the raw bytes of a backup ([`Write`]); [`finish`](Self::finish) publishes it.
/// Dropped without `finish`, it removes what it wrote: an interrupted backup leaves nothing.
pub struct BackupWriter {
    encoder: Option<Sink>,
    scanner: Option<Scanner>,
    scan_error: Option<ArchiveError>,
    raw_bytes: u64,
    dir: PathBuf,
    partial: PathBuf,
    manifest: Manifest,
    /// The object was renamed to its final name (removed again if the manifest fails).
    published: bool,
    done: bool,
}

impl LocalRepo {
    /// Starts a backup of `new.source`.
    pub fn create(&self, new: NewBackup) -> Result<BackupWriter, RepoError> {
        check_source(&new.source)?;
        let dir = self.source_dir(&new.source);
        fs::create_dir_all(&dir).map_err(RepoError::io(&dir))?;
        let encrypted_to = self.keys.encryption();
        let extension = match encrypted_to {
            Some(_) => format!("{}.age", new.kind.extension()),
            None => new.kind.extension().to_string(),
        };
        let (now, id, partial, file) = new_object(&dir, &extension, new.run_id.as_deref())?;
        let sealed = self.keys.encrypt(Hashing::new(BufWriter::with_capacity(
            BUF,
            WriteBehind::new(file),
        )));
        let encoder = sealed.and_then(encoder).map_err(|e| {
            let _ = fs::remove_file(&partial);
            RepoError::io(&partial)(e)
        })?;
        let object = format!("{id}.{extension}");
        Ok(BackupWriter {
            encoder: Some(encoder),
            scanner: (new.kind == BackupKind::Volume).then(|| Scanner::new(volume_rules())),
            scan_error: None,
            raw_bytes: 0,
            dir,
            partial,
            manifest: Manifest {
                format: FORMAT,
                id,
                source: new.source,
                kind: new.kind,
                origin: new.origin,
                created_at: now,
                raw_bytes: 0,
                stored_bytes: 0,
                file_count: None,
                object,
                sha256: String::new(),
                compression: "zstd".into(),
                encryption: encrypted_to.as_ref().map(|_| "age".into()),
                encrypted_to: encrypted_to.unwrap_or_default(),
                tags: new.tags,
                pinned: false,
                run_id: new.run_id,
                verification: None,
                facts: new.facts,
            },
            published: false,
            done: false,
        })
    }
}

/// A fresh id and its exclusively created `.partial` object file, named
/// after the run that writes it (`<id>.<ext>.run-<run id>.partial`) and
/// locked (`flock`) for as long as it is open: a partial object whose lock
/// is free and whose run is not running is garbage ([`LocalRepo::sweep_partials`]).
fn new_object(
    dir: &std::path::Path,
    extension: &str,
    run_id: Option<&str>,
) -> Result<(Timestamp, String, PathBuf, File), RepoError> {
    let mut last = io::Error::other("no free backup id");
    for _ in 0..8 {
        let now = Timestamp::now();
        let id = new_id(now);
        let object = dir.join(format!("{id}.{extension}"));
        let partial = dir.join(super::sweep::partial_name(
            &format!("{id}.{extension}"),
            run_id,
        ));
        if object.exists() || dir.join(format!("{id}.json")).exists() {
            continue;
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
        {
            Ok(file) => {
                // Best effort: where flock is not supported, the run id and
                // the run's lock still tell a live writer.
                let _ = file.try_lock();
                return Ok((now, id, partial, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(RepoError::io(&partial)(e)),
        }
    }
    Err(RepoError::io(dir)(last))
}

/// zstd level 1 unless `LIFEBOAT_ZSTD_LEVEL` says otherwise (-7 to 19;
/// negative levels are zstd's `--fast=N`). On a 2-core machine compression is
/// most of a backup's CPU: level 1 costs about half the CPU of level 3 for a
/// ~7% larger object, and keeps the backup close to the speed of Docker's
/// archive stream (docs/benchmarks.md).
pub fn compression_level() -> i32 {
    std::env::var("LIFEBOAT_ZSTD_LEVEL")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|l| (-7..=19).contains(l) && *l != 0)
        .unwrap_or(1)
}

fn encoder(output: Sealed<Hashing<BufWriter<WriteBehind>>>) -> io::Result<Sink> {
    let mut enc = Encoder::new(output, compression_level())?;
    enc.include_checksum(true)?;
    enc.multithread(compression_workers())?;
    Ok(enc)
}

/// zstd worker threads: `LIFEBOAT_ZSTD_WORKERS` (0 = compress on the
/// writer's own thread, up to 8), else the core count capped at 4. Each
/// worker buffers whole jobs, so the cap keeps memory independent of the host.
pub fn compression_workers() -> u32 {
    std::env::var("LIFEBOAT_ZSTD_WORKERS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n <= 8)
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u32)
        })
}

impl BackupWriter {
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// Raw bytes received so far.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Finishes compression, fsyncs and renames the object, writes the manifest
    /// (atomically) and fsyncs the directory.
    pub fn finish(mut self) -> Result<Manifest, RepoError> {
        let m = self.complete()?;
        self.done = true;
        Ok(m)
    }

    fn complete(&mut self) -> Result<Manifest, RepoError> {
        let bad_archive = |id: &str, source| RepoError::BadArchive {
            id: id.into(),
            source,
        };
        if let Some(e) = self.scan_error.take() {
            return Err(bad_archive(&self.manifest.id, e));
        }
        if let Some(scanner) = &mut self.scanner {
            let stats = scanner
                .finish()
                .map_err(|e| bad_archive(&self.manifest.id, e))?;
            self.manifest.file_count = Some(stats.files);
        }
        let encoder = self.encoder.take().ok_or_else(|| {
            RepoError::io(&self.partial)(io::Error::other("writer already failed"))
        })?;
        let io_err = RepoError::io(&self.partial);
        let (buffered, sha256, stored) = match encoder.finish().and_then(Sealed::finish) {
            Ok(hashing) => hashing.finish(),
            Err(e) => return Err(io_err(e)),
        };
        let file = buffered
            .into_inner()
            .map_err(|e| RepoError::io(&self.partial)(e.into_error()))?
            .file;
        file.sync_all().map_err(RepoError::io(&self.partial))?;
        drop(file);
        let object = self.dir.join(&self.manifest.object);
        fs::rename(&self.partial, &object).map_err(RepoError::io(&object))?;
        self.published = true;
        let m = &mut self.manifest;
        m.raw_bytes = self.raw_bytes;
        m.stored_bytes = stored;
        m.sha256 = sha256;
        m.store(&self.dir.join(format!("{}.json", m.id)))?;
        if let Some(backups) = self.dir.parent() {
            fsutil::sync_dir(backups)?;
        }
        Ok(self.manifest.clone())
    }
}

impl Write for BackupWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(e) = &self.scan_error {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
        }
        let encoder = self
            .encoder
            .as_mut()
            .ok_or_else(|| io::Error::other("backup writer already finished"))?;
        let n = encoder.write(buf)?;
        self.raw_bytes += n as u64;
        if let Some(scanner) = &mut self.scanner
            && let Err(e) = scanner.feed(&buf[..n])
        {
            self.scan_error = Some(e.clone());
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(n)
    }

    /// A no-op: compressed data is only durable after [`BackupWriter::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BackupWriter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        drop(self.encoder.take());
        let _ = fs::remove_file(&self.partial);
        if self.published {
            let _ = fs::remove_file(self.dir.join(&self.manifest.object));
            let _ = fs::remove_file(self.dir.join(format!("{}.json", self.manifest.id)));
        }
    }
}
