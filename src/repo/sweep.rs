//! Partial objects left behind: a backup killed while it was written (kill -9,
//! a lost machine, an OOM kill) leaves `<id>.<ext>.run-<run id>.partial` in
//! its source directory, up to the size of the whole object, forever. They are
//! swept when a repository is opened, except those still being written: a
//! writer holds a `flock` on its partial file, and the run that writes it
//! holds its run lock (`engine::lock`), which the caller checks.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{LocalRepo, RepoError};

const SUFFIX: &str = ".partial";
const RUN: &str = ".run-";

/// A partial file that names no run (written by an older lifeboat, or a
/// manifest being replaced) is only swept once nothing wrote to it for this
/// long: nothing else tells whether its writer is alive.
pub const UNOWNED_AFTER: Duration = Duration::from_secs(3600);

/// The name of the partial file of `object` written by run `run_id`.
pub(crate) fn partial_name(object: &str, run_id: Option<&str>) -> String {
    match run_id.filter(|r| is_run_id(r)) {
        Some(run) => format!("{object}{RUN}{run}{SUFFIX}"),
        None => format!("{object}{SUFFIX}"),
    }
}

/// The run a partial file name carries, if any.
fn run_of(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (_, run) = stem.rsplit_once(RUN)?;
    is_run_id(run).then_some(run)
}

/// Run ids are short and plain (`20261121T020000Z-a1b2c3`); anything else is
/// left out of file names.
fn is_run_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// One partial object removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptPartial {
    pub path: PathBuf,
    /// The run that left it, when its name says.
    pub run_id: Option<String>,
    pub bytes: u64,
}

/// What a sweep did.
#[derive(Debug, Default)]
pub struct Sweep {
    pub removed: Vec<SweptPartial>,
    /// Partial files of runs that are still running (or written right now).
    pub kept: Vec<PathBuf>,
    /// Partial files that could not be removed, and why.
    pub failed: Vec<(PathBuf, io::Error)>,
}

impl Sweep {
    pub fn bytes(&self) -> u64 {
        self.removed.iter().map(|p| p.bytes).sum()
    }

    /// The runs that left what was removed, sorted, without repeats.
    pub fn runs(&self) -> Vec<&str> {
        let mut runs: Vec<&str> = self
            .removed
            .iter()
            .filter_map(|p| p.run_id.as_deref())
            .collect();
        runs.sort_unstable();
        runs.dedup();
        runs
    }
}

impl LocalRepo {
    /// Removes the partial objects no live writer owns: their file lock is
    /// free, and `run_is_live(run id)` is false for the run their name
    /// carries (unnamed ones: untouched for [`UNOWNED_AFTER`]). A repository
    /// that does not exist yet has nothing to sweep.
    pub fn sweep_partials(&self, run_is_live: &dyn Fn(&str) -> bool) -> Result<Sweep, RepoError> {
        let mut sweep = Sweep::default();
        let backups = self.backups_dir();
        for dir in subdirectories(&backups)? {
            let entries = match fs::read_dir(&dir) {
                Ok(it) => it,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(RepoError::io(&dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(RepoError::io(&dir))?;
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if !name.ends_with(SUFFIX) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                sweep_one(&entry.path(), &name, run_is_live, &mut sweep);
            }
        }
        Ok(sweep)
    }
}

fn sweep_one(path: &Path, name: &str, run_is_live: &dyn Fn(&str) -> bool, sweep: &mut Sweep) {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            sweep.failed.push((path.to_path_buf(), e));
            return;
        }
    };
    // Held while deciding and removing, so a writer cannot be mid-way.
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            sweep.kept.push(path.to_path_buf());
            return;
        }
        // No flock here (some network file systems): the run id decides.
        Err(TryLockError::Error(_)) => {}
    }
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            sweep.failed.push((path.to_path_buf(), e));
            return;
        }
    };
    let run_id = run_of(name);
    let live = match run_id {
        Some(run) => run_is_live(run),
        None => meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_none_or(|age| age < UNOWNED_AFTER),
    };
    if live {
        sweep.kept.push(path.to_path_buf());
        return;
    }
    match fs::remove_file(path) {
        Ok(()) => sweep.removed.push(SweptPartial {
            path: path.to_path_buf(),
            run_id: run_id.map(String::from),
            bytes: meta.len(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => sweep.failed.push((path.to_path_buf(), e)),
    }
}

/// The directories in `dir`; none if it does not exist.
fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>, RepoError> {
    let entries = match fs::read_dir(dir) {
        Ok(it) => it,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RepoError::io(dir)(e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(RepoError::io(dir))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_carry_plain_run_ids_only() {
        let name = partial_name(
            "20261121T020000Z-a1b2c3.tar.zst",
            Some("20261130T060000Z-0a1b2c"),
        );
        assert_eq!(
            name,
            "20261121T020000Z-a1b2c3.tar.zst.run-20261130T060000Z-0a1b2c.partial"
        );
        assert_eq!(run_of(&name), Some("20261130T060000Z-0a1b2c"));
        assert_eq!(
            partial_name("x.tar.zst", Some("../etc")),
            "x.tar.zst.partial"
        );
        assert_eq!(run_of("x.tar.zst.partial"), None);
        assert_eq!(run_of("x.json.partial"), None);
    }
}
