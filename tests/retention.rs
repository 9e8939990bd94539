//! Retention decisions (restic `forget` rules) for several policies and
//! backup histories, as readable tables (insta snapshots) plus exact counts.

use jiff::{SignedDuration, Timestamp};
use lifeboat::repo::retention::{self, Decision, Policy, Reason, RetentionDuration};
use lifeboat::repo::{BackupKind, Manifest, Origin};

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn backup(at: Timestamp, n: usize) -> Manifest {
    let id = format!("{}-{n:06x}", at.strftime("%Y%m%dT%H%M%SZ"));
    Manifest {
        format: 1,
        object: format!("{id}.tar.zst"),
        id,
        source: "pgdata".into(),
        kind: BackupKind::Volume,
        origin: Origin::default(),
        created_at: at,
        raw_bytes: 0,
        stored_bytes: 0,
        file_count: None,
        sha256: String::new(),
        compression: "zstd".into(),
        encryption: None,
        encrypted_to: Vec::new(),
        tags: Vec::new(),
        pinned: false,
        run_id: None,
        verification: None,
    }
}

/// Backups every `step` from `first`, `count` of them, skipping those `skip` rejects.
fn series(
    first: &str,
    step: SignedDuration,
    count: usize,
    skip: impl Fn(Timestamp) -> bool,
) -> Vec<Manifest> {
    let first = ts(first);
    (0..count)
        .map(|i| first + step * i32::try_from(i).unwrap())
        .filter(|t| !skip(*t))
        .enumerate()
        .map(|(n, t)| backup(t, n))
        .collect()
}

fn table(policy: &Policy, now: Timestamp, decisions: &[Decision]) -> String {
    let kept = decisions.iter().filter(|d| d.keep).count();
    let mut out = format!(
        "policy: {policy}\nnow:    {now}\nkept {kept}, forgotten {}\n\n",
        decisions.len() - kept
    );
    for d in decisions {
        let reasons: Vec<String> = d.reasons.iter().map(ToString::to_string).collect();
        out += &format!(
            "{}  {}  {:<6}  {}\n",
            d.backup.created_at.strftime("%Y-%m-%d %a %H:%M"),
            d.backup.id,
            if d.keep { "keep" } else { "forget" },
            reasons.join(", ")
        );
    }
    out
}

/// Applies the policy, checks invariants, snapshots the table; returns (kept, forgotten).
fn check(
    name: &str,
    policy: Policy,
    backups: Vec<Manifest>,
    now: Timestamp,
    run: Option<&str>,
) -> (usize, usize) {
    let n = backups.len();
    let decisions = retention::apply(&policy, backups, now, run);
    assert_eq!(decisions.len(), n);
    assert!(
        decisions
            .windows(2)
            .all(|w| w[0].backup.created_at >= w[1].backup.created_at),
        "newest first"
    );
    for d in &decisions {
        assert_eq!(d.keep, !d.reasons.is_empty(), "{}", d.backup.id);
        if d.backup.pinned {
            assert!(d.keep && d.reasons.contains(&Reason::Pinned));
        }
    }
    if n > 0 {
        assert!(decisions.iter().any(|d| d.keep), "never forget everything");
    }
    insta::assert_snapshot!(name, table(&policy, now, &decisions));
    let kept = decisions.iter().filter(|d| d.keep).count();
    (kept, n - kept)
}

fn hourly_over_three_days() -> Vec<Manifest> {
    series(
        "2026-11-18T03:00:00Z",
        SignedDuration::from_hours(1),
        72,
        |_| false,
    )
}

#[test]
fn hourly_backups_over_three_days() {
    let now = ts("2026-11-21T02:30:00Z");
    let policy = Policy {
        keep_hourly: Some(24),
        keep_daily: Some(7),
        ..Policy::default()
    };
    // 24 hours, the newest of 18, 19 and 20 Nov (the 20th's is also an hourly
    // one), and the oldest: only 4 of 7 days have backups.
    assert_eq!(
        check(
            "hourly_24_daily_7",
            policy,
            hourly_over_three_days(),
            now,
            None
        ),
        (27, 45)
    );
    let policy = Policy {
        keep_last: Some(3),
        keep_daily: Some(2),
        ..Policy::default()
    };
    assert_eq!(
        check(
            "last_3_daily_2",
            policy,
            hourly_over_three_days(),
            now,
            None
        ),
        (4, 68)
    );
}

#[test]
fn daily_backups_over_three_months_with_gaps() {
    // Daily at 02:00 from 1 Aug to 31 Oct, but none 10–20 Aug (a broken
    // cron), none on Sundays, none 5–9 Oct.
    let backups = series(
        "2026-08-01T02:00:00Z",
        SignedDuration::from_hours(24),
        92,
        |t| {
            let d = t.to_zoned(jiff::tz::TimeZone::UTC).date();
            (d.month() == 8 && (10..=20).contains(&d.day()))
                || (d.month() == 10 && (5..=9).contains(&d.day()))
                || d.weekday() == jiff::civil::Weekday::Sunday
        },
    );
    // 13 Sundays, one of them (16 Aug) in the August gap.
    assert_eq!(backups.len(), 92 - 11 - 5 - 12);
    let now = ts("2026-11-01T09:00:00Z");
    let policy = Policy {
        keep_daily: Some(7),
        keep_weekly: Some(4),
        keep_monthly: Some(6),
        ..Policy::default()
    };
    // 7 days (24–31 Oct; Sunday 25 has none), ISO weeks 44, 43 (both also
    // daily ones), 42 and 41 (Sat 10 Oct: 5–9 and Sun 11 have none), the
    // ends of October, September and August, and the oldest: only 3 of 6
    // months have backups.
    assert_eq!(
        check("daily_7_weekly_4_monthly_6", policy, backups, now, None),
        (12, 52)
    );
}

