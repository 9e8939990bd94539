//! Retention: which backups of one source a policy keeps, and why. Pure: no I/O.
//!
//! The rules are restic's `forget` rules (restic 0.16+, `restic help forget`,
//! doc/060_forget.rst, `internal/data/snapshot_policy.go`):
//!
//! - Backups are sorted newest first.
//! - `keep_last N` keeps the N newest backups.
//! - `keep_hourly|daily|weekly|monthly|yearly N` keeps the newest backup of each
//!   hour / day / ISO week / month / year, for the N most recent such buckets
//!   that have a backup (buckets without a backup do not count). Buckets are
//!   calendar periods in the policy's time zone (UTC unless set; restic uses
//!   the local time zone of each snapshot).
//! - "If there are not enough snapshots to keep one for each duration related
//!   `--keep-{within-,}` option, the oldest snapshot in the group is kept
//!   additionally" (restic ≥ 0.16). Here: a bucket rule with buckets left over
//!   when it reaches the oldest backup keeps that backup too (reason `oldest (…)`).
//! - `keep_within D` keeps every backup younger than D, **relative to the newest
//!   backup** (that is not in the future), as restic does. D is a
//!   [`RetentionDuration`] in restic's units (`y`, `m` = months, `d`, `h`),
//!   counted on the calendar of the time zone (a day across a DST change is a
//!   calendar day, as restic's `AddDate`).
//! - `keep_within_hourly|daily|weekly|monthly|yearly D` keeps the newest backup
//!   of each bucket among the backups within D of the newest one (and, like the
//!   count rules, the oldest backup when it is within D).
//! - `keep_tags`: every backup that has all the tags of one of the lists is
//!   kept (restic `--keep-tag`); such backups still count in the buckets.
//! - Zero counts and durations mean "not set"; a policy with nothing set keeps
//!   everything (restic: "policy is empty").
//! - `tags` (restic `forget --tag`) selects the backups the policy looks at at
//!   all; the others are neither kept nor forgotten: not touched.
//!
//! lifeboat adds:
//!
//! - Safety backups (tag `safety`, [`SAFETY_TAG`]: what a run saved right
//!   before a destructive step, e.g. an emptied volume) are not counted by the
//!   rules above, as `latest` skips them: a safety copy never takes the daily
//!   slot of that day's nightly. They have their own rule, `keep_safety D`
//!   (default [`DEFAULT_KEEP_SAFETY`]): kept while younger than D **relative to
//!   now**. `keep_tags`, pins and the current run keep them too.
//! - Pinned backups are always kept (like `keep_tags`, they still count in the
//!   buckets); a backup written by the current run is always kept.
//! - A policy never leaves a source without a backup: if it would forget every
//!   backup that is not a safety backup, it keeps the newest of those; if the
//!   source has only safety backups, the newest of them.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Serialize, Serializer};

use super::Manifest;
pub use super::retention_duration::{RetentionDuration, RetentionDurationError};
pub use crate::model::world::SAFETY_TAG;
use crate::model::world::is_safety;

/// How long safety backups are kept when the policy does not say.
pub const DEFAULT_KEEP_SAFETY: RetentionDuration = RetentionDuration::days(7);

/// A retention policy (restic `forget --keep-*`). `None` and zeros mean "not set".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    pub keep_within: Option<RetentionDuration>,
    pub keep_within_hourly: Option<RetentionDuration>,
    pub keep_within_daily: Option<RetentionDuration>,
    pub keep_within_weekly: Option<RetentionDuration>,
    pub keep_within_monthly: Option<RetentionDuration>,
    pub keep_within_yearly: Option<RetentionDuration>,
    /// Keep every backup that has all the tags of one of these lists.
    pub keep_tags: Vec<TagList>,
    /// How long safety backups are kept, relative to now; `None`: [`DEFAULT_KEEP_SAFETY`].
    pub keep_safety: Option<RetentionDuration>,
    /// Only backups that have all the tags of one of these lists are looked at
    /// (empty: all of them).
    pub tags: Vec<TagList>,
    /// The zone of the calendar buckets and durations; `None`: UTC.
    pub time_zone: Option<TimeZone>,
}

