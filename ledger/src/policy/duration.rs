//! Policy durations as people write them: `900`, `900s`, `15m`, `1h`, `1h30m`.

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration cannot be empty")]
    Empty,
    #[error("a duration cannot be negative")]
    Negative,
    #[error("fractions are not allowed (write 90m rather than 1.5h)")]
    Fraction,
    #[error("a duration must be longer than zero")]
    Zero,
    #[error("expected whole seconds (900) or hours, minutes and seconds in that order (1h30m, 15m, 900s)")]
    Malformed,
    #[error("the duration is too large")]
    Overflow,
}

/// Parses whole seconds (`900`) or hours, minutes and seconds, each at most once and in
/// that order (`900s`, `15m`, `1h`, `1h30m`, `1h0m30s`). Zero, signs, fractions and
/// whitespace are refused.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative);
    }
    if text.contains(['.', ',']) {
        return Err(DurationError::Fraction);
    }
    let seconds = if text.bytes().all(|b| b.is_ascii_digit()) { digits_to_u64(text)? } else { parse_units(text)? };
    if seconds == 0 {
        return Err(DurationError::Zero);
    }
    Ok(Duration::from_secs(seconds))
}

fn parse_units(text: &str) -> Result<u64, DurationError> {
    let mut total: u64 = 0;
    // Units must appear in strictly decreasing size: h (3600) > m (60) > s (1).
    let mut last_unit = u64::MAX;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits_end == 0 || digits_end == rest.len() {
            return Err(DurationError::Malformed);
        }
        let number = digits_to_u64(&rest[..digits_end])?;
        let unit = match rest.as_bytes()[digits_end] {
            b'h' => 3600,
            b'm' => 60,
            b's' => 1,
            _ => return Err(DurationError::Malformed),
        };
        if unit >= last_unit {
            return Err(DurationError::Malformed);
        }
        last_unit = unit;
        total = number.checked_mul(unit).and_then(|n| total.checked_add(n)).ok_or(DurationError::Overflow)?;
        rest = &rest[digits_end + 1..];
    }
    Ok(total)
}

fn digits_to_u64(digits: &str) -> Result<u64, DurationError> {
    digits.parse::<u64>().map_err(|_| DurationError::Overflow)
}

/// Formats a duration the way policies write it (`1h30m`, `15m`, `45s`, `0s`).
pub fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    if total == 0 {
        return "0s".to_owned();
    }
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Result<Duration, DurationError> {
        Ok(Duration::from_secs(n))
    }

    #[test]
    fn accepts_seconds_and_unit_forms() {
        assert_eq!(parse_duration("900"), secs(900));
        assert_eq!(parse_duration("900s"), secs(900));
        assert_eq!(parse_duration("15m"), secs(900));
        assert_eq!(parse_duration("1h"), secs(3600));
        assert_eq!(parse_duration("1h30m"), secs(5400));
        assert_eq!(parse_duration("1h0m30s"), secs(3630));
        assert_eq!(parse_duration("90m"), secs(5400));
    }

    #[test]
    fn refuses_zero_negative_fractions_and_garbage() {
        assert_eq!(parse_duration("0"), Err(DurationError::Zero));
        assert_eq!(parse_duration("0s"), Err(DurationError::Zero));
        assert_eq!(parse_duration("0h0m"), Err(DurationError::Zero));
        assert_eq!(parse_duration("-900"), Err(DurationError::Negative));
        assert_eq!(parse_duration("-1h"), Err(DurationError::Negative));
        assert_eq!(parse_duration("1.5h"), Err(DurationError::Fraction));
        assert_eq!(parse_duration("900.0"), Err(DurationError::Fraction));
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        for garbage in [
            "h", "15x", "m15", "1h1h", "30m1h", "1 h", " 900", "900 ", "+900", "1d", "15M", "1hh", "1h30", "PT1H",
            "１５m",
        ] {
            assert_eq!(parse_duration(garbage), Err(DurationError::Malformed), "{garbage:?}");
        }
        assert_eq!(parse_duration("99999999999999999999"), Err(DurationError::Overflow));
        assert_eq!(parse_duration("9999999999999999999h"), Err(DurationError::Overflow));
    }

    #[test]
    fn formats_back_to_the_policy_form() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(3630)), "1h30s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
