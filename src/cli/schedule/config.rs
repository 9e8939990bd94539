//! The `schedule:` section of lifeboat.yaml (docs/schedule.md): raw, as the
//! file says it, and checked into [`Job`]s. A problem names the path of the
//! key it is about, which `Config::load` turns into file:line:col.
//!
//! ```yaml
//! schedule:
//!   time_zone: Europe/Berlin            # default UTC
//!   missed: skip                        # skip | once (default skip)
//!   jitter: 0s                          # default for every job
//!   notify: { webhook: http://alerts/hook }
//!   jobs:
//!     nightly: { run: nightly-backup, cron: "0 2 * * *", set: { project: shop }, jitter: 10m }
//!     weekly-drill: { drill: shop-restore, cron: "0 4 * * 0", missed: once }
//! ```

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::model::duration::parse_duration;
use crate::repo::retention::parse_time_zone;
use crate::schedule::job::{check_name, parse_cron};
use crate::schedule::{Action, Job, Missed};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The zone cron times are read in (default UTC).
    pub time_zone: Option<String>,
    pub missed: Option<Missed>,
    pub jitter: Option<String>,
    pub notify: Option<Notify>,
    #[serde(default)]
    pub jobs: IndexMap<String, JobConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// POSTed a JSON object on every failure and on the first success after one.
    pub webhook: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// A runbook to run (`lifeboat run NAME --yes`).
    pub run: Option<String>,
    /// A drill to run (`lifeboat drill NAME`).
    pub drill: Option<String>,
    pub cron: Option<String>,
    #[serde(default)]
    pub set: IndexMap<String, SetValue>,
    pub jitter: Option<String>,
    pub missed: Option<Missed>,
    pub time_zone: Option<String>,
    pub notify: Option<Notify>,
    /// A run still going after this long is interrupted (SIGINT: it rolls back).
    pub timeout: Option<String>,
}

/// A `set:` value: YAML scalars are passed on as text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SetValue {
    Text(String),
    Number(serde_yaml::Number),
    Bool(bool),
}

impl SetValue {
    fn text(&self) -> String {
        match self {
            SetValue::Text(t) => t.clone(),
            SetValue::Number(n) => n.to_string(),
            SetValue::Bool(b) => b.to_string(),
        }
    }
}

/// A mistake in the section: the key path (`schedule.jobs.nightly.cron`)
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
    }
}

impl ScheduleConfig {
    /// The jobs, checked, in the order of the file.
    pub fn jobs(&self) -> Result<Vec<Job>, Problem> {
        let zone = self.time_zone.as_deref().unwrap_or("UTC");
        parse_time_zone(zone).map_err(|e| problem("schedule.time_zone", e))?;
        if let Some(j) = &self.jitter {
            jitter("schedule.jitter", j)?;
        }
        if let Some(hook) = self.notify.as_ref().and_then(|n| n.webhook.as_deref()) {
            check_webhook("schedule.notify.webhook", hook)?;
        }
        self.jobs
            .iter()
            .map(|(name, job)| self.job(name, job))
            .collect()
    }

    fn job(&self, name: &str, raw: &JobConfig) -> Result<Job, Problem> {
        let at = |key: &str| format!("schedule.jobs.{name}.{key}");
        check_name(name).map_err(|e| problem(format!("schedule.jobs.{name}"), e))?;
        let action = match (&raw.run, &raw.drill) {
            (Some(r), None) if !r.trim().is_empty() => Action::Run(r.clone()),
            (None, Some(d)) if !d.trim().is_empty() => Action::Drill(d.clone()),
            (Some(_), Some(_)) => {
                return Err(problem(
                    at("drill"),
                    format!("job `{name}` has both `run` and `drill`: give one"),
                ));
            }
            _ => {
                return Err(problem(
                    format!("schedule.jobs.{name}"),
                    format!(
                        "job `{name}` needs `run: RUNBOOK` or `drill: NAME` (and `cron`), e.g. \
                         {{ run: nightly-backup, cron: \"0 2 * * *\" }}"
                    ),
                ));
            }
        };
        let cron = raw.cron.as_deref().ok_or_else(|| {
            problem(
                format!("schedule.jobs.{name}"),
                format!("job `{name}` needs `cron`, e.g. cron: \"0 2 * * *\" (02:00 every day)"),
            )
        })?;
        let cron = parse_cron(cron).map_err(|e| problem(at("cron"), e))?;
        let zone_name = raw
            .time_zone
            .as_deref()
            .or(self.time_zone.as_deref())
            .unwrap_or("UTC");
        let zone = parse_time_zone(zone_name).map_err(|e| problem(at("time_zone"), e))?;
        let jitter = match (&raw.jitter, &self.jitter) {
            (Some(j), _) => jitter(&at("jitter"), j)?,
            (None, Some(j)) => jitter("schedule.jitter", j)?,
            (None, None) => Duration::ZERO,
        };
        let webhook = match raw.notify.as_ref() {
            Some(n) => n.webhook.clone(),
            None => self.notify.as_ref().and_then(|n| n.webhook.clone()),
        };
        if let Some(hook) = &webhook {
            check_webhook(&at("notify.webhook"), hook)?;
        }
        let timeout =
            match &raw.timeout {
                Some(t) => Some(parse_duration(t).ok().filter(|d| !d.is_zero()).ok_or_else(
                    || {
                        problem(
                            at("timeout"),
                            format!("`{t}` is not a duration longer than 0 (like 2h)"),
                        )
                    },
                )?),
                None => None,
            };
        let mut sets = Vec::new();
        for (k, v) in &raw.set {
            if k.is_empty() || k.contains('=') {
                return Err(problem(at("set"), format!("`{k}` is not a param name")));
            }
            sets.push((k.clone(), v.text()));
        }
        Ok(Job {
            name: name.to_string(),
            action,
            sets,
            cron,
            zone,
            jitter,
            missed: raw.missed.or(self.missed).unwrap_or_default(),
            webhook,
            timeout,
        })
    }
}

