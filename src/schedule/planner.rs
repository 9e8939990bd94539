//! When each job starts: the next cron time of every job, what is due at a
//! given instant, overlaps, and missed runs after downtime (Kubernetes
//! CronJob's `concurrencyPolicy: Forbid`; systemd's `Persistent=`). Never a
//! burst: however many times passed, a job runs at most once for them.

use jiff::Timestamp;

use super::job::{Job, Missed};
use super::state::State;

/// Missed cron times counted one by one, up to this many (a `* * * * * *`
/// job down for a year would otherwise be counted for a long time).
const COUNT_LIMIT: u64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The job was still running when its time came.
    Overlap,
    /// The time passed while the scheduler was down (or stalled).
    Missed,
}

impl SkipReason {
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::Overlap => "overlap",
            SkipReason::Missed => "missed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start the job now; `catch_up`: for times missed while down.
    Start {
        job: String,
        slot: Timestamp,
        catch_up: bool,
    },
    /// `count` cron times of the job pass without a run.
    Skip {
        job: String,
        reason: SkipReason,
        count: u64,
    },
}

#[derive(Debug)]
struct Entry {
    job: Job,
    /// The next cron time not dealt with yet.
    next: Option<Timestamp>,
    running: bool,
}

#[derive(Debug)]
pub struct Planner {
    entries: Vec<Entry>,
}

impl Planner {
    /// Starts scheduling `jobs` at `now`, after a downtime that `state`
    /// tells: what each job's missed-run policy says about cron times that
    /// passed since the newest one dealt with. A job seen for the first time
    /// missed nothing.
    pub fn start(jobs: Vec<Job>, state: &mut State, now: Timestamp) -> (Self, Vec<Decision>) {
        let mut decisions = Vec::new();
        let mut entries = Vec::new();
        for job in jobs {
            let js = state.job(&job.name);
            let since = *js.last_slot.get_or_insert(now);
            let (missed, newest) = passed(&job, since, now);
            if missed > 0 {
                js.last_slot = newest;
                let catch_up = job.missed == Missed::Once;
                if let (true, Some(slot)) = (catch_up, newest) {
                    decisions.push(Decision::Start {
                        job: job.name.clone(),
                        slot,
                        catch_up: true,
                    });
                }
                let skipped = missed - u64::from(catch_up);
                if skipped > 0 {
                    js.skipped_missed += skipped;
                    decisions.push(Decision::Skip {
                        job: job.name.clone(),
                        reason: SkipReason::Missed,
                        count: skipped,
                    });
                }
            }
            let from = js.last_slot.unwrap_or(now);
            let running = decisions
                .iter()
                .any(|d| matches!(d, Decision::Start { job: j, .. } if *j == job.name));
            entries.push(Entry {
                next: job.slot_after(from),
                job,
                running,
            });
        }
        (Self { entries }, decisions)
    }

    /// When the next job starts, if any ever does.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.entries
            .iter()
            .filter_map(|e| e.next.map(|s| e.job.start_of(s)))
            .min()
    }

    /// What is due at `now`: the newest due time of each job starts it (or
    /// is skipped as an overlap while it runs); older due times — the
    /// scheduler was stalled, the machine suspended — count as missed.
    pub fn due(&mut self, state: &mut State, now: Timestamp) -> Vec<Decision> {
        let mut decisions = Vec::new();
        for e in &mut self.entries {
            let Some(first) = e.next.filter(|s| e.job.start_of(*s) <= now) else {
                continue;
            };
            let (later, newest) = passed(&e.job, first, now);
            let slot = newest.unwrap_or(first);
            let js = state.job(&e.job.name);
            js.last_slot = Some(slot);
            e.next = e.job.slot_after(slot);
            if later > 0 {
                js.skipped_missed += later;
                decisions.push(Decision::Skip {
                    job: e.job.name.clone(),
                    reason: SkipReason::Missed,
                    count: later,
                });
            }
            if e.running {
                js.skipped_overlap += 1;
                decisions.push(Decision::Skip {
                    job: e.job.name.clone(),
                    reason: SkipReason::Overlap,
                    count: 1,
                });
            } else {
                e.running = true;
                decisions.push(Decision::Start {
                    job: e.job.name.clone(),
                    slot,
                    catch_up: false,
                });
            }
        }
        decisions
    }

    /// The job's child process ended: it may start again.
    pub fn finished(&mut self, name: &str) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.job.name == name) {
            e.running = false;
        }
    }

    pub fn job(&self, name: &str) -> Option<&Job> {
        self.entries.iter().map(|e| &e.job).find(|j| j.name == name)
    }

    /// Every job with the time its next run starts (jitter included).
    pub fn upcoming(&self) -> impl Iterator<Item = (&Job, Option<Timestamp>)> {
        self.entries
            .iter()
            .map(|e| (&e.job, e.next.map(|s| e.job.start_of(s))))
    }
}

