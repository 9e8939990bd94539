//! The off-site store: a backup repository in an S3 bucket (docs/architecture.md §7).
//!
//! [`S3Store`] is a bucket and a key prefix (`s3://bucket/prefix`); every key
//! its methods take or return is relative to that prefix. Objects go up as
//! streamed multipart uploads with bounded memory and come down streamed to a
//! `.partial` file. [`push_backup`], [`list_manifests`] and [`pull_backup`]
//! keep the local repository's layout (`backups/<source>/<id>.<ext>` and
//! `<id>.json`) under the prefix, the manifest written last. [`S3Repo`] is
//! that repository as a [`crate::repo::Store`], for the catalog; it reads
//! objects as streams ([`ObjectReader`]).

mod download;
mod error;
mod repo;
mod resume;
mod store;
mod stream;
mod upload;

pub use upload::UploadStats;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;

pub use error::S3Error;
pub use repo::{fetch_backup, list_manifests, manifest_key, object_key, pull_backup, push_backup};
pub use store::S3Repo;
pub use stream::ObjectReader;

use error::Call;

/// Smallest part S3 accepts (except the last one).
pub const MIN_PART_SIZE: usize = 5 << 20;
/// Most parts one multipart upload may have.
const MAX_PARTS: u64 = 10_000;
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// What [`S3Store::get_small`] accepts.
pub const SMALL_LIMIT: u64 = 16 << 20;

/// How an [`S3Store`] talks to S3.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Path-style addressing (`http://host/bucket/key`), which S3-compatible
    /// servers need. Default: true if `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) is set.
    pub path_style: bool,
    /// Bytes per multipart part, at least 5 MiB (default 16 MiB); files smaller
    /// than this go up in one PutObject. Memory use ≈ `part_size × parallel_parts`.
    pub part_size: usize,
    /// Parts in flight at once when uploading (default 4).
    pub parallel_parts: usize,
    /// Ranged GETs in flight at once when downloading, each `part_size` long
    /// (default 8). Memory per GET is about 1 MiB, not a part.
    pub parallel_downloads: usize,
    /// Attempts per request, the first included (default 5); exponential backoff in between.
    pub max_attempts: u32,
    /// First retry delay, doubled each attempt (with jitter), at most 20 s (default 1 s).
    pub initial_backoff: Duration,
    /// TCP connect timeout (default 3 s).
    pub connect_timeout: Duration,
    /// The longest wait for S3 to start answering a request that sends no
    /// data, and for the next bytes of a download (default 15 s). A server
    /// that accepts connections and never answers is given up on after
    /// `max_attempts` of these.
    pub read_timeout: Duration,
    /// The longest one attempt to send data (a part, a small object) may
    /// take, its answer included (default 5 min): at least `part_size` at
    /// the slowest link lifeboat should work over.
    pub attempt_timeout: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        let endpoint_set = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
        Self {
            path_style: endpoint_set,
            part_size: 16 << 20,
            parallel_parts: 4,
            parallel_downloads: 8,
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(15),
            attempt_timeout: Duration::from_secs(300),
        }
    }
}

impl S3Options {
    fn check(&self) -> Result<(), S3Error> {
        if self.part_size < MIN_PART_SIZE {
            return Err(S3Error::BadOption(format!(
                "part size {} is below the S3 minimum of {MIN_PART_SIZE} bytes (5 MiB)",
                self.part_size
            )));
        }
        if self.parallel_parts == 0 || self.parallel_downloads == 0 || self.max_attempts == 0 {
            return Err(S3Error::BadOption(
                "parallel parts, parallel downloads and max attempts must be at least 1".into(),
            ));
        }
        for (name, value) in [
            ("connect timeout", self.connect_timeout),
            ("read timeout", self.read_timeout),
            ("attempt timeout", self.attempt_timeout),
        ] {
            if value.is_zero() {
                return Err(S3Error::BadOption(format!(
                    "the {name} must be longer than 0"
                )));
            }
        }
        Ok(())
    }

    fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(MAX_BACKOFF)
    }

    /// The pause before resuming a broken download after `failures` breaks
    /// (at least 1): doubled each time, at most [`MAX_BACKOFF`].
    fn backoff(&self, failures: u32) -> Duration {
        (self.initial_backoff * 2u32.pow(failures.saturating_sub(1).min(16))).min(MAX_BACKOFF)
    }

    /// Requests that send no data: an answer must start within `read_timeout`.
    fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .build()
    }

    /// Requests that send data (parts, small objects): the SDK's read
    /// timeout runs from the first byte sent to the answer, so it gets the
    /// whole attempt.
    fn upload_timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.attempt_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .build()
    }

    /// The config override for requests that send data.
    fn upload_config(&self) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::Config::builder().timeout_config(self.upload_timeout_config())
    }
}

