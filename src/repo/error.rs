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
    /// No key given decrypts the backup: its contents could not be checked,
    /// which says nothing about the backup itself, so nothing is recorded.
    #[error(
        "backup {id} cannot be decrypted with the keys given, so it was not checked \
         (nothing was restored or recorded): {reason}"
    )]
    NoKey { id: String, reason: String },
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
    /// Not enough free space to fetch or restore a backup; nothing was changed.
    #[error(
        "backup {id} cannot be {doing}: it needs {need}, but {have}; {hint}. Nothing was changed"
    )]
    NoRoom {
        id: String,
        doing: String,
        need: String,
        have: String,
        hint: String,
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
    /// A check that ended so says nothing about the backup (the store could
    /// not be read, no key opens it): nothing is to be recorded.
    pub fn is_not_a_verdict(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::NoKey { .. })
    }

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