#[test]
fn a_single_backup_is_always_kept() {
    let old = vec![backup(ts("2025-01-01T00:00:00Z"), 0)];
    let now = ts("2026-11-21T02:00:00Z");
    for (name, policy) in [
        (
            "single_last_1",
            Policy {
                keep_last: Some(1),
                ..Policy::default()
            },
        ),
        (
            "single_within_1d",
            Policy {
                keep_within: Some(RetentionDuration::days(1)),
                ..Policy::default()
            },
        ),
        (
            "single_daily_7",
            Policy {
                keep_daily: Some(7),
                ..Policy::default()
            },
        ),
    ] {
        assert_eq!(
            check(name, policy, old.clone(), now, None),
            (1, 0),
            "{name}"
        );
    }
    assert_eq!(
        retention::apply(&Policy::default(), Vec::new(), now, None).len(),
        0
    );
}

#[test]
fn pinned_backups_are_kept_however_old() {
    // Weekly backups (Monday 03:00) through 2026; two old ones pinned.
    let mut backups = series(
        "2026-01-05T03:00:00Z",
        SignedDuration::from_hours(24 * 7),
        46,
        |_| false,
    );
    backups[2].pinned = true; // 19 Jan
    backups[10].pinned = true; // 16 Mar
    let now = ts("2026-11-20T12:00:00Z");
    let policy = Policy {
        keep_last: Some(3),
        keep_monthly: Some(3),
        ..Policy::default()
    };
    // Last 3 (16, 9, 2 Nov), ends of Oct and Sep, and the 2 pins.
    assert_eq!(
        check("pinned_last_3_monthly_3", policy, backups, now, None),
        (7, 39)
    );
}

#[test]
fn keep_within_counts_from_the_newest_backup() {
    // Every 6 hours for 10 days; backups stopped two days before `now`.
    let backups = series(
        "2026-11-08T00:00:00Z",
        SignedDuration::from_hours(6),
        40,
        |_| false,
    );
    let newest = backups.last().unwrap().created_at;
    let now = newest + SignedDuration::from_hours(48);
    let policy = Policy {
        keep_within: Some(RetentionDuration::days(3)),
        ..Policy::default()
    };
    // restic: "newer than duration relative to the latest snapshot": 12 in
    // the 3 days before the newest (strictly younger), not 4 in the day
    // that remains of a 3-day window ending now.
    assert_eq!(
        check("within_3d", policy, backups.clone(), now, None),
        (12, 28)
    );
    let policy = Policy {
        keep_within: Some(RetentionDuration::days(1)),
        keep_daily: Some(5),
        ..Policy::default()
    };
    assert_eq!(
        check("within_1d_daily_5", policy, backups, now, None),
        (8, 32)
    );
}

#[test]
fn empty_policy_keeps_everything() {
    let now = ts("2026-11-21T02:30:00Z");
    let policy = Policy {
        keep_daily: Some(0),
        keep_within: Some(RetentionDuration::default()),
        ..Policy::default()
    };
    assert!(policy.is_empty());
    let backups = series(
        "2026-11-20T00:00:00Z",
        SignedDuration::from_hours(8),
        4,
        |_| false,
    );
    assert_eq!(check("empty", policy, backups, now, None), (4, 0));
}

#[test]
fn backups_of_the_current_run_are_kept() {
    let mut backups = hourly_over_three_days();
    // A run that wrote two backups (say it went back in time: clock skew).
    backups[5].run_id = Some("run-1".into());
    backups[6].run_id = Some("run-1".into());
    backups[40].run_id = Some("run-0".into());
    let now = ts("2026-11-21T02:30:00Z");
    let policy = Policy {
        keep_last: Some(2),
        ..Policy::default()
    };
    assert_eq!(
        check("this_run_last_2", policy, backups, now, Some("run-1")),
        (4, 68)
    );
}

#[test]
fn iso_weeks_and_years_across_new_year() {
    // Daily, 20 Dec 2026 to 10 Jan 2027: 2026 has an ISO week 53.
    let backups = series(
        "2026-12-20T23:30:00Z",
        SignedDuration::from_hours(24),
        22,
        |_| false,
    );
    let now = ts("2027-01-11T00:00:00Z");
    let policy = Policy {
        keep_weekly: Some(3),
        keep_yearly: Some(5),
        ..Policy::default()
    };
    // Weeks 2027-W01, 2026-W53, 2026-W52; years 2027, 2026; the oldest.
    assert_eq!(
        check("weekly_3_yearly_5", policy, backups, now, None),
        (5, 17)
    );
}

#[test]
fn policies_describe_themselves() {
    let p = Policy {
        keep_last: Some(3),
        keep_daily: Some(7),
        keep_within: Some("1d12h".parse().unwrap()),
        ..Policy::default()
    };
    assert_eq!(p.to_string(), "keep last 3, daily 7, within 1d12h");
    assert_eq!(
        Policy::default().to_string(),
        "keep everything (empty policy)"
    );
    assert_eq!(
        serde_json::to_value(Reason::Bucket {
            unit: retention::Unit::Daily,
            label: "2026-11-20".into()
        })
        .unwrap(),
        "daily 2026-11-20"
    );
}
