//! The catalog `lifeboat backups` works on: the local repository and, when
//! one is configured (`--repo s3://…` or `--offsite`), the S3 repository, as
//! one list rebuilt from their manifests. A backup may be in either or both;
//! deleting, pinning and pruning act on every copy.

use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;

use crate::repo::retention::{self, Policy};
use crate::repo::{LocalRepo, Manifest, Pruned, RepoError, Verification};
use crate::s3::{S3Error, S3Store, list_manifests, manifest_key, object_key, pull_backup};

/// One backup and where its copies are.
#[derive(Debug, Clone)]
pub struct Held {
    pub manifest: Manifest,
    pub local: bool,
    pub remote: bool,
}

impl Held {
    pub fn locations(&self) -> Vec<&'static str> {
        let mut at = Vec::new();
        if self.local {
            at.push("local");
        }
        if self.remote {
            at.push("s3");
        }
        at
    }
}

pub struct Catalog {
    pub local: Arc<LocalRepo>,
    remote: Option<Remote>,
    rt: tokio::runtime::Runtime,
}

struct Remote {
    store: S3Store,
    manifests: Vec<Manifest>,
}

impl Catalog {
    /// Lists the remote manifests once, up front.
    pub fn open(
        local: Arc<LocalRepo>,
        store: Option<S3Store>,
        rt: tokio::runtime::Runtime,
    ) -> Result<Self, RepoError> {
        let remote = match store {
            None => None,
            Some(store) => {
                let manifests = rt
                    .block_on(list_manifests(&store))
                    .map_err(|e| s3_error(&store, e))?;
                Some(Remote { store, manifests })
            }
        };
        Ok(Self { local, remote, rt })
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn has_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// `s3://bucket/prefix` of the remote, if any.
    pub fn remote_url(&self) -> Option<String> {
        self.remote.as_ref().map(|r| r.store.url())
    }

    /// Where the repository is, for messages.
    pub fn describe(&self) -> String {
        match self.remote_url() {
            Some(url) => format!("{} and {url}", self.local.root().display()),
            None => self.local.root().display().to_string(),
        }
    }

    /// Every backup, newest first; the local manifest wins when both have one.
    pub fn list(&self) -> Result<Vec<Held>, RepoError> {
        let mut all: Vec<Held> = self
            .local
            .list()?
            .into_iter()
            .map(|manifest| Held {
                manifest,
                local: true,
                remote: false,
            })
            .collect();
        if let Some(r) = &self.remote {
            for m in &r.manifests {
                match all.iter_mut().find(|h| h.manifest.id == m.id) {
                    Some(h) => h.remote = true,
                    None => all.push(Held {
                        manifest: m.clone(),
                        local: false,
                        remote: true,
                    }),
                }
            }
        }
        all.sort_by(|a, b| {
            (b.manifest.created_at, &b.manifest.id).cmp(&(a.manifest.created_at, &a.manifest.id))
        });
        Ok(all)
    }

    pub fn get(&self, id: &str) -> Result<Held, RepoError> {
        let remote = self
            .remote
            .as_ref()
            .and_then(|r| r.manifests.iter().find(|m| m.id == id));
        match (self.local.get(id), remote) {
            (Ok(manifest), remote) => Ok(Held {
                manifest,
                local: true,
                remote: remote.is_some(),
            }),
            (Err(RepoError::NotFound { .. }), Some(m)) => Ok(Held {
                manifest: m.clone(),
                local: false,
                remote: true,
            }),
            (Err(e), _) => Err(e),
        }
    }

    pub fn backups_of(&self, source: &str) -> Result<Vec<Held>, RepoError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|h| h.manifest.source == source)
            .collect())
    }

    pub fn sources(&self) -> Result<Vec<String>, RepoError> {
        let mut s: Vec<String> = self
            .list()?
            .into_iter()
            .map(|h| h.manifest.source)
            .collect();
        s.sort();
        s.dedup();
        Ok(s)
    }

    /// Verifies a backup. One held only off-site is fetched into the local
    /// repository first (its sha256 is checked on the way); the result is
    /// recorded in the manifest, on S3 too.
    pub fn verify(&self, id: &str, deep: bool) -> Result<Verification, RepoError> {
        let held = self.get(id)?;
        if !held.local
            && let Some(r) = &self.remote
        {
            self.rt
                .block_on(pull_backup(&r.store, &self.local, &held.manifest))
                .map_err(|e| s3_error(&r.store, e))?;
        }
        let v = self.local.verify(id, deep)?;
        if held.remote {
            self.push_manifest(&self.local.get(id)?)?;
        }
        Ok(v)
    }

    /// Deletes every copy (S3: the manifest first, so a listing never shows
    /// a backup without its object). Returns the bytes freed.
    pub fn delete(&self, id: &str) -> Result<u64, RepoError> {
        let held = self.get(id)?;
        let mut freed = 0;
        if held.local {
            freed += self.local.delete(id)?;
        }
        if held.remote
            && let Some(r) = &self.remote
        {
            let m = &held.manifest;
            self.rt
                .block_on(async {
                    r.store.delete(&manifest_key(m)).await?;
                    r.store.delete(&object_key(m)).await
                })
                .map_err(|e| s3_error(&r.store, e))?;
            freed += m.stored_bytes;
        }
        Ok(freed)
    }

    /// Pins or unpins every copy; returns the manifest and whether it changed.
    pub fn set_pinned(&self, id: &str, pinned: bool) -> Result<(Manifest, bool), RepoError> {
        let held = self.get(id)?;
        let changed = held.manifest.pinned != pinned;
        let manifest = if held.local {
            self.local.set_pinned(id, pinned)?.0
        } else {
            let mut m = held.manifest.clone();
            m.pinned = pinned;
            m
        };
        // Always: the copy on S3 may say otherwise (another machine's pin).
        if held.remote {
            self.push_manifest(&manifest)?;
        }
        Ok((manifest, changed))
    }

    /// Applies `policy` to the backups of `source` wherever they are, and
    /// (unless `dry_run`) deletes the forgotten ones everywhere.
    pub fn prune(
        &self,
        source: &str,
        policy: &Policy,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Pruned, RepoError> {
        if !self.has_remote() {
            return self.local.prune(source, policy, now, None, dry_run);
        }
        let backups: Vec<Manifest> = self
            .backups_of(source)?
            .into_iter()
            .map(|h| h.manifest)
            .collect();
        let mut pruned = Pruned {
            source: source.to_string(),
            decisions: retention::apply(policy, backups, now, None),
            deleted: Vec::new(),
            failed: Vec::new(),
        };
        if dry_run {
            return Ok(pruned);
        }
        let doomed: Vec<String> = pruned.forgotten().map(|m| m.id.clone()).collect();
        for id in doomed {
            // Pinned since the listing (here or by another machine): kept.
            match self.pinned_now(&id).and_then(|pinned| {
                if pinned {
                    Ok(None)
                } else {
                    self.delete(&id).map(Some)
                }
            }) {
                Ok(Some(bytes)) => pruned.deleted.push((id, bytes)),
                Ok(None) => pruned.keep_pinned(&id),
                Err(e) => pruned.failed.push((id, e.to_string())),
            }
        }
        Ok(pruned)
    }

    /// Whether backup `id` is pinned now: its local manifest, and the one on
    /// S3 read again (not the listing's copy).
    fn pinned_now(&self, id: &str) -> Result<bool, RepoError> {
        let held = self.get(id)?;
        let mut pinned = held.local && self.local.get(id)?.pinned;
        if held.remote
            && let Some(r) = &self.remote
        {
            let key = manifest_key(&held.manifest);
            let bytes = self
                .rt
                .block_on(r.store.get_small(&key))
                .map_err(|e| s3_error(&r.store, e))?;
            let fresh: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                s3_error(
                    &r.store,
                    S3Error::BadManifest {
                        bucket: r.store.bucket().into(),
                        key: key.clone(),
                        message: e.to_string(),
                    },
                )
            })?;
            pinned |= fresh.pinned;
        }
        Ok(pinned)
    }

    fn push_manifest(&self, m: &Manifest) -> Result<(), RepoError> {
        let Some(r) = &self.remote else {
            return Ok(());
        };
        let mut json = serde_json::to_vec_pretty(m).expect("a manifest always serializes");
        json.push(b'\n');
        self.rt
            .block_on(r.store.put_small(&manifest_key(m), json))
            .map_err(|e| s3_error(&r.store, e))
    }
}

fn s3_error(store: &S3Store, e: S3Error) -> RepoError {
    RepoError::Io {
        path: PathBuf::from(store.url()),
        source: std::io::Error::other(e.to_string()),
    }
}
