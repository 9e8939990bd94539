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
        facts: Default::default(),
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

fn tagged(mut m: Manifest, tags: &[&str]) -> Manifest {
    m.tags = tags.iter().map(|t| t.to_string()).collect();
    m
}

fn berlin() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Berlin").unwrap()
}

#[test]
fn safety_backups_have_their_own_rule() {
    // Nightlies at 02:00 for 10 days; an incident run on the 18th saved the
    // emptied volume at 10:00 (tag safety), another on the 3rd; one pinned
    // safety backup from October.
    let mut backups = series(
        "2026-11-11T02:00:00Z",
        SignedDuration::from_hours(24),
        10,
        |_| false,
    );
    backups.push(tagged(backup(ts("2026-11-18T10:00:00Z"), 100), &["safety"]));
    backups.push(tagged(backup(ts("2026-11-03T09:00:00Z"), 101), &["safety"]));
    let mut pinned = tagged(backup(ts("2026-10-01T09:00:00Z"), 102), &["safety"]);
    pinned.pinned = true;
    backups.push(pinned);
    let now = ts("2026-11-20T12:00:00Z");
    let policy = Policy {
        keep_daily: Some(7),
        keep_weekly: Some(4),
        ..Policy::default()
    };
    // 7 daily nightlies (the 18th's among them), weekly W46 (the 15th), the
    // oldest nightly (weeks left over), the 18th's safety copy (within 7d),
    // the pinned one; the 12th, 13th and the 3rd's safety copy are forgotten.
    assert_eq!(
        check(
            "safety_daily_7_weekly_4",
            policy.clone(),
            backups.clone(),
            now,
            None
        ),
        (10, 3)
    );
    let decisions = retention::apply(&policy, backups.clone(), now, None);
    let day_18: Vec<&Decision> = decisions
        .iter()
        .filter(|d| d.backup.created_at.to_string().starts_with("2026-11-18"))
        .collect();
    assert!(day_18.iter().all(|d| d.keep));
    assert!(day_18.iter().any(|d| d.reasons.contains(&Reason::Bucket {
        unit: retention::Unit::Daily,
        label: "2026-11-18".into()
    }) && d.backup.tags.is_empty()));
    // keep_safety: 0d forgets unpinned safety backups; a long one keeps them.
    let policy = Policy {
        keep_last: Some(1),
        keep_safety: Some("0d".parse().unwrap()),
        ..Policy::default()
    };
    assert_eq!(
        check("safety_0d_last_1", policy, backups.clone(), now, None),
        (2, 11)
    );
    let policy = Policy {
        keep_last: Some(1),
        keep_safety: Some("1m".parse().unwrap()),
        ..Policy::default()
    };
    assert_eq!(
        check("safety_1m_last_1", policy, backups.clone(), now, None),
        (4, 9)
    );
    // keep_safety alone prunes safety backups only.
    let policy = Policy {
        keep_safety: Some("3d".parse().unwrap()),
        ..Policy::default()
    };
    assert!(!policy.is_empty());
    assert_eq!(
        check("safety_3d_only", policy, backups.clone(), now, None),
        (12, 1)
    );
    // A source with only safety backups keeps the newest of them.
    let only: Vec<Manifest> = backups
        .iter()
        .filter(|b| b.tags.iter().any(|t| t == "safety") && !b.pinned)
        .cloned()
        .collect();
    let policy = Policy {
        keep_daily: Some(7),
        keep_safety: Some("1d".parse().unwrap()),
        ..Policy::default()
    };
    let decisions = retention::apply(&policy, only, now, None);
    assert_eq!(
        decisions.iter().map(|d| d.keep).collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(decisions[0].reasons, [Reason::OnlyBackup]);
    // Only keep_tag, matching safety backups only: the newest regular one stays.
    let policy = Policy {
        keep_tags: vec!["safety".parse().unwrap()],
        ..Policy::default()
    };
    let decisions = retention::apply(&policy, backups, now, None);
    let regular: Vec<&Decision> = decisions
        .iter()
        .filter(|d| d.keep && d.backup.tags.is_empty())
        .collect();
    assert_eq!(regular.len(), 1);
    assert_eq!(regular[0].reasons, [Reason::NewestRegular]);
}

#[test]
fn keep_within_buckets_and_tags() {
    let mut backups = hourly_over_three_days();
    backups[3] = tagged(backups[3].clone(), &["manual", "pre-upgrade"]);
    backups[10] = tagged(backups[10].clone(), &["manual"]);
    let now = ts("2026-11-21T02:30:00Z");
    let policy = Policy {
        keep_within_hourly: Some("6h".parse().unwrap()),
        keep_within_daily: Some("2d".parse().unwrap()),
        keep_tags: vec!["manual,pre-upgrade".parse().unwrap()],
        ..Policy::default()
    };
    // 6 hourly (after 20 Nov 20:00, 6 hours before the newest), the newest
    // of 21, 20 and 19 Nov (after 19 Nov 02:00), the tagged one.
    assert_eq!(
        check(
            "within_hourly_6h_daily_2d_tag",
            policy,
            backups.clone(),
            now,
            None
        ),
        (8, 64)
    );
    // Filtering by tag: only the selected backups are decided on.
    let policy = Policy {
        keep_last: Some(1),
        tags: vec!["manual".parse().unwrap()],
        ..Policy::default()
    };
    let decisions = retention::apply(&policy, backups, now, None);
    assert_eq!(decisions.len(), 2);
    assert_eq!(
        decisions.iter().map(|d| d.keep).collect::<Vec<_>>(),
        [true, false]
    );
}

#[test]
fn calendar_in_a_time_zone() {
    // Around the end of DST in Berlin (26 Oct 2025, 03:00 CEST → 02:00 CET)
    // and New Year: buckets are the zone's calendar periods.
    let times = [
        "2026-01-01T00:30:00+01:00", // 2025-12-31 in UTC
        "2025-12-31T22:00:00+01:00",
        "2025-10-27T02:00:00+01:00",
        "2025-10-26T02:30:00+01:00", // the second 02:30, CET
        "2025-10-26T02:30:00+02:00", // the first 02:30, CEST: the same hour bucket
        "2025-10-25T02:30:00+02:00",
    ];
    let backups: Vec<Manifest> = times
        .iter()
        .enumerate()
        .map(|(n, t)| backup(t.parse().unwrap(), n))
        .collect();
    let now = ts("2026-01-10T00:00:00Z");
    let policy = Policy {
        keep_hourly: Some(10),
        keep_yearly: Some(10),
        time_zone: Some(berlin()),
        ..Policy::default()
    };
    assert_eq!(
        check(
            "berlin_hourly_yearly",
            policy.clone(),
            backups.clone(),
            now,
            None
        ),
        (5, 1)
    );
    assert_eq!(
        policy.to_string(),
        "keep hourly 10, yearly 10; calendar of Europe/Berlin"
    );
    let policy = Policy {
        keep_within: Some("2m6d".parse().unwrap()),
        time_zone: Some(berlin()),
        ..Policy::default()
    };
    // 1 Jan 00:30 CET minus 2 months 6 days: 26 Oct 00:30 CEST.
    assert_eq!(
        check("berlin_within_2m6d", policy, backups, now, None),
        (5, 1)
    );
}

#[test]
fn policy_descriptions_name_every_rule() {
    let p = Policy {
        keep_last: Some(2),
        keep_within: Some("6m".parse().unwrap()),
        keep_within_weekly: Some("1y".parse().unwrap()),
        keep_tags: vec!["a,b".parse().unwrap(), "c".parse().unwrap()],
        keep_safety: Some("14d".parse().unwrap()),
        tags: vec!["nightly".parse().unwrap()],
        ..Policy::default()
    };
    assert_eq!(
        p.to_string(),
        "keep last 2, within 6m, weekly within 1y, tags a,b, tags c, safety backups for 14d; \
         only backups tagged nightly"
    );
    // Flags win over the config file per setting: the rules as a whole,
    // keep_safety and the time zone each.
    let config = Policy {
        keep_daily: Some(7),
        keep_safety: Some("30d".parse().unwrap()),
        time_zone: Some(berlin()),
        ..Policy::default()
    };
    let flags = Policy {
        keep_last: Some(1),
        ..Policy::default()
    };
    let merged = flags.or(&config);
    assert_eq!(merged.keep_last, Some(1));
    assert_eq!(merged.keep_daily, None);
    assert_eq!(merged.keep_safety, config.keep_safety);
    assert_eq!(merged.time_zone, config.time_zone);
    let flags = Policy {
        keep_safety: Some("1d".parse().unwrap()),
        ..Policy::default()
    };
    let merged = flags.or(&config);
    assert_eq!(merged.keep_daily, Some(7));
    assert_eq!(merged.keep_safety, flags.keep_safety);
}

/// restic on PATH (its version), or None. CI installs it (`.ci/run`), so
/// there its absence is a failure, not a skip.
fn restic_version() -> Option<(u32, u32)> {
    let out = match std::process::Command::new("restic").arg("version").output() {
        Ok(out) if out.status.success() => out,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "restic is not installed, and CI is set: the retention comparison needs it"
            );
            eprintln!("restic is not installed: skipping the comparison with restic");
            return None;
        }
    };
    // "restic 0.14.0 compiled with go1.19.8 on linux/amd64"
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// Runs restic in Berlin time on the repository in `dir`.
fn restic(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("restic")
        .arg("--repo")
        .arg(dir.join("repo"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--no-lock")
        .args(args)
        .env("RESTIC_PASSWORD", "lifeboat-test")
        .env("TZ", "Europe/Berlin")
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_PASSWORD_COMMAND")
        .output()
        .expect("run restic");
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn decisions_match_restic_forget_on_the_same_timeline() {
    let Some(version) = restic_version() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("file"), b"lifeboat\n").unwrap();
    restic(dir.path(), &["init"]);
    // Local (Berlin) times: both DST changes, month ends, New Year in Berlin
    // that is still the old year in UTC, clusters within hours and days.
    let timeline: &[(&str, &str)] = &[
        ("2023-12-31 23:30:00", ""),
        ("2024-01-01 00:30:00", ""),
        ("2024-06-01 12:00:00", "manual"),
        ("2025-01-15 02:00:00", ""),
        ("2025-02-15 02:00:00", ""),
        ("2025-04-15 02:00:00", ""),
        ("2025-06-15 02:00:00", "manual,pre-upgrade"),
        ("2025-07-31 23:30:00", ""),
        ("2025-08-31 02:00:00", ""),
        ("2025-09-15 02:00:00", ""),
        ("2025-10-25 02:30:00", ""),
        ("2025-10-26 01:30:00", ""),
        ("2025-10-26 03:30:00", ""),
        ("2025-11-30 02:00:00", ""),
        ("2025-12-31 23:30:00", ""),
        ("2026-01-01 00:30:00", ""),
        ("2026-02-01 02:00:00", ""),
        ("2026-02-10 02:00:00", ""),
        ("2026-02-20 02:00:00", ""),
        ("2026-03-01 02:00:00", "manual"),
        ("2026-03-10 02:00:00", ""),
        ("2026-03-20 02:00:00", ""),
        ("2026-03-22 02:00:00", ""),
        ("2026-03-23 02:00:00", ""),
        ("2026-03-24 02:00:00", ""),
        ("2026-03-25 02:00:00", ""),
        ("2026-03-26 02:00:00", ""),
        ("2026-03-27 02:00:00", ""),
        ("2026-03-28 08:00:00", ""),
        ("2026-03-28 11:30:00", ""),
        ("2026-03-28 12:30:00", ""),
        ("2026-03-28 23:30:00", ""),
        ("2026-03-29 00:30:00", ""),
        ("2026-03-29 01:30:00", ""),
        ("2026-03-29 03:30:00", ""),
        ("2026-03-29 09:00:00", ""),
        ("2026-03-29 12:00:00", ""),
    ];
    for (time, tags) in timeline {
        let mut args = vec!["backup", "--quiet", "--host", "lifeboat", "--time", time];
        if !tags.is_empty() {
            args.extend(["--tag", tags]);
        }
        args.push(data.to_str().unwrap());
        restic(dir.path(), &args);
    }
    // The instants restic recorded, with their tags, as lifeboat backups.
    let listed: serde_json::Value =
        serde_json::from_slice(&restic(dir.path(), &["snapshots", "--json"])).unwrap();
    let snapshots: Vec<(Timestamp, Vec<String>)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let time: Timestamp = s["time"].as_str().unwrap().parse().unwrap();
            let tags = s["tags"]
                .as_array()
                .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            (time, tags)
        })
        .collect();
    assert_eq!(snapshots.len(), timeline.len());
    let backups: Vec<Manifest> = snapshots
        .iter()
        .enumerate()
        .map(|(n, (t, tags))| {
            let mut m = backup(*t, n);
            m.tags = tags.clone();
            m
        })
        .collect();
    let now = Timestamp::now();
    let policies: &[&[&str]] = &[
        &[
            "--keep-daily",
            "7",
            "--keep-weekly",
            "4",
            "--keep-monthly",
            "6",
            "--keep-yearly",
            "2",
        ],
        &["--keep-last", "3", "--keep-hourly", "5"],
        &["--keep-hourly", "12"],
        &["--keep-within", "6m"],
        &["--keep-within", "1m10d12h"],
        &["--keep-within", "1y2m"],
        &["--keep-within", "1d"],
        &["--keep-within", "2d1h"],
        &[
            "--keep-within-daily",
            "10d",
            "--keep-within-weekly",
            "2m",
            "--keep-within-monthly",
            "1y",
        ],
        &["--keep-within-hourly", "1d", "--keep-within-yearly", "3y"],
        &["--keep-tag", "manual", "--keep-last", "2"],
        &["--keep-tag", "manual,pre-upgrade", "--keep-monthly", "3"],
        &["--keep-yearly", "3"],
        &["--keep-weekly", "60"],
    ];
    for args in policies {
        let mut policy = Policy {
            time_zone: Some(berlin()),
            ..Policy::default()
        };
        for pair in args.chunks(2) {
            let (flag, value) = (pair[0], pair[1]);
            let count = || Some(value.parse::<u32>().unwrap());
            let within = || Some(value.parse::<RetentionDuration>().unwrap());
            match flag {
                "--keep-last" => policy.keep_last = count(),
                "--keep-hourly" => policy.keep_hourly = count(),
                "--keep-daily" => policy.keep_daily = count(),
                "--keep-weekly" => policy.keep_weekly = count(),
                "--keep-monthly" => policy.keep_monthly = count(),
                "--keep-yearly" => policy.keep_yearly = count(),
                "--keep-within" => policy.keep_within = within(),
                "--keep-within-hourly" => policy.keep_within_hourly = within(),
                "--keep-within-daily" => policy.keep_within_daily = within(),
                "--keep-within-weekly" => policy.keep_within_weekly = within(),
                "--keep-within-monthly" => policy.keep_within_monthly = within(),
                "--keep-within-yearly" => policy.keep_within_yearly = within(),
                "--keep-tag" => policy.keep_tags.push(value.parse().unwrap()),
                other => panic!("{other}"),
            }
        }
        let forget: serde_json::Value = serde_json::from_slice(&restic(
            dir.path(),
            &[&["forget", "--dry-run", "--json"][..], args].concat(),
        ))
        .unwrap();
        let groups = forget.as_array().unwrap();
        assert_eq!(groups.len(), 1, "{forget}");
        let mut restic_kept: Vec<Timestamp> = groups[0]["keep"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["time"].as_str().unwrap().parse().unwrap())
            .collect();
        restic_kept.sort();
        let decisions = retention::apply(&policy, backups.clone(), now, None);
        let mut ours: Vec<Timestamp> = decisions
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.backup.created_at)
            .collect();
        ours.sort();
        if version < (0, 16) {
            // restic < 0.16 does not keep the oldest backup when a rule has
            // buckets left over (restic #3624); everything else must agree.
            let oldest = decisions.last().unwrap();
            let only_oldest = oldest.keep
                && oldest
                    .reasons
                    .iter()
                    .all(|r| r.to_string().starts_with("oldest "));
            if only_oldest && !restic_kept.contains(&oldest.backup.created_at) {
                ours.retain(|t| *t != oldest.backup.created_at);
            }
        }
        assert_eq!(
            ours,
            restic_kept,
            "{args:?}: lifeboat (left) and restic {version:?} (right) disagree\n{}",
            table(&policy, now, &decisions)
        );
    }
}
