//! The optional config file, `lifeboat.yaml`: where the repository is, how
//! backups are encrypted, the retention policy. Flags and environment
//! variables win over it; relative paths in it are relative to the file.
//!
//! ```yaml
//! state_dir: /var/lib/lifeboat
//! repo: s3://backups/lifeboat          # or a directory
//! offsite: s3://dr-bucket/lifeboat
//! s3: { path_style: true, part_size_mib: 16, parallel_parts: 4 }
//! restore: { max_expansion: 1000 }
//! encryption: { identity_file: /etc/lifeboat/age.key }
//! retention: { keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_within: 2d }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::repo::{KeySettings, Policy};
use crate::runbook::duration::parse_duration;

/// The file looked for when neither `--config` nor `LIFEBOAT_CONFIG` is given.
pub const DEFAULT_FILE: &str = "lifeboat.yaml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub state_dir: Option<PathBuf>,
    pub repo: Option<String>,
    pub offsite: Option<String>,
    #[serde(default)]
    pub s3: S3Config,
    #[serde(default)]
    pub restore: RestoreConfig,
    #[serde(default)]
    pub encryption: Encryption,
    #[serde(default)]
    pub retention: Retention,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub path_style: Option<bool>,
    pub part_size_mib: Option<usize>,
    pub parallel_parts: Option<usize>,
    pub parallel_downloads: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreConfig {
    /// Refuse a backup whose manifest says it unpacks to more than this many
    /// times its stored size (a crafted manifest, a decompression bomb).
    pub max_expansion: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    #[serde(default)]
    pub recipients: Vec<String>,
    pub recipients_file: Option<PathBuf>,
    pub identity_file: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    /// e.g. `30d`, `36h`.
    pub keep_within: Option<String>,
}

impl Config {
    /// Reads `path`. Errors read `path:line:col: message`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("config file {}: {e}", path.display()))?;
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_yaml::from_str(&text).map_err(|e| match e.location() {
                Some(at) => format!(
                    "{}:{}:{}: {}",
                    path.display(),
                    at.line(),
                    at.column(),
                    strip_location(&e.to_string())
                ),
                None => format!("{}: {e}", path.display()),
            })?
        };
        if let Some(r) = config.restore.max_expansion
            && !(r.is_finite() && r >= 1.0)
        {
            return Err(format!(
                "{}: restore.max_expansion must be a number of at least 1 (raw bytes per \
                 stored byte), not {r}",
                path.display()
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        config.rebase(base);
        config
            .retention
            .policy()
            .map_err(|e| format!("{}: retention.keep_within: {e}", path.display()))?;
        Ok(config)
    }

    /// Relative paths in the file are relative to its directory.
    fn rebase(&mut self, base: &Path) {
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(path) = p
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
        };
        fix(&mut self.state_dir);
        fix(&mut self.encryption.recipients_file);
        fix(&mut self.encryption.identity_file);
        fix(&mut self.encryption.passphrase_file);
        if let Some(repo) = &mut self.repo
            && !repo.starts_with("s3://")
            && Path::new(repo).is_relative()
        {
            *repo = base.join(&*repo).to_string_lossy().into_owned();
        }
    }

    pub fn keys(&self) -> KeySettings {
        let e = &self.encryption;
        KeySettings {
            recipients: e.recipients.clone(),
            recipients_file: e.recipients_file.clone(),
            identity_file: e.identity_file.clone(),
            passphrase_file: e.passphrase_file.clone(),
        }
    }
}

impl Retention {
    pub fn policy(&self) -> Result<Policy, String> {
        let keep_within: Option<Duration> = self
            .keep_within
            .as_deref()
            .map(|d| parse_duration(d).map_err(|e| e.to_string()))
            .transpose()?;
        Ok(Policy {
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            keep_within,
        })
    }
}

/// serde_yaml appends " at line L column C"; the position is already in front.
fn strip_location(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.yaml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).map_err(|e| e.replace(&path.display().to_string(), "FILE"))
    }

    #[test]
    fn a_full_file_loads_and_paths_are_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lifeboat.yaml");
        std::fs::write(
            &path,
            "repo: backups\noffsite: s3://b/p\nencryption: { identity_file: age.key }\n\
             retention: { keep_last: 3, keep_within: 2d }\ns3: { part_size_mib: 8 }\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(
            c.repo.as_deref(),
            Some(dir.path().join("backups").to_str().unwrap())
        );
        assert_eq!(c.offsite.as_deref(), Some("s3://b/p"));
        assert_eq!(c.encryption.identity_file, Some(dir.path().join("age.key")));
        let policy = c.retention.policy().unwrap();
        assert_eq!(policy.keep_last, Some(3));
        assert_eq!(policy.keep_within, Some(Duration::from_secs(2 * 86_400)));
        assert_eq!(c.s3.part_size_mib, Some(8));
    }

    #[test]
    fn mistakes_are_reported_with_their_position() {
        assert_eq!(
            load("repo: x\nretention:\n  keep_lats: 3\n").unwrap_err(),
            "FILE:3:3: retention: unknown field `keep_lats`, expected one of `keep_last`, \
             `keep_hourly`, `keep_daily`, `keep_weekly`, `keep_monthly`, `keep_yearly`, \
             `keep_within`"
        );
        assert_eq!(
            load("retention: { keep_last: -1 }\n").unwrap_err(),
            "FILE:1:25: retention.keep_last: invalid type: integer `-1`, expected u32"
        );
        assert!(
            load("retention: { keep_within: soon }\n")
                .unwrap_err()
                .starts_with("FILE: retention.keep_within: "),
        );
        assert!(load("").is_ok());
    }

    #[test]
    fn restore_max_expansion_is_a_ratio_of_at_least_one() {
        let c = load("restore: { max_expansion: 250 }\n").unwrap();
        assert_eq!(c.restore.max_expansion, Some(250.0));
        assert_eq!(
            load("restore: { max_expansion: 0.5 }\n").unwrap_err(),
            "FILE: restore.max_expansion must be a number of at least 1 (raw bytes per \
             stored byte), not 0.5"
        );
        assert!(load("restore: { max_expansoin: 2 }\n").is_err());
    }
}
