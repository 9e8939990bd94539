//! The dry-run ports: the real step code runs against them and changes
//! nothing. Probes are answered from a [`World`] observed read-only before
//! the run, kept up to date with what the run would have done (a stopped
//! container reads as stopped to the next step); every change is recorded
//! ([`Would`]) under the step that would make it. Backups the run would
//! write go to a scratch repository of their own (a volume reads as empty),
//! so that a step reading one back, or a rollback restoring it, runs its
//! real code too; existing backups are read, and verified, for real.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{
    BackupSink, ComposeError, Containers, DockerResult, Http, Offsite, Repository, Stdin, TarIn,
    VolumeTar,
};
use crate::docker::{
    ContainerMount, ContainerState, DockerError, ExecOutput, ExecSpec, OneOff, ProjectObjects,
    Recreated, VolumeRoom, WaitFor,
};
use crate::model::world::{self, COMPOSE_PROJECT, COMPOSE_SERVICE, World};
use crate::repo::{
    LocalRepo, Manifest, NewBackup, Policy, Pruned, RepoError, Verification, VerifiedBackup,
};

tokio::task_local! {
    /// The step the current task runs (set by the executor), to file what
    /// a port would do under it.
    pub static STEP: String;
}

/// One change the run would have made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Would {
    /// The step (`<id>` or `<id> (undo)`); empty outside any step.
    pub step: String,
    pub action: String,
}

/// A dry run's world, scratch repository and record.
pub struct DryRun {
    state: Mutex<State>,
    scratch: Arc<LocalRepo>,
    scratch_dir: PathBuf,
    repo: Arc<LocalRepo>,
    remote: Option<String>,
    /// Builds the requests the HTTP steps would send.
    client: reqwest::Client,
}

struct State {
    world: World,
    log: Vec<Would>,
}

impl DryRun {
    /// A dry run over `world` (as observed), reading backups from `repo`;
    /// `remote`: the off-site store's URL, if any.
    pub fn new(
        world: World,
        repo: Arc<LocalRepo>,
        remote: Option<String>,
    ) -> std::io::Result<Arc<Self>> {
        let scratch_dir = std::env::temp_dir().join(format!(
            "lifeboat-dry-run-{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        ));
        // Made new (not taken over if it exists), readable by this user only.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&scratch_dir)?;
        let scratch =
            LocalRepo::open(&scratch_dir).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                world,
                log: Vec::new(),
            }),
            scratch: Arc::new(scratch),
            scratch_dir,
            repo,
            remote,
            client: reqwest::Client::builder()
                .build()
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        }))
    }

    /// What the run would have done, in order.
    pub fn log(&self) -> Vec<Would> {
        self.lock().log.clone()
    }

    /// The world as the run would have left it.
    pub fn world(&self) -> World {
        self.lock().world.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records something a step would do that no port sees (a question).
    pub fn note(&self, action: String) {
        self.would(action);
    }

    fn would(&self, action: String) {
        let step = STEP.try_with(String::clone).unwrap_or_default();
        self.lock().log.push(Would { step, action });
    }

    fn with_container<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut world::Container) -> T,
    ) -> DockerResult<T> {
        let mut state = self.lock();
        match state.world.containers.iter_mut().find(|c| c.name == name) {
            Some(c) => Ok(f(c)),
            None => Err(DockerError::not_found(format!("container `{name}`"))),
        }
    }

    /// An exec needs a running container, as the engine does.
    fn must_run(&self, name: &str, spec: &ExecSpec) -> DockerResult<()> {
        if self.with_container(name, |c| is_running(c))? {
            return Ok(());
        }
        Err(DockerError::failed(
            format!("running `{}` in container `{name}`", quoted(&spec.argv)),
            "the container is not running",
        ))
    }

    fn has_volume(&self, name: &str) -> bool {
        self.lock().world.volumes.iter().any(|v| v.name == name)
    }
}

impl Drop for DryRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch_dir);
    }
}

/// What `docker stop` stops and `docker start` leaves alone.
fn is_running(c: &world::Container) -> bool {
    matches!(c.state.as_str(), "running" | "restarting" | "paused")
}

