//! Helper containers: created (never started) from a one-file image with a
//! volume mounted at `/data`, so the archive API can read and write the volume.
//! The image is imported in-process when missing. Helpers are labelled
//! `lifeboat.helper=1` plus an owner (host/pid/process token); helpers whose
//! owner is gone are removed the next time one is created.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::TryStreamExt;

use super::Docker;
use super::error::{DockerError, message_of, status_of};

/// Label on helper containers and on the helper image.
pub const HELPER_LABEL: &str = "lifeboat.helper";
const OWNER_LABEL: &str = "lifeboat.helper.owner";
const VOLUME_LABEL: &str = "lifeboat.helper.volume";
/// Where the volume is mounted in a helper.
pub(crate) const MOUNT_POINT: &str = "/data";
const HELPER_FILE: &str = "lifeboat-helper";
/// Helper containers are named `lifeboat-helper-<volume>-<hex>`.
pub(super) const HELPER_PREFIX: &str = "lifeboat-helper-";
const HELPER_TEXT: &str = "lifeboat helper: this container is only created, never started\n";

/// Helpers this process has created and not yet released (never "stale").
fn live() -> &'static Mutex<HashSet<String>> {
    static LIVE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

fn process_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(random_hex)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

pub(super) fn owner() -> String {
    format!("{}/{}/{}", hostname(), std::process::id(), process_token())
}

pub(crate) fn random_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = RandomState::new().hash_one((
        std::time::SystemTime::now(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::process::id(),
    ));
    format!("{:08x}", n as u32)
}

/// Whether a helper with this owner label can be removed by this process.
fn is_stale(owner_label: Option<&str>, name: &str) -> bool {
    let Some(owner_label) = owner_label else {
        return false;
    };
    let mut parts = owner_label.splitn(3, '/');
    let (Some(host), Some(pid), Some(token)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() {
        return false; // another machine's: it may be in use
    }
    if pid == std::process::id().to_string() {
        if token == process_token() {
            return !live()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(name);
        }
        return true; // an earlier process that had our pid
    }
    // Another process on this host: stale once it is gone.
    std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The tar the helper image is imported from: one small text file `/lifeboat-helper`.
pub fn helper_image_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(HELPER_TEXT.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, HELPER_FILE, HELPER_TEXT.as_bytes())
        .expect("writing to a Vec cannot fail");
    b.into_inner().expect("writing to a Vec cannot fail")
}

/// `repo[:tag]` → (repo, tag), a registry port not taken for a tag.
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// A created helper; removed by [`HelperGuard::remove`] or, failing that, on drop
/// (in the background).
pub(crate) struct HelperGuard {
    docker: Docker,
    pub(crate) name: String,
    armed: bool,
}

// A helper stays in `live()` until its removal has finished: while it is
// being removed (in the background, after a stream ended), another helper's
// creation must not take it for stale and remove it a second time.
impl HelperGuard {
    pub(crate) async fn remove(mut self) {
        self.armed = false;
        remove_helper(&self.docker, &self.name).await;
        release(&self.name);
    }
}

impl Drop for HelperGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let docker = self.docker.clone();
        let name = std::mem::take(&mut self.name);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    remove_helper(&docker, &name).await;
                    release(&name);
                });
            }
            Err(_) => {
                release(&name);
                tracing::warn!(
                    "helper container {name} left behind (no runtime); removed on next use"
                );
            }
        }
    }
}

/// A container this process uses: never taken for stale.
pub(super) fn track(name: &str) {
    live()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string());
}

pub(super) fn release(name: &str) {
    live()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(name);
}

async fn remove_helper(docker: &Docker, name: &str) {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(false)
        .build();
    match docker.api.remove_container(name, Some(options)).await {
        Ok(()) => {}
        Err(e) if status_of(&e) == Some(404) => {}
        // Someone else (another lifeboat cleaning up stale helpers) is
        // removing it already: expected, and the outcome is the same.
        Err(e) if status_of(&e) == Some(409) && message_of(&e).contains("already in progress") => {
            tracing::debug!("helper container {name} is already being removed");
        }
        Err(e) => tracing::warn!("removing helper container {name}: {e}"),
    }
}

