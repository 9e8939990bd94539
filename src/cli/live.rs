//! The live world: a Docker connection, the backup repository and the state
//! directory, as the commands that act (or probe) need them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{self, Config, S3Config, parse_timeout};
use crate::docker::Docker;
use crate::model::world::World;
use crate::ops::OpError;
use crate::repo::{KeySettings, Keys, LocalRepo, Policy};
use crate::s3::{S3Options, S3Store};

/// Where lifeboat keeps state and backups, and how they are encrypted: from
/// flags, else the environment, else the config file, else defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct Places {
    /// Config file (YAML: repo, offsite, s3, restore, encryption, retention, schedule; see
    /// docs/config.md). Default: ./lifeboat.yaml when it exists.
    #[arg(long, global = true, env = "LIFEBOAT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State directory: run journals (`runs/<run-id>.jsonl`) [default: .lifeboat]
    #[arg(
        long = "state-dir",
        global = true,
        env = "LIFEBOAT_STATE",
        value_name = "DIR"
    )]
    state_dir_arg: Option<PathBuf>,
    /// Backup repository: a directory (default `<state-dir>/repo`), or
    /// `s3://bucket/prefix` (then `<state-dir>/cache/…` holds local copies).
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_REPO",
        value_name = "DIR|s3://BUCKET/PREFIX"
    )]
    pub repo: Option<PathBuf>,
    /// Also keep every new backup off-site, in `s3://bucket/prefix`; restores
    /// fetch from there what is not local. Endpoint: AWS_ENDPOINT_URL;
    /// credentials: the standard AWS chain (AWS_ACCESS_KEY_ID, profiles, …).
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_OFFSITE",
        value_name = "s3://BUCKET/PREFIX"
    )]
    pub offsite: Option<String>,
    /// Encrypt new backups with age to this public key (repeatable, or
    /// comma-separated in the variable).
    #[arg(
        long = "age-recipient",
        global = true,
        env = "LIFEBOAT_AGE_RECIPIENTS",
        value_delimiter = ',',
        value_name = "AGE1…"
    )]
    age_recipients: Vec<String>,
    /// Encrypt new backups to the age public keys in FILE, one per line.
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_AGE_RECIPIENTS_FILE",
        value_name = "FILE"
    )]
    age_recipients_file: Option<PathBuf>,
    /// age identity file (AGE-SECRET-KEY-1…) that decrypts backups; without
    /// recipients, new backups are also encrypted to its public key.
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_AGE_IDENTITY",
        value_name = "FILE"
    )]
    age_identity: Option<PathBuf>,
    /// Encrypt and decrypt with the passphrase on the first line of FILE (age scrypt).
    #[arg(
        long,
        global = true,
        env = "LIFEBOAT_AGE_PASSPHRASE_FILE",
        value_name = "FILE"
    )]
    age_passphrase_file: Option<PathBuf>,
    /// Resolved by [`Places::settle`].
    #[arg(skip)]
    pub state_dir: PathBuf,
    /// The config file's retention policy (empty without one).
    #[arg(skip)]
    pub retention: Policy,
    #[arg(skip)]
    keys: KeySettings,
    #[arg(skip)]
    s3: S3Config,
    /// The config file's `restore.max_expansion`.
    #[arg(skip)]
    max_expansion: Option<f64>,
    /// The config file's `schedule:` jobs.
    #[arg(skip)]
    pub jobs: Vec<crate::schedule::Job>,
}

