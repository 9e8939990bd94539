//! A scheduled job: what it runs, when (a cron expression in a time zone),
//! its jitter and its missed-run policy. Plain data, checked when built.

use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::jitter;

/// What a job runs, as a child process of the same binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `lifeboat run RUNBOOK --yes --set k=v...`
    Run(String),
    /// `lifeboat drill NAME --set k=v...`
    Drill(String),
}

/// What happens to cron times that passed while the scheduler was not
/// running (systemd timers' `Persistent=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Missed {
    /// Nothing: they are counted as missed, the job waits for its next time.
    #[default]
    Skip,
    /// One catch-up run at start-up, however many were missed.
    Once,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub action: Action,
    /// `--set` pairs passed to the child.
    pub sets: Vec<(String, String)>,
    pub cron: Cron,
    pub zone: TimeZone,
    pub jitter: Duration,
    pub missed: Missed,
    /// Where failures and recoveries are POSTed.
    pub webhook: Option<String>,
    /// A run still going after this long gets SIGINT (it finishes its steps
    /// in flight and rolls back): Kubernetes' `activeDeadlineSeconds`.
    pub timeout: Option<Duration>,
}

/// Parses a cron expression of 5 fields (minute first) or 6 (second first),
/// or a nickname such as `@daily`.
pub fn parse_cron(text: &str) -> Result<Cron, String> {
    let text = text.trim();
    let fields = text.split_whitespace().count();
    if !text.starts_with('@') && !(5..=6).contains(&fields) {
        return Err(format!(
            "`{text}` has {fields} field{}; a cron expression has 5 (minute hour day-of-month \
             month day-of-week) or 6 (a second first), e.g. `0 2 * * *` or `*/10 * * * * *`",
            if fields == 1 { "" } else { "s" }
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(text)
        .map_err(|e| format!("`{text}` is not a cron expression: {e}"))
}

/// A job name: also a metrics label value and part of file names.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "job name `{name}`: use up to 64 letters, digits, `-`, `_` and `.`, starting with \
             a letter or digit"
        ))
    }
}

