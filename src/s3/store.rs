//! [`S3Repo`]: the S3 repository as a [`Store`] (for the catalog), with the
//! same layout as a local repository under the bucket's prefix.

use std::io::Read;
use std::sync::Arc;

use tokio::runtime::Handle;

use super::repo::{list_manifests, manifest_json, parse_manifest};
use super::{S3Error, S3Store, manifest_key, object_key};
use crate::repo::{Keys, Manifest, RepoError, Store};

/// Conditional manifest updates tried before giving up on a busy manifest.
const UPDATE_ATTEMPTS: usize = 5;

/// An S3 repository driven from synchronous code: each call blocks on the
/// runtime `rt`, so none may be made from inside it.
pub struct S3Repo {
    store: S3Store,
    rt: Handle,
    keys: Arc<Keys>,
}

impl S3Repo {
    /// `keys` decrypt objects for deep checks.
    pub fn new(store: S3Store, rt: Handle, keys: Arc<Keys>) -> Self {
        Self { store, rt, keys }
    }

    /// An S3 error as a repository error naming the store.
    fn error(&self, e: S3Error) -> RepoError {
        e.in_repo(&self.store.url())
    }

    /// The manifest of `m`'s backup as stored now; `None` when it is gone.
    fn read_manifest(&self, m: &Manifest) -> Result<Option<Stored>, RepoError> {
        let key = manifest_key(m);
        let (bytes, etag) = match self.rt.block_on(self.store.get_small_tagged(&key)) {
            Ok(read) => read,
            Err(S3Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error(e)),
        };
        let manifest = parse_manifest(&bytes, &m.source, &m.id).map_err(|message| {
            self.error(S3Error::BadManifest {
                bucket: self.store.bucket().into(),
                key,
                message,
            })
        })?;
        let deleting = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| Some(v.get(DELETING)?.as_str()?.to_string()));
        Ok(Some(Stored {
            manifest,
            etag,
            deleting,
        }))
    }
}

/// The field a prune adds to a manifest (the time, as text) before it
/// deletes the backup: from then on a pin refuses it. Older versions of
/// lifeboat ignore it.
const DELETING: &str = "deleting";

/// A manifest as stored on S3.
struct Stored {
    manifest: Manifest,
    /// For a conditional PUT (`If-Match`).
    etag: Option<String>,
    /// When a prune marked it for deletion.
    deleting: Option<String>,
}

/// `m` as JSON, marked as being deleted since now.
fn marked_json(m: &Manifest) -> Vec<u8> {
    let mut value = serde_json::to_value(m).expect("a manifest always serializes");
    if let Some(fields) = value.as_object_mut() {
        fields.insert(
            DELETING.into(),
            serde_json::Value::String(jiff::Timestamp::now().to_string()),
        );
    }
    let mut json = serde_json::to_vec_pretty(&value).expect("JSON always serializes");
    json.push(b'\n');
    json
}

impl Store for S3Repo {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn describe(&self) -> String {
        self.store.url()
    }

    fn object_location(&self, m: &Manifest) -> String {
        format!("{}/{}", self.store.url(), object_key(m))
    }

    fn manifests(&self) -> Result<Vec<Manifest>, RepoError> {
        self.rt
            .block_on(list_manifests(&self.store))
            .map_err(|e| self.error(e))
    }

    /// A backup a prune is deleting counts as gone.
    fn reload(&self, m: &Manifest) -> Result<Option<Manifest>, RepoError> {
        Ok(self
            .read_manifest(m)?
            .filter(|s| s.deleting.is_none())
            .map(|s| s.manifest))
    }

    fn save_manifest(&self, m: &Manifest) -> Result<(), RepoError> {
        self.rt
            .block_on(self.store.put_small(&manifest_key(m), manifest_json(m)))
            .map_err(|e| self.error(e))
    }