/// How many cron times of `job` after `since` have their start (jitter
/// included) at or before `now` (counted up to [`COUNT_LIMIT`]), and the
/// newest of them.
fn passed(job: &Job, since: Timestamp, now: Timestamp) -> (u64, Option<Timestamp>) {
    let (mut count, mut newest) = (0, None);
    let mut t = since;
    while let Some(slot) = job.slot_after(t) {
        if job.start_of(slot) > now {
            break;
        }
        if count >= COUNT_LIMIT {
            // Too many to count: the newest is found from the other end.
            return (count, job.newest_started_by(now).or(newest));
        }
        count += 1;
        newest = Some(slot);
        t = slot;
    }
    (count, newest)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::job::tests::{at, job};
    use super::*;

    fn start(j: &str, slot: &str, catch_up: bool) -> Decision {
        Decision::Start {
            job: j.into(),
            slot: at(slot),
            catch_up,
        }
    }

    fn skip(j: &str, reason: SkipReason, count: u64) -> Decision {
        Decision::Skip {
            job: j.into(),
            reason,
            count,
        }
    }

    #[test]
    fn a_job_starts_at_its_time_and_not_before() {
        let mut state = State::default();
        let (mut p, first) = Planner::start(
            vec![job("nightly", "0 2 * * *", "UTC")],
            &mut state,
            at("2026-01-01T12:00:00Z"),
        );
        assert!(first.is_empty(), "a new job missed nothing");
        assert_eq!(p.next_wake(), Some(at("2026-01-02T02:00:00Z")));
        assert!(p.due(&mut state, at("2026-01-02T01:59:59Z")).is_empty());
        assert_eq!(
            p.due(&mut state, at("2026-01-02T02:00:00Z")),
            [start("nightly", "2026-01-02T02:00:00Z", false)]
        );
        assert_eq!(p.next_wake(), Some(at("2026-01-03T02:00:00Z")));
    }

    #[test]
    fn a_job_still_running_is_skipped_and_counted() {
        let mut state = State::default();
        let (mut p, _) = Planner::start(
            vec![job("fast", "*/2 * * * * *", "UTC")],
            &mut state,
            at("2026-01-01T00:00:00Z"),
        );
        assert_eq!(
            p.due(&mut state, at("2026-01-01T00:00:02Z")),
            [start("fast", "2026-01-01T00:00:02Z", false)]
        );
        assert_eq!(
            p.due(&mut state, at("2026-01-01T00:00:04Z")),
            [skip("fast", SkipReason::Overlap, 1)]
        );
        p.finished("fast");
        assert_eq!(
            p.due(&mut state, at("2026-01-01T00:00:06Z")),
            [start("fast", "2026-01-01T00:00:06Z", false)]
        );
        assert_eq!(state.jobs["fast"].skipped_overlap, 1);
    }

    #[test]
    fn jitter_delays_the_start_by_the_jobs_own_delay() {
        let mut j = job("nightly", "0 2 * * *", "UTC");
        j.jitter = Duration::from_secs(600);
        let delay = j.delay();
        assert!(delay > Duration::ZERO && delay < Duration::from_secs(600));
        let mut state = State::default();
        let (mut p, _) = Planner::start(vec![j], &mut state, at("2026-01-01T12:00:00Z"));
        let starts = at("2026-01-02T02:00:00Z")
            .checked_add(jiff::SignedDuration::try_from(delay).unwrap())
            .unwrap();
        assert_eq!(p.next_wake(), Some(starts));
        let just_before = starts
            .checked_sub(jiff::SignedDuration::from_millis(1))
            .unwrap();
        assert!(p.due(&mut state, just_before).is_empty());
        assert_eq!(
            p.due(&mut state, starts),
            [start("nightly", "2026-01-02T02:00:00Z", false)]
        );
    }

    /// A scheduler that ran until `stopped`, then starts again at `now`.
    fn restart(j: Job, stopped: &str, now: &str) -> (State, Planner, Vec<Decision>) {
        let mut state = State::default();
        let (mut p, _) = Planner::start(vec![j.clone()], &mut state, at("2026-01-02T00:00:00Z"));
        p.due(&mut state, at(stopped));
        let (p, decisions) = Planner::start(vec![j], &mut state, at(now));
        (state, p, decisions)
    }

    #[test]
    fn missed_skip_counts_the_missed_times_and_runs_nothing() {
        let j = job("nightly", "0 2 * * *", "UTC");
        let (state, p, d) = restart(j, "2026-01-02T02:00:00Z", "2026-01-05T12:00:00Z");
        assert_eq!(d, [skip("nightly", SkipReason::Missed, 3)]);
        assert_eq!(state.jobs["nightly"].skipped_missed, 3);
        assert_eq!(p.next_wake(), Some(at("2026-01-06T02:00:00Z")));
    }

    #[test]
    fn missed_once_runs_one_catch_up_however_many_were_missed() {
        let mut j = job("nightly", "0 2 * * *", "UTC");
        j.missed = Missed::Once;
        let (state, mut p, d) = restart(j, "2026-01-02T02:00:00Z", "2026-01-05T12:00:00Z");
        assert_eq!(
            d,
            [
                start("nightly", "2026-01-05T02:00:00Z", true),
                skip("nightly", SkipReason::Missed, 2)
            ]
        );
        assert_eq!(p.next_wake(), Some(at("2026-01-06T02:00:00Z")));
        let mut state = state;
        // The catch-up is still running at the next time: an overlap.
        assert_eq!(
            p.due(&mut state, at("2026-01-06T02:00:00Z")),
            [skip("nightly", SkipReason::Overlap, 1)]
        );
    }

    #[test]
    fn missed_once_with_nothing_missed_runs_nothing() {
        let mut j = job("nightly", "0 2 * * *", "UTC");
        j.missed = Missed::Once;
        let (_, _, d) = restart(j, "2026-01-02T02:00:00Z", "2026-01-02T12:00:00Z");
        assert!(d.is_empty());
    }

    #[test]
    fn a_stalled_scheduler_runs_once_for_the_times_it_slept_through() {
        let mut state = State::default();
        let (mut p, _) = Planner::start(
            vec![job("hourly", "0 * * * *", "UTC")],
            &mut state,
            at("2026-01-01T00:30:00Z"),
        );
        assert_eq!(
            p.due(&mut state, at("2026-01-01T04:10:00Z")),
            [
                skip("hourly", SkipReason::Missed, 3),
                start("hourly", "2026-01-01T04:00:00Z", false)
            ]
        );
        assert_eq!(p.next_wake(), Some(at("2026-01-01T05:00:00Z")));
    }

    #[test]
    fn a_very_long_downtime_is_counted_up_to_a_limit_and_never_replayed() {
        let mut j = job("every-second", "* * * * * *", "UTC");
        j.missed = Missed::Once;
        let (state, mut p, d) = restart(j, "2026-01-02T00:00:01Z", "2027-01-02T00:00:00Z");
        assert_eq!(
            d,
            [
                start("every-second", "2027-01-02T00:00:00Z", true),
                skip("every-second", SkipReason::Missed, COUNT_LIMIT - 1)
            ]
        );
        assert_eq!(p.next_wake(), Some(at("2027-01-02T00:00:01Z")));
        let mut state = state;
        p.finished("every-second");
        assert_eq!(
            p.due(&mut state, at("2027-01-02T00:00:01Z")),
            [start("every-second", "2027-01-02T00:00:01Z", false)]
        );
    }

    #[test]
    fn jobs_that_are_gone_from_the_config_leave_the_state() {
        let mut state = State::default();
        state.job("old").failed = 1;
        state.job("nightly");
        state.retain(&["nightly"]);
        assert_eq!(state.jobs.keys().collect::<Vec<_>>(), ["nightly"]);
    }
}