/// Tags that must all be present (restic's `a,b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagList(pub Vec<String>);

impl TagList {
    pub fn matches(&self, tags: &[String]) -> bool {
        self.0.iter().all(|t| tags.contains(t))
    }
}

impl FromStr for TagList {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let tags: Vec<String> = text.split(',').map(|t| t.trim().to_string()).collect();
        if tags.iter().any(String::is_empty) {
            return Err(format!(
                "`{text}` is not a tag list: write one tag, or several separated by commas \
                 (`nightly,verified`: both tags), without empty ones"
            ));
        }
        Ok(Self(tags))
    }
}

impl fmt::Display for TagList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// Parses a time zone name (`UTC`, `Europe/Berlin`) for [`Policy::time_zone`].
pub fn parse_time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name.trim()).map_err(|e| {
        format!(
            "unknown time zone `{name}` ({e}): use an IANA name such as `UTC` or \
             `Europe/Berlin` (see /usr/share/zoneinfo)"
        )
    })
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

    /// The bucket of `t` in `tz`: `2026-11-20T14`, `2026-11-20`, `2026-W47`, `2026-11`, `2026`.
    fn bucket(self, t: Timestamp, position: usize, tz: &TimeZone) -> String {
        let dt = t.to_zoned(tz.clone()).datetime();
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
    /// Only the safety rule is set: backups that are not safety backups are kept.
    NoRule,
    Pinned,
    /// Written by the run that prunes.
    ThisRun,
    /// Has all the tags of a `keep_tags` list.
    Tags(TagList),
    /// Younger than the duration, relative to the newest backup.
    Within(RetentionDuration),
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
    /// `keep_within_<unit>`: the newest backup of a bucket within the duration.
    WithinBucket {
        unit: Unit,
        within: RetentionDuration,
        label: String,
    },
    /// `keep_within_<unit>`: the oldest backup, within the duration.
    OldestWithin {
        unit: Unit,
        within: RetentionDuration,
    },
    /// A safety backup younger than `keep_safety`, relative to now.
    Safety(RetentionDuration),
    /// The policy would have forgotten every backup of the source.
    OnlyBackup,
    /// The policy would have forgotten every backup of the source but safety backups.
    NewestRegular,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyPolicy => f.write_str("empty policy keeps everything"),
            Self::NoRule => f.write_str("no rule for backups other than safety backups"),
            Self::Pinned => f.write_str("pinned"),
            Self::ThisRun => f.write_str("written by this run"),
            Self::Tags(tags) => write!(f, "tags {tags}"),
            Self::Within(d) => write!(f, "within {d}"),
            Self::Last(n) => write!(f, "last {n}"),
            Self::Bucket { unit, label } => write!(f, "{} {label}", unit.word()),
            Self::Oldest { unit, have, want } => write!(
                f,
                "oldest ({} {want}: only {} backups)",
                unit.word(),
                unit.count(*have)
            ),
            Self::WithinBucket {
                unit,
                within,
                label,
            } => write!(f, "{} {label} (within {within})", unit.word()),
            Self::OldestWithin { unit, within } => {
                write!(f, "oldest ({} within {within})", unit.word())
            }
            Self::Safety(d) => write!(f, "safety backup within {d}"),
            Self::OnlyBackup => f.write_str("only backup of source"),
            Self::NewestRegular => {
                f.write_str("newest backup of source that is not a safety backup")
            }
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

fn set_duration(d: Option<RetentionDuration>) -> Option<RetentionDuration> {
    d.filter(|d| !d.is_zero())
}

impl Policy {
    /// Nothing set: [`apply`] keeps everything.
    pub fn is_empty(&self) -> bool {
        !self.has_rules() && self.keep_safety.is_none()
    }

    /// Whether a rule for backups other than safety backups is set.
    pub fn has_rules(&self) -> bool {
        self.counts().iter().any(|(_, n)| n.is_some())
            || set_duration(self.keep_within).is_some()
            || self.within_buckets().iter().any(|(_, d)| d.is_some())
            || !self.keep_tags.is_empty()
    }

    /// The safety rule in force.
    pub fn keep_safety(&self) -> RetentionDuration {
        self.keep_safety.unwrap_or(DEFAULT_KEEP_SAFETY)
    }

    /// The zone of the calendar (UTC unless set).
    pub fn zone(&self) -> TimeZone {
        self.time_zone.clone().unwrap_or(TimeZone::UTC)
    }

    /// This policy where it says something, `fallback` (the config file's)
    /// elsewhere: the rules come from one of them as a whole (the flags' when
    /// they set any), `keep_safety` and the time zone each from the first that
    /// sets it. The tag filter is this policy's.
    pub fn or(&self, fallback: &Policy) -> Policy {
        let mut merged = if self.has_rules() {
            self.clone()
        } else {
            Policy {
                tags: self.tags.clone(),
                ..fallback.clone()
            }
        };
        merged.keep_safety = self.keep_safety.or(fallback.keep_safety);
        merged.time_zone = self.time_zone.clone().or(fallback.time_zone.clone());
        merged
    }

    /// Whether the policy looks at `backup` at all (`tags`).
    pub fn selects(&self, backup: &Manifest) -> bool {
        self.tags.is_empty() || self.tags.iter().any(|l| l.matches(&backup.tags))
    }

    /// The set count rules (zero counts left out).
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

    /// The set `keep_within_<unit>` rules (zero durations left out).
    fn within_buckets(&self) -> [(Unit, Option<RetentionDuration>); 5] {
        [
            (Unit::Hourly, set_duration(self.keep_within_hourly)),
            (Unit::Daily, set_duration(self.keep_within_daily)),
            (Unit::Weekly, set_duration(self.keep_within_weekly)),
            (Unit::Monthly, set_duration(self.keep_within_monthly)),
            (Unit::Yearly, set_duration(self.keep_within_yearly)),
        ]
    }
}

/// `keep last 3, daily 7, within 6m, safety 14d`, or `keep everything (empty policy)`.
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
        if let Some(d) = set_duration(self.keep_within) {
            parts.push(format!("within {d}"));
        }
        for (unit, d) in self.within_buckets() {
            if let Some(d) = d {
                parts.push(format!("{} within {d}", unit.word()));
            }
        }
        for tags in &self.keep_tags {
            parts.push(format!("tags {tags}"));
        }
        if let Some(d) = self.keep_safety {
            parts.push(format!("safety backups for {d}"));
        }
        write!(f, "keep {}", parts.join(", "))?;
        if !self.tags.is_empty() {
            let lists: Vec<String> = self.tags.iter().map(ToString::to_string).collect();
            write!(f, "; only backups tagged {}", lists.join(" or "))?;
        }
        if let Some(tz) = &self.time_zone
            && *tz != TimeZone::UTC
        {
            write!(
                f,
                "; calendar of {}",
                tz.iana_name().unwrap_or("the given time zone")
            )?;
        }
        Ok(())
    }
}

