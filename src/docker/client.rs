//! Connecting to the engine: DOCKER_HOST or the local socket, ping, API version negotiation.

use std::sync::Arc;
use std::time::Duration;

use super::error::{DockerError, is_connection, message_of, status_of};

/// The local socket used when DOCKER_HOST is unset or empty.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// The image helper containers are created from (only created, never started).
pub const DEFAULT_HELPER_IMAGE: &str = "lifeboat/helper:local";

/// How long `connect` waits for the daemon to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Bollard's per-request limit (time to the response headers) for ordinary calls.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// For calls whose answer only comes after a long body upload (archive PUT).
pub(crate) const LONG_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A connection to one Docker engine. Cheap to clone (shared handles).
#[derive(Clone)]
pub struct Docker {
    pub(crate) api: bollard::Docker,
    pub(crate) endpoint: Arc<str>,
    pub(crate) helper_image: Arc<str>,
}

impl std::fmt::Debug for Docker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Docker")
            .field("endpoint", &self.endpoint)
            .field("helper_image", &self.helper_image)
            .finish()
    }
}

impl Docker {
    /// DOCKER_HOST (`unix://…`, `tcp://…`, `http://…`) or the local socket;
    /// pings within 5 s and negotiates the API version; `Unreachable` otherwise.
    pub async fn connect() -> Result<Self, DockerError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        Self::connect_to(&host).await
    }

    /// Like [`Docker::connect`], to an explicit endpoint.
    pub async fn connect_to(host: &str) -> Result<Self, DockerError> {
        let host = host.trim();
        let unreachable = |cause: String| DockerError::Unreachable {
            endpoint: host.to_string(),
            cause,
        };
        let version = bollard::API_DEFAULT_VERSION;
        let secs = REQUEST_TIMEOUT.as_secs();
        let api = if host.starts_with("unix://") {
            bollard::Docker::connect_with_unix(host, secs, version)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            bollard::Docker::connect_with_http(host, secs, version)
        } else if let Some(path) = host.strip_prefix('/') {
            bollard::Docker::connect_with_unix(&format!("unix:///{path}"), secs, version)
        } else {
            return Err(unreachable(
                "unsupported address (lifeboat speaks unix://PATH, tcp://HOST:PORT and http://HOST:PORT)"
                    .to_string(),
            ));
        }
        .map_err(|e| unreachable(message_of(&e)))?;

        let negotiated = tokio::time::timeout(PING_TIMEOUT, async {
            api.ping().await?;
            api.negotiate_version().await
        })
        .await
        .map_err(|_| unreachable(format!("no answer within {}s", PING_TIMEOUT.as_secs())))?
        .map_err(|e| unreachable(message_of(&e)))?;

        Ok(Docker {
            api: negotiated,
            endpoint: Arc::from(host),
            helper_image: Arc::from(DEFAULT_HELPER_IMAGE),
        })
    }

    /// The address this client talks to, as given (e.g. `unix:///var/run/docker.sock`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Uses another image for helper containers (created in-process if missing).
    pub fn with_helper_image(mut self, image: impl Into<String>) -> Self {
        self.helper_image = Arc::from(image.into());
        self
    }

    pub fn helper_image(&self) -> &str {
        &self.helper_image
    }

    /// The negotiated API version, e.g. "1.41".
    pub fn api_version(&self) -> String {
        let v = self.api.client_version();
        format!("{}.{}", v.major_version, v.minor_version)
    }

    /// The engine's version, e.g. "20.10.24", for reports; `None` if it does not say.
    pub async fn server_version(&self) -> Option<String> {
        self.api.version().await.ok()?.version
    }

    /// A client whose requests may wait `timeout` for their answer.
    pub(crate) fn api_with_timeout(&self, timeout: Duration) -> bollard::Docker {
        self.api.clone().with_timeout(timeout.max(REQUEST_TIMEOUT))
    }

    /// Maps a bollard error: lost connection → Unreachable, 404 → NotFound(`not_found`),
    /// anything else → Failed(`what`).
    pub(crate) fn err(
        &self,
        what: impl Into<String>,
        not_found: Option<String>,
        e: bollard::errors::Error,
    ) -> DockerError {
        if is_connection(&e) {
            return DockerError::Unreachable {
                endpoint: self.endpoint.to_string(),
                cause: message_of(&e),
            };
        }
        if let (Some(404), Some(nf)) = (status_of(&e), not_found) {
            return DockerError::NotFound { what: nf };
        }
        DockerError::Failed {
            what: what.into(),
            message: message_of(&e),
        }
    }
}
