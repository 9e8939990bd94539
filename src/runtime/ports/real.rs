//! The real ports: the Docker engine (bollard) and the Compose CLI, the
//! local repository, S3, reqwest.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use jiff::Timestamp;
use tokio::process::Command;
use tokio::sync::mpsc;

use super::{
    BackupSink, ComposeError, Containers, DockerResult, Http, Offsite, Repository, Stdin, TarIn,
    VolumeTar,
};
use crate::docker::{
    ContainerState, Docker, ExecOutput, ExecSpec, OneOff, ProjectObjects, Recreated, VolumeRoom,
    WaitFor,
};
use crate::repo::{
    BackupWriter, LocalRepo, Manifest, NewBackup, Policy, Pruned, RepoError, Verification,
    VerifiedBackup,
};
use crate::s3::S3Store;

impl Containers for Docker {
    fn container<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, DockerResult<Option<ContainerState>>> {
        Box::pin(Docker::container(self, name))
    }
    fn service_container<'a>(
        &'a self,
        project: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, DockerResult<Option<String>>> {
        Box::pin(Docker::service_container(self, project, service))
    }
    fn current_name<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<String>> {
        Box::pin(Docker::current_name(self, name))
    }
    fn stop<'a>(&'a self, name: &'a str, timeout: Duration) -> BoxFuture<'a, DockerResult<bool>> {
        Box::pin(Docker::stop(self, name, timeout))
    }
    fn start<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<bool>> {
        Box::pin(Docker::start(self, name))
    }
    fn restart<'a>(&'a self, name: &'a str, timeout: Duration) -> BoxFuture<'a, DockerResult<()>> {
        Box::pin(Docker::restart(self, name, timeout))
    }
    fn wait<'a>(
        &'a self,
        name: &'a str,
        until: WaitFor,
        timeout: Duration,
    ) -> BoxFuture<'a, DockerResult<()>> {
        Box::pin(Docker::wait(self, name, until, timeout))
    }
    fn exec<'a>(
        &'a self,
        name: &'a str,
        spec: ExecSpec,
        stdin: Option<Stdin>,
    ) -> BoxFuture<'a, DockerResult<ExecOutput>> {
        Box::pin(Docker::exec(self, name, spec, stdin))
    }
    fn exec_to_sink<'a>(
        &'a self,
        name: &'a str,
        spec: ExecSpec,
        sink: mpsc::Sender<Bytes>,
    ) -> BoxFuture<'a, DockerResult<ExecOutput>> {
        Box::pin(Docker::exec_to_sink(self, name, spec, sink))
    }
    fn recreate<'a>(
        &'a self,
        name: &'a str,
        image: &'a str,
        until: WaitFor,
        timeout: Duration,
    ) -> BoxFuture<'a, DockerResult<Recreated>> {
        Box::pin(Docker::recreate(self, name, image, until, timeout))
    }
    fn volume_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<bool>> {
        Box::pin(Docker::volume_exists(self, name))
    }
    fn create_volume<'a>(
        &'a self,
        name: &'a str,
        labels: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, DockerResult<bool>> {
        Box::pin(Docker::create_volume(self, name, labels))
    }
    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<()>> {
        Box::pin(Docker::remove_volume(self, name))
    }
    fn volume_users<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, DockerResult<Vec<(String, bool)>>> {
        Box::pin(Docker::volume_users(self, name))
    }
    fn volume_room<'a>(
        &'a self,
        volume: &'a str,
        need: u64,
    ) -> BoxFuture<'a, DockerResult<Option<VolumeRoom>>> {
        Box::pin(Docker::volume_room(self, volume, need))
    }
    fn read_volume<'a>(&'a self, volume: &'a str) -> BoxFuture<'a, DockerResult<VolumeTar>> {
        Box::pin(async move { Ok(Docker::read_volume(self, volume).await?.boxed()) })
    }
    fn write_volume<'a>(&'a self, volume: &'a str, tar: TarIn) -> BoxFuture<'a, DockerResult<()>> {
        Box::pin(Docker::write_volume(self, volume, tar))
    }
    fn write_volume_paths<'a>(
        &'a self,
        volume: &'a str,
        paths: &'a [String],
        tar: TarIn,
    ) -> BoxFuture<'a, DockerResult<()>> {
        Box::pin(Docker::write_volume_paths(self, volume, paths, tar))
    }
    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, DockerResult<bool>> {
        Box::pin(Docker::image_exists(self, image))
    }
    fn run_oneoff<'a>(&'a self, spec: OneOff) -> BoxFuture<'a, DockerResult<ExecOutput>> {
        Box::pin(Docker::run_oneoff(self, spec))
    }
    fn network_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<bool>> {
        Box::pin(Docker::network_exists(self, name))
    }
    fn remove_network<'a>(&'a self, name: &'a str) -> BoxFuture<'a, DockerResult<()>> {
        Box::pin(Docker::remove_network(self, name))
    }
    fn project_objects<'a>(
        &'a self,
        project: &'a str,
    ) -> BoxFuture<'a, DockerResult<ProjectObjects>> {
        Box::pin(Docker::project_objects(self, project))
    }
    fn compose<'a>(
        &'a self,
        file: &'a Path,
        project: &'a str,
        args: &'a [String],
    ) -> BoxFuture<'a, Result<(), ComposeError>> {
        Box::pin(compose(file, project, args))
    }
}

