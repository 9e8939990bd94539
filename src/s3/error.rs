//! S3 errors: each names the endpoint, bucket or key involved and the cause chain.

use std::error::Error as StdError;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::repo::RepoError;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("invalid S3 URL `{url}`: {reason} (expected s3://bucket[/prefix])")]
    BadUrl { url: String, reason: String },
    #[error("invalid S3 option: {0}")]
    BadOption(String),
    #[error("cannot reach S3 at {endpoint} after {attempts} attempts: {cause}")]
    Unreachable {
        endpoint: String,
        attempts: u32,
        cause: String,
    },
    #[error("S3 {op} of s3://{bucket}/{key} failed: {cause}")]
    Request {
        op: &'static str,
        bucket: String,
        key: String,
        cause: String,
    },
    #[error("s3://{bucket}/{key} was changed by another writer since it was read")]
    Changed { bucket: String, key: String },
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    #[error("s3://{bucket}/{key} is {size} bytes, more than the {limit} bytes allowed here")]
    TooLarge {
        bucket: String,
        key: String,
        size: u64,
        limit: u64,
    },
    #[error("s3://{bucket}/{key} is damaged: {reason}")]
    Corrupt {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("bad manifest s3://{bucket}/{key}: {message}")]
    BadManifest {
        bucket: String,
        key: String,
        message: String,
    },
    #[error(
        "multipart upload of s3://{bucket}/{key} failed: {cause}; aborting upload {upload_id} also failed \
         ({abort_error}), remove it with `aws s3api abort-multipart-upload --bucket {bucket} --key {key} --upload-id {upload_id}`"
    )]
    AbortFailed {
        bucket: String,
        key: String,
        upload_id: String,
        cause: Box<S3Error>,
        abort_error: Box<S3Error>,
    },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl S3Error {
    /// This error as a repository error naming the S3 repository `url`.
    pub fn in_repo(self, url: &str) -> RepoError {
        RepoError::Io {
            path: url.into(),
            source: io::Error::other(self.to_string()),
        }
    }

    /// `map_err` helper for I/O on `path`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What an S3 call was about, to turn its [`SdkError`] into an [`S3Error`].
pub(crate) struct Call<'a> {
    pub op: &'static str,
    pub endpoint: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub attempts: u32,
    pub read_timeout: Duration,
    pub attempt_timeout: Duration,
}

impl Call<'_> {
    pub fn error<E, R>(&self, e: SdkError<E, R>) -> S3Error
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + 'static,
    {
        let request = |cause: String| S3Error::Request {
            op: self.op,
            bucket: self.bucket.into(),
            key: self.key.into(),
            cause,
        };
        match &e {
            SdkError::DispatchFailure(d) if d.is_timeout() => self.timed_out(&e),
            SdkError::TimeoutError(_) => self.timed_out(&e),
            SdkError::DispatchFailure(d) if d.is_io() => S3Error::Unreachable {
                endpoint: self.endpoint.into(),
                attempts: self.attempts,
                cause: chain(&e),
            },
            SdkError::ServiceError(s) => {
                let err = s.err();
                let code = err.code().unwrap_or_default();
                if code == "PreconditionFailed" {
                    return S3Error::Changed {
                        bucket: self.bucket.into(),
                        key: self.key.into(),
                    };
                }
                if matches!(code, "NoSuchKey" | "NotFound") {
                    return S3Error::NotFound {
                        bucket: self.bucket.into(),
                        key: self.key.into(),
                    };
                }
                let message = err.message().unwrap_or_default();
                let cause = match (code, message) {
                    ("", "") => chain(&e),
                    (code, "") => code.to_string(),
                    ("", message) => message.to_string(),
                    (code, message) => format!("{code}: {message}"),
                };
                request(cause)
            }
            _ => request(chain(&e)),
        }
    }
}

impl Call<'_> {
    /// No answer in time: say which limits ran out and how to raise them.
    fn timed_out(&self, e: &(dyn StdError + 'static)) -> S3Error {
        S3Error::Unreachable {
            endpoint: self.endpoint.into(),
            attempts: self.attempts,
            cause: format!(
                "{} (no answer within the read timeout of {}, or the attempt timeout of {} \
                 for requests that send data; if the server is only slow, raise them with \
                 LIFEBOAT_S3_READ_TIMEOUT / LIFEBOAT_S3_ATTEMPT_TIMEOUT or s3.read_timeout / \
                 s3.attempt_timeout in the config file)",
                chain(e),
                human(self.read_timeout),
                human(self.attempt_timeout)
            ),
        }
    }
}

/// `1.5s`, `15s`, `300s`.
fn human(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// The messages of `e` and its sources, joined by `: `, repeated ones dropped.
pub(crate) fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let msg = err.to_string();
        if !msg.is_empty() && !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        next = err.source();
    }
    parts.join(": ")
}
