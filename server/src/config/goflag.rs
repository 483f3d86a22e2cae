//! Value syntaxes of Go's `flag` and `strconv` packages, which etcd's flags use:
//! booleans (`strconv.ParseBool`), integers in any Go base (`0x1f`, `0o17`, `017`,
//! `0b101`, `1_000`), and durations (`time.ParseDuration`: `1h2m3.5s`, `300ms`).

use std::time::Duration;

/// Why a Go number did not parse, with the words Go's `flag` package prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumError {
    Syntax,
    Range,
}

impl NumError {
    /// The text Go's `flag` package gives (`invalid value "x" for flag -f: parse error`).
    pub fn flag_text(self) -> &'static str {
        match self {
            NumError::Syntax => "parse error",
            NumError::Range => "value out of range",
        }
    }

    /// The raw `strconv` text, which etcd's own flag types (e.g. `--max-concurrent-streams`) print.
    pub fn strconv_text(self, function: &str, input: &str) -> String {
        let what = match self {
            NumError::Syntax => "invalid syntax",
            NumError::Range => "value out of range",
        };
        format!("strconv.{function}: parsing {input:?}: {what}")
    }
}

/// `strconv.ParseBool`.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `strconv.ParseUint(text, 0, bits)`.
pub fn parse_uint(text: &str, bits: u32) -> Result<u64, NumError> {
    let (radix, digits) = split_radix(text)?;
    let value = u64::from_str_radix(&digits, radix).map_err(|error| {
        if matches!(error.kind(), std::num::IntErrorKind::PosOverflow) {
            NumError::Range
        } else {
            NumError::Syntax
        }
    })?;
    if bits < 64 && value >> bits != 0 {
        return Err(NumError::Range);
    }
    Ok(value)
}

/// `strconv.ParseInt(text, 0, 64)`.
pub fn parse_int(text: &str) -> Result<i64, NumError> {
    let (negative, magnitude_text) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = parse_uint(magnitude_text, 64)?;
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return Err(NumError::Range);
        }
        Ok((magnitude as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(magnitude).map_err(|_| NumError::Range)
    }
}

/// Splits a Go base prefix off and removes the underscores Go allows after one.
fn split_radix(text: &str) -> Result<(u32, String), NumError> {
    if text.is_empty() || text.starts_with(['+', '-']) {
        return Err(NumError::Syntax);
    }
    let lower = text.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.contains('_') {
        // Go: underscores only between digits, and only in base-prefixed literals.
        let ok = prefixed && !digits.ends_with('_') && !digits.contains("__");
        if !ok {
            return Err(NumError::Syntax);
        }
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() {
        return Err(NumError::Syntax);
    }
    Ok((radix, digits))
}

/// `time.ParseDuration`, limited to durations that are not negative.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let mut rest = text;
    if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    } else if let Some(stripped) = rest.strip_prefix('-') {
        if stripped == "0" {
            return Ok(Duration::ZERO);
        }
        return Err(format!("negative duration {text:?} is not allowed"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_end];
        if number.is_empty() {
            return Err(invalid());
        }
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut part = whole.checked_mul(unit_ns).ok_or_else(invalid)?;
        let mut scale = unit_ns;
        for digit in fraction.bytes() {
            scale /= 10;
            part += u128::from(digit - b'0') * scale;
        }
        total_ns = total_ns.checked_add(part).ok_or_else(invalid)?;
    }
    if total_ns > i64::MAX as u128 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total_ns as u64))
}

/// Go's `time.Duration.String` (`2h0m0s`, `100ms`, `0s`).
pub fn format_duration(duration: Duration) -> String {
    let ns = duration.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000_000_000 {
        let (unit, scale) = if ns < 1_000 {
            ("ns", 1)
        } else if ns < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", decimal(ns, scale));
    }
    let hours = ns / 3_600_000_000_000;
    let minutes = (ns / 60_000_000_000) % 60;
    let seconds = decimal(ns % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

fn decimal(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let fraction = value % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_strconv() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(yes), Some(true));
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(no), Some(false));
        }
        assert_eq!(parse_bool("yes"), None);
    }

    #[test]
    fn integers_take_go_bases() {
        assert_eq!(parse_uint("100000", 64), Ok(100_000));
        assert_eq!(parse_uint("0x10", 64), Ok(16));
        assert_eq!(parse_uint("010", 64), Ok(8));
        assert_eq!(parse_uint("0o10", 64), Ok(8));
        assert_eq!(parse_uint("0b11", 64), Ok(3));
        assert_eq!(parse_uint("0x_1_0", 64), Ok(16));
        assert_eq!(parse_uint("1_000", 64), Err(NumError::Syntax));
        assert_eq!(parse_uint("abc", 64), Err(NumError::Syntax));
        assert_eq!(parse_uint("", 64), Err(NumError::Syntax));
        assert_eq!(parse_uint("-1", 64), Err(NumError::Syntax));
        assert_eq!(parse_uint("4294967296", 32), Err(NumError::Range));
        assert_eq!(parse_uint("99999999999999999999", 64), Err(NumError::Range));
        assert_eq!(parse_int("-5"), Ok(-5));
        assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int("9223372036854775808"), Err(NumError::Range));
    }

    #[test]
    fn durations_follow_time_parse_duration() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(
            parse_duration("1h2m3.5s"),
            Ok(Duration::from_millis(3_723_500))
        );
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5us"), Ok(Duration::from_nanos(1_500)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h0m0s");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m0s");
        assert_eq!(format_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }
}