fn state_of(c: &world::Container) -> ContainerState {
    ContainerState {
        id: format!("dry-run:{}", c.name),
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: String::new(),
        state: c.state.clone(),
        health: c.health.clone(),
        running: is_running(c),
        exit_code: None,
        labels: c.labels.clone(),
        mounts: c
            .mounts
            .iter()
            .map(|m| ContainerMount {
                kind: "volume".into(),
                source: m.volume.clone(),
                destination: m.destination.clone(),
                read_write: true,
            })
            .collect(),
    }
}

fn set_running(c: &mut world::Container, running: bool) {
    c.state = if running { "running" } else { "exited" }.into();
    if c.health.is_some() {
        c.health = Some(if running { "healthy" } else { "unhealthy" }.into());
    }
}

/// What a command or request would have answered: nothing, successfully.
fn made_up_output() -> ExecOutput {
    ExecOutput {
        exit_code: 0,
        stdout: String::new(),
        stderr: String::new(),
        truncated: false,
    }
}

fn seconds(d: Duration) -> String {
    match (d.as_secs(), d.subsec_millis()) {
        (s, 0) => format!("{s}s"),
        (s, ms) => format!("{s}.{ms:03}s"),
    }
}

fn quoted(argv: &[String]) -> String {
    argv.join(" ")
}

impl Containers for DryRun {
    fn container<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, DockerResult<Option<ContainerState>>> {
        let found = self
            .lock()
            .world
            .containers
            .iter()
            .find(|c| c.name == name)
            .map(state_of);
        Box::pin(async move { Ok(found) })
    }

    fn service_container<'a>(
        &'a self,
        project: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, DockerResult<Option<String>>> {
        let found = self
            .lock()
            .world
            .containers
            .iter()
            .find(|c| {
                c.labels.get(COMPOSE_PROJECT).map(String::as_str) == Some(project)
                    && c.labels.get(COMPOSE_SERVICE).map(String::as_str) == Some(service)
            })
            .map(|c| c.name.clone());
        Box::pin(async move { Ok(found) })
    }

    fn current_name<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<String>> {
        let found = self.with_container(name, |c| c.name.clone());
        Box::pin(async move { found })
    }

    fn stop<'a>(&'a self, name: &'a str, timeout: Duration) -> BoxFuture<'a, DockerResult<bool>> {
        let was = self.with_container(name, |c| {
            let was = is_running(c);
            set_running(c, false);
            was
        });
        if let Ok(was) = was {
            self.would(if was {
                format!(
                    "stop container `{name}` (SIGTERM, SIGKILL after {})",
                    seconds(timeout)
                )
            } else {
                format!("leave container `{name}` stopped (it is not running)")
            });
        }
        Box::pin(async move { was })
    }

    fn start<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<bool>> {
        let was_running = self.with_container(name, |c| {
            let running = is_running(c);
            set_running(c, true);
            running
        });
        if let Ok(false) = was_running {
            self.would(format!("start container `{name}`"));
        }
        Box::pin(async move { was_running })
    }

    fn restart<'a>(&'a self, name: &'a str, _timeout: Duration) -> BoxFuture<'a, DockerResult<()>> {
        let done = self.with_container(name, |c| set_running(c, true));
        if done.is_ok() {
            self.would(format!("restart container `{name}`"));
        }
        Box::pin(async move { done })
    }

