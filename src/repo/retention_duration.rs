//! Retention durations, in restic's units: `1y`, `6m` (months), `30d`, `36h`,
//! `1y6m`. Not the runbook durations of timeouts (`runbook::duration`, where
//! `m` is minutes): a retention duration is a calendar span, counted back from
//! a point in time in a time zone, as restic's `AddDate` does.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

/// Years, months, days and hours (restic's `--keep-within*` units).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionDuration {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

/// The units, largest first: the only order accepted.
const UNITS: [char; 4] = ['y', 'm', 'd', 'h'];

const HINT: &str = "retention durations use restic's units, largest first, each once: \
                    y (years), m (months), d (days), h (hours), e.g. `30d`, `6m`, `1y6m`, `36h`";

/// Why a retention duration did not parse; the text tells what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionDurationError {
    #[error("the retention duration is empty; {HINT}")]
    Empty,
    #[error(
        "a retention duration needs a unit: write `{0}d` for days or `{0}m` for months; {HINT}"
    )]
    NoUnit(String),
    #[error("`{text}`: expected a number where `{at}` is; {HINT}")]
    NoNumber { text: String, at: String },
    #[error(
        "`{text}`: `{unit}` is not a retention unit (retention counts hours at the finest, \
         and `m` means months); {HINT}"
    )]
    TooFine { text: String, unit: String },
    #[error("`{text}`: weeks are not a retention unit: write `{days}d`; {HINT}")]
    Weeks { text: String, days: u64 },
    #[error("`{text}`: unknown unit `{unit}`; {HINT}")]
    Unknown { text: String, unit: String },
    #[error(
        "`{text}`: units must go largest first, each once (y, m = months, d, h): \
         `{unit}` after `{after}`{note}"
    )]
    Order {
        text: String,
        unit: char,
        after: char,
        /// Says that `m` is months when that is the unit out of order.
        note: &'static str,
    },
    #[error("`{text}`: `{unit}` appears more than once; write each unit once, largest first")]
    Repeated { text: String, unit: char },
    #[error("`{0}`: whole numbers only, e.g. `36h` for a day and a half; {HINT}")]
    Fraction(String),
    #[error("`{0}`: the number is too long for a retention duration")]
    TooLong(String),
}

impl std::str::FromStr for RetentionDuration {
    type Err = RetentionDurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        use RetentionDurationError as E;
        let original = text;
        let text = text.trim();
        if text.is_empty() {
            return Err(E::Empty);
        }
        if text.chars().all(|c| c.is_ascii_digit()) {
            return Err(E::NoUnit(text.to_string()));
        }
        let mut d = Self::default();
        let mut rest = text;
        // Index into UNITS of the last unit read: the next must be smaller.
        let mut last: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(E::NoNumber {
                    text: original.to_string(),
                    at: rest.to_string(),
                });
            }
            let number = &rest[..digits];
            rest = &rest[digits..];
            if rest.starts_with(['.', ',']) {
                return Err(E::Fraction(original.into()));
            }
            let unit_len = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let n: u32 = number.parse().map_err(|_| E::TooLong(original.into()))?;
            let index = match unit {
                "y" => 0,
                "m" => 1,
                "d" => 2,
                "h" => 3,
                "" => return Err(E::NoUnit(number.to_string())),
                "s" | "ms" | "us" | "ns" | "min" | "mins" | "sec" | "secs" => {
                    return Err(E::TooFine {
                        text: original.into(),
                        unit: unit.into(),
                    });
                }
                "w" => {
                    return Err(E::Weeks {
                        text: original.into(),
                        days: u64::from(n) * 7,
                    });
                }
                _ => {
                    return Err(E::Unknown {
                        text: original.into(),
                        unit: unit.into(),
                    });
                }
            };
            if let Some(last) = last {
                if last == index {
                    return Err(E::Repeated {
                        text: original.into(),
                        unit: UNITS[index],
                    });
                }
                if last > index {
                    return Err(E::Order {
                        text: original.into(),
                        unit: UNITS[index],
                        after: UNITS[last],
                        note: if index == 1 {
                            " is ambiguous: `m` means months here (retention has no minutes)"
                        } else {
                            " is out of order"
                        },
                    });
                }
            }
            last = Some(index);
            match index {
                0 => d.years = n,
                1 => d.months = n,
                2 => d.days = n,
                _ => d.hours = n,
            }
        }
        Ok(d)
    }
}

impl RetentionDuration {
    pub const fn days(days: u32) -> Self {
        Self {
            years: 0,
            months: 0,
            days,
            hours: 0,
        }
    }

