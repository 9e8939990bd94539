//! Targets: the containers, compose services and volumes a runbook acts on,
//! with their templates rendered. The compiler resolves them; step kinds
//! read them (what a step destroys, what its backup covers).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// What a target names. Plans write it as `container`, `service` or `volume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Container,
    Service,
    Volume,
}

impl TargetKind {
    pub fn word(self) -> &'static str {
        match self {
            TargetKind::Container => "container",
            TargetKind::Service => "service",
            TargetKind::Volume => "volume",
        }
    }
}

/// A target with its templates rendered.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: TargetKind,
    /// Container or volume name; for a service, the service name.
    pub name: String,
    pub project: Option<String>,
    /// Volume targets holding a container's data.
    pub volumes: Vec<String>,
}

impl Target {
    /// `container shop-redis-1`, `volume shop_redis-data`, or `service redis of project shop`.
    pub fn selector(&self) -> String {
        match (&self.kind, &self.project) {
            (TargetKind::Service, Some(p)) => format!("service {} of project {p}", self.name),
            (kind, _) => format!("{} {}", kind.word(), self.name),
        }
    }
}

pub type Targets = IndexMap<String, Target>;
