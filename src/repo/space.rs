//! Free space: is there room for a fetched object, or a restored volume,
//! before the first byte is written? Refusing up front beats a disk that
//! fills half-way through (a restore has emptied the volume by then).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{LocalRepo, Manifest, RepoError};
use crate::model::size::bytes;

/// Bytes an unprivileged writer can still use on the filesystem of `path`
/// (`statvfs`: available blocks × fragment size).
// The field types differ between platforms: `u64::from` is a no-op on some.
#[allow(clippy::useless_conversion)]
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in path"))?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path that outlives the call, and `s`
    // points to writable memory of the size statvfs fills; it is read only
    // after the call succeeded.
    let s = unsafe {
        if libc::statvfs(c.as_ptr(), s.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        s.assume_init()
    };
    Ok(u64::from(s.f_bavail).saturating_mul(u64::from(s.f_frsize)))
}

/// [`free_bytes`] of `path`, or of its nearest ancestor that can be
/// examined when `path` cannot (`walk_up` says which errors allow it: a
/// directory not made yet, one not readable by this user). Also returns the
/// path that was measured.
pub fn free_bytes_near(path: &Path, walk_up: &[io::ErrorKind]) -> io::Result<(u64, PathBuf)> {
    let mut at = path;
    loop {
        match free_bytes(at) {
            Ok(free) => return Ok((free, at.to_path_buf())),
            Err(e) if walk_up.contains(&e.kind()) => match at.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => at = parent,
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

/// Disk space taken by the tree at `path` (`du`: allocated blocks, each hard
/// linked file once), as far as it can be read; `None` if `path` cannot.
pub fn tree_bytes(path: &Path) -> Option<u64> {
    tree_bytes_until(path, None)
}

/// [`tree_bytes`], given up on (`None`) once `deadline` has passed.
pub fn tree_bytes_until(path: &Path, deadline: Option<std::time::Instant>) -> Option<u64> {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    let mut todo = vec![path.to_path_buf()];
    let top = std::fs::symlink_metadata(path).ok()?;
    let device = top.dev();
    while let Some(dir) = todo.pop() {
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return None;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.dev() != device {
                continue; // another filesystem mounted inside
            }
            if meta.nlink() > 1 && !meta.is_dir() && !seen.insert(meta.ino()) {
                continue;
            }
            total = total.saturating_add(meta.blocks().saturating_mul(512));
            if meta.is_dir() {
                todo.push(entry.path());
            }
        }
    }
    Some(total)
}

impl LocalRepo {
    /// Refuses `m` (`doing` it: "restored", "fetched …") when its manifest
    /// says it unpacks to more than the configured `restore.max_expansion`
    /// times its stored size: a crafted manifest, or a decompression bomb.
    pub fn check_expansion(&self, m: &Manifest, doing: &str) -> Result<(), RepoError> {
        let Some(ratio) = self.max_expansion else {
            return Ok(());
        };
        if (m.raw_bytes as f64) <= ratio * (m.stored_bytes.max(1) as f64) {
            return Ok(());
        }
        Err(RepoError::NoRoom {
            id: m.id.clone(),
            doing: doing.into(),
            need: format!(
                "its unpacked size, {} ({} bytes)",
                bytes(m.raw_bytes),
                m.raw_bytes
            ),
            have: format!(
                "that is more than restore.max_expansion ({ratio}) times its stored size, \
                 {} ({} bytes)",
                bytes(m.stored_bytes),
                m.stored_bytes
            ),
            hint: "if the data really compresses that well, raise restore.max_expansion in \
                   the config file"
                .into(),
        })
    }

    /// Refuses to fetch `m` into this repository when its filesystem has
    /// less free space than the object's stored size, or when it claims to
    /// unpack to too much ([`LocalRepo::check_expansion`]).
    pub fn ensure_room_for(&self, m: &Manifest) -> Result<(), RepoError> {
        self.check_expansion(m, "fetched into the local repository")?;
        let walk_up = [io::ErrorKind::NotFound, io::ErrorKind::PermissionDenied];
        let (free, measured) =
            free_bytes_near(self.root(), &walk_up).map_err(RepoError::io(self.root()))?;
        if m.stored_bytes > free {
            return Err(RepoError::NoRoom {
                id: m.id.clone(),
                doing: "fetched into the local repository".into(),
                need: format!(
                    "its stored size, {} ({} bytes)",
                    bytes(m.stored_bytes),
                    m.stored_bytes
                ),
                have: format!(
                    "the filesystem of {} has {} ({free} bytes) free",
                    measured.display(),
                    bytes(free)
                ),
                hint: "free some space there, or point --repo / LIFEBOAT_REPO (the local \
                       cache) at a larger disk"
                    .into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_existing_paths_and_their_ancestors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        let missing = dir.path().join("not/made/yet");
        assert!(free_bytes(&missing).is_err());
        let (free, at) = free_bytes_near(&missing, &[io::ErrorKind::NotFound]).unwrap();
        assert!(free > 0);
        assert_eq!(at, dir.path());
        assert!(free_bytes_near(&missing, &[]).is_err());
    }

    #[test]
    fn tree_bytes_counts_hard_links_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/f"), vec![1u8; 100_000]).unwrap();
        let one = tree_bytes(dir.path()).unwrap();
        assert!(one >= 100_000, "{one}");
        std::fs::hard_link(dir.path().join("d/f"), dir.path().join("h")).unwrap();
        assert_eq!(tree_bytes(dir.path()).unwrap(), one);
        assert_eq!(tree_bytes(&dir.path().join("nope")), None);
    }
}
