//! The shared vocabulary at the bottom of the layers: what every stage
//! speaks of (the world and its backups, durations, effects, sizes) and no
//! stage owns. It imports nothing from the rest of the crate.

pub mod backup_ref;
pub mod duration;
pub mod effect;
pub mod kind_spec;
pub mod size;
pub mod target;
pub mod volume_path;
pub mod world;
