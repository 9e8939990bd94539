//! The live world an operation starts from: a Docker connection, what
//! Docker and the repositories hold now, and plans made against it.

use jiff::Timestamp;

use super::error::OpError;
use crate::compile::params::Missing;
use crate::compile::{Options, compile};
use crate::docker::Docker;
use crate::model::world::{Backup, World};
use crate::plan::Plan;
use crate::repo::LocalRepo;
use crate::runbook::source::Source;
use crate::s3::S3Store;

/// A plan of `source` made against `world`, what Docker and the
/// repositories hold now.
pub fn compile_live(
    source: &Source,
    sets: &[(String, String)],
    world: &World,
) -> Result<Plan, OpError> {
    let options = Options {
        sets,
        missing: Missing::Refuse,
        world: Some((world, "live")),
    };
    compile(source, &options).map_err(|f| OpError::from_compile(f, source))
}

/// Connects to Docker, or explains why not.
pub async fn connect() -> Result<Docker, OpError> {
    Docker::connect().await.map_err(|e| {
        OpError::Unavailable(format!(
            "{e}\n  hint: is the Docker daemon running? lifeboat uses DOCKER_HOST when set \
             (e.g. unix:///var/run/docker.sock or tcp://host:2375), else the local socket"
        ))
    })
}

/// What Docker and the repository hold now (the local one, and the off-site
/// one if any): what live plans are made against.
pub async fn observe(
    docker: &Docker,
    repo: &LocalRepo,
    remote: Option<&S3Store>,
    sizes: crate::docker::Sizes<'_>,
) -> Result<World, String> {
    let (containers, volumes) = docker
        .observe_with(sizes)
        .await
        .map_err(|e| e.to_string())?;
    let mut backups: Vec<Backup> = repo
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
        restore_from: Default::default(),
    })
}