    fn wait<'a>(
        &'a self,
        name: &'a str,
        until: WaitFor,
        timeout: Duration,
    ) -> BoxFuture<'a, DockerResult<()>> {
        let found = self.with_container(name, |_| ());
        if found.is_ok() {
            let what = match until {
                WaitFor::Running => "running",
                WaitFor::Healthy => "healthy",
            };
            self.would(format!(
                "wait until `{name}` is {what} (at most {})",
                seconds(timeout)
            ));
        }
        Box::pin(async move { found })
    }

    fn exec<'a>(
        &'a self,
        name: &'a str,
        spec: ExecSpec,
        stdin: Option<Stdin>,
    ) -> BoxFuture<'a, DockerResult<ExecOutput>> {
        Box::pin(async move {
            self.must_run(name, &spec)?;
            let fed = match stdin {
                Some(mut input) => {
                    // Read to the end: a restore's stream is verified on the way.
                    let n = tokio::io::copy(&mut input, &mut tokio::io::sink())
                        .await
                        .map_err(|e| {
                            DockerError::failed("reading the command's input", e.to_string())
                        })?;
                    format!(", {n} bytes on its stdin")
                }
                None => String::new(),
            };
            self.would(format!("run `{}` in `{name}`{fed}", quoted(&spec.argv)));
            Ok(made_up_output())
        })
    }

    fn exec_to_sink<'a>(
        &'a self,
        name: &'a str,
        spec: ExecSpec,
        _sink: mpsc::Sender<Bytes>,
    ) -> BoxFuture<'a, DockerResult<ExecOutput>> {
        let found = self.must_run(name, &spec);
        if found.is_ok() {
            self.would(format!(
                "run `{}` in `{name}`, its output into the backup",
                quoted(&spec.argv)
            ));
        }
        Box::pin(async move { found.map(|()| made_up_output()) })
    }

    fn recreate<'a>(
        &'a self,
        name: &'a str,
        image: &'a str,
        _until: WaitFor,
        _timeout: Duration,
    ) -> BoxFuture<'a, DockerResult<Recreated>> {
        let previous = self.with_container(name, |c| {
            let previous = std::mem::replace(&mut c.image, image.to_string());
            set_running(c, true);
            previous
        });
        if let Ok(previous) = &previous {
            self.would(format!(
                "recreate container `{name}` from image `{image}` (was `{previous}`), same settings"
            ));
        }
        Box::pin(async move {
            previous.map(|previous_image| Recreated {
                previous_image,
                previous_image_id: String::new(),
                container_id: format!("dry-run:{name}"),
            })
        })
    }

    fn volume_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<bool>> {
        let exists = self.has_volume(name);
        Box::pin(async move { Ok(exists) })
    }

    fn create_volume<'a>(
        &'a self,
        name: &'a str,
        _labels: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, DockerResult<bool>> {
        let created = !self.has_volume(name);
        if created {
            self.lock().world.volumes.push(world::Volume {
                name: name.to_string(),
                size_bytes: Some(0),
            });
            self.would(format!("create volume `{name}`"));
        }
        Box::pin(async move { Ok(created) })
    }

    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<()>> {
        // Like the engine: refused while any container mounts it, stopped or not.
        let users: Vec<(String, bool)> = self
            .lock()
            .world
            .containers
            .iter()
            .filter(|c| c.mounts.iter().any(|m| m.volume == name))
            .map(|c| (c.name.clone(), is_running(c)))
            .collect();
        if !users.is_empty() {
            let volume = name.to_string();
            return Box::pin(async move { Err(DockerError::InUse { volume, users }) });
        }
        let existed = {
            let mut state = self.lock();
            let before = state.world.volumes.len();
            state.world.volumes.retain(|v| v.name != name);
            before != state.world.volumes.len()
        };
        if existed {
            self.would(format!("remove volume `{name}` and its data"));
        }
        Box::pin(async move {
            if existed {
                Ok(())
            } else {
                Err(DockerError::not_found(format!("volume `{name}`")))
            }
        })
    }

    fn volume_users<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, DockerResult<Vec<(String, bool)>>> {
        let users = self
            .lock()
            .world
            .containers
            .iter()
            .filter(|c| c.mounts.iter().any(|m| m.volume == name))
            .map(|c| (c.name.clone(), is_running(c)))
            .collect();
        Box::pin(async move { Ok(users) })
    }

    /// Unmeasured: a dry run does not start the helper that measures.
    fn volume_room<'a>(
        &'a self,
        _volume: &'a str,
        _need: u64,
    ) -> BoxFuture<'a, DockerResult<Option<VolumeRoom>>> {
        Box::pin(async move { Ok(None) })
    }

    /// An empty volume: its real contents are not read.
    fn read_volume<'a>(&'a self, volume: &'a str) -> BoxFuture<'a, DockerResult<VolumeTar>> {
        let exists = self.has_volume(volume);
        Box::pin(async move {
            if !exists {
                return Err(DockerError::not_found(format!("volume `{volume}`")));
            }
            let tar = Bytes::from(empty_volume_tar());
            Ok(futures_util::stream::iter([Ok(tar)]).boxed())
        })
    }

    /// The tar is read to its end (a restore verifies it on the way).
    fn write_volume<'a>(&'a self, volume: &'a str, tar: TarIn) -> BoxFuture<'a, DockerResult<()>> {
        Box::pin(async move {
            let bytes = drain(tar, volume).await?;
            self.would(format!(
                "empty volume `{volume}` and extract {} into it",
                crate::model::size::bytes(bytes)
            ));
            Ok(())
        })
    }

    /// The tar is read to its end (verified on the way).
    fn write_volume_paths<'a>(
        &'a self,
        volume: &'a str,
        paths: &'a [String],
        tar: TarIn,
    ) -> BoxFuture<'a, DockerResult<()>> {
        Box::pin(async move {
            let bytes = drain(tar, volume).await?;
            self.would(format!(
                "replace {} of volume `{volume}` with the backup's ({}), leaving the rest",
                paths
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                crate::model::size::bytes(bytes)
            ));
            Ok(())
        })
    }

    /// Not probed: the world records no images; the real run checks.
    fn image_exists<'a>(&'a self, _image: &'a str) -> BoxFuture<'a, DockerResult<bool>> {
        Box::pin(async move { Ok(true) })
    }

    fn run_oneoff<'a>(&'a self, spec: OneOff) -> BoxFuture<'a, DockerResult<ExecOutput>> {
        let mounts: Vec<String> = spec
            .mounts
            .iter()
            .map(|(v, at)| format!("`{v}` at {at}"))
            .collect();
        self.would(format!(
            "run `{}` in a new container of image `{}` with {}{}, then remove it",
            quoted(&spec.argv),
            spec.image,
            mounts.join(", "),
            if spec.read_only { " (read-only)" } else { "" }
        ));
        Box::pin(async move { Ok(made_up_output()) })
    }

    fn network_exists<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, DockerResult<bool>> {
        Box::pin(async move { Ok(false) })
    }

    fn remove_network<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<()>> {
        self.would(format!("remove network `{name}`"));
        Box::pin(async move { Ok(()) })
    }

    fn project_objects<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, DockerResult<ProjectObjects>> {
        let prefix = format!("{project}_");
        let volumes = self
            .lock()
            .world
            .volumes
            .iter()
            .filter(|v| v.name.starts_with(&prefix))
            .map(|v| v.name.clone())
            .collect();
        Box::pin(async move {
            Ok(ProjectObjects {
                volumes,
                networks: Default::default(),
            })
        })
    }

    fn compose<'a>(
        &'a self,
        file: &'a Path,
        project: &'a str,
        args: &'a [String],
    ) -> BoxFuture<'a, Result<(), ComposeError>> {
        self.would(format!(
            "run `docker compose -f {} -p {project} {}`",
            file.display(),
            args.join(" ")
        ));
        Box::pin(async move { Ok(()) })
    }
}

