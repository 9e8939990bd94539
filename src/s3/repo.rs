//! A backup repository on S3: the local layout under the store's prefix,
//! `backups/<source>/<id>.<ext>` with the manifest `<id>.json` beside it.
//! The manifest is written last: it is the commit point.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt, stream};

use super::download::Expect;
use super::{S3Error, S3Store};
use crate::repo::hashing::hash_file;
use crate::repo::id::{is_id, is_source};
use crate::repo::{LocalRepo, Manifest};

/// The manifest format this code understands (`repo::manifest::FORMAT`).
/// Manifests fetched at once by [`list_manifests`].
const FETCH_CONCURRENCY: usize = 8;

/// `backups/<source>/<object>`: where the object of `m` lives under the prefix.
pub fn object_key(m: &Manifest) -> String {
    format!("backups/{}/{}", m.source, m.object)
}

/// `backups/<source>/<id>.json`: where the manifest of `m` lives under the prefix.
pub fn manifest_key(m: &Manifest) -> String {
    format!("backups/{}/{}.json", m.source, m.id)
}

/// Copies local backup `id` to S3: the object first, the manifest last, so a
/// listing only ever shows complete backups. An object already there with the
/// right size is not sent again (the manifest is, carrying pins and verifications).
pub async fn push_backup(store: &S3Store, local: &LocalRepo, id: &str) -> Result<(), S3Error> {
    let m = local.get(id)?;
    let path = local.object_path(&m);
    let key = object_key(&m);
    if store.size(&key).await? == Some(m.stored_bytes) {
        tracing::info!(id, key, "object already on S3, sending the manifest only");
    } else {
        let sent = store.upload_file(&key, &path).await?;
        if sent != m.stored_bytes {
            let _ = store.delete(&key).await;
            return Err(S3Error::Io {
                path,
                source: io::Error::other(format!(
                    "the object has {sent} bytes, its manifest says {}",
                    m.stored_bytes
                )),
            });
        }
    }
    store.put_small(&manifest_key(&m), manifest_json(&m)).await
}

