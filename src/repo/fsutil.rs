//! Durable file replacement.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use super::RepoError;

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

/// Makes renames and removals in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), RepoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(RepoError::io(dir))
}