fn jitter(path: &str, text: &str) -> Result<Duration, Problem> {
    parse_duration(text).map_err(|e| problem(path, format!("`{text}`: {e}")))
}

fn check_webhook(path: &str, url: &str) -> Result<(), Problem> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(problem(
            path,
            format!("`{url}` is not an http:// or https:// URL"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Job>, Problem> {
        let c: ScheduleConfig = serde_yaml::from_str(text).unwrap();
        c.jobs()
    }

    #[test]
    fn defaults_come_from_the_section_and_jobs_override_them() {
        let jobs = parse(
            "time_zone: Europe/Berlin\nmissed: once\njitter: 1m\n\
             notify: { webhook: http://alerts/hook }\njobs:\n\
             \x20 nightly: { run: nightly-backup, cron: \"0 2 * * *\", set: { project: shop, n: 3, dry: true }, jitter: 10m }\n\
             \x20 drill: { drill: shop-restore, cron: \"0 4 * * 0\", missed: skip, time_zone: UTC, notify: {} }\n",
        )
        .unwrap();
        let (n, d) = (&jobs[0], &jobs[1]);
        assert_eq!(n.action, Action::Run("nightly-backup".into()));
        assert_eq!(n.sets[1], ("n".into(), "3".into()));
        assert_eq!(n.sets[2], ("dry".into(), "true".into()));
        assert_eq!(n.jitter, Duration::from_secs(600));
        assert_eq!(n.missed, Missed::Once);
        assert_eq!(n.zone.iana_name(), Some("Europe/Berlin"));
        assert_eq!(n.webhook.as_deref(), Some("http://alerts/hook"));
        assert_eq!(d.action, Action::Drill("shop-restore".into()));
        assert_eq!(d.jitter, Duration::from_secs(60));
        assert_eq!(d.missed, Missed::Skip);
        assert_eq!(d.zone.iana_name(), Some("UTC"));
        assert_eq!(d.webhook, None, "`notify: {{}}` turns it off");
    }

    #[test]
    fn each_mistake_names_its_key() {
        let cases = [
            ("jobs: { a: { cron: \"0 2 * * *\" } }", "schedule.jobs.a"),
            (
                "jobs: { a: { run: x, drill: y, cron: \"0 2 * * *\" } }",
                "schedule.jobs.a.drill",
            ),
            ("jobs: { a: { run: x } }", "schedule.jobs.a"),
            (
                "jobs: { a: { run: x, cron: \"0 2 * *\" } }",
                "schedule.jobs.a.cron",
            ),
            (
                "jobs: { a: { run: x, cron: \"@daily\", time_zone: Mars/Base } }",
                "schedule.jobs.a.time_zone",
            ),
            (
                "jobs: { a: { run: x, cron: \"@daily\", jitter: soon } }",
                "schedule.jobs.a.jitter",
            ),
            (
                "jobs: { a: { run: x, cron: \"@daily\", notify: { webhook: ftp://x } } }",
                "schedule.jobs.a.notify.webhook",
            ),
            (
                "jobs: { \"a b\": { run: x, cron: \"@daily\" } }",
                "schedule.jobs.a b",
            ),
            ("time_zone: Nowhere", "schedule.time_zone"),
            (
                "jobs: { a: { run: x, cron: \"@daily\", timeout: 0s } }",
                "schedule.jobs.a.timeout",
            ),
        ];
        for (text, path) in cases {
            assert_eq!(parse(text).unwrap_err().path, path, "{text}");
        }
    }
}