    /// `0d`, `0y0m`: no duration, i.e. the rule is not set.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// `t` minus this duration: years, months and days on the calendar of
    /// `tz` (the same wall-clock time, so a day across a DST change is 23 or
    /// 25 hours, as restic's `AddDate` in local time), then hours as exact
    /// time. A day that does not exist (31 March minus 1 month) is clamped to
    /// the month's last day (restic rolls over into the next month instead),
    /// so the cutoff is never later than restic's. `None`: before the
    /// earliest time there is, i.e. everything is younger.
    pub fn before(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let span = Span::new()
            .try_years(i64::from(self.years))
            .and_then(|s| s.try_months(i64::from(self.months)))
            .and_then(|s| s.try_days(i64::from(self.days)))
            .ok()?;
        let date_part = t.to_zoned(tz.clone()).checked_sub(span).ok()?;
        date_part
            .timestamp()
            .checked_sub(SignedDuration::from_hours(i64::from(self.hours)))
            .ok()
    }
}

/// As written: `1y6m`, `36h`, `0d`.
impl fmt::Display for RetentionDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0d");
        }
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RetentionDuration, RetentionDurationError> {
        text.parse()
    }

    #[test]
    fn restic_units_largest_first() {
        let d = parse("1y6m2d12h").unwrap();
        assert_eq!(
            d,
            RetentionDuration {
                years: 1,
                months: 6,
                days: 2,
                hours: 12
            }
        );
        assert_eq!(d.to_string(), "1y6m2d12h");
        assert_eq!(parse("6m").unwrap().months, 6);
        assert_eq!(parse(" 30d ").unwrap().to_string(), "30d");
        assert!(parse("0d").unwrap().is_zero());
        assert_eq!(parse("0d").unwrap().to_string(), "0d");
    }

    #[test]
    fn ambiguous_and_foreign_units_are_refused() {
        use RetentionDurationError as E;
        assert!(matches!(
            parse("1h30m"),
            Err(E::Order {
                unit: 'm',
                after: 'h',
                ..
            })
        ));
        assert!(matches!(parse("2d6m"), Err(E::Order { .. })));
        assert!(matches!(parse("1d1d"), Err(E::Repeated { unit: 'd', .. })));
        assert!(matches!(parse("30s"), Err(E::TooFine { .. })));
        assert!(matches!(parse("5min"), Err(E::TooFine { .. })));
        assert!(matches!(parse("2w"), Err(E::Weeks { days: 14, .. })));
        assert!(matches!(parse("3x"), Err(E::Unknown { .. })));
        assert_eq!(parse("7"), Err(E::NoUnit("7".into())));
        assert_eq!(parse("7d3"), Err(E::NoUnit("3".into())));
        assert_eq!(parse(""), Err(E::Empty));
        assert!(matches!(parse("-1d"), Err(E::NoNumber { .. })));
        assert!(matches!(parse("d"), Err(E::NoNumber { .. })));
        assert!(matches!(parse("1.5d"), Err(E::Fraction(_))));
        assert!(matches!(parse("1d 12h"), Err(E::NoNumber { .. })));
        assert!(matches!(parse("99999999999d"), Err(E::TooLong(_))));
        let message = parse("1h30m").unwrap_err().to_string();
        assert!(message.contains("m = months"), "{message}");
        assert!(message.contains("no minutes"), "{message}");
        let message = parse("1d1y").unwrap_err().to_string();
        assert!(
            message.ends_with("`y` after `d` is out of order"),
            "{message}"
        );
    }

    #[test]
    fn counts_calendar_days_in_the_zone() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let t: Timestamp = "2026-03-29T10:00:00Z".parse().unwrap(); // 12:00 CEST
        let one_day = RetentionDuration::days(1);
        // 28 March 12:00 CET: 23 hours earlier.
        assert_eq!(
            one_day.before(t, &berlin).unwrap().to_string(),
            "2026-03-28T11:00:00Z"
        );
        assert_eq!(
            one_day.before(t, &TimeZone::UTC).unwrap().to_string(),
            "2026-03-28T10:00:00Z"
        );
        let t: Timestamp = "2026-03-31T12:00:00Z".parse().unwrap();
        let month = parse("1m").unwrap();
        assert_eq!(
            month.before(t, &TimeZone::UTC).unwrap().to_string(),
            "2026-02-28T12:00:00Z",
            "clamped to the last day of February"
        );
        let hours = parse("1d36h").unwrap();
        assert_eq!(
            hours.before(t, &TimeZone::UTC).unwrap().to_string(),
            "2026-03-29T00:00:00Z"
        );
        let huge = parse("4000000000y").unwrap();
        assert_eq!(huge.before(t, &TimeZone::UTC), None);
    }
}