/// Static credentials for [`S3Store::open_with`].
#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Default `us-east-1`.
    pub region: Option<String>,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// A bucket and key prefix on S3 (or an S3-compatible server).
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Without leading or trailing `/`; may be empty.
    prefix: String,
    /// For error messages.
    endpoint: String,
    options: S3Options,
}

impl S3Store {
    /// Opens `s3://bucket/prefix`. The endpoint comes from `AWS_ENDPOINT_URL`
    /// (S3-compatible servers), credentials and region from the standard AWS
    /// chain (environment, profiles, …); the region defaults to `us-east-1`.
    /// Nothing is sent until the first request.
    pub async fn open(url: &str, options: S3Options) -> Result<Self, S3Error> {
        options.check()?;
        let (bucket, prefix) = parse_url(url)?;
        let region = RegionProviderChain::default_provider().or_else(Region::new("us-east-1"));
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .retry_config(options.retry_config())
            .timeout_config(options.timeout_config())
            .load()
            .await;
        let endpoint = match sdk.endpoint_url() {
            Some(url) => url.to_string(),
            None => format!(
                "https://s3.{}.amazonaws.com",
                sdk.region().map_or("us-east-1", |r| r.as_ref())
            ),
        };
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(options.path_style)
            .build();
        Ok(Self {
            client: Client::from_conf(config),
            bucket,
            prefix,
            endpoint,
            options,
        })
    }

    /// Opens `s3://bucket/prefix` at `endpoint` with fixed credentials, ignoring
    /// the environment (tests, explicit configuration).
    pub fn open_with(
        url: &str,
        endpoint: &str,
        credentials: StaticCredentials,
        options: S3Options,
    ) -> Result<Self, S3Error> {
        options.check()?;
        let (bucket, prefix) = parse_url(url)?;
        let region = credentials.region.unwrap_or_else(|| "us-east-1".into());
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(region))
            .credentials_provider(Credentials::new(
                credentials.access_key_id,
                credentials.secret_access_key,
                None,
                None,
                "lifeboat",
            ))
            .force_path_style(options.path_style)
            .retry_config(options.retry_config())
            .timeout_config(options.timeout_config())
            .build();
        Ok(Self {
            client: Client::from_conf(config),
            bucket,
            prefix,
            endpoint: endpoint.into(),
            options,
        })
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn options(&self) -> &S3Options {
        &self.options
    }

    /// The full key of `key` (relative to the prefix).
    fn full_key(&self, key: &str) -> String {
        let key = key.trim_start_matches('/');
        if self.prefix.is_empty() {
            key.into()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn call<'a>(&'a self, op: &'static str, full_key: &'a str) -> Call<'a> {
        Call {
            op,
            endpoint: &self.endpoint,
            bucket: &self.bucket,
            key: full_key,
            attempts: self.options.max_attempts,
            read_timeout: self.options.read_timeout,
            attempt_timeout: self.options.attempt_timeout,
        }
    }

    /// Writes a small object (a manifest) in one request.
    pub async fn put_small(&self, key: &str, bytes: Vec<u8>) -> Result<(), S3Error> {
        self.put_small_if(key, bytes, None).await.map(|_| ())
    }

