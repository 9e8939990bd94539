//! When a download whose stream broke is asked for again, and when it is
//! given up on: the one policy of every download path (a restore's ranged
//! GETs, verify's stream). A long object on a flaky link may break many
//! times; only breaks in a row without progress count against
//! `max_attempts`. A body that stops sending for `read_timeout` is a break.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::S3Options;
use super::error::chain;

/// The breaks of one download so far.
pub(super) struct Resume {
    /// Breaks since the last progress.
    failures: u32,
    /// Where the stream broke last.
    broke_at: u64,
}

impl Resume {
    /// A download that starts at byte `start`.
    pub fn new(start: u64) -> Self {
        Self {
            failures: 0,
            broke_at: start,
        }
    }

    /// The stream broke at byte `at`: the pause before asking for the rest,
    /// or `None` when `max_attempts` breaks came in a row without progress.
    pub fn broke(&mut self, at: u64, options: &S3Options) -> Option<Duration> {
        if at > self.broke_at {
            self.failures = 0;
            self.broke_at = at;
        }
        self.failures += 1;
        (self.failures < options.max_attempts).then(|| options.backoff(self.failures))
    }

    /// Breaks in a row without progress.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The next piece of `body`; an error when the stream breaks or sends
/// nothing for `read_timeout`.
pub(super) async fn next_chunk(
    body: &mut ByteStream,
    options: &S3Options,
) -> Result<Option<Bytes>, String> {
    match tokio::time::timeout(options.read_timeout, body.try_next()).await {
        Ok(Ok(chunk)) => Ok(chunk),
        Ok(Err(e)) => Err(chain(&e)),
        Err(_) => Err(format!(
            "no data for {}s (the read timeout; LIFEBOAT_S3_READ_TIMEOUT or s3.read_timeout)",
            options.read_timeout.as_secs_f64()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_breaks_without_progress_count() {
        let options = S3Options {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            ..S3Options::default()
        };
        let mut r = Resume::new(10);
        // Progress every time: never given up on.
        for at in 11..100 {
            assert_eq!(r.broke(at, &options), Some(Duration::from_millis(100)));
        }
        // No progress: the pause doubles, the third break in a row ends it.
        assert_eq!(r.broke(99, &options), Some(Duration::from_millis(200)));
        assert_eq!(r.broke(99, &options), None);
        assert_eq!(r.failures(), 3);
        // A break at the start of the range is no progress.
        let mut r = Resume::new(10);
        assert!(r.broke(10, &options).is_some());
        assert!(r.broke(10, &options).is_some());
        assert!(r.broke(10, &options).is_none());
    }
}
