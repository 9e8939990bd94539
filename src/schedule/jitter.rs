//! Jitter: each job starts a fixed delay after its cron time, chosen in
//! `[0, jitter)` from a hash of the job's name (systemd timers'
//! `RandomizedDelaySec=` with `FixedRandomDelay=`). The same job keeps its
//! delay across restarts; jobs on one cron time spread out.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The delay of the job called `name`, in `[0, jitter)`, to the millisecond.
pub fn delay(name: &str, jitter: Duration) -> Duration {
    let range = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
    if range == 0 {
        return Duration::ZERO;
    }
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Duration::from_millis(u64::from_be_bytes(first) % range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_is_fixed_per_name_and_within_the_jitter() {
        let ten_minutes = Duration::from_secs(600);
        let a = delay("nightly", ten_minutes);
        assert_eq!(a, delay("nightly", ten_minutes), "deterministic");
        assert!(a < ten_minutes);
        let delays: Vec<Duration> = (0..50)
            .map(|i| delay(&format!("job-{i}"), ten_minutes))
            .collect();
        assert!(delays.iter().all(|d| *d < ten_minutes));
        let mut distinct = delays.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 45, "names spread out: {distinct:?}");
        // Spread over the whole range, not bunched at its start.
        assert!(delays.iter().any(|d| *d > Duration::from_secs(450)));
        assert!(delays.iter().any(|d| *d < Duration::from_secs(150)));
    }

    #[test]
    fn no_jitter_is_no_delay() {
        assert_eq!(delay("nightly", Duration::ZERO), Duration::ZERO);
        assert_eq!(
            delay("nightly", Duration::from_micros(500)),
            Duration::ZERO,
            "below a millisecond"
        );
    }
}
