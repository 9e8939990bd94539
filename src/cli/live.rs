//! The live world: a Docker connection, the backup repository and the state
//! directory, as the commands that act (or probe) need them.

use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;

use super::{EXIT_UNAVAILABLE, usage_error};
use crate::docker::Docker;
use crate::plan::world::World;
use crate::repo::LocalRepo;
use crate::s3::{S3Options, S3Store};

/// Where lifeboat keeps state and backups.
#[derive(Debug, Clone, clap::Args)]
pub struct Places {
    /// State directory: run journals (`runs/<run-id>.jsonl`).
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_STATE",
        default_value = ".lifeboat",
        value_name = "DIR"
    )]
    pub state_dir: PathBuf,
    /// Backup repository: a directory (default `<state-dir>/repo`), or
    /// `s3://bucket/prefix` (then `<state-dir>/cache/…` holds local copies).
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_REPO",
        value_name = "DIR|s3://BUCKET/PREFIX"
    )]
    pub repo: Option<PathBuf>,
    /// Also keep every new backup off-site, in `s3://bucket/prefix`; restores
    /// fetch from there what is not local. Endpoint: AWS_ENDPOINT_URL;
    /// credentials: the standard AWS chain (AWS_ACCESS_KEY_ID, profiles, …).
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_OFFSITE",
        value_name = "s3://BUCKET/PREFIX"
    )]
    pub offsite: Option<String>,
}

impl Places {
    /// `--repo`, when it names an S3 location.
    fn s3_repo(&self) -> Option<String> {
        self.repo
            .as_ref()
            .and_then(|r| r.to_str())
            .filter(|r| r.starts_with("s3://"))
            .map(str::to_string)
    }

    /// The local repository: `--repo DIR`, or the cache of an S3 repository.
    pub fn repo_dir(&self) -> PathBuf {
        if let Some(url) = self.s3_repo() {
            let path = url.trim_start_matches("s3://").replace('/', "_");
            return self.state_dir.join("cache").join(path);
        }
        self.repo
            .clone()
            .unwrap_or_else(|| self.state_dir.join("repo"))
    }

    /// The off-site store: an S3 `--repo`, else `--offsite`.
    pub async fn remote(&self) -> Result<Option<S3Store>, u8> {
        let Some(url) = self.s3_repo().or_else(|| self.offsite.clone()) else {
            return Ok(None);
        };
        S3Store::open(&url, S3Options::default())
            .await
            .map(Some)
            .map_err(|e| {
                usage_error(&format!("{url}: {e}"));
                EXIT_UNAVAILABLE
            })
    }

    pub fn open_repo(&self) -> Result<Arc<LocalRepo>, u8> {
        let dir = self.repo_dir();
        LocalRepo::open(&dir).map(Arc::new).map_err(|e| {
            usage_error(&format!("repository {}: {e}", dir.display()));
            EXIT_UNAVAILABLE
        })
    }
}

/// Connects to Docker, or explains why not (exit code in Err).
pub async fn connect() -> Result<Docker, u8> {
    Docker::connect().await.map_err(|e| {
        usage_error(&format!(
            "{e}\n  hint: is the Docker daemon running? lifeboat uses DOCKER_HOST when set \
             (e.g. unix:///var/run/docker.sock or tcp://host:2375), else the local socket"
        ));
        EXIT_UNAVAILABLE
    })
}

/// What Docker and the repository hold now (the local one, and the off-site
/// one if any): what live plans are made against.
pub async fn observe(
    docker: &Docker,
    repo: &LocalRepo,
    remote: Option<&S3Store>,
) -> Result<World, String> {
    let (containers, volumes) = docker.observe().await.map_err(|e| e.to_string())?;
    let mut backups: Vec<crate::plan::world::Backup> = repo
        .list()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|m| m.to_world())
        .collect();
    if let Some(store) = remote {
        let off_site = crate::s3::list_manifests(store)
            .await
            .map_err(|e| format!("listing backups in {}: {e}", store.url()))?;
        for m in off_site {
            if !backups.iter().any(|b| b.id == m.id) {
                backups.push(m.to_world());
            }
        }
    }
    Ok(World {
        taken_at: Timestamp::now(),
        containers,
        volumes,
        backups,
    })
}

/// Docker, the off-site store and the world they show: what a run starts from.
pub async fn connect_and_observe(
    places: &Places,
    repo: &LocalRepo,
) -> Result<(Docker, Option<S3Store>, World), u8> {
    let docker = connect().await?;
    let remote = places.remote().await?;
    match observe(&docker, repo, remote.as_ref()).await {
        Ok(world) => Ok((docker, remote, world)),
        Err(e) => {
            usage_error(&format!("probing the world: {e}"));
            Err(EXIT_UNAVAILABLE)
        }
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(i32::from(EXIT_UNAVAILABLE))
        })
}
