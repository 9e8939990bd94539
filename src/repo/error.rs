//! Repository errors; each message names the backup or path involved.

use std::io;
use std::path::{Path, PathBuf};

use crate::archive::ArchiveError;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("no backup with id `{id}` in {}{}", root.display(), did_you_mean(suggestions))]
    NotFound {
        id: String,
        root: PathBuf,
        suggestions: Vec<String>,
    },
    #[error("backup `{id}` is a backup of `{actual}`, not of `{expected}`")]
    WrongSource {
        id: String,
        expected: String,
        actual: String,
    },
    #[error("no backup of `{name}` matches `{reference}`: {hint}")]
    NoBackup {
        name: String,
        reference: String,
        hint: String,
    },
    #[error(
        "backup {id} is corrupt: sha256 of {} is {actual}, its manifest says {expected}",
        path.display()
    )]
    Corrupt {
        id: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("backup {id} cannot be decrypted: {reason}")]
    Decrypt { id: String, reason: String },
    #[error("backup {id} cannot be read: {reason}")]
    Unreadable { id: String, reason: String },
    /// The store could not be read (network, permissions): nothing is known
    /// about the backup itself, so nothing is recorded about it.
    #[error("{place} could not be read, so backup {id} was not checked: {reason}")]
    Unavailable {
        id: String,
        place: String,
        reason: String,
    },
    #[error("backup {id} holds an unsafe or malformed tar archive: {source}")]
    BadArchive { id: String, source: ArchiveError },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("bad manifest {}: {message}", path.display())]
    BadManifest { path: PathBuf, message: String },
    #[error(
        "invalid backup source `{0}`: it must match ^[A-Za-z0-9][A-Za-z0-9_.-]*$ (as Docker volume names do)"
    )]
    InvalidSource(String),
    /// Deleted (or being deleted) since it was listed, maybe by another machine.
    #[error(
        "backup {id} is no longer in {place}: {why}; nothing was changed (`lifeboat backups list` shows what is left)"
    )]
    Gone {
        id: String,
        place: String,
        why: String,
    },
}

impl RepoError {
    /// `map_err` helper for I/O on `path`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" (did you mean `{one}`?)"),
        many => format!(" (did you mean one of `{}`?)", many.join("`, `")),
    }
}
