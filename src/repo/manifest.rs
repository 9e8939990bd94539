//! The JSON manifest stored beside each backup object.

use std::fs;
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::id::{is_id, is_source};
use super::{RepoError, fsutil};
use crate::model::world::Backup;

/// The manifest format this version reads and writes.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    Volume,
    Exec,
    Http,
}

impl BackupKind {
    /// File extension of the stored object.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Volume => "tar.zst",
            Self::Exec | Self::Http => "raw.zst",
        }
    }
}

/// Where the backed-up data came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The result of the last `verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub at: Timestamp,
    pub ok: bool,
    /// Decompressed and scanned, not only hashed.
    pub deep: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    pub source: String,
    pub kind: BackupKind,
    #[serde(default)]
    pub origin: Origin,
    pub created_at: Timestamp,
    /// Bytes before compression.
    pub raw_bytes: u64,
    /// Bytes of the stored object.
    pub stored_bytes: u64,
    /// Volume backups: regular files in the tar.
    #[serde(default)]
    pub file_count: Option<u64>,
    /// File name of the stored object, beside the manifest.
    pub object: String,
    /// Hex sha256 of the stored object (what `sha256sum` prints).
    pub sha256: String,
    pub compression: String,
    /// `age` when the stored object is `zstd | age`.
    #[serde(default)]
    pub encryption: Option<String>,
    /// Who can decrypt it: age public keys, or `passphrase`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encrypted_to: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub pinned: bool,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub verification: Option<Verification>,
    /// What the backup step recorded about the data it saved (row counts,
    /// digests, a sentinel's time): drills compare the restored data with
    /// them (docs/architecture.md §8).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub facts: std::collections::BTreeMap<String, String>,
}

/// At most this many facts, of these sizes: a manifest stays small.
pub const MAX_FACTS: usize = 64;
pub const MAX_FACT_NAME: usize = 64;
pub const MAX_FACT_VALUE: usize = 4096;

/// Facts are named like params and small: a drill prints them.
pub fn check_facts(facts: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    if facts.len() > MAX_FACTS {
        return Err(format!("{} facts; at most {MAX_FACTS}", facts.len()));
    }
    for (name, value) in facts {
        let well_named = !name.is_empty()
            && name.len() <= MAX_FACT_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !well_named {
            return Err(format!(
                "fact name `{}` is not 1-{MAX_FACT_NAME} letters, digits, `_`, `-` or `.`",
                name.escape_debug()
            ));
        }
        if value.len() > MAX_FACT_VALUE {
            return Err(format!(
                "fact `{name}` is {} bytes; at most {MAX_FACT_VALUE}",
                value.len()
            ));
        }
    }
    Ok(())
}

impl crate::model::backup_ref::BackupFacts for Manifest {
    fn id(&self) -> &str {
        &self.id
    }
    fn source(&self) -> &str {
        &self.source
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn tags(&self) -> &[String] {
        &self.tags
    }
    fn verified(&self) -> bool {
        Manifest::verified(self)
    }
    fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }
}

impl Manifest {
    /// The planner's view of this backup; verified only by a successful verification.
    pub fn to_world(&self) -> Backup {
        Backup {
            id: self.id.clone(),
            source: self.source.clone(),
            created_at: self.created_at,
            stored_bytes: self.stored_bytes,
            verified_at: self.verification.as_ref().filter(|v| v.ok).map(|v| v.at),
            tags: self.tags.clone(),
            run_id: self.run_id.clone(),
        }
    }

    /// Whether `ok` is the last verification's result.
    pub fn verified(&self) -> bool {
        self.verification.as_ref().is_some_and(|v| v.ok)
    }

    /// Reads and checks the manifest at `<dir>/<source>/<id>.json`.
    pub(super) fn load(path: &Path, source: &str, id: &str) -> Result<Self, RepoError> {
        let bad = |message: String| RepoError::BadManifest {
            path: path.to_path_buf(),
            message,
        };
        let text = read_small(path).map_err(RepoError::io(path))?;
        let m: Self = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        m.check(source, id).map_err(bad)?;
        Ok(m)
    }

    /// What a manifest must satisfy wherever it was read from (a local file,
    /// S3): a known format, the id and source it is stored under, an object
    /// name that cannot point elsewhere, and a well-formed sha256.
    pub fn check(&self, source: &str, id: &str) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format {} is not supported (this lifeboat reads format {FORMAT})",
                self.format
            ));
        }
        if !is_source(&self.source) || !is_id(&self.id) {
            return Err(format!(
                "invalid source `{}` or id `{}`",
                self.source.escape_debug(),
                self.id.escape_debug()
            ));
        }
        if self.id != id || self.source != source {
            return Err(format!(
                "it describes backup `{}` of `{}` but is stored as `{id}` of `{source}`",
                self.id, self.source
            ));
        }
        let object = match self.encryption.as_deref() {
            None => format!("{id}.{}", self.kind.extension()),
            Some("age") => format!("{id}.{}.age", self.kind.extension()),
            Some(other) => {
                return Err(format!(
                    "encryption `{}` is not supported (only age)",
                    other.escape_debug()
                ));
            }
        };
        if self.object != object {
            return Err(format!(
                "object `{}` should be `{object}`",
                self.object.escape_debug()
            ));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "sha256 `{}` is not 64 hex digits",
                self.sha256.escape_debug()
            ));
        }
        check_facts(&self.facts)
    }

    /// Writes the manifest atomically (pretty JSON).
    pub(super) fn store(&self, path: &Path) -> Result<(), RepoError> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| RepoError::BadManifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        json.push(b'\n');
        fsutil::write_atomic(path, &json)
    }
}

/// Largest manifest read; real ones are about a kilobyte.
const MAX_MANIFEST: u64 = 1 << 20;

/// The text of a manifest file: a regular file (a FIFO or `/dev/zero` would
/// block or never end) of at most [`MAX_MANIFEST`] bytes.
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_MANIFEST + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_MANIFEST {
        return Err(std::io::Error::other("larger than 1 MiB: not a manifest"));
    }
    Ok(text)
}
