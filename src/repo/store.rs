//! [`Store`]: a place that keeps backups — manifests and objects — as the
//! catalog (`lifeboat backups`) sees it. Two implement it: [`LocalRepo`] (a
//! directory) and `s3::S3Repo` (a bucket and prefix). Both keep the same
//! layout, `backups/<source>/<id>.<ext>` with `<id>.json` beside it, so a
//! backup can be copied between them as it is.
//!
//! Writing new backups and restoring stay with [`LocalRepo`]: a restore reads
//! its object twice (verify, then extract) and needs a local file for that; a
//! run fetches from S3 into the local repository first (`s3::pull_backup`).

use std::io::Read;
use std::path::Path;

use super::verify::{Checked, check_stream};
use super::{Keys, LocalRepo, Manifest, RepoError};

pub trait Store: Send + Sync {
    /// `local` or `s3`: how listings name a copy in this store.
    fn kind(&self) -> &'static str;

    /// Where the store is: a directory, or `s3://bucket/prefix`.
    fn describe(&self) -> String;

    /// Where the object of `m` is: a path, or an `s3://` URL.
    fn object_location(&self, m: &Manifest) -> String;

    /// Every backup with a valid manifest and its object present, newest first.
    fn manifests(&self) -> Result<Vec<Manifest>, RepoError>;

    /// The manifest of `m`'s backup as stored now (not as listed); `None`
    /// when it is gone.
    fn reload(&self, m: &Manifest) -> Result<Option<Manifest>, RepoError>;

    /// Replaces the manifest of `m`'s backup (a pin, a verification).
    fn save_manifest(&self, m: &Manifest) -> Result<(), RepoError>;

    /// Applies `change` to the manifest of `m`'s backup as stored now, and
    /// saves it when `change` says it changed something. Whether it did;
    /// [`RepoError::Gone`] when the backup is gone (a pin must not report
    /// success on a deleted backup). A store shared between machines makes
    /// this atomic: S3 saves with a conditional PUT and starts again when
    /// another writer got there first, so a pin made elsewhere is not lost.
    fn update_manifest(
        &self,
        m: &Manifest,
        change: &dyn Fn(&mut Manifest) -> bool,
    ) -> Result<bool, RepoError> {
        let Some(mut fresh) = self.reload(m)? else {
            return Err(self.gone(m));
        };
        if !change(&mut fresh) {
            return Ok(false);
        }
        self.save_manifest(&fresh)?;
        Ok(true)
    }

    /// The stored bytes of `m`'s object, streamed.
    fn open_object(&self, m: &Manifest) -> Result<Box<dyn Read + Send>, RepoError>;

    /// Removes `m`'s backup, the manifest first so that no listing shows a
    /// backup without its object. Returns the bytes freed.
    fn remove(&self, m: &Manifest) -> Result<u64, RepoError>;

    /// [`remove`](Self::remove), unless the backup is pinned as stored now:
    /// then it is kept (`None`). A store shared between machines makes the
    /// check and the removal atomic, so a pin made elsewhere in between is
    /// never deleted (S3: the manifest is first marked as being deleted with
    /// a conditional PUT, which a pin then refuses). A backup already gone
    /// frees nothing.
    fn remove_unpinned(&self, m: &Manifest) -> Result<Option<u64>, RepoError> {
        match self.reload(m)? {
            Some(fresh) if fresh.pinned => Ok(None),
            Some(_) => self.remove(m).map(Some),
            None => Ok(Some(0)),
        }
    }

    /// The error for `m`'s backup having been deleted since it was listed.
    fn gone(&self, m: &Manifest) -> RepoError {
        RepoError::Gone {
            id: m.id.clone(),
            place: self.describe(),
            why: "it was deleted after it was listed (by a prune or delete, maybe on another machine)"
                .into(),
        }
    }

    /// Checks the stored object against `m`: the sha256 of every stored byte
    /// and the size; `deep` also decrypts, decompresses and, for volumes,
    /// scans the tar. Records nothing.
    fn check(&self, m: &Manifest, deep: bool) -> Result<Checked, RepoError> {
        let stored = self.open_object(m)?;
        let place = self.object_location(m);
        check_stream(self.keys(), m, Path::new(&place), stored, deep)
    }

    /// The age keys that decrypt this store's objects.
    fn keys(&self) -> &Keys;
}

impl Store for LocalRepo {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn describe(&self) -> String {
        self.root().display().to_string()
    }

    fn object_location(&self, m: &Manifest) -> String {
        self.object_path(m).display().to_string()
    }

    fn manifests(&self) -> Result<Vec<Manifest>, RepoError> {
        self.list()
    }

    fn reload(&self, m: &Manifest) -> Result<Option<Manifest>, RepoError> {
        match self.get(&m.id) {
            Ok(m) => Ok(Some(m)),
            Err(RepoError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn save_manifest(&self, m: &Manifest) -> Result<(), RepoError> {
        let (_, path) = self.locate(&m.id)?;
        m.store(&path)
    }

    fn open_object(&self, m: &Manifest) -> Result<Box<dyn Read + Send>, RepoError> {
        let path = self.object_path(m);
        let file = super::fsutil::open_object(&path, m)?;
        Ok(Box::new(file.take(m.stored_bytes)))
    }

    fn remove(&self, m: &Manifest) -> Result<u64, RepoError> {
        self.delete(&m.id)
    }

    /// Hashes and decodes on two threads at once (`pread`), not one stream.
    fn check(&self, m: &Manifest, deep: bool) -> Result<Checked, RepoError> {
        self.check_file(m, deep)
    }

    fn keys(&self) -> &Keys {
        LocalRepo::keys(self)
    }
}
