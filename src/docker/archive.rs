//! Volume ↔ tar streams through a never-started helper container and the
//! engine's archive API (`GET/PUT /containers/{id}/archive`). Nothing is
//! collected in memory: chunks flow as the engine sends / takes them.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

use super::Docker;
use super::client::LONG_TIMEOUT;
use super::error::{DockerError, message_of};
use super::helper::{HelperGuard, MOUNT_POINT};

type BollardStream = Pin<Box<dyn Stream<Item = Result<Bytes, bollard::errors::Error>> + Send>>;

/// A volume's contents as a tar stream (entries `data/...`). The helper
/// container behind it is removed when the stream ends, fails or is dropped.
pub struct VolumeStream {
    docker: Docker,
    volume: String,
    first: Option<Bytes>,
    inner: BollardStream,
    helper: Option<HelperGuard>,
}

impl std::fmt::Debug for VolumeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeStream")
            .field("volume", &self.volume)
            .finish_non_exhaustive()
    }
}

impl VolumeStream {
    fn release(&mut self) {
        // Dropping the guard removes the helper in the background.
        self.helper.take();
    }
}

impl Stream for VolumeStream {
    type Item = Result<Bytes, DockerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(b))),
            Poll::Ready(Some(Err(e))) => {
                self.release();
                let err = self
                    .docker
                    .err(format!("reading volume `{}`", self.volume), None, e);
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                self.release();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Free space for a restore into a volume ([`Docker::volume_room`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRoom {
    /// Free bytes on the volume's filesystem.
    pub free: u64,
    /// Bytes the volume's contents take now (0 when they cannot be read);
    /// only counted when `free` alone is short of what was asked.
    pub used: u64,
    /// The path whose filesystem was measured.
    pub measured: std::path::PathBuf,
}

/// What a restore that failed while extracting left behind, and what repairs it.
const PARTLY_WRITTEN: &str = "the volume was emptied and is now partly written; the run's \
     rollback puts back its safety backup, or `lifeboat resume <run-id>` restores it again";

/// What a partial restore that failed while extracting left behind.
const PARTLY_REPLACED: &str = "the paths restored were removed from the volume and are now \
     partly written (the rest of the volume is as it was); the run's rollback puts back its \
     safety backup, or `lifeboat resume <run-id>` restores them again";

/// For each path `p`: an empty file `data/p`, then a directory `data/p/`.
/// The engine removes whatever is at `p` for the file, then the file for
/// the directory: `p` is left an empty directory (parents made as needed),
/// which the backup's entries under `p` then fill (or replace, for a file).
/// No end-of-archive marker: the backup's entries follow.
fn clearing_tar(paths: &[String]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for p in paths {
        for (ty, mode, name) in [
            (tar::EntryType::Regular, 0o600, format!("data/{p}")),
            (tar::EntryType::Directory, 0o700, format!("data/{p}/")),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(ty);
            h.set_size(0);
            h.set_mode(mode);
            h.set_mtime(0);
            b.append_data(&mut h, name, std::io::empty())
                .expect("writing to a Vec cannot fail");
        }
    }
    let mut tar = b.into_inner().expect("writing to a Vec cannot fail");
    // into_inner() ends the archive with two zero blocks: not yet.
    tar.truncate(tar.len() - 1024);
    tar
}

/// A tar holding one empty regular file `data`: extracted at `/` over the
/// mount point, the engine empties the directory, then fails on the mount itself.
fn emptying_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o600);
    h.set_mtime(0);
    b.append_data(&mut h, "data", std::io::empty())
        .expect("writing to a Vec cannot fail");
    b.into_inner().expect("writing to a Vec cannot fail")
}

impl Docker {
    /// The volume as a tar stream whose entries are `data/...` (owners, modes,
    /// symlinks, hard links, as the engine archives them). `NotFound` if the
    /// volume does not exist. The first chunk is awaited before returning, so
    /// engine refusals surface here rather than in the stream.
    pub async fn read_volume(&self, volume: &str) -> Result<VolumeStream, DockerError> {
        let helper = self.create_helper(volume).await?;
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(MOUNT_POINT)
            .build();
        let mut inner: BollardStream = Box::pin(
            self.api
                .download_from_container(&helper.name, Some(options)),
        );
        let first = match inner.next().await {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => {
                helper.remove().await;
                return Err(self.err(format!("reading volume `{volume}`"), None, e));
            }
            None => None,
        };
        Ok(VolumeStream {
            docker: self.clone(),
            volume: volume.to_string(),
            first,
            inner,
            helper: Some(helper),
        })
    }

    /// Empties the volume, checks it is empty, then extracts `tar` (entries
    /// `data/...`, as [`Docker::read_volume`] produces) into it; the root
    /// directory's mode and owner come from the `data/` entry. The helper is
    /// removed afterwards, on error too. An error from `tar` or from the
    /// engine while extracting fails the call, saying that the volume is
    /// partly written. `tar` must have been checked to extract (a backup's
    /// tar scan): the engine stops at the first entry it cannot write.
    pub async fn write_volume(
        &self,
        volume: &str,
        tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(), DockerError> {
        let helper = self.create_helper(volume).await?;
        let result = self.write_with_helper(volume, &helper.name, tar).await;
        helper.remove().await;
        result
    }

    async fn write_with_helper(
        &self,
        volume: &str,
        helper: &str,
        tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(), DockerError> {
        // 1. Empty it.
        let options = UploadToContainerOptionsBuilder::default()
            .path("/")
            .no_overwrite_dir_non_dir("false")
            .build();
        match self
            .api
            .upload_to_container(
                helper,
                Some(options),
                bollard::body_full(emptying_tar().into()),
            )
            .await
        {
            Err(e) if message_of(&e).contains("device or resource busy") => {}
            Ok(()) => {}
            Err(e) => return Err(self.err(format!("emptying volume `{volume}`"), None, e)),
        }
        // 2. Check.
        let left = self.list_entries(helper, MOUNT_POINT, 3).await?;
        let left: Vec<&String> = left.iter().filter(|p| !is_root(p)).collect();
        if !left.is_empty() {
            return Err(DockerError::failed(
                format!("emptying volume `{volume}`"),
                format!(
                    "files are left after emptying it (e.g. {}); nothing was restored",
                    left.iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        // 3. Extract.
        self.extract(volume, helper, tar, PARTLY_WRITTEN).await
    }

    /// Replaces the named paths of the volume (relative to its root, checked,
    /// not inside one another) with what `tar` holds under them (entries
    /// `data/<path>...`, an archive a backup's tar scan accepted, filtered
    /// by [`crate::archive::Select`]); nothing else in the volume is
    /// touched. Each path is first replaced by an empty directory, in the
    /// same extraction: an entry over a directory removes it, a directory
    /// over a file removes the file. The helper is removed afterwards.
    pub async fn write_volume_paths(
        &self,
        volume: &str,
        paths: &[String],
        tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(), DockerError> {
        let helper = self.create_helper(volume).await?;
        if let Err(e) = self
            .refuse_symlinked_parents(volume, &helper.name, paths)
            .await
        {
            helper.remove().await;
            return Err(e);
        }
        let clearing = futures_util::stream::iter([Ok(Bytes::from(clearing_tar(paths)))]);
        let result = self
            .extract(volume, &helper.name, clearing.chain(tar), PARTLY_REPLACED)
            .await;
        helper.remove().await;
        result
    }

    /// Refuses when a directory above a named path is a symbolic link in the
    /// volume as it is now (`a -> b` for path `a/x`): the engine would follow
    /// it, and write (and first clear) `b/x`, outside the named paths. The
    /// archive API's stat does not follow the last component of its path,
    /// so each ancestor is asked about, top down; one that does not exist
    /// ends the walk (the extraction creates it). The path itself may be a
    /// link: the extraction replaces it and does not follow it.
    async fn refuse_symlinked_parents(
        &self,
        volume: &str,
        helper: &str,
        paths: &[String],
    ) -> Result<(), DockerError> {
        /// Go's `os.ModeSymlink`.
        const MODE_SYMLINK: u32 = 1 << 27;
        for path in paths {
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            for depth in 1..parts.len() {
                let above = parts[..depth].join("/");
                let options =
                    bollard::query_parameters::ContainerArchiveInfoOptionsBuilder::default()
                        .path(&format!("{MOUNT_POINT}/{above}"))
                        .build();
                let stat = match self
                    .api
                    .get_container_archive_info(helper, Some(options))
                    .await
                {
                    Ok(stat) => stat,
                    Err(e) if super::error::status_of(&e) == Some(404) => break,
                    Err(e) => {
                        return Err(self.err(
                            format!("inspecting `{above}` in volume `{volume}`"),
                            None,
                            e,
                        ));
                    }
                };
                if stat.file_mode & MODE_SYMLINK != 0 || !stat.link_target.is_empty() {
                    return Err(DockerError::Refused {
                        what: format!("restoring `{path}` into volume `{volume}`"),
                        message: format!(
                            "`{above}` is a symbolic link in volume `{volume}` (to `{}`): \
                             restoring through it would write outside the named paths; \
                             nothing was changed (restore `{above}` itself, or the whole volume)",
                            stat.link_target
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Extracts `tar` at `/` of the helper, remembering why the source
    /// stream failed, if it does; `partly`: what a failure left behind.
    async fn extract(
        &self,
        volume: &str,
        helper: &str,
        tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        partly: &str,
    ) -> Result<(), DockerError> {
        let what = format!("restoring volume `{volume}`");
        let source_error: Arc<Mutex<Option<String>>> = Arc::default();
        let seen = source_error.clone();
        let body = tar.inspect_err(move |e| {
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| e.to_string());
        });
        let options = UploadToContainerOptionsBuilder::default()
            .path("/")
            .no_overwrite_dir_non_dir("false")
            .build();
        let uploaded = self
            .api_with_timeout(LONG_TIMEOUT)
            .upload_to_container(helper, Some(options), bollard::body_try_stream(body))
            .await;
        let source_error = source_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match (uploaded, source_error) {
            (_, Some(e)) => Err(DockerError::failed(
                what,
                format!("reading the archive failed: {e}; {partly}"),
            )),
            (Ok(()), None) => Ok(()),
            (Err(e), None) => Err(DockerError::failed(
                what,
                format!("{}; {partly}", message_of(&e)),
            )),
        }
    }

    /// Room for a restore of `need` bytes into `volume`: the free bytes of
    /// its filesystem and, when those are short, the bytes its current
    /// contents take (freed when a restore empties it; counting them walks
    /// the volume, so it is done only then).
    /// `None` when that cannot be seen from here: a daemon on another host,
    /// another volume driver, a volume mounted only while in use (tmpfs,
    /// NFS), a path this user cannot read. A bind volume is measured at the
    /// host directory it binds.
    pub async fn volume_room(
        &self,
        volume: &str,
        need: u64,
    ) -> Result<Option<VolumeRoom>, DockerError> {
        let Some(path) = self.volume_dir(volume).await? else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || {
            use crate::repo::space;
            // The volume's own directory first; Docker's root is often
            // unreadable to a non-root user, but on the same filesystem.
            let walk_up = [std::io::ErrorKind::PermissionDenied];
            let (free, measured) = space::free_bytes_near(&path, &walk_up).ok()?;
            let used = if free < need {
                space::tree_bytes(&path).unwrap_or(0)
            } else {
                0
            };
            Some(VolumeRoom {
                free,
                used,
                measured,
            })
        })
        .await
        .map_err(|e| DockerError::failed(format!("measuring volume `{volume}`"), e.to_string()))
    }

    /// The directory on this host that holds the volume's files: a plain
    /// local volume's directory under Docker's root, a bind volume's
    /// (`-o bind`) host directory. `None` when that cannot be seen from
    /// here: a daemon on another host, another volume driver, a volume
    /// mounted only while in use (tmpfs, NFS).
    pub(crate) async fn volume_dir(
        &self,
        volume: &str,
    ) -> Result<Option<std::path::PathBuf>, DockerError> {
        if !self.endpoint.starts_with("unix://") && !self.endpoint.starts_with('/') {
            return Ok(None);
        }
        let v = match self.api.inspect_volume(volume).await {
            Ok(v) => v,
            Err(e) if super::error::status_of(&e) == Some(404) => {
                return Err(DockerError::not_found(format!("volume `{volume}`")));
            }
            Err(e) => return Err(self.err(format!("inspecting volume `{volume}`"), None, e)),
        };
        let bind = v
            .options
            .get("o")
            .is_some_and(|o| o.split(',').any(|x| x == "bind"));
        let path = match (v.driver == "local", v.options.is_empty(), bind) {
            (true, true, _) if !v.mountpoint.is_empty() => v.mountpoint.clone(),
            (true, false, true) => match v.options.get("device") {
                Some(device) if device.starts_with('/') => device.clone(),
                _ => return Ok(None),
            },
            _ => {
                tracing::debug!(volume, driver = v.driver, "not measurable from here");
                return Ok(None);
            }
        };
        Ok(Some(std::path::PathBuf::from(path)))
    }

    /// Whether the volume holds nothing (its root directory aside).
    pub async fn volume_is_empty(&self, volume: &str) -> Result<bool, DockerError> {
        let helper = self.create_helper(volume).await?;
        let entries = self.list_entries(&helper.name, MOUNT_POINT, 2).await;
        helper.remove().await;
        Ok(entries?.iter().all(|p| is_root(p)))
    }

    /// Up to `max` entry paths of the archive of `path` in `container`; stops
    /// reading (and drops the connection) once it has them.
    pub(crate) async fn list_entries(
        &self,
        container: &str,
        path: &str,
        max: usize,
    ) -> Result<Vec<String>, DockerError> {
        let what = format!("listing `{path}` in helper `{container}`");
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let stream = self
            .api
            .download_from_container(container, Some(options))
            .map_err(std::io::Error::other);
        let reader =
            tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(Box::pin(stream)));
        let listed = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<String>> {
            let mut archive = tar::Archive::new(reader);
            let mut out = Vec::new();
            for entry in archive.entries()? {
                let entry = entry?;
                out.push(entry.path()?.to_string_lossy().into_owned());
                if out.len() >= max {
                    break;
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| DockerError::failed(what.clone(), e.to_string()))?;
        listed.map_err(|e| {
            // Surface the engine's own answer when the stream carried one.
            let message = match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<bollard::errors::Error>())
            {
                Some(b) => message_of(b),
                None => e.to_string(),
            };
            DockerError::failed(what, message)
        })
    }
}

fn is_root(path: &str) -> bool {
    matches!(path.trim_end_matches('/'), "data" | "./data" | "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_static_unpin<T: Send + Unpin + 'static>() {}

    #[test]
    fn volume_stream_can_move_across_tasks() {
        assert_send_static_unpin::<VolumeStream>();
    }

    #[test]
    fn emptying_tar_is_one_empty_file_named_data() {
        let tar = emptying_tar();
        let mut a = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u64, bool)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let regular = e.header().entry_type().is_file();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.size(),
                    regular,
                )
            })
            .collect();
        assert_eq!(entries, vec![("data".to_string(), 0, true)]);
    }
}