/// `%XX` escapes decoded (for display; invalid UTF-8 shown lossily).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a tar on its way into a volume to its end; its length.
async fn drain(mut tar: TarIn, volume: &str) -> DockerResult<u64> {
    let mut bytes = 0u64;
    while let Some(chunk) = tar.next().await {
        let chunk = chunk.map_err(|e| {
            DockerError::failed(format!("restoring into volume `{volume}`"), e.to_string())
        })?;
        bytes += chunk.len() as u64;
    }
    Ok(bytes)
}

/// A volume archive with nothing in it: the `data/` directory alone.
fn empty_volume_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    let _ = h.set_path("data/");
    h.set_cksum();
    let _ = b.append(&h, std::io::empty());
    b.into_inner().unwrap_or_default()
}

impl DryRun {
    /// Backups this run would have written are in the scratch repository.
    fn scratch_or_real<T>(
        &self,
        id: &str,
        f: impl Fn(&LocalRepo) -> Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        if self.scratch.get(id).is_ok() {
            f(&self.scratch)
        } else {
            f(&self.repo)
        }
    }
}

impl Repository for DryRun {
    fn root(&self) -> &Path {
        self.repo.root()
    }

    fn get(&self, id: &str) -> Result<Manifest, RepoError> {
        self.scratch_or_real(id, |r| r.get(id))
    }

