//! The ports a running step acts through (docs/architecture.md §1): the
//! containers, volumes and networks of the Docker engine (with the Compose
//! CLI), the backup repository, the off-site store and HTTP. Each is a
//! trait with two implementations: the real one ([`real`]) and a dry run
//! ([`dry`]) that answers probes from a world observed read-only and
//! records every change it would make instead of making it.
//!
//! The step kinds call the ports only; nothing under `src/kinds/` holds a
//! `Docker`, a `LocalRepo`, an `S3Store` or a `reqwest::Client`.

pub mod dry;
pub mod real;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use jiff::Timestamp;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

use crate::docker::{
    ContainerState, DockerError, ExecOutput, ExecSpec, OneOff, ProjectObjects, Recreated,
    VolumeRoom, WaitFor,
};
use crate::repo::{Manifest, NewBackup, Policy, Pruned, RepoError, Verification, VerifiedBackup};

pub type DockerResult<T> = Result<T, DockerError>;
/// A volume's contents as a tar stream, read from the engine.
pub type VolumeTar = BoxStream<'static, Result<Bytes, DockerError>>;
/// A tar stream on its way into a volume.
pub type TarIn = BoxStream<'static, Result<Bytes, std::io::Error>>;
/// A command's stdin.
pub type Stdin = Box<dyn AsyncRead + Send + Unpin>;

/// Containers, volumes and networks of the Docker engine, and the Compose CLI.
pub trait Containers: Send + Sync {
    fn container<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, DockerResult<Option<ContainerState>>>;
    /// The container of a compose service (its current one: it may have
    /// been recreated since the plan).
    fn service_container<'a>(
        &'a self,
        project: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, DockerResult<Option<String>>>;
    /// The name a container goes by now (`-lifeboat-old` after a cut-off recreate).
    fn current_name<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<String>>;
    /// Whether it was running.
    fn stop<'a>(&'a self, name: &'a str, timeout: Duration) -> BoxFuture<'a, DockerResult<bool>>;
    /// Whether it was already running (then nothing is done).
    fn start<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<bool>>;
    fn restart<'a>(&'a self, name: &'a str, timeout: Duration) -> BoxFuture<'a, DockerResult<()>>;
    fn wait<'a>(
        &'a self,
        name: &'a str,
        until: WaitFor,
        timeout: Duration,
    ) -> BoxFuture<'a, DockerResult<()>>;
    fn exec<'a>(
        &'a self,
        name: &'a str,
        spec: ExecSpec,
        stdin: Option<Stdin>,
    ) -> BoxFuture<'a, DockerResult<ExecOutput>>;
    /// An exec whose stdout goes to `sink` (a backup), not into the output.
    fn exec_to_sink<'a>(
        &'a self,
        name: &'a str,
        spec: ExecSpec,
        sink: mpsc::Sender<Bytes>,
    ) -> BoxFuture<'a, DockerResult<ExecOutput>>;
    fn recreate<'a>(
        &'a self,
        name: &'a str,
        image: &'a str,
        until: WaitFor,
        timeout: Duration,
    ) -> BoxFuture<'a, DockerResult<Recreated>>;
    fn volume_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<bool>>;
    /// Whether it was created (false: it existed).
    fn create_volume<'a>(
        &'a self,
        name: &'a str,
        labels: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, DockerResult<bool>>;
    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<()>>;
    /// Containers that mount the volume, and whether each is running.
    fn volume_users<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, DockerResult<Vec<(String, bool)>>>;
    fn volume_room<'a>(
        &'a self,
        volume: &'a str,
        need: u64,
    ) -> BoxFuture<'a, DockerResult<Option<VolumeRoom>>>;
    fn read_volume<'a>(&'a self, volume: &'a str) -> BoxFuture<'a, DockerResult<VolumeTar>>;
    /// Empties the volume, then extracts `tar` into it.
    fn write_volume<'a>(&'a self, volume: &'a str, tar: TarIn) -> BoxFuture<'a, DockerResult<()>>;
    /// Replaces `paths` (relative to the volume's root) with what `tar`
    /// holds under them; the rest of the volume stays as it is.
    fn write_volume_paths<'a>(
        &'a self,
        volume: &'a str,
        paths: &'a [String],
        tar: TarIn,
    ) -> BoxFuture<'a, DockerResult<()>>;
    /// Whether the image is on the engine (it is never pulled).
    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, DockerResult<bool>>;
    /// Runs a one-off container on volumes and removes it (`volume.run`).
    fn run_oneoff<'a>(&'a self, spec: OneOff) -> BoxFuture<'a, DockerResult<ExecOutput>>;
    fn network_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<bool>>;
    fn remove_network<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<()>>;
    fn project_objects<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, DockerResult<ProjectObjects>>;
    /// `docker compose -f FILE -p PROJECT ARGS...`; Err: what went wrong, for the step's error.
    fn compose<'a>(
        &'a self,
        file: &'a Path,
        project: &'a str,
        args: &'a [String],
    ) -> BoxFuture<'a, Result<(), ComposeError>>;
}

