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
//! retention: { keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_within: 2d, keep_safety: 14d }
//! schedule: { jobs: { nightly: { run: nightly-backup, cron: "0 2 * * *" } } }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::schedule::config::ScheduleConfig;
use crate::model::duration::parse_duration;
use crate::repo::retention::parse_time_zone;
use crate::repo::{KeySettings, Policy, RetentionDuration};
use crate::runbook::diagnostic::suggestion;
use crate::runbook::position_index::PositionIndex;
use crate::schedule::Job;

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
    /// The jobs of `lifeboat schedule`, as written (docs/schedule.md).
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// The `schedule:` jobs, checked by [`Config::load`].
    #[serde(skip)]
    pub jobs: Vec<Job>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub path_style: Option<bool>,
    pub part_size_mib: Option<usize>,
    pub parallel_parts: Option<usize>,
    pub parallel_downloads: Option<usize>,
    pub max_attempts: Option<u32>,
    /// Durations (`3s`, `5m`), as [`S3Config::timeouts`] names them.
    pub connect_timeout: Option<String>,
    pub read_timeout: Option<String>,
    pub attempt_timeout: Option<String>,
}

impl S3Config {
    /// The timeouts: (key in the file, environment variable that wins over
    /// it, value in the file).
    pub fn timeouts(&self) -> [(&'static str, &'static str, Option<&str>); 3] {
        [
            (
                "connect_timeout",
                "LIFEBOAT_S3_CONNECT_TIMEOUT",
                self.connect_timeout.as_deref(),
            ),
            (
                "read_timeout",
                "LIFEBOAT_S3_READ_TIMEOUT",
                self.read_timeout.as_deref(),
            ),
            (
                "attempt_timeout",
                "LIFEBOAT_S3_ATTEMPT_TIMEOUT",
                self.attempt_timeout.as_deref(),
            ),
        ]
    }

    fn check(&self) -> Result<(), String> {
        for (key, _, value) in self.timeouts() {
            if let Some(text) = value {
                parse_timeout(&format!("s3.{key}"), text)?;
            }
        }
        if self.max_attempts == Some(0) {
            return Err("s3.max_attempts: it must be at least 1".into());
        }
        Ok(())
    }
}

