//! The only code that talks to the Docker engine (through bollard): containers,
//! waits, exec, recreate, volumes and volume archive streams.
//!
//! Everything is a method on [`Docker`]; one file per concern:
//! `client` (connect), `containers` (inspect, list, stop/start), `wait`,
//! `exec`, `oneoff` (one-off containers on volumes), `recreate`, `volumes`, `project` (a compose project's volumes and
//! networks), `archive` (volume ↔ tar streams),
//! `helper` (the never-started helper containers the archive API needs),
//! `raw` (the one call bollard's models cannot parse on older engines).

mod archive;
mod client;
pub mod compose_cli;
mod containers;
mod error;
mod exec;
mod helper;
mod labelled;
mod oneoff;
mod project;
mod raw;
mod recreate;
mod types;
mod volumes;
mod wait;

pub use archive::{VolumeRoom, VolumeStream};
pub use client::{DEFAULT_HELPER_IMAGE, DEFAULT_HOST, Docker};
pub use containers::Sizes;
pub use error::DockerError;
pub use helper::{HELPER_LABEL, helper_image_tar};
pub use labelled::Labelled;
pub use oneoff::{ONEOFF_LABEL, ONEOFF_PREFIX, OneOff, missing_image};
pub use project::ProjectObjects;
pub use types::{ContainerMount, ContainerState, ExecOutput, ExecSpec, Recreated, WaitFor};
