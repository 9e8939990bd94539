//! Argument types several kinds share.

use crate::model::kind_spec::{ArgSpec, ArgType, opt};

pub const WAIT: ArgType = ArgType::OneOf(&["running", "healthy"]);
pub const EXEC_EXPECT: ArgType = ArgType::Expect(&[
    "exit_code",
    "stdout_matches",
    "stdout_contains",
    "stderr_matches",
]);
pub const HTTP_EXPECT: ArgType = ArgType::Expect(&["status", "body_matches", "body_contains"]);
pub const METHOD: ArgType = ArgType::OneOf(&["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);

/// `facts:` of the backup kinds (volume, exec, http).
pub const FACTS: ArgSpec = opt(
    "facts",
    ArgType::StrMap,
    "facts about the data, recorded in the manifest for drills to check \
     (e.g. `rows: \"{{ steps['count'].stdout }}\"`)",
);

/// What every backup kind outputs.
pub const BACKUP_OUTPUTS: &[&str] = &["backup_id", "sha256", "bytes"];
