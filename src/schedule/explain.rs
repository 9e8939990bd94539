//! `lifeboat schedule --explain`: every job, what it runs, and when its next
//! runs start, in its own time zone and in UTC, with changes of UTC offset
//! (daylight saving) pointed out.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::job::{Job, Missed};

/// The next `count` starts of every job after `now`.
pub fn render(jobs: &[Job], now: Timestamp, count: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Now: {}", utc(now));
    if jobs.is_empty() {
        out.push_str(
            "\nNo jobs: add them under `schedule: jobs:` in lifeboat.yaml (docs/schedule.md).\n",
        );
    }
    for job in jobs {
        out.push('\n');
        render_job(&mut out, job, now, count);
    }
    out
}

fn render_job(out: &mut String, job: &Job, now: Timestamp, count: usize) {
    let zone = job.zone.iana_name().unwrap_or("UTC");
    let _ = writeln!(out, "{}: {}", job.name, job.describe());
    let _ = writeln!(out, "  cron      {}  ({zone})", job.cron.as_str());
    let delay = job.delay();
    if !job.jitter.is_zero() {
        let _ = writeln!(
            out,
            "  jitter    up to {}: this job starts {} after each time",
            format_precise(job.jitter),
            format_precise(delay)
        );
    }
    let missed = match job.missed {
        Missed::Skip => "skip (times passed while down are counted, not run)",
        Missed::Once => "once (one catch-up run at start-up)",
    };
    let _ = writeln!(out, "  missed    {missed}");
    if let Some(t) = job.timeout {
        let _ = writeln!(
            out,
            "  timeout   {} (then SIGINT: the run rolls back)",
            format_precise(t)
        );
    }
    if let Some(hook) = &job.webhook {
        let _ = writeln!(out, "  notify    {hook} (on failure and on recovery)");
    }
    let mut slot = now;
    let mut offset = None;
    for _ in 0..count {
        let Some(next) = job.slot_after(slot) else {
            let _ = writeln!(out, "  (no further times)");
            break;
        };
        slot = next;
        let start = job.start_of(next).to_zoned(job.zone.clone());
        let this_offset = start.offset();
        let note = match offset {
            Some(previous) if previous != this_offset => {
                format!("   <- UTC offset now {}", start.strftime("%:z"))
            }
            _ => String::new(),
        };
        offset = Some(this_offset);
        let local = start.strftime("%a %Y-%m-%d %H:%M:%S %Z (%:z)").to_string();
        let _ = writeln!(out, "  {local:<38} {}{note}", utc(start.timestamp()));
    }
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `4m12.345s`: the jitter delay to the millisecond.
fn format_precise(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    let (m, s, frac) = (ms / 60_000, (ms / 1000) % 60, ms % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{frac:03}s")
    };
    match (m, ms % 60_000) {
        (0, _) => secs,
        (_, 0) => format!("{m}m"),
        _ => format!("{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::job::tests::{at, job};
    use super::super::job::{Action, Missed};
    use super::*;

    #[test]
    fn next_runs_across_dst_in_berlin() {
        let mut nightly = job("nightly", "0 2 * * *", "Europe/Berlin");
        nightly.jitter = Duration::from_secs(600);
        nightly.webhook = Some("http://alerts.example/hook".into());
        let quarter = job("quarter-past", "15 * * * *", "Europe/Berlin");
        // 2026-03-29: 02:00 becomes 03:00; 2026-10-25: 03:00 becomes 02:00.
        let spring = render(&[nightly.clone()], at("2026-03-27T12:00:00Z"), 4);
        let skipped = render(
            std::slice::from_ref(&quarter),
            at("2026-03-28T23:30:00Z"),
            4,
        );
        insta::assert_snapshot!("berlin_spring", format!("{spring}\n{skipped}"));
        let autumn = render(&[nightly], at("2026-10-23T12:00:00Z"), 4);
        let repeated = render(&[quarter], at("2026-10-24T23:30:00Z"), 4);
        insta::assert_snapshot!("berlin_autumn", format!("{autumn}\n{repeated}"));
    }

    #[test]
    fn next_runs_across_dst_in_new_york() {
        let mut drill = job("weekly-drill", "30 2 * * SUN", "America/New_York");
        drill.action = Action::Drill("shop-restore".into());
        drill.sets.clear();
        drill.missed = Missed::Once;
        let hourly = job("hourly", "0 0 * * * *", "America/New_York");
        // 2026-03-08: 02:00 becomes 03:00 (02:30 does not exist that night).
        let spring = render(&[drill.clone()], at("2026-02-27T12:00:00Z"), 4);
        insta::assert_snapshot!("new_york_spring", spring);
        // 2026-11-01: 02:00 becomes 01:00 (01:00-02:00 happens twice).
        let autumn = render(&[drill, hourly], at("2026-11-01T04:30:00Z"), 4);
        insta::assert_snapshot!("new_york_autumn", autumn);
    }

    #[test]
    fn no_jobs_says_where_to_add_them() {
        assert!(render(&[], at("2026-01-01T00:00:00Z"), 3).contains("schedule: jobs:"));
        assert_eq!(format_precise(Duration::from_millis(252_345)), "4m12.345s");
        assert_eq!(format_precise(Duration::from_secs(5)), "5s");
        assert_eq!(format_precise(Duration::from_secs(600)), "10m");
    }
}