async fn compose(file: &Path, project: &str, args: &[String]) -> Result<(), ComposeError> {
    let (program, prefix) = compose_program().await?;
    // v1 has no --wait; the runbook's checks (with retries) wait instead.
    let v1 = program == "docker-compose";
    let args: Vec<&String> = args.iter().filter(|a| !(v1 && *a == "--wait")).collect();
    let mut cmd = command(&program);
    cmd.args(&prefix)
        .arg("-f")
        .arg(file)
        .arg("-p")
        .arg(project)
        .args(&args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = cmd
        .output()
        .await
        .map_err(|e| ComposeError::Unavailable(format!("running {program}: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(ComposeError::Failed(format!(
            "{program} {} failed ({}): {}",
            args.iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(())
}

/// A compose process in its own process group: a hang-up or Ctrl-C sent to
/// lifeboat's terminal (its process group) is lifeboat's to handle (it
/// carries on, or cancels and drops the step, which kills the process); it
/// must not kill compose under a run.
fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    #[cfg(unix)]
    cmd.process_group(0);
    cmd
}

/// `docker compose` (v2 plugin) when present, else `docker-compose`.
async fn compose_program() -> Result<(String, Vec<String>), ComposeError> {
    let works = |program: &str, args: &[&str]| {
        let mut cmd = command(program);
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        async move { cmd.status().await.is_ok_and(|s| s.success()) }
    };
    if works("docker", &["compose", "version"]).await {
        return Ok(("docker".into(), vec!["compose".into()]));
    }
    if works("docker-compose", &["version"]).await {
        return Ok(("docker-compose".into(), Vec::new()));
    }
    Err(ComposeError::Unavailable(
        "neither `docker compose` nor `docker-compose` is installed".into(),
    ))
}

impl Repository for LocalRepo {
    fn root(&self) -> &Path {
        LocalRepo::root(self)
    }
    fn get(&self, id: &str) -> Result<Manifest, RepoError> {
        LocalRepo::get(self, id)
    }
    fn backups_of(&self, source: &str) -> Result<Vec<Manifest>, RepoError> {
        LocalRepo::backups_of(self, source)
    }
    fn resolve(
        &self,
        source: &str,
        reference: &str,
        exclude_run: Option<&str>,
    ) -> Result<Manifest, RepoError> {
        LocalRepo::resolve(self, source, reference, exclude_run)
    }
    fn open_verified(&self, id: &str) -> Result<VerifiedBackup, RepoError> {
        LocalRepo::open_verified(self, id)
    }
    fn verify(&self, id: &str, deep: bool) -> Result<Verification, RepoError> {
        LocalRepo::verify(self, id, deep)
    }
    fn create(&self, new: NewBackup) -> Result<Box<dyn BackupSink>, RepoError> {
        Ok(Box::new(LocalRepo::create(self, new)?))
    }
    fn prune(
        &self,
        source: &str,
        policy: &Policy,
        now: Timestamp,
        current_run: Option<&str>,
    ) -> Result<Pruned, RepoError> {
        LocalRepo::prune(self, source, policy, now, current_run, false)
    }
}

impl BackupSink for BackupWriter {
    fn finish(self: Box<Self>) -> Result<Manifest, RepoError> {
        BackupWriter::finish(*self)
    }
}

/// An S3 bucket beside the local repository.
pub struct S3Offsite {
    pub store: S3Store,
    pub repo: Arc<LocalRepo>,
}

impl Offsite for S3Offsite {
    fn url(&self) -> String {
        self.store.url()
    }

    fn push<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), String>> {
        let (store, repo, id) = (self.store.clone(), self.repo.clone(), id.to_string());
        // Spawned: the S3 futures are Send only for owned ('static) arguments.
        Box::pin(async move {
            tokio::spawn(async move { crate::s3::push_backup(&store, &repo, &id).await })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        })
    }

    fn fetch<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        let (store, repo, id) = (self.store.clone(), self.repo.clone(), id.to_string());
        Box::pin(async move {
            tokio::spawn(async move { crate::s3::fetch_backup(&store, &repo, &id).await })
                .await
                .map_err(|e| e.to_string())?
                .map(|m| m.is_some())
                .map_err(|e| e.to_string())
        })
    }
}

/// The client of every HTTP step.
pub struct Reqwest(pub reqwest::Client);

impl Reqwest {
    /// A dead host fails in seconds, not at the OS's TCP timeout; each step
    /// sets its own overall limit, if any.
    pub fn new() -> Self {
        Self(
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
        )
    }
}

impl Default for Reqwest {
    fn default() -> Self {
        Self::new()
    }
}

impl Http for Reqwest {
    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.0.request(method, url)
    }

    fn execute(
        &self,
        request: reqwest::Request,
    ) -> BoxFuture<'static, Result<reqwest::Response, reqwest::Error>> {
        Box::pin(self.0.execute(request))
    }
}
