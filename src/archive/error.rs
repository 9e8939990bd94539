//! Why an archive was rejected.

/// The first violation a [`super::Scanner`] found; offsets count bytes of the tar stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("tar entry `{path}` is not allowed: {reason}")]
    BadEntry { path: String, reason: String },
    #[error("bad tar header at byte {offset}: {reason}")]
    BadHeader { offset: u64, reason: String },
    #[error("tar archive is truncated at byte {offset}: {reason}")]
    Truncated { offset: u64, reason: String },
}