impl Places {
    /// Reads the config file (when there is one) and fills in what flags and
    /// the environment left open.
    pub fn settle(&mut self) -> Result<(), OpError> {
        let config = match &self.config {
            Some(path) => Config::load(path),
            None if Path::new(config::DEFAULT_FILE).is_file() => {
                Config::load(Path::new(config::DEFAULT_FILE))
            }
            None => Ok(Config::default()),
        }
        .map_err(OpError::usage)?;
        self.state_dir = self
            .state_dir_arg
            .clone()
            .or_else(|| config.state_dir.clone())
            .unwrap_or_else(|| PathBuf::from(".lifeboat"));
        if self.repo.is_none() {
            self.repo = config.repo.as_ref().map(PathBuf::from);
        }
        if self.offsite.is_none() {
            self.offsite = config.offsite.clone();
        }
        let flags = KeySettings {
            recipients: self.age_recipients.clone(),
            recipients_file: self.age_recipients_file.clone(),
            identity_file: self.age_identity.clone(),
            passphrase_file: self.age_passphrase_file.clone(),
        };
        // Keys come from one place: flags and environment, or the file.
        self.keys = if flags.is_empty() {
            config.keys()
        } else {
            flags
        };
        self.retention = config.retention.policy().map_err(OpError::usage)?;
        self.s3 = config.s3;
        self.max_expansion = config.restore.max_expansion;
        self.jobs = config.jobs;
        Ok(())
    }

    /// Environment variables that give a child `lifeboat` the places this
    /// process was given by flags (it inherits the environment and finds the
    /// same config file anyway).
    pub fn child_env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut env = vec![("LIFEBOAT_STATE", self.state_dir.clone().into_os_string())];
        let paths = [
            ("LIFEBOAT_CONFIG", &self.config),
            ("LIFEBOAT_REPO", &self.repo),
            ("LIFEBOAT_AGE_RECIPIENTS_FILE", &self.age_recipients_file),
            ("LIFEBOAT_AGE_IDENTITY", &self.age_identity),
            ("LIFEBOAT_AGE_PASSPHRASE_FILE", &self.age_passphrase_file),
        ];
        for (name, value) in paths {
            if let Some(p) = value {
                env.push((name, p.clone().into_os_string()));
            }
        }
        if let Some(o) = &self.offsite {
            env.push(("LIFEBOAT_OFFSITE", o.into()));
        }
        if !self.age_recipients.is_empty() {
            env.push((
                "LIFEBOAT_AGE_RECIPIENTS",
                self.age_recipients.join(",").into(),
            ));
        }
        env
    }

    /// `--repo`, when it names an S3 location.
    fn s3_repo(&self) -> Option<String> {
        self.repo
            .as_ref()
            .and_then(|r| r.to_str())
            .filter(|r| r.starts_with("s3://"))
            .map(str::to_string)
    }

    /// The local repository: `--repo DIR`, or the cache of an S3 repository.
    pub fn repo_dir(&self) -> PathBuf {
        if let Some(url) = self.s3_repo() {
            let path = url.trim_start_matches("s3://").replace('/', "_");
            return self.state_dir.join("cache").join(path);
        }
        self.repo
            .clone()
            .unwrap_or_else(|| self.state_dir.join("repo"))
    }

    /// The S3 settings: the environment, else the config file, else defaults.
    fn s3_options(&self) -> Result<S3Options, String> {
        let mut o = S3Options::default();
        let c = &self.s3;
        if let Some(v) = c.path_style {
            o.path_style = v;
        }
        if let Some(mib) = c.part_size_mib {
            o.part_size = mib << 20;
        }
        if let Some(n) = c.parallel_parts {
            o.parallel_parts = n;
        }
        if let Some(n) = c.parallel_downloads {
            o.parallel_downloads = n;
        }
        match env_value("LIFEBOAT_S3_MAX_ATTEMPTS") {
            Some(v) => {
                o.max_attempts = v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("LIFEBOAT_S3_MAX_ATTEMPTS: `{v}` is not a whole number of at least 1")
                })?
            }
            None => o.max_attempts = c.max_attempts.unwrap_or(o.max_attempts),
        }
        for (key, env, file) in c.timeouts() {
            let value = match (env_value(env), file) {
                (Some(v), _) => parse_timeout(env, &v)?,
                (None, Some(v)) => parse_timeout(&format!("s3.{key}"), v)?,
                (None, None) => continue,
            };
            match key {
                "connect_timeout" => o.connect_timeout = value,
                "read_timeout" => o.read_timeout = value,
                _ => o.attempt_timeout = value,
            }
        }
        Ok(o)
    }

    /// The off-site store: an S3 `--repo`, else `--offsite`.
    pub async fn remote(&self) -> Result<Option<S3Store>, OpError> {
        let Some(url) = self.s3_repo().or_else(|| self.offsite.clone()) else {
            return Ok(None);
        };
        let options = self.s3_options().map_err(OpError::usage)?;
        S3Store::open(&url, options)
            .await
            .map(Some)
            .map_err(|e| OpError::Unavailable(format!("{url}: {e}")))
    }

    /// The local repository, swept of the partial objects that interrupted
    /// runs left behind (said on stderr).
    pub fn open_repo(&self) -> Result<Arc<LocalRepo>, OpError> {
        let repo = self.open_repo_unswept()?;
        sweep(&repo);
        Ok(repo)
    }

    /// The local repository as it is, for what must change nothing (`--dry-run`).
    pub fn open_repo_unswept(&self) -> Result<Arc<LocalRepo>, OpError> {
        let dir = self.repo_dir();
        let keys =
            Keys::load(&self.keys).map_err(|e| OpError::usage(format!("encryption: {e}")))?;
        LocalRepo::open(&dir)
            .map(|r| Arc::new(r.with_keys(keys).with_max_expansion(self.max_expansion)))
            .map_err(|e| OpError::Unavailable(format!("repository {}: {e}", dir.display())))
    }
}

