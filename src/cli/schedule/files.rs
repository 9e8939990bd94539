//! The scheduler's files: its state (`<state_dir>/schedule/state.json`), the
//! metrics textfile, both replaced atomically; and the lock that keeps a
//! second scheduler off the same state directory.

use std::path::{Path, PathBuf};

use crate::engine::lock::{self, Locks};
use crate::repo::fsutil::write_atomic;
use crate::schedule::State;

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("schedule")
}

pub fn state_path(state_dir: &Path) -> PathBuf {
    dir(state_dir).join("state.json")
}

/// Holds `<state_dir>/schedule/scheduler.lock` while this process lives: a
/// second scheduler (or `--once`) on the same state would run jobs twice.
pub fn lock(state_dir: &Path) -> Result<Locks, String> {
    let holder = format!("lifeboat schedule (pid {})", std::process::id());
    lock::acquire(&dir(state_dir), &["scheduler".to_string()], &holder)
        .map_err(|e| format!("the scheduler of {}: {e}", state_dir.display()))
}

/// The saved state; none yet is an empty one. A file that does not parse is
/// moved aside (said on stderr) and the scheduler starts afresh: a broken
/// counter file must not stop the backups.
pub fn load_state(path: &Path) -> Result<State, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    match serde_json::from_str(&text) {
        Ok(state) => Ok(state),
        Err(e) => {
            let aside = path.with_extension("json.unreadable");
            std::fs::rename(path, &aside).map_err(|r| {
                format!(
                    "{} is unreadable ({e}) and cannot be moved aside: {r}",
                    path.display()
                )
            })?;
            errln!(
                "warning: {} is unreadable ({e}); moved to {} and starting with no state \
                 (counters from zero, no missed runs known)",
                path.display(),
                aside.display()
            );
            Ok(State::default())
        }
    }
}

/// Writes `state` unless the file already holds it (`saved`: what was
/// written last); returns what the file holds now.
pub fn save_state(path: &Path, state: &State, saved: &[u8]) -> Result<Vec<u8>, String> {
    let text = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
    if text != saved {
        write(path, &text)?;
    }
    Ok(text)
}

/// Replaces `path` with `bytes`: written to `<path>.partial`, synced,
/// renamed (a textfile collector never reads half a file).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    write_atomic(path, bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_saved_and_loaded_and_a_broken_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path());
        assert_eq!(load_state(&path).unwrap(), State::default());
        let mut s = State::default();
        s.job("nightly").failed = 2;
        let saved = save_state(&path, &s, &[]).unwrap();
        assert_eq!(load_state(&path).unwrap(), s);
        std::fs::remove_file(&path).unwrap();
        save_state(&path, &s, &saved).unwrap();
        assert!(!path.exists(), "unchanged: not written again");
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load_state(&path).unwrap(), State::default());
        assert!(path.with_extension("json.unreadable").exists());
    }

    #[test]
    fn a_second_scheduler_on_the_same_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock(dir.path()).unwrap();
        let e = lock(dir.path()).unwrap_err();
        assert!(e.contains("is held by lifeboat schedule (pid"), "{e}");
    }
}