/// Applies `policy` to the backups of ONE source. Backups the policy does not
/// select (`tags`) are left out of the result. `now` bounds the newest backup
/// `keep_within*` count from, and is what `keep_safety` counts from; backups
/// whose `run_id` is `current_run` are always kept. Returns one decision per
/// selected backup, newest first.
pub fn apply(
    policy: &Policy,
    backups: Vec<Manifest>,
    now: Timestamp,
    current_run: Option<&str>,
) -> Vec<Decision> {
    let tz = policy.zone();
    let mut backups: Vec<Manifest> = backups.into_iter().filter(|b| policy.selects(b)).collect();
    backups.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let empty = policy.is_empty();
    let has_rules = policy.has_rules();
    let safety = Some(policy.keep_safety()).filter(|d| !d.is_zero());
    let safety_since = safety.map(|d| d.before(now, &tz).unwrap_or(Timestamp::MIN));
    let regular_count = backups.iter().filter(|b| !is_safety(&b.tags)).count();
    // restic: relative to the newest backup that is not in the future.
    let newest = backups
        .iter()
        .filter(|b| !is_safety(&b.tags))
        .map(|b| b.created_at)
        .filter(|t| *t <= now)
        .max();
    // All in the future (a skewed clock): restic counts from the zero time, keeping all.
    let since = |d: RetentionDuration| {
        newest
            .and_then(|newest| d.before(newest, &tz))
            .unwrap_or(Timestamp::MIN)
    };
    let within = set_duration(policy.keep_within).map(|d| (d, since(d)));
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
    struct WithinRule {
        unit: Unit,
        within: RetentionDuration,
        since: Timestamp,
        last: Option<String>,
    }
    let mut within_rules: Vec<WithinRule> = policy
        .within_buckets()
        .into_iter()
        .filter_map(|(unit, d)| {
            d.map(|within| WithinRule {
                unit,
                within,
                since: since(within),
                last: None,
            })
        })
        .collect();
    // Position among the backups that are not safety backups.
    let mut nr = 0;
    let mut decisions: Vec<Decision> = backups
        .into_iter()
        .map(|backup| {
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
            for tags in &policy.keep_tags {
                if tags.matches(&backup.tags) {
                    reasons.push(Reason::Tags(tags.clone()));
                }
            }
            if is_safety(&backup.tags) {
                if let (Some(d), Some(since)) = (safety, safety_since)
                    && backup.created_at > since
                    && !empty
                {
                    reasons.push(Reason::Safety(d));
                }
                return Decision {
                    keep: !reasons.is_empty(),
                    backup,
                    reasons,
                };
            }
            let i = nr;
            nr += 1;
            let oldest = i + 1 == regular_count;
            if !has_rules && !empty {
                reasons.push(Reason::NoRule);
            }
            if let Some((d, since)) = within
                && backup.created_at > since
            {
                reasons.push(Reason::Within(d));
            }
            for rule in rules.iter_mut().filter(|r| r.left > 0) {
                let bucket = rule.unit.bucket(backup.created_at, i, &tz);
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
                } else if oldest {
                    rule.left -= 1;
                    reasons.push(Reason::Oldest {
                        unit: rule.unit,
                        have,
                        want: rule.want,
                    });
                }
            }
            for rule in within_rules
                .iter_mut()
                .filter(|r| backup.created_at > r.since)
            {
                let bucket = rule.unit.bucket(backup.created_at, i, &tz);
                if rule.last.as_ref() != Some(&bucket) {
                    reasons.push(Reason::WithinBucket {
                        unit: rule.unit,
                        within: rule.within,
                        label: bucket.clone(),
                    });
                    rule.last = Some(bucket);
                } else if oldest {
                    reasons.push(Reason::OldestWithin {
                        unit: rule.unit,
                        within: rule.within,
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
    // Never leave the source without a backup, preferably not a safety one.
    let keeps_regular = decisions
        .iter()
        .any(|d| d.keep && !is_safety(&d.backup.tags));
    if !keeps_regular {
        let keeps_any = decisions.iter().any(|d| d.keep);
        if let Some(d) = decisions.iter_mut().find(|d| !is_safety(&d.backup.tags)) {
            d.keep = true;
            d.reasons.push(if keeps_any {
                Reason::NewestRegular
            } else {
                Reason::OnlyBackup
            });
        } else if !keeps_any && let Some(d) = decisions.first_mut() {
            d.keep = true;
            d.reasons.push(Reason::OnlyBackup);
        }
    }
    decisions
}
