//! Durable file replacement, and opening stored objects safely.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{Manifest, RepoError};

/// Opens the stored object of `m` at `path` for reading: never through a
/// symlink, never a FIFO or device (which could block or never end), and only
/// when its size is the manifest's, so that a sparse terabyte is refused
/// before a byte is read. Readers still stop at `m.stored_bytes`.
pub(crate) fn open_object(path: &Path, m: &Manifest) -> Result<File, RepoError> {
    let bad = |reason: String| RepoError::Unreadable {
        id: m.id.clone(),
        reason,
    };
    let file = OpenOptions::new()
        .read(true)
        // NONBLOCK: opening a FIFO must not wait for a writer.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => bad(format!(
                "{} is a symlink; a stored object must be a regular file",
                path.display()
            )),
            _ => RepoError::io(path)(e),
        })?;
    let meta = file.metadata().map_err(RepoError::io(path))?;
    if !meta.is_file() {
        return Err(bad(format!(
            "{} is not a regular file (a FIFO, device or directory)",
            path.display()
        )));
    }
    if meta.len() != m.stored_bytes {
        return Err(bad(format!(
            "the object has {} bytes, its manifest says {}",
            meta.len(),
            m.stored_bytes
        )));
    }
    Ok(file)
}

/// Writes `bytes` to `path` through `<path>.partial`, fsync and rename; then fsyncs the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RepoError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = Path::new(&tmp);
    let result = (|| {
        let mut f = File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(tmp);
        return Err(RepoError::io(path)(e));
    }
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to
/// disk now, without waiting for it (Linux `sync_file_range` with
/// `SYNC_FILE_RANGE_WRITE`). Called as a large file is written, it leaves the
/// final fsync little to do instead of the whole file. Best effort: errors
/// are ignored, the fsync reports them.
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        // SAFETY: the descriptor is borrowed from `file`, so it stays open
        // for the call, which reads and writes none of this process's memory.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Bytes [`WriteBehind`] lets pile up before handing them to the disk.
const WRITE_BEHIND: u64 = 8 << 20;

/// A file written front to back whose bytes are handed to the disk every
/// 8 MiB ([`start_writeback`]), so that closing it with an fsync waits for
/// the last few MiB, not for all of it.
pub(crate) struct WriteBehind {
    pub file: File,
    written: u64,
    flushed: u64,
}

impl WriteBehind {
    pub fn new(file: File) -> Self {
        Self {
            file,
            written: 0,
            flushed: 0,
        }
    }
}

impl Write for WriteBehind {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.flushed >= WRITE_BEHIND {
            start_writeback(&self.file, self.flushed, self.written - self.flushed);
            self.flushed = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Makes renames and removals in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), RepoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(RepoError::io(dir))
}
