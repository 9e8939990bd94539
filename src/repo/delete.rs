//! Removing a backup (manifest first, so a crash leaves no listed backup without its object).

use std::fs;
use std::io;
use std::path::Path;

use super::{LocalRepo, RepoError, fsutil};

impl LocalRepo {
    /// Removes backup `id` (manifest and object); returns the bytes freed.
    pub fn delete(&self, id: &str) -> Result<u64, RepoError> {
        let (m, manifest_path) = self.locate(id)?;
        let object = self.object_path(&m);
        let freed = remove(&manifest_path)? + remove(&object)?;
        fsutil::sync_dir(&self.source_dir(&m.source))?;
        Ok(freed)
    }
}

/// Bytes freed by removing `path` (0 if it is already gone).
fn remove(path: &Path) -> Result<u64, RepoError> {
    let len = match fs::metadata(path) {
        Ok(md) => md.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(RepoError::io(path)(e)),
    };
    match fs::remove_file(path) {
        Ok(()) => Ok(len),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(RepoError::io(path)(e)),
    }
}
