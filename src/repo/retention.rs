//! Retention: which backups of one source a policy keeps, and why. Pure: no I/O.
//!
//! The rules are restic's `forget` rules (restic 0.16/0.17, `restic help forget`,
//! doc/060_forget.rst, `internal/restic/snapshot_policy.go`):
//!
//! - Backups are sorted newest first.
//! - `keep_last N` keeps the N newest backups.
//! - `keep_hourly|daily|weekly|monthly|yearly N` keeps the newest backup of each
//!   hour / day / ISO week / month / year, for the N most recent such buckets
//!   that have a backup (buckets without a backup do not count). Buckets are
//!   calendar periods in UTC (restic uses each snapshot's own time zone).
//! - "If there are not enough snapshots to keep one for each duration related
//!   `--keep-{within-,}` option, the oldest snapshot in the group is kept
//!   additionally" (restic ≥ 0.16, changelog issue-3624: "preserves the oldest
//!   snapshot if fewer snapshots than allowed by the `--keep-*` parameters would
//!   otherwise be kept"). Here: a bucket rule with buckets left over when it
//!   reaches the oldest backup keeps that backup too (reason `oldest (…)`).
//! - `keep_within D` keeps every backup younger than D, **relative to the newest
//!   backup** (that is not in the future), as restic does ("keep snapshots that
//!   are newer than duration … relative to the latest snapshot"). So a source
//!   whose backups stopped a month ago keeps its last D of history instead of
//!   losing it all.
//! - Zero counts mean "not set"; a policy with nothing set keeps everything
//!   (restic: "policy is empty").
//!
//! lifeboat adds: pinned backups are always kept (like restic's `--keep-tag`,
//! they still count in the buckets); a backup written by the current run is
//! always kept; and a policy never forgets every backup of a source: it keeps
//! the newest one instead.

use std::fmt;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Serialize, Serializer};

use super::Manifest;
use crate::runbook::duration::Human;

/// A retention policy (restic `forget --keep-*`). `None` and `Some(0)` mean "not set".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    pub keep_within: Option<Duration>,
}

/// A calendar bucket rule (or `Last`: every backup is its own bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Unit {
    fn word(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Yearly => "yearly",
        }
    }

    /// `1 day has`, `3 days have`.
    fn count(self, n: u32) -> String {
        let noun = match self {
            Self::Last => "backup",
            Self::Hourly => "hour",
            Self::Daily => "day",
            Self::Weekly => "week",
            Self::Monthly => "month",
            Self::Yearly => "year",
        };
        if n == 1 {
            format!("1 {noun} has")
        } else {
            format!("{n} {noun}s have")
        }
    }

    /// The UTC bucket of `t`: `2026-11-20T14`, `2026-11-20`, `2026-W47`, `2026-11`, `2026`.
    fn bucket(self, t: Timestamp, position: usize) -> String {
        let dt = t.to_zoned(TimeZone::UTC).datetime();
        match self {
            Self::Last => position.to_string(),
            Self::Hourly => dt.strftime("%Y-%m-%dT%H").to_string(),
            Self::Daily => dt.strftime("%Y-%m-%d").to_string(),
            Self::Weekly => {
                let w = dt.date().iso_week_date();
                format!("{:04}-W{:02}", w.year(), w.week())
            }
            Self::Monthly => dt.strftime("%Y-%m").to_string(),
            Self::Yearly => dt.strftime("%Y").to_string(),
        }
    }
}

/// Why a backup is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Nothing is set: everything is kept.
    EmptyPolicy,
    Pinned,
    /// Written by the run that prunes.
    ThisRun,
    /// Younger than the duration, relative to the newest backup.
    Within(Duration),
    /// `keep_last`: the n-th newest.
    Last(u32),
    /// The newest backup of a calendar bucket.
    Bucket {
        unit: Unit,
        label: String,
    },
    /// The oldest backup, kept because a rule had buckets left over.
    Oldest {
        unit: Unit,
        have: u32,
        want: u32,
    },
    /// The policy would have forgotten every backup of the source.
    OnlyBackup,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyPolicy => f.write_str("empty policy keeps everything"),
            Self::Pinned => f.write_str("pinned"),
            Self::ThisRun => f.write_str("written by this run"),
            Self::Within(d) => write!(f, "within {}", Human(*d)),
            Self::Last(n) => write!(f, "last {n}"),
            Self::Bucket { unit, label } => write!(f, "{} {label}", unit.word()),
            Self::Oldest { unit, have, want } => write!(
                f,
                "oldest ({} {want}: only {} backups)",
                unit.word(),
                unit.count(*have)
            ),
            Self::OnlyBackup => f.write_str("only backup of source"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What the policy decided for one backup.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub backup: Manifest,
    pub keep: bool,
    /// Every reason it is kept; empty when forgotten.
    pub reasons: Vec<Reason>,
}