impl Job {
    /// The first cron time strictly after `t`, in the job's zone (across a
    /// DST change as croner's rules say: a fixed time in a skipped hour runs
    /// right after the gap; in a repeated hour, once).
    pub fn slot_after(&self, t: Timestamp) -> Option<Timestamp> {
        let zoned = t.to_zoned(self.zone.clone());
        self.cron
            .find_next_occurrence(&zoned, false)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The newest cron time whose run starts (jitter included) at or before `t`.
    pub fn newest_started_by(&self, t: Timestamp) -> Option<Timestamp> {
        let delay = jiff::SignedDuration::try_from(self.delay()).unwrap_or_default();
        let latest = t.checked_sub(delay).ok()?.to_zoned(self.zone.clone());
        self.cron
            .find_previous_occurrence(&latest, true)
            .ok()
            .map(|z| z.timestamp())
    }

    /// This job's fixed delay after each cron time.
    pub fn delay(&self) -> Duration {
        jitter::delay(&self.name, self.jitter)
    }

    /// When the run of cron time `slot` starts: the slot plus the jitter.
    pub fn start_of(&self, slot: Timestamp) -> Timestamp {
        let delay = jiff::SignedDuration::try_from(self.delay()).unwrap_or_default();
        slot.checked_add(delay).unwrap_or(slot)
    }

    /// The usual time between two runs: between the next two cron times.
    pub fn interval_after(&self, t: Timestamp) -> Option<Duration> {
        let first = self.slot_after(t)?;
        let second = self.slot_after(first)?;
        Duration::try_from(second.duration_since(first)).ok()
    }

    /// The arguments of the child process (after the global flags).
    pub fn child_args(&self) -> Vec<String> {
        let mut args = match &self.action {
            Action::Run(runbook) => vec!["run".to_string(), runbook.clone(), "--yes".into()],
            Action::Drill(drill) => vec!["drill".to_string(), drill.clone()],
        };
        for (k, v) in &self.sets {
            args.push("--set".into());
            args.push(format!("{k}={v}"));
        }
        args
    }

    /// `run nightly-backup --set project=shop`, for people.
    pub fn describe(&self) -> String {
        let mut text = match &self.action {
            Action::Run(r) => format!("run {r}"),
            Action::Drill(d) => format!("drill {d}"),
        };
        for (k, v) in &self.sets {
            text.push_str(&format!(" --set {k}={v}"));
        }
        text
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A job for tests: `run job-runbook` on `cron` in `zone`.
    pub(crate) fn job(name: &str, cron: &str, zone: &str) -> Job {
        Job {
            name: name.into(),
            action: Action::Run("job-runbook".into()),
            sets: vec![("project".into(), "shop".into())],
            cron: parse_cron(cron).unwrap(),
            zone: TimeZone::get(zone).unwrap(),
            jitter: Duration::ZERO,
            missed: Missed::Skip,
            webhook: None,
            timeout: None,
        }
    }

    pub(crate) fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn five_and_six_fields_and_nicknames_parse_and_others_are_refused() {
        for ok in ["0 2 * * *", "*/2 * * * * *", "@daily", "0 4 * * SUN"] {
            assert!(parse_cron(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            parse_cron("0 2 * *").unwrap_err(),
            "`0 2 * *` has 4 fields; a cron expression has 5 (minute hour day-of-month month \
             day-of-week) or 6 (a second first), e.g. `0 2 * * *` or `*/10 * * * * *`"
        );
        assert!(parse_cron("0 0 2 * * * 2030").is_err(), "no year field");
        assert!(
            parse_cron("0 25 * * *")
                .unwrap_err()
                .starts_with("`0 25 * * *` is not a cron expression: ")
        );
    }

    #[test]
    fn six_fields_count_seconds() {
        let j = job("fast", "*/2 * * * * *", "UTC");
        assert_eq!(
            j.slot_after(at("2026-01-01T00:00:01Z")),
            Some(at("2026-01-01T00:00:02Z"))
        );
        assert_eq!(
            j.interval_after(at("2026-01-01T00:00:00Z")),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_daily_time_follows_the_zone_across_dst() {
        let j = job("nightly", "0 2 * * *", "Europe/Berlin");
        // 2026-03-29 02:00 does not exist in Berlin: run right after the gap.
        assert_eq!(
            j.slot_after(at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // Before the change 02:00 CET is 01:00 UTC; after, 02:00 CEST is 00:00 UTC.
        assert_eq!(
            j.slot_after(at("2026-03-27T12:00:00Z")),
            Some(at("2026-03-28T01:00:00Z"))
        );
        assert_eq!(
            j.slot_after(at("2026-03-29T12:00:00Z")),
            Some(at("2026-03-30T00:00:00Z"))
        );
        // 2026-10-25 02:00 happens twice: the job runs once.
        let after = j.slot_after(at("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(after, at("2026-10-25T00:00:00Z"));
        assert_eq!(j.slot_after(after), Some(at("2026-10-26T01:00:00Z")));
    }

    #[test]
    fn the_child_gets_the_command_and_every_set() {
        let mut j = job("nightly", "0 2 * * *", "UTC");
        assert_eq!(
            j.child_args(),
            ["run", "job-runbook", "--yes", "--set", "project=shop"]
        );
        j.action = Action::Drill("shop-restore".into());
        j.sets.clear();
        assert_eq!(j.child_args(), ["drill", "shop-restore"]);
        assert_eq!(j.describe(), "drill shop-restore");
    }

    #[test]
    fn names_are_label_safe() {
        assert!(check_name("nightly-backup_2.a").is_ok());
        for bad in ["", "-x", "a b", "a\"b", "ä"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
