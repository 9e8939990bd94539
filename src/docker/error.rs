//! The one error type of the Docker adapter, and how bollard's errors map to it.

use std::time::Duration;

/// What went wrong talking to the Docker engine. Every variant names the
/// thing it was about, so a message is useful on its own in a run report.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The daemon could not be reached at all (connect, ping, a dropped connection).
    #[error("cannot reach the Docker daemon at {endpoint}: {cause}")]
    Unreachable { endpoint: String, cause: String },
    /// `what` is e.g. "container `web`", "volume `data`", "image `x:1`".
    #[error("{what} not found")]
    NotFound { what: String },
    /// Gave up waiting; `last` is the last state seen (state, health, last healthcheck output).
    #[error("{what}: gave up after {}; last seen: {last}", fmt_duration(*after))]
    Timeout {
        what: String,
        after: Duration,
        last: String,
    },
    /// A volume cannot be removed while containers use it.
    #[error("volume `{volume}` is in use by {}; stop and remove {} first", fmt_users(users), if users.len() == 1 { "it" } else { "them" })]
    InUse {
        volume: String,
        /// (container name, running)
        users: Vec<(String, bool)>,
    },
    /// Refused before anything was written (a partial restore through a
    /// symbolic link in the volume).
    #[error("{what}: {message}")]
    Refused { what: String, message: String },
    /// An API call failed, or a container did not become ready (exited, unhealthy).
    #[error("{what}: {message}")]
    Failed { what: String, message: String },
}

impl DockerError {
    pub fn failed(what: impl Into<String>, message: impl Into<String>) -> Self {
        DockerError::Failed {
            what: what.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        DockerError::NotFound { what: what.into() }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, DockerError::NotFound { .. })
    }
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn fmt_users(users: &[(String, bool)]) -> String {
    let list: Vec<String> = users
        .iter()
        .map(|(name, running)| {
            format!(
                "`{name}` ({})",
                if *running { "running" } else { "stopped" }
            )
        })
        .collect();
    format!(
        "container{} {}",
        if users.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

/// The HTTP status of an engine answer, if the error is one.
pub(crate) fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine's own message, without bollard's "Docker responded with status code" prefix.
pub(crate) fn message_of(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            message.trim().to_string()
        }
        bollard::errors::Error::RequestTimeoutError => {
            "the Docker daemon did not answer in time".to_string()
        }
        other => {
            // Walk the source chain: hyper's "client error (Connect)" alone says little.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !text.contains(&s_text) {
                    text.push_str(": ");
                    text.push_str(&s_text);
                }
                source = s.source();
            }
            text
        }
    }
}

/// True when the error means the connection itself failed (not an API answer).
pub(crate) fn is_connection(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    match e {
        E::SocketNotFoundError(_) => true,
        E::HyperLegacyError { err } => err.is_connect(),
        E::IOError { err } => matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::NotFound
                | std::io::ErrorKind::PermissionDenied
        ),
        _ => false,
    }
}