    fn backups_of(&self, source: &str) -> Result<Vec<Manifest>, RepoError> {
        let mut all = self.repo.backups_of(source)?;
        all.extend(self.scratch.backups_of(source).unwrap_or_default());
        Ok(all)
    }

    fn resolve(
        &self,
        source: &str,
        reference: &str,
        exclude_run: Option<&str>,
    ) -> Result<Manifest, RepoError> {
        // This run's own backups are only in the scratch repository: its
        // ids and `run:` references; `latest*` never pick them (the run
        // excludes its own backups).
        let ours = self.scratch.get(reference).is_ok()
            || reference.starts_with(crate::model::world::RUN_PREFIX);
        match self.scratch.resolve(source, reference, exclude_run) {
            Ok(m) if ours => Ok(m),
            _ => self.repo.resolve(source, reference, exclude_run),
        }
    }

    fn open_verified(&self, id: &str) -> Result<VerifiedBackup, RepoError> {
        self.scratch_or_real(id, |r| r.open_verified(id))
    }

    /// Checked for real; the result is not recorded in the manifest.
    fn verify(&self, id: &str, deep: bool) -> Result<Verification, RepoError> {
        self.scratch_or_real(id, |r| r.check(id, deep))
    }

    fn create(&self, new: NewBackup) -> Result<Box<dyn BackupSink>, RepoError> {
        self.would(format!(
            "write a backup of `{}` ({}){} to {}",
            new.source,
            match new.kind {
                crate::repo::BackupKind::Volume => "volume archive",
                crate::repo::BackupKind::Exec => "command output",
                crate::repo::BackupKind::Http => "HTTP download",
            },
            if new.tags.is_empty() {
                String::new()
            } else {
                format!(" tagged {}", new.tags.join(", "))
            },
            self.repo.root().display()
        ));
        Ok(Box::new(self.scratch.create(new)?))
    }

    fn prune(
        &self,
        source: &str,
        policy: &Policy,
        now: Timestamp,
        current_run: Option<&str>,
    ) -> Result<Pruned, RepoError> {
        // This run's new backups take their places in the rules too (they
        // are kept, and count), as they would in the real repository.
        let mut backups = self.repo.backups_of(source)?;
        backups.extend(self.scratch.backups_of(source).unwrap_or_default());
        let pruned = Pruned {
            source: source.to_string(),
            decisions: crate::repo::retention::apply(policy, backups, now, current_run),
            deleted: Vec::new(),
            failed: Vec::new(),
        };
        let doomed: Vec<&str> = pruned
            .forgotten()
            .filter(|m| !m.pinned)
            .map(|m| m.id.as_str())
            .collect();
        self.would(if doomed.is_empty() {
            format!("delete no backup of `{source}`")
        } else {
            format!("delete backup(s) of `{source}`: {}", doomed.join(", "))
        });
        Ok(pruned)
    }
}

impl Offsite for DryRun {
    fn url(&self) -> String {
        self.remote.clone().unwrap_or_default()
    }

    fn push<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), String>> {
        self.would(format!("copy backup {id} to {}", self.url()));
        Box::pin(async move { Ok(()) })
    }

    /// A backup only off-site is not downloaded: the step reading it says so.
    fn fetch<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        let local = Repository::get(self, id).is_ok();
        Box::pin(async move {
            if local {
                Ok(true)
            } else {
                Err(format!(
                    "backup {id} is not in {}: a dry run does not download it from {}",
                    self.repo.root().display(),
                    self.url()
                ))
            }
        })
    }
}

impl Http for DryRun {
    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Recorded; answered `200` with an empty body.
    fn execute(
        &self,
        request: reqwest::Request,
    ) -> BoxFuture<'static, Result<reqwest::Response, reqwest::Error>> {
        // As a manifest records it (no user, password or secret-looking
        // query values), decoded so that secret params are masked too.
        let url = crate::runtime::http_backup::recorded_url(request.url().as_str());
        self.would(format!(
            "send {} {}",
            request.method(),
            percent_decoded(&url)
        ));
        Box::pin(async move {
            Ok(reqwest::Response::from(
                http::Response::builder()
                    .status(200)
                    .body(Vec::<u8>::new())
                    .unwrap_or_default(),
            ))
        })
    }
}
