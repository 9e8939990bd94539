//! Writing report files: atomically (a reader never sees half a report) and
//! only under names that stay inside their directory.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{0}` cannot be part of a file name (empty, hidden, or with a path separator)")]
    Name(String),
    #[error(transparent)]
    Html(#[from] super::render::html::HtmlError),
}

/// Refuses a drill name or id that would leave its directory or hide the
/// file: both come from files a person wrote or copied.
pub(crate) fn check_name(part: &str) -> Result<(), WriteError> {
    let bad = part.is_empty()
        || part.starts_with('.')
        || part.contains(['/', '\\', '\0'])
        || part.chars().any(char::is_control);
    if bad {
        return Err(WriteError::Name(part.to_string()));
    }
    Ok(())
}

/// Writes `bytes` to `path` through `<path>.partial`, fsync and rename, then
/// fsyncs the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// Creates `dir` and its parents.
pub(crate) fn make_dir(dir: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(|source| WriteError::Io {
        path: dir.to_path_buf(),
        source,
    })
}
