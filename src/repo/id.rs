//! Backup ids (`<UTC YYYYMMDDTHHMMSSZ>-<6 hex>`) and source names.

use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::RepoError;

/// A fresh id for a backup taken at `now`.
pub(super) fn new_id(now: Timestamp) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(now.as_nanosecond().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let stack = 0u8;
    h.update((&raw const stack as usize).to_le_bytes());
    let random = h.finalize();
    format!(
        "{}-{}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        hex::encode(&random[..3])
    )
}

/// Whether `s` has the shape of a backup id.
pub(crate) fn is_id(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 23
        && digits(0..8)
        && b[8] == b'T'
        && digits(9..15)
        && &b[15..17] == b"Z-"
        && b[17..]
            .iter()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// `^[A-Za-z0-9][A-Za-z0-9_.-]*$`, at most 255 bytes (one path component).
pub(crate) fn is_source(source: &str) -> bool {
    let b = source.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.len() <= 255
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

pub(crate) fn check_source(source: &str) -> Result<(), RepoError> {
    if is_source(source) {
        Ok(())
    } else {
        Err(RepoError::InvalidSource(source.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let now: Timestamp = "2026-11-21T02:00:00.5Z".parse().unwrap();
        let a = new_id(now);
        let b = new_id(now);
        assert!(a.starts_with("20261121T020000Z-"), "{a}");
        assert!(is_id(&a) && is_id(&b), "{a} {b}");
        assert_ne!(a, b);
        for bad in [
            "",
            "20261121T020000Z-A1B2C3",
            "20261121T020000Z-a1b2c",
            "../../etc/passwd",
            "20261121T020000Z-a1b2c3.json",
        ] {
            assert!(!is_id(bad), "{bad}");
        }
    }

    #[test]
    fn sources() {
        for good in ["pgdata", "shop_db-data.1", "0"] {
            assert!(check_source(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "-x",
            "_x",
            "a/b",
            "a b",
            "é",
            &"x".repeat(256),
        ] {
            assert!(check_source(bad).is_err(), "{bad}");
        }
    }
}