    /// [`put_small`](Self::put_small) only if the object's ETag is still
    /// `etag` (a conditional PUT, `If-Match`); [`S3Error::Changed`] if not.
    /// Returns the ETag of what was written.
    pub async fn put_small_if(
        &self,
        key: &str,
        bytes: Vec<u8>,
        etag: Option<&str>,
    ) -> Result<Option<String>, S3Error> {
        let full = self.full_key(key);
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .content_type(content_type(&full))
            .set_if_match(etag.map(str::to_string))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.call("PutObject", &full).error(e))?;
        Ok(out.e_tag().map(str::to_string))
    }

    /// Reads a small object (a manifest), at most 16 MiB.
    pub async fn get_small(&self, key: &str) -> Result<Vec<u8>, S3Error> {
        self.get_small_tagged(key).await.map(|(bytes, _)| bytes)
    }

    /// [`get_small`](Self::get_small) and the object's ETag, for a later
    /// [`put_small_if`](Self::put_small_if).
    pub async fn get_small_tagged(&self, key: &str) -> Result<(Vec<u8>, Option<String>), S3Error> {
        let full = self.full_key(key);
        let call = self.call("GetObject", &full);
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| call.error(e))?;
        let size = out.content_length().unwrap_or(0).max(0) as u64;
        let etag = out.e_tag().map(str::to_string);
        let too_large = |size| S3Error::TooLarge {
            bucket: self.bucket.clone(),
            key: full.clone(),
            size,
            limit: SMALL_LIMIT,
        };
        if size > SMALL_LIMIT {
            return Err(too_large(size));
        }
        let mut body = out.body;
        let mut bytes = Vec::with_capacity(size as usize);
        while let Some(chunk) = body.try_next().await.map_err(|e| S3Error::Request {
            op: "GetObject",
            bucket: self.bucket.clone(),
            key: full.clone(),
            cause: error::chain(&e),
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > SMALL_LIMIT {
                return Err(too_large(bytes.len() as u64));
            }
        }
        Ok((bytes, etag))
    }

    /// Every key under `under` (relative to the prefix, e.g. `backups/`), with
    /// its size, sorted; keys are returned relative to the prefix. Follows every
    /// ListObjectsV2 page.
    pub async fn list(&self, under: &str) -> Result<Vec<(String, u64)>, S3Error> {
        self.list_pages(under, None).await
    }

    /// [`list`](Self::list) with at most `page_size` keys per request.
    pub async fn list_pages(
        &self,
        under: &str,
        page_size: Option<i32>,
    ) -> Result<Vec<(String, u64)>, S3Error> {
        // With a prefix, `under` = "" lists `prefix/`, not `prefix-other/`.
        let full = self.full_key(under);
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full)
            .set_max_keys(page_size)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.call("ListObjectsV2", &full).error(e))?;
            for obj in page.contents() {
                let Some(key) = obj.key() else { continue };
                let Some(rel) = key.get(strip..) else {
                    continue;
                };
                out.push((rel.to_string(), obj.size().unwrap_or(0).max(0) as u64));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Deletes `key`; deleting a missing key succeeds (as S3 does).
    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        let full = self.full_key(key);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| self.call("DeleteObject", &full).error(e))?;
        Ok(())
    }

    /// Deletes `key` only if its ETag is still `etag` (`If-Match`; S3 has
    /// conditional deletes, servers that ignore the header delete anyway);
    /// [`S3Error::Changed`] if it changed. A server that refuses the header
    /// gets an unconditional delete.
    pub async fn delete_if(&self, key: &str, etag: &str) -> Result<(), S3Error> {
        let full = self.full_key(key);
        let conditional = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .if_match(etag)
            .send()
            .await;
        match conditional {
            Ok(_) => Ok(()),
            Err(e) => match self.call("DeleteObject", &full).error(e) {
                S3Error::Request { cause, .. }
                    if cause.starts_with("NotImplemented")
                        || cause.starts_with("InvalidArgument") =>
                {
                    tracing::debug!(key = full, "conditional delete refused ({cause}), deleting");
                    self.delete(key).await
                }
                S3Error::NotFound { .. } => Ok(()),
                e => Err(e),
            },
        }
    }

    /// The size of `key`, `None` if it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, S3Error> {
        let full = self.full_key(key);
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) => match self.call("HeadObject", &full).error(e) {
                S3Error::NotFound { .. } => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Creates the bucket (tests and first-time setup); an existing bucket of ours is fine.
    pub async fn create_bucket(&self) -> Result<(), S3Error> {
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(s) = e.as_service_error()
                    && (s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists())
                {
                    return Ok(());
                }
                Err(self.call("CreateBucket", "").error(e))
            }
        }
    }
}

/// `s3://bucket[/prefix]` → (bucket, prefix without surrounding slashes).
fn parse_url(url: &str) -> Result<(String, String), S3Error> {
    let bad = |reason: &str| S3Error::BadUrl {
        url: url.into(),
        reason: reason.into(),
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("it does not start with s3://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric();
    if !valid {
        return Err(bad(
            "the bucket name must have 3 to 63 characters: lowercase letters, digits, `-` and `.`",
        ));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|c| c == "." || c == "..") || prefix.contains("//") {
        return Err(bad(
            "the prefix must not contain `.`, `..` or empty components",
        ));
    }
    Ok((bucket.into(), prefix.into()))
}

fn content_type(key: &str) -> &'static str {
    if key.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("s3://backups/site/a/").unwrap(),
            ("backups".into(), "site/a".into())
        );
        assert_eq!(
            parse_url("s3://my.bucket-1").unwrap(),
            ("my.bucket-1".into(), String::new())
        );
        for bad in [
            "backups",
            "s3://ab",
            "s3://Backups/x",
            "s3://-abc",
            "s3://abc/../x",
            "s3://abc/a//b",
            "http://abc",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options() {
        let small = S3Options {
            part_size: 1 << 20,
            ..S3Options::default()
        };
        assert!(small.check().is_err());
        assert!(S3Options::default().check().is_ok());
    }
}