/// The catalog from S3 alone (a brand-new machine): every manifest under
/// `backups/`, newest first. Unparsable manifests, and manifests whose object
/// is missing or has the wrong size, are skipped with a warning.
pub async fn list_manifests(store: &S3Store) -> Result<Vec<Manifest>, S3Error> {
    let keys = store.list("backups/").await?;
    let sizes: HashMap<&str, u64> = keys.iter().map(|(k, s)| (k.as_str(), *s)).collect();
    // Owned strings: futures over borrowed ones are not `Send` for every
    // lifetime, and callers spawn this.
    let wanted: Vec<(String, String, String)> = keys
        .iter()
        .filter_map(|(key, _)| {
            let rest = key.strip_prefix("backups/")?;
            let (source, file) = rest.split_once('/')?;
            let id = file.strip_suffix(".json")?;
            (is_source(source) && is_id(id))
                .then(|| (key.clone(), source.to_string(), id.to_string()))
        })
        .collect();
    let fetched: Vec<(String, String, String, Vec<u8>)> = stream::iter(wanted)
        .map(|(key, source, id)| async move {
            match store.get_small(&key).await {
                Ok(bytes) => Ok(Some((key, source, id, bytes))),
                // Deleted between the listing and now.
                Err(S3Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(FETCH_CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await?;
    let mut out = Vec::new();
    for (key, source, id, bytes) in fetched {
        let m = match parse_manifest(&bytes, &source, &id) {
            Ok(m) => m,
            Err(message) => {
                tracing::warn!(key, "skipping manifest: {message}");
                continue;
            }
        };
        match sizes.get(object_key(&m).as_str()) {
            Some(&size) if size == m.stored_bytes => out.push(m),
            Some(&size) => tracing::warn!(
                key,
                "skipping manifest: its object has {size} bytes, the manifest says {}",
                m.stored_bytes
            ),
            None => tracing::warn!(key, "skipping manifest: its object {} is missing", m.object),
        }
    }
    out.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Ok(out)
}

/// Fetches one backup into the local repository's layout (object through
/// `.partial`, size and sha256 checked, renamed; then the manifest, atomically),
/// so `LocalRepo::open_verified` can verify and restore it. A local object with
/// the right size and sha256 is not downloaded again.
pub async fn pull_backup(
    store: &S3Store,
    local: &LocalRepo,
    manifest: &Manifest,
) -> Result<(), S3Error> {
    let m = manifest;
    let key = manifest_key(m);
    m.check(&m.source, &m.id)
        .map_err(|message| S3Error::BadManifest {
            bucket: store.bucket().into(),
            key: store.full_key(&key),
            message,
        })?;
    let object = local.object_path(m);
    let dir = object
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    fs::create_dir_all(&dir).map_err(S3Error::io(&dir))?;
    if same_object(&object, m).await? {
        tracing::info!(id = m.id, "object already in the local repository");
    } else {
        store
            .download(
                &object_key(m),
                &object,
                Some(Expect {
                    size: m.stored_bytes,
                    sha256: &m.sha256,
                }),
            )
            .await?;
    }
    let manifest_path = dir.join(format!("{}.json", m.id));
    // A local manifest of the same object may hold a newer verification: keep it.
    let keep = manifest_path.exists() && local.get(&m.id).is_ok_and(|l| l.sha256 == m.sha256);
    if !keep {
        crate::repo::fsutil::write_atomic(&manifest_path, &manifest_json(m))?;
    }
    // The local repository must accept what was written.
    local.get(&m.id)?;
    Ok(())
}

/// Makes sure backup `id` is whole in the local repository (the cache of
/// an S3 repository, or the repository an off-site copy backs up) before a
/// restore reads it: a local copy whose object is missing or fails its size
/// and sha256 check is fetched again from S3 (checked, then put in place of
/// the bad one); a backup only on S3 is fetched. A good local copy costs no
/// request. Returns the local manifest; `None` when neither has the backup.
/// A damaged local copy that S3 does not hold is returned as it is: the
/// restore's own verification refuses it.
pub async fn fetch_backup(
    store: &S3Store,
    local: &LocalRepo,
    id: &str,
) -> Result<Option<Manifest>, S3Error> {
    let remote = match local.get(id) {
        Ok(m) => {
            if same_object(&local.object_path(&m), &m).await? {
                return Ok(Some(m));
            }
            let key = manifest_key(&m);
            match store.get_small(&key).await {
                Ok(bytes) => {
                    let fresh = parse_manifest(&bytes, &m.source, &m.id).map_err(|message| {
                        S3Error::BadManifest {
                            bucket: store.bucket().into(),
                            key: store.full_key(&key),
                            message,
                        }
                    })?;
                    tracing::warn!(
                        id,
                        "the local copy of the backup is damaged or incomplete: \
                         fetching it again from {}",
                        store.url()
                    );
                    fresh
                }
                Err(S3Error::NotFound { .. }) => return Ok(Some(m)),
                Err(e) => return Err(e),
            }
        }
        // No local copy, or an unreadable manifest: S3's.
        Err(_) => {
            let Some(m) = list_manifests(store)
                .await?
                .into_iter()
                .find(|m| m.id == id)
            else {
                return Ok(None);
            };
            m
        }
    };
    local.ensure_room_for(&remote)?;
    pull_backup(store, local, &remote).await?;
    Ok(Some(local.get(id)?))
}

/// Whether `path` holds the object of `m` (size, then sha256).
async fn same_object(path: &Path, m: &Manifest) -> Result<bool, S3Error> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == m.stored_bytes => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(S3Error::io(path)(e)),
    }
    let owned = path.to_path_buf();
    let sha = tokio::task::spawn_blocking(move || File::open(&owned).and_then(|f| hash_file(&f)))
        .await
        .map_err(|e| S3Error::io(path)(io::Error::other(e.to_string())))?
        .map_err(S3Error::io(path))?;
    Ok(sha.0 == m.sha256)
}

/// Pretty JSON and a newline, as the local repository writes it.
pub(super) fn manifest_json(m: &Manifest) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(m).expect("a manifest always serializes");
    json.push(b'\n');
    json
}

pub(super) fn parse_manifest(bytes: &[u8], source: &str, id: &str) -> Result<Manifest, String> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    m.check(source, id)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_sources() {
        assert!(is_id("20261121T020000Z-a1b2c3"));
        assert!(!is_id("../20261121T020000Z-a1"));
        assert!(is_source("pg_data-1.x"));
        for bad in ["", "..", ".x", "a/b", "a b"] {
            assert!(!is_source(bad), "{bad}");
        }
    }
}