/// `text` as a timeout (a duration longer than 0); `what` says where it came from.
pub fn parse_timeout(what: &str, text: &str) -> Result<Duration, String> {
    parse_duration(text)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{what}: `{text}` is not a duration longer than 0 (like 15s or 5m)"))
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
    /// Retention durations in restic's units: `6m` (months), `30d`, `36h`, `1y6m`.
    pub keep_within: Option<String>,
    pub keep_within_hourly: Option<String>,
    pub keep_within_daily: Option<String>,
    pub keep_within_weekly: Option<String>,
    pub keep_within_monthly: Option<String>,
    pub keep_within_yearly: Option<String>,
    /// Tag lists (`a,b`: both tags): backups with them are kept.
    #[serde(default)]
    pub keep_tag: Vec<String>,
    /// How long safety backups are kept (default 7d).
    pub keep_safety: Option<String>,
    /// The zone of the calendar (default UTC).
    pub time_zone: Option<String>,
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
                    with_suggestion(strip_location(&e.to_string()))
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
            .map_err(|e| format!("{}: {e}", path.display()))?;
        config
            .s3
            .check()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        config.jobs = config.schedule.jobs().map_err(|p| {
            let at = PositionIndex::build(&text)
                .value(&p.path)
                .map(|s| format!(":{}:{}", s.line, s.col + 1))
                .unwrap_or_default();
            format!("{}{at}: {}: {}", path.display(), p.path, p.message)
        })?;
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
    /// The policy; errors read `retention.<field>: why`.
    pub fn policy(&self) -> Result<Policy, String> {
        let duration = |field: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| {
                    t.parse::<RetentionDuration>()
                        .map_err(|e| format!("retention.{field}: {e}"))
                })
                .transpose()
        };
        let keep_tags = self
            .keep_tag
            .iter()
            .map(|t| t.parse().map_err(|e| format!("retention.keep_tag: {e}")))
            .collect::<Result<_, String>>()?;
        let time_zone = self
            .time_zone
            .as_deref()
            .map(|z| parse_time_zone(z).map_err(|e| format!("retention.time_zone: {e}")))
            .transpose()?;
        Ok(Policy {
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            keep_within: duration("keep_within", &self.keep_within)?,
            keep_within_hourly: duration("keep_within_hourly", &self.keep_within_hourly)?,
            keep_within_daily: duration("keep_within_daily", &self.keep_within_daily)?,
            keep_within_weekly: duration("keep_within_weekly", &self.keep_within_weekly)?,
            keep_within_monthly: duration("keep_within_monthly", &self.keep_within_monthly)?,
            keep_within_yearly: duration("keep_within_yearly", &self.keep_within_yearly)?,
            keep_tags,
            keep_safety: duration("keep_safety", &self.keep_safety)?,
            tags: Vec::new(),
            time_zone,
        })
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or variant) with
/// a did-you-mean when one of the expected words is close.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message
        .split_once("unknown field `")
        .or_else(|| message.split_once("unknown variant `"))
        .map(|(_, rest)| rest)
    else {
        return message.to_string();
    };
    let Some((word, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match suggestion(word, candidates) {
        Some(hint) => format!("{message}; {hint}"),
        None => message.to_string(),
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
        assert_eq!(policy.keep_within, Some(RetentionDuration::days(2)));
        assert_eq!(c.s3.part_size_mib, Some(8));
    }

    #[test]
    fn mistakes_are_reported_with_their_position() {
        assert_eq!(
            load("repo: x\nretention:\n  keep_lats: 3\n").unwrap_err(),
            "FILE:3:3: retention: unknown field `keep_lats`, expected one of `keep_last`, \
             `keep_hourly`, `keep_daily`, `keep_weekly`, `keep_monthly`, `keep_yearly`, \
             `keep_within`, `keep_within_hourly`, `keep_within_daily`, `keep_within_weekly`, \
             `keep_within_monthly`, `keep_within_yearly`, `keep_tag`, `keep_safety`, \
             `time_zone`; did you mean `keep_last`?"
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
    fn the_documented_example_loads() {
        let doc = include_str!("../../docs/config.md");
        let start = doc.find("```yaml\n").unwrap() + "```yaml\n".len();
        let example = &doc[start..start + doc[start..].find("```").unwrap()];
        let c = load(example).unwrap();
        let p = c.retention.policy().unwrap();
        assert_eq!(p.keep_within, Some(RetentionDuration::days(2)));
        assert_eq!(p.keep_within_daily.unwrap().months, 1);
        assert_eq!(p.keep_safety, Some(RetentionDuration::days(7)));
    }

    #[test]
    fn retention_durations_are_restics_and_every_field_is_checked() {
        let c = load(
            "retention: { keep_within: 6m, keep_within_daily: 1m, keep_safety: 14d, \
             keep_tag: [pre-upgrade, \"manual,verified\"], time_zone: Europe/Berlin }\n",
        )
        .unwrap();
        let p = c.retention.policy().unwrap();
        assert_eq!(p.keep_within.unwrap().months, 6);
        assert_eq!(p.keep_within_daily.unwrap().months, 1);
        assert_eq!(p.keep_safety, Some(RetentionDuration::days(14)));
        assert_eq!(p.keep_tags.len(), 2);
        assert_eq!(p.keep_tags[1].0, ["manual", "verified"]);
        assert_eq!(
            p.time_zone.as_ref().and_then(|z| z.iana_name()),
            Some("Europe/Berlin")
        );
        for (text, field) in [
            ("retention: { keep_within: 1h30m }\n", "keep_within"),
            (
                "retention: { keep_within_weekly: 7 }\n",
                "keep_within_weekly",
            ),
            ("retention: { keep_safety: 30s }\n", "keep_safety"),
            ("retention: { keep_tag: [\"a,\"] }\n", "keep_tag"),
            ("retention: { time_zone: Nowhere/Land }\n", "time_zone"),
        ] {
            let e = load(text).unwrap_err();
            assert!(e.starts_with(&format!("FILE: retention.{field}: ")), "{e}");
        }
    }

    #[test]
    fn s3_timeouts_are_durations_longer_than_zero() {
        let c = load("s3: { read_timeout: 2s, attempt_timeout: 5m, max_attempts: 2 }\n").unwrap();
        assert_eq!(c.s3.read_timeout.as_deref(), Some("2s"));
        assert_eq!(c.s3.max_attempts, Some(2));
        assert_eq!(
            parse_timeout("s3.attempt_timeout", "5m"),
            Ok(Duration::from_secs(300))
        );
        assert_eq!(
            load("s3: { read_timeout: soon }\n").unwrap_err(),
            "FILE: s3.read_timeout: `soon` is not a duration longer than 0 (like 15s or 5m)"
        );
        assert_eq!(
            load("s3: { connect_timeout: 0s }\n").unwrap_err(),
            "FILE: s3.connect_timeout: `0s` is not a duration longer than 0 (like 15s or 5m)"
        );
        assert_eq!(
            load("s3: { max_attempts: 0 }\n").unwrap_err(),
            "FILE: s3.max_attempts: it must be at least 1"
        );
    }

    #[test]
    fn schedule_mistakes_have_their_position_and_a_did_you_mean() {
        assert_eq!(
            load("schedule:\n  jobs:\n    nightly: { run: x, cron: \"0 2 * *\" }\n").unwrap_err(),
            "FILE:3:30: schedule.jobs.nightly.cron: `0 2 * *` has 4 fields; a cron expression \
             has 5 (minute hour day-of-month month day-of-week) or 6 (a second first), e.g. \
             `0 2 * * *` or `*/10 * * * * *`"
        );
        assert_eq!(
            load("schedule:\n  jobs:\n    nightly: { run: x, corn: \"0 2 * * *\" }\n").unwrap_err(),
            "FILE:3:24: schedule.jobs.nightly: unknown field `corn`, expected one of `run`, \
             `drill`, `cron`, `set`, `jitter`, `missed`, `time_zone`, `notify`, `timeout`; did you \
             mean `cron`?"
        );
        assert_eq!(
            load("schedule: { missed: onse }\n").unwrap_err(),
            "FILE:1:21: schedule.missed: unknown variant `onse`, expected `skip` or `once`; did \
             you mean `once`?"
        );
        assert!(
            load("schedlue: {}\n")
                .unwrap_err()
                .ends_with("did you mean `schedule`?")
        );
        let c = load("schedule: { jobs: { a: { run: x, cron: \"@daily\" } } }\n").unwrap();
        assert_eq!(c.jobs.len(), 1);
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
