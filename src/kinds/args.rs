//! Argument types several kinds share.

use crate::model::kind_spec::ArgType;

pub const WAIT: ArgType = ArgType::OneOf(&["running", "healthy"]);
pub const EXEC_EXPECT: ArgType = ArgType::Expect(&[
    "exit_code",
    "stdout_matches",
    "stdout_contains",
    "stderr_matches",
]);
pub const HTTP_EXPECT: ArgType = ArgType::Expect(&["status", "body_matches", "body_contains"]);
pub const METHOD: ArgType = ArgType::OneOf(&["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);
