//! Pinning: a pinned backup is kept by every retention policy and refused by
//! `backups delete` without `--force`. The flag lives in the manifest, which is
//! rewritten atomically (tmp + fsync + rename + directory fsync), as `verify` does.

use super::{LocalRepo, Manifest, RepoError};

impl LocalRepo {
    /// Sets `pinned` on backup `id`; returns its manifest and whether it changed.
    pub fn set_pinned(&self, id: &str, pinned: bool) -> Result<(Manifest, bool), RepoError> {
        let (mut m, path) = self.locate(id)?;
        if m.pinned == pinned {
            return Ok((m, false));
        }
        m.pinned = pinned;
        m.store(&path)?;
        Ok((m, true))
    }

    /// Pins backup `id` (a no-op when it already is).
    pub fn pin(&self, id: &str) -> Result<Manifest, RepoError> {
        self.set_pinned(id, true).map(|(m, _)| m)
    }

    /// Unpins backup `id` (a no-op when it is not pinned).
    pub fn unpin(&self, id: &str) -> Result<Manifest, RepoError> {
        self.set_pinned(id, false).map(|(m, _)| m)
    }
}
