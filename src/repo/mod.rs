//! The local backup repository: `<root>/backups/<source>/<id>.{tar,raw}.zst`
//! with a pretty JSON manifest `<id>.json` beside each object (docs/architecture.md §7).
//!
//! Everything here is synchronous `std::io`; async callers use `spawn_blocking`.

mod catalog;
mod delete;
mod error;
pub(crate) mod fsutil;
pub(crate) mod hashing;
pub(crate) mod id;
mod keys;
mod manifest;
mod pin;
mod prune;
mod reader;
pub mod retention;
mod retention_duration;
pub mod space;
mod store;
mod sweep;
mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use catalog::suggestions;
pub use error::RepoError;
pub use keys::{KeySettings, Keys};
pub use manifest::{BackupKind, Manifest, Origin, Verification, check_facts};
pub use prune::Pruned;
pub use reader::VerifiedBackup;
pub use retention::{Decision, Policy, Reason, RetentionDuration, TagList};
pub use store::Store;
pub use sweep::{Sweep, SweptPartial};
pub use verify::Checked;
pub use writer::{BackupWriter, NewBackup};

/// Size of the I/O buffers used for objects.
const BUF: usize = 1 << 20;

/// A repository in a local directory.
#[derive(Debug, Clone)]
pub struct LocalRepo {
    root: PathBuf,
    keys: Arc<Keys>,
    /// Most raw bytes per stored byte a backup may claim before it is
    /// restored or fetched (config `restore.max_expansion`); `None`: no limit.
    max_expansion: Option<f64>,
}

impl LocalRepo {
    /// The directory need not exist until the first backup is written.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, RepoError> {
        let root = root.into();
        if root.exists() && !root.is_dir() {
            return Err(RepoError::Io {
                path: root,
                source: std::io::Error::other("not a directory"),
            });
        }
        Ok(Self {
            root,
            keys: Arc::default(),
            max_expansion: None,
        })
    }

    /// Encrypts new backups and decrypts stored ones with `keys` (age).
    pub fn with_keys(mut self, keys: Keys) -> Self {
        self.keys = Arc::new(keys);
        self
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Refuses to restore or fetch a backup whose manifest says it unpacks
    /// to more than `ratio` times its stored size (see [`LocalRepo::check_expansion`]).
    pub fn with_max_expansion(mut self, ratio: Option<f64>) -> Self {
        self.max_expansion = ratio;
        self
    }

    /// The keys, to share with another store (`s3::S3Repo`).
    pub fn shared_keys(&self) -> Arc<Keys> {
        self.keys.clone()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the stored object of `m` lives.
    pub fn object_path(&self, m: &Manifest) -> PathBuf {
        self.source_dir(&m.source).join(&m.object)
    }

    fn backups_dir(&self) -> PathBuf {
        self.root.join("backups")
    }

    fn source_dir(&self, source: &str) -> PathBuf {
        self.backups_dir().join(source)
    }
}

/// The rules a volume archive must obey: everything under `data/`.
fn volume_rules() -> crate::archive::Rules {
    crate::archive::Rules {
        root: Some("data".into()),
    }
}