impl Policy {
    /// Nothing set: [`apply`] keeps everything.
    pub fn is_empty(&self) -> bool {
        self.counts().iter().all(|(_, n)| n.is_none())
            && self.keep_within.is_none_or(|d| d.is_zero())
    }

    /// The set rules with their counts (zero counts left out).
    fn counts(&self) -> [(Unit, Option<u32>); 6] {
        let set = |n: Option<u32>| n.filter(|n| *n > 0);
        [
            (Unit::Last, set(self.keep_last)),
            (Unit::Hourly, set(self.keep_hourly)),
            (Unit::Daily, set(self.keep_daily)),
            (Unit::Weekly, set(self.keep_weekly)),
            (Unit::Monthly, set(self.keep_monthly)),
            (Unit::Yearly, set(self.keep_yearly)),
        ]
    }
}

/// `keep last 3, daily 7, within 2d`, or `keep everything (empty policy)`.
impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("keep everything (empty policy)");
        }
        let mut parts: Vec<String> = self
            .counts()
            .iter()
            .filter_map(|(unit, n)| n.map(|n| format!("{} {n}", unit.word())))
            .collect();
        if let Some(d) = self.keep_within.filter(|d| !d.is_zero()) {
            parts.push(format!("within {}", Human(d)));
        }
        write!(f, "keep {}", parts.join(", "))
    }
}

/// Applies `policy` to the backups of ONE source. `now` bounds the newest
/// backup `keep_within` counts from; backups whose `run_id` is `current_run`
/// are always kept. Returns one decision per backup, newest first.
pub fn apply(
    policy: &Policy,
    mut backups: Vec<Manifest>,
    now: Timestamp,
    current_run: Option<&str>,
) -> Vec<Decision> {
    backups.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let empty = policy.is_empty();
    let within = policy.keep_within.filter(|d| !d.is_zero());
    // restic: relative to the newest backup that is not in the future.
    let newest = backups
        .iter()
        .map(|b| b.created_at)
        .filter(|t| *t <= now)
        .max();
    // All in the future (a skewed clock): restic counts from the zero time, keeping all.
    let within_since = within.map(|d| {
        newest
            .and_then(|newest| {
                let d = SignedDuration::try_from(d).ok()?;
                newest.checked_sub(d).ok()
            })
            .unwrap_or(Timestamp::MIN)
    });
    struct Rule {
        unit: Unit,
        want: u32,
        left: u32,
        last: Option<String>,
    }
    let mut rules: Vec<Rule> = policy
        .counts()
        .into_iter()
        .filter_map(|(unit, n)| {
            n.map(|want| Rule {
                unit,
                want,
                left: want,
                last: None,
            })
        })
        .collect();
    let count = backups.len();
    let mut decisions: Vec<Decision> = backups
        .into_iter()
        .enumerate()
        .map(|(i, backup)| {
            let mut reasons = Vec::new();
            if empty {
                reasons.push(Reason::EmptyPolicy);
            }
            if backup.pinned {
                reasons.push(Reason::Pinned);
            }
            if current_run.is_some() && backup.run_id.as_deref() == current_run {
                reasons.push(Reason::ThisRun);
            }
            if let (Some(d), Some(since)) = (within, within_since)
                && backup.created_at > since
            {
                reasons.push(Reason::Within(d));
            }
            for rule in rules.iter_mut().filter(|r| r.left > 0) {
                let bucket = rule.unit.bucket(backup.created_at, i);
                let have = rule.want - rule.left;
                if rule.last.as_ref() != Some(&bucket) {
                    rule.left -= 1;
                    reasons.push(match rule.unit {
                        Unit::Last => Reason::Last(have + 1),
                        unit => Reason::Bucket {
                            unit,
                            label: bucket.clone(),
                        },
                    });
                    rule.last = Some(bucket);
                } else if i + 1 == count {
                    rule.left -= 1;
                    reasons.push(Reason::Oldest {
                        unit: rule.unit,
                        have,
                        want: rule.want,
                    });
                }
            }
            Decision {
                keep: !reasons.is_empty(),
                backup,
                reasons,
            }
        })
        .collect();
    if !decisions.is_empty() && decisions.iter().all(|d| !d.keep) {
        decisions[0].keep = true;
        decisions[0].reasons.push(Reason::OnlyBackup);
    }
    decisions
}