/// Why a compose command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeError {
    /// It could not run at all (not installed, not executable).
    Unavailable(String),
    /// It ran and failed.
    Failed(String),
}

/// The backup repository. Blocking calls: run them on a blocking thread.
pub trait Repository: Send + Sync {
    /// Where it is, for messages.
    fn root(&self) -> &Path;
    fn get(&self, id: &str) -> Result<Manifest, RepoError>;
    fn backups_of(&self, source: &str) -> Result<Vec<Manifest>, RepoError>;
    /// `latest`, `latest-verified`, `run:<id>` or an id of a backup of `source`.
    fn resolve(
        &self,
        source: &str,
        reference: &str,
        exclude_run: Option<&str>,
    ) -> Result<Manifest, RepoError>;
    /// Pass 1 over the whole backup; it can then be read a second time.
    fn open_verified(&self, id: &str) -> Result<VerifiedBackup, RepoError>;
    /// Checks a backup and records the result in its manifest.
    fn verify(&self, id: &str, deep: bool) -> Result<Verification, RepoError>;
    /// A new backup, published by [`BackupSink::finish`].
    fn create(&self, new: NewBackup) -> Result<Box<dyn BackupSink>, RepoError>;
    fn prune(
        &self,
        source: &str,
        policy: &Policy,
        now: Timestamp,
        current_run: Option<&str>,
    ) -> Result<Pruned, RepoError>;
}

/// A backup being written: its raw bytes, then `finish`.
pub trait BackupSink: std::io::Write + Send {
    fn finish(self: Box<Self>) -> Result<Manifest, RepoError>;
}

/// The off-site store.
pub trait Offsite: Send + Sync {
    fn url(&self) -> String;
    /// Copies a new backup of the repository there.
    fn push<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), String>>;
    /// Makes backup `id` whole in the repository, fetching it from here if
    /// it is only here or damaged there; false: it is in neither.
    fn fetch<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, String>>;
}

/// HTTP: requests built with [`Http::request`], sent by [`Http::execute`].
pub trait Http: Send + Sync {
    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder;
    fn execute(
        &self,
        request: reqwest::Request,
    ) -> BoxFuture<'static, Result<reqwest::Response, reqwest::Error>>;
}

/// What the real steps act on.
pub struct Ports {
    pub docker: Arc<dyn Containers>,
    pub repo: Arc<dyn Repository>,
    pub http: Arc<dyn Http>,
    /// Off-site store: new backups are copied there, missing ones fetched.
    pub remote: Option<Arc<dyn Offsite>>,
    /// `--yes`: gates pass without asking.
    pub yes: bool,
    /// Where relative compose files are found.
    pub workdir: PathBuf,
    /// The config file's retention policy: `backup.prune` without keep_* uses it.
    pub retention: Policy,
    /// Volumes restored from another volume's backups (a drill's copy of
    /// production): volume → the source whose backups it takes.
    pub restore_from: BTreeMap<String, String>,
    /// Copy new backups off-site (a drill's safety backups stay local).
    pub push_new: bool,
    /// Set for a dry run: what it records; outputs are made up.
    pub dry: Option<Arc<dry::DryRun>>,
}

impl Ports {
    /// A dry run: results of commands and requests are made up, so
    /// expectations on them are not checked.
    pub fn is_dry(&self) -> bool {
        self.dry.is_some()
    }
}
