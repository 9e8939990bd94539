//! What every kind module uses.

pub use std::time::Duration;

pub use futures_util::future::BoxFuture;
pub use serde_json::{Value as Json, json};

pub use super::args::{BACKUP_OUTPUTS, EXEC_EXPECT, FACTS, HTTP_EXPECT, METHOD, WAIT};
pub use super::undo::{arg, builtin, restore_from_guard};
pub use super::{ArgMap, Before, Guard, Kind, Prediction, UndoError};
pub use crate::engine::{Outputs, StepError};
pub use crate::model::kind_spec::{ArgType, Category, Effect, KindSpec, Subject, def, opt, req};
pub use crate::model::target::Targets;
pub use crate::model::world::World;
pub use crate::plan::plan::{Step, Undo};
pub use crate::runtime::backups::{
    backup_id, backup_outputs, backup_volume, restorable_backup, verify_written,
};
pub use crate::runtime::compose::Created;
pub use crate::runtime::expect::{check_expect, command_outputs, matches, outputs};
pub use crate::runtime::transfer::{self, Storer, verified_stream};
pub use crate::runtime::{Ctx, docker, ensure_local, push_offsite, repo as repo_error, wait_for};
pub use crate::template::placeholder;