    /// Read, change, then PUT only if the manifest's ETag is still the one
    /// read (`If-Match`); when another writer changed it in between, read
    /// its version and apply `change` again, up to [`UPDATE_ATTEMPTS`] times.
    fn update_manifest(
        &self,
        m: &Manifest,
        change: &dyn Fn(&mut Manifest) -> bool,
    ) -> Result<bool, RepoError> {
        let key = manifest_key(m);
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(stored) = self.read_manifest(m)? else {
                return Err(self.gone(m));
            };
            if let Some(since) = stored.deleting {
                return Err(RepoError::Gone {
                    id: m.id.clone(),
                    place: self.describe(),
                    why: format!("a prune has been deleting it since {since}"),
                });
            }
            let mut fresh = stored.manifest;
            if !change(&mut fresh) {
                return Ok(false);
            }
            let put = self
                .store
                .put_small_if(&key, manifest_json(&fresh), stored.etag.as_deref());
            match self.rt.block_on(put) {
                Ok(_) => return Ok(true),
                Err(S3Error::Changed { .. }) => {
                    tracing::info!(key, "manifest changed by another writer, applying again");
                }
                Err(e) => return Err(self.error(e)),
            }
        }
        Err(self.error(S3Error::Changed {
            bucket: self.store.bucket().into(),
            key,
        }))
    }

    fn open_object(&self, m: &Manifest) -> Result<Box<dyn Read + Send>, RepoError> {
        Ok(Box::new(self.store.reader(
            &self.rt,
            &object_key(m),
            m.stored_bytes,
        )))
    }

    /// The manifest first, then the object; the object's size is what is freed.
    fn remove(&self, m: &Manifest) -> Result<u64, RepoError> {
        self.rt
            .block_on(async {
                self.store.delete(&manifest_key(m)).await?;
                self.store.delete(&object_key(m)).await
            })
            .map_err(|e| self.error(e))?;
        Ok(m.stored_bytes)
    }

    /// Marks the manifest as being deleted with a PUT conditional on the
    /// ETag of the unpinned manifest just read (a pin since then makes it
    /// fail, and the manifest is read again); a pin after the mark is
    /// refused. Then deletes the manifest if it is still the marked one
    /// (`If-Match`, on servers that honour it), checks that no one wrote it
    /// again, and only then deletes the object.
    fn remove_unpinned(&self, m: &Manifest) -> Result<Option<u64>, RepoError> {
        let key = manifest_key(m);
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(stored) = self.read_manifest(m)? else {
                return Ok(Some(0));
            };
            if stored.manifest.pinned {
                return Ok(None);
            }
            let marked = match stored.deleting {
                Some(_) => stored.etag,
                None => {
                    let mark = self.store.put_small_if(
                        &key,
                        marked_json(&stored.manifest),
                        stored.etag.as_deref(),
                    );
                    match self.rt.block_on(mark) {
                        Ok(etag) => etag,
                        Err(S3Error::Changed { .. } | S3Error::NotFound { .. }) => {
                            tracing::info!(
                                key,
                                "manifest changed by another writer, checking again"
                            );
                            continue;
                        }
                        Err(e) => return Err(self.error(e)),
                    }
                }
            };
            let delete = async {
                match &marked {
                    Some(etag) => self.store.delete_if(&key, etag).await,
                    None => self.store.delete(&key).await,
                }
            };
            match self.rt.block_on(delete) {
                Ok(()) => {}
                Err(S3Error::Changed { .. }) => {
                    tracing::info!(key, "manifest changed by another writer, checking again");
                    continue;
                }
                Err(e) => return Err(self.error(e)),
            }
            // Written again since (by a writer that ignores the mark): it
            // stays, with its object.
            if self.read_manifest(m)?.is_some() {
                tracing::warn!(
                    key,
                    "manifest written again while it was being deleted: kept"
                );
                return Ok(None);
            }
            self.rt
                .block_on(self.store.delete(&object_key(m)))
                .map_err(|e| self.error(e))?;
            return Ok(Some(m.stored_bytes));
        }
        Err(self.error(S3Error::Changed {
            bucket: self.store.bucket().into(),
            key,
        }))
    }

    fn keys(&self) -> &Keys {
        &self.keys
    }
}