/// Removes the partial objects of runs that are not running (killed while
/// writing a backup) and says what went. A sweep that fails stops nothing.
fn sweep(repo: &LocalRepo) {
    let locks = crate::engine::lock::default_dir();
    let live =
        |run: &str| crate::engine::lock::is_held(&locks, &crate::engine::lock::run_lock(run));
    let sweep = match repo.sweep_partials(&live) {
        Ok(s) => s,
        Err(e) => {
            errln!("warning: looking for partial backups left by interrupted runs: {e}");
            return;
        }
    };
    if !sweep.removed.is_empty() {
        let runs = sweep.runs();
        let n = sweep.removed.len();
        errln!(
            "Removed {n} partial backup object{} ({}) left by interrupted runs{}:",
            if n == 1 { "" } else { "s" },
            crate::model::size::bytes(sweep.bytes()),
            if runs.is_empty() {
                String::new()
            } else {
                format!(" ({})", runs.join(", "))
            }
        );
        for p in &sweep.removed {
            errln!(
                "  {} ({})",
                p.path.display(),
                crate::model::size::bytes(p.bytes)
            );
        }
    }
    for (path, e) in &sweep.failed {
        errln!(
            "warning: cannot remove {}, a partial backup left by an interrupted run: {e}; \
             remove it by hand once no lifeboat runs",
            path.display()
        );
    }
}

/// Docker, the off-site store and the world they show: what a run starts from.
/// The volumes a plan names (its volume targets): whose sizes it shows.
pub fn plan_volumes(plan: &crate::plan::Plan) -> Vec<String> {
    plan.targets
        .iter()
        .filter(|t| t.kind == crate::model::target::TargetKind::Volume)
        .map(|t| t.object.clone())
        .collect()
}

/// Docker, the off-site store and the world they show: what a run starts
/// from. Volume sizes only of `volumes` (the plan's: the only ones it shows;
/// `GET /system/df` walks every volume on the host and took seconds).
pub async fn connect_and_observe(
    places: &Places,
    repo: &LocalRepo,
    volumes: &[String],
) -> Result<(Docker, Option<S3Store>, World), OpError> {
    let docker = crate::ops::world::connect().await?;
    let remote = places.remote().await?;
    let world = crate::ops::world::observe(
        &docker,
        repo,
        remote.as_ref(),
        crate::docker::Sizes::Of(volumes),
    )
    .await
    .map_err(|e| OpError::Unavailable(format!("probing the world: {e}")))?;
    Ok((docker, remote, world))
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            errln!("error: cannot start the async runtime: {e}");
            std::process::exit(i32::from(super::EXIT_UNAVAILABLE))
        })
}

/// The value of environment variable `name`, unless unset or blank.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
