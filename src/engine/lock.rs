//! One lock per Docker target (volume or container), held for a whole run:
//! a second run that would touch the same thing is refused, naming the
//! holder. The locks are `flock`s on files in one directory per host
//! (`LIFEBOAT_LOCK_DIR`, default `$TMPDIR/lifeboat-locks`), so they vanish
//! with the process that held them, even after `kill -9`.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{what} is held by {holder}; wait for that run to finish, or stop it")]
    Held { what: String, holder: String },
    #[error("lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub fn default_dir() -> PathBuf {
    std::env::var_os("LIFEBOAT_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lifeboat-locks"))
}

/// Locks held until dropped.
#[derive(Debug)]
pub struct Locks {
    _files: Vec<File>,
}

/// Takes every lock or none. `things` are descriptions such as
/// `volume demo_redis-data`; `holder` describes this run for whoever is refused.
pub fn acquire(dir: &Path, things: &[String], holder: &str) -> Result<Locks, LockError> {
    fs::create_dir_all(dir).map_err(|source| LockError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut sorted: Vec<&String> = things.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut files = Vec::new();
    for what in sorted {
        let path = dir.join(format!("{}.lock", key(what)));
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = text.trim();
                return Err(LockError::Held {
                    what: what.clone(),
                    holder: if holder.is_empty() {
                        "another run".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(holder.as_bytes()).map_err(io)?;
        files.push(file);
    }
    Ok(Locks { _files: files })
}

/// The lock a run holds on itself for as long as it runs (run, resume):
/// how another process tells a running run from a dead one.
pub fn run_lock(run_id: &str) -> String {
    format!("run {run_id}")
}

/// Removes the lock file of a run that finished (its journal says so, and
/// nothing resumes a finished run), so run locks do not pile up. Called by
/// the holder before it lets go.
pub fn forget_run(dir: &Path, run_id: &str) {
    let _ = fs::remove_file(dir.join(format!("{}.lock", key(&run_lock(run_id)))));
}

/// Whether a live process holds the lock on `what` now. A lock file that
/// cannot be opened counts as held: when in doubt, a run is running.
pub fn is_held(dir: &Path, what: &str) -> bool {
    let path = dir.join(format!("{}.lock", key(what)));
    match File::open(&path) {
        Ok(file) => file.try_lock().is_err(),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// File names stay short and safe whatever the target is called.
fn key(what: &str) -> String {
    let readable: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    let hash = hex::encode(&Sha256::digest(what.as_bytes())[..6]);
    format!("{readable}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name() {
        let dir = tempfile::tempdir().unwrap();
        let things = vec!["volume v1".to_string(), "container c1".to_string()];
        let held = acquire(dir.path(), &things, "run r1 (full-data-loss, pid 7)").unwrap();
        let err = acquire(dir.path(), &["volume v1".to_string()], "run r2").unwrap_err();
        assert_eq!(
            err.to_string(),
            "volume v1 is held by run r1 (full-data-loss, pid 7); wait for that run to finish, or stop it"
        );
        // Unrelated targets are free.
        acquire(dir.path(), &["volume v2".to_string()], "run r3").unwrap();
        drop(held);
        acquire(dir.path(), &things, "run r4").unwrap();
    }

    #[test]
    fn a_run_lock_is_held_only_while_its_holder_lives() {
        let dir = tempfile::tempdir().unwrap();
        let me = run_lock("20261130T010000Z-abcdef");
        assert!(!is_held(dir.path(), &me), "never taken");
        let held = acquire(dir.path(), std::slice::from_ref(&me), "run me").unwrap();
        assert!(is_held(dir.path(), &me));
        assert!(!is_held(dir.path(), &run_lock("20261130T010000Z-other1")));
        drop(held);
        assert!(!is_held(dir.path(), &me), "released");
        forget_run(dir.path(), "20261130T010000Z-abcdef");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