impl Docker {
    /// Imports the helper image if it is missing.
    pub(crate) async fn ensure_helper_image(&self) -> Result<(), DockerError> {
        let image = self.helper_image.to_string();
        match self.api.inspect_image(&image).await {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => {
                return Err(self.err(format!("inspecting the helper image `{image}`"), None, e));
            }
        }
        let (repo, tag) = split_image(&image);
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(vec![
                format!("CMD [\"/{HELPER_FILE}\"]"),
                format!("LABEL {HELPER_LABEL}=1"),
            ])
            .build();
        self.api
            .create_image(
                Some(options),
                Some(bollard::body_full(helper_image_tar().into())),
                None,
            )
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| self.err(format!("creating the helper image `{image}`"), None, e))?;
        tracing::info!("created the helper image {image}");
        Ok(())
    }

    /// Removes helpers left behind by this or a dead process on this host.
    pub(crate) async fn remove_stale_helpers(&self) {
        self.remove_stale(HELPER_LABEL, OWNER_LABEL).await;
    }

    /// Removes containers labelled `label=1` whose owner (`owner_label`) is
    /// this process but that it no longer uses, or a process on this host
    /// that is gone.
    pub(super) async fn remove_stale(&self, label: &str, owner_label: &str) {
        let filters = HashMap::from([("label".to_string(), vec![format!("{label}=1")])]);
        let list = match self
            .api
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
        {
            Ok(list) => list,
            Err(e) => {
                tracing::debug!("listing helper containers: {e}");
                return;
            }
        };
        for c in list {
            let Some(name) = c.names.as_ref().and_then(|n| n.first()) else {
                continue;
            };
            let name = name.trim_start_matches('/');
            let owner = c
                .labels
                .as_ref()
                .and_then(|l| l.get(owner_label))
                .map(String::as_str);
            if is_stale(owner, name) {
                tracing::debug!("removing stale container {name}");
                remove_helper(self, name).await;
            }
        }
    }

    /// Creates (never starts) a helper with `volume` mounted at `/data`.
    /// `NotFound` if the volume does not exist (it is not created implicitly).
    pub(crate) async fn create_helper(&self, volume: &str) -> Result<HelperGuard, DockerError> {
        self.remove_stale_helpers().await;
        if !self.volume_exists(volume).await? {
            return Err(DockerError::not_found(format!("volume `{volume}`")));
        }
        self.ensure_helper_image().await?;
        let name = format!("{HELPER_PREFIX}{volume}-{}", random_hex());
        live()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone());
        let guard = HelperGuard {
            docker: self.clone(),
            name: name.clone(),
            armed: true,
        };
        let body = ContainerCreateBody {
            image: Some(self.helper_image.to_string()),
            labels: Some(HashMap::from([
                (HELPER_LABEL.to_string(), "1".to_string()),
                (OWNER_LABEL.to_string(), owner()),
                (VOLUME_LABEL.to_string(), volume.to_string()),
            ])),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_string()),
                mounts: Some(vec![Mount {
                    typ: Some(MountType::VOLUME),
                    source: Some(volume.to_string()),
                    target: Some(MOUNT_POINT.to_string()),
                    read_only: Some(false),
                    volume_options: Some(MountVolumeOptions {
                        no_copy: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .api
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                body,
            )
            .await;
        if let Err(e) = created {
            let mut guard = guard;
            guard.armed = false;
            release(&name);
            return Err(self.err(
                format!("creating a helper container for volume `{volume}`"),
                None,
                e,
            ));
        }
        Ok(guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_tar_holds_one_small_file() {
        let tar = helper_image_tar();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u64, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.size(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![(
                "lifeboat-helper".to_string(),
                HELPER_TEXT.len() as u64,
                0o644
            )]
        );
    }

    #[test]
    fn image_names_split_into_repo_and_tag() {
        assert_eq!(
            split_image("lifeboat/helper:local"),
            ("lifeboat/helper", "local")
        );
        assert_eq!(
            split_image("lifeboat/helper"),
            ("lifeboat/helper", "latest")
        );
        assert_eq!(
            split_image("localhost:5000/helper"),
            ("localhost:5000/helper", "latest")
        );
    }

    #[test]
    fn only_dead_or_released_owners_are_stale() {
        let mine = owner();
        assert!(is_stale(Some(&mine), "released-helper"));
        live().lock().unwrap().insert("live-helper".into());
        assert!(!is_stale(Some(&mine), "live-helper"));
        assert!(!is_stale(Some("some-other-host/1/x"), "h"));
        assert!(!is_stale(None, "h"));
        let me = format!("{}/{}/other-token", hostname(), std::process::id());
        assert!(is_stale(Some(&me), "h"));
    }
}
