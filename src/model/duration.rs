//! Durations as runbooks write them: `500ms`, `30s`, `10m`, `1h30m`, `7d`.

use std::fmt;
use std::time::Duration;

/// Why a duration did not parse; the text is the hint shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration needs a unit: write `{0}s` for seconds or `{0}m` for minutes")]
    NoUnit(String),
    #[error("use a number followed by a unit: ms, s, m, h or d (e.g. `30s`, `1h30m`)")]
    Malformed,
    #[error("the duration is too long")]
    Overflow,
}

/// Parses `1h30m`-style durations. A bare number is refused with a hint:
/// `timeout: 30` is ambiguous to a reader, `30s` is not.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return Err(DurationError::NoUnit(text.to_string()));
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(DurationError::Malformed);
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::Malformed);
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::Overflow)?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86400),
            _ => return Err(DurationError::Malformed),
        };
        rest = &rest[unit_len..];
        let part = unit.checked_mul(u32::try_from(n).map_err(|_| DurationError::Overflow)?);
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or(DurationError::Overflow)?;
    }
    Ok(total)
}

/// A duration as the runbook wrote it, parsed once: plans show the text
/// (reviewers compare it with the file) and the engine uses the value.
/// Serialised as the text; a saved plan with a bad duration does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    text: String,
    value: Duration,
}

impl Written {
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let value = parse_duration(text)?;
        Ok(Self {
            text: text.trim().to_string(),
            value,
        })
    }

    pub fn value(&self) -> Duration {
        self.value
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Written {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Written {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Written::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("bad duration `{text}`: {e}")))
    }
}

/// Formats a duration the way it would be written in a runbook.
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        let mut rest = ms;
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
            ("ms", 1),
        ] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_round_trip() {
        for (text, secs) in [("30s", 30), ("10m", 600), ("1h30m", 5400), ("7d", 604_800)] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d, Duration::from_secs(secs));
            assert_eq!(Human(d).to_string(), text);
        }
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(Human(Duration::from_millis(1500)).to_string(), "1s500ms");
    }

    #[test]
    fn a_written_duration_keeps_its_text_and_refuses_a_bad_one() {
        let w: Written = serde_json::from_str("\"1h30m\"").unwrap();
        assert_eq!(w.value(), Duration::from_secs(5400));
        assert_eq!(serde_json::to_string(&w).unwrap(), "\"1h30m\"");
        let bad = serde_json::from_str::<Written>("\"30\"").unwrap_err();
        assert!(bad.to_string().contains("bad duration `30`"), "{bad}");
    }

    #[test]
    fn rejects_bad_durations_with_a_reason() {
        assert_eq!(
            parse_duration("30"),
            Err(DurationError::NoUnit("30".into()))
        );
        assert_eq!(parse_duration("30 sec"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("s"), Err(DurationError::Malformed));
        assert_eq!(parse_duration(""), Err(DurationError::Malformed));
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Overflow)
        );
    }
}
