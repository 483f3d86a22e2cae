//! Flag parsing as urfave/cli v1 does it on top of Go's `flag` package:
//! a command's flags are first moved before its other arguments
//! (`reorderArgs`), then parsed until the first non-flag; values are
//! checked as Go parses ints, durations and booleans.

use std::collections::HashMap;
use std::time::Duration;

use super::spec::{Flag, Kind};

/// The flags a command line set, by long name, and their defaults.
#[derive(Debug, Default)]
pub struct Values {
    set: HashMap<&'static str, Vec<String>>,
    defaults: HashMap<&'static str, &'static str>,
}

impl Values {
    /// Whether a boolean flag was given (true).
    pub fn bool(&self, name: &str) -> bool {
        self.set
            .get(name)
            .and_then(|v| v.last())
            .is_some_and(|v| parse_bool(v) == Some(true))
    }

    /// A string flag's value (its default when not given).
    pub fn string(&self, name: &str) -> String {
        match self.set.get(name).and_then(|v| v.last()) {
            Some(value) => value.clone(),
            None => self.defaults.get(name).unwrap_or(&"").to_string(),
        }
    }

    /// An int flag's value (checked when parsed).
    pub fn int(&self, name: &str) -> i64 {
        parse_int(&self.string(name)).unwrap_or(0)
    }

    /// A duration flag's value (checked when parsed).
    pub fn duration(&self, name: &str) -> Duration {
        parse_duration(&self.string(name)).unwrap_or_default()
    }

    /// Every value a slice flag was given.
    pub fn slice(&self, name: &str) -> Vec<String> {
        self.set.get(name).cloned().unwrap_or_default()
    }
}

/// urfave/cli's `argIsFlag`: `-name`, `--name` or `--name=v` of `flags`.
fn is_flag(flags: &[&Flag], arg: &str) -> bool {
    if arg == "-" || arg == "--" || !arg.starts_with('-') {
        return false;
    }
    let bare = arg.strip_prefix("--").unwrap_or(&arg[1..]);
    let name = bare.split('=').next().unwrap_or_default();
    flags.iter().any(|f| f.name_list().any(|n| n == name))
}

/// urfave/cli's `reorderArgs`: the command's flags (each with the word
/// after it when it has no `=`) first, then the other words; `--` and what
/// follows it last.
pub fn reorder(flags: &[&Flag], args: &[String]) -> Vec<String> {
    let mut flagged = Vec::new();
    let mut rest = Vec::new();
    let mut may_take_value = false;
    for (index, arg) in args.iter().enumerate() {
        if may_take_value && !is_flag(flags, arg) {
            may_take_value = false;
            flagged.push(arg.clone());
        } else if arg == "--" {
            rest.insert(0, "--".to_string());
            rest.extend_from_slice(&args[index + 1..]);
            break;
        } else if is_flag(flags, arg) {
            flagged.push(arg.clone());
            may_take_value = !arg.contains('=');
        } else {
            rest.push(arg.clone());
        }
    }
    flagged.extend(rest);
    flagged
}

/// Go's `FlagSet.Parse`: flags until the first non-flag word (or `--`);
/// the remaining words, or Go's error text.
pub fn parse(flags: &[&'static Flag], args: &[String]) -> Result<(Values, Vec<String>), String> {
    let mut values = Values::default();
    for flag in flags {
        if !flag.default.is_empty() {
            values.defaults.insert(flag.name(), flag.default);
        }
    }
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        index += 1;
        let dashes = if arg.starts_with("--") { 2 } else { 1 };
        if arg == "--" {
            break;
        }
        let name = &arg[dashes..];
        if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
            return Err(format!("bad flag syntax: {arg}"));
        }
        let (name, inline) = match name.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (name, None),
        };
        let Some(flag) = flags.iter().find(|f| f.name_list().any(|n| n == name)) else {
            return Err(format!("flag provided but not defined: -{name}"));
        };
        let value = if flag.kind == Kind::Bool {
            let value = inline.unwrap_or_else(|| "true".to_string());
            if parse_bool(&value).is_none() {
                return Err(format!(
                    "invalid boolean value {value:?} for -{name}: parse error"
                ));
            }
            value
        } else {
            let value = match inline {
                Some(value) => value,
                None if index < args.len() => {
                    index += 1;
                    args[index - 1].clone()
                }
                None => return Err(format!("flag needs an argument: -{name}")),
            };
            check_value(flag.kind, &value)
                .map_err(|why| format!("invalid value {value:?} for flag -{name}: {why}"))?;
            value
        };
        let entry = values.set.entry(flag.name()).or_default();
        if flag.kind != Kind::Slice {
            entry.clear();
        }
        entry.push(value);
    }
    Ok((values, args[index..].to_vec()))
}

/// Whether `value` parses as a flag of `kind` (Go's error words if not).
fn check_value(kind: Kind, value: &str) -> Result<(), &'static str> {
    match kind {
        Kind::Int => parse_int(value).map(drop),
        Kind::Duration => parse_duration(value).map(drop).ok_or("parse error"),
        _ => Ok(()),
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: a sign, then `0x`, `0o`, `0b` or
/// `0` (octal) prefixes, `_` between digits after a prefix.
pub fn parse_int(text: &str) -> Result<i64, &'static str> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    if digits.is_empty()
        || (digits.contains('_')
            && (!prefixed
                || digits.starts_with('_')
                || digits.ends_with('_')
                || digits.contains("__")))
    {
        return Err("parse error");
    }
    let digits = digits.replace('_', "");
    let magnitude = u64::from_str_radix(&digits, radix).map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => "value out of range",
        _ => "parse error",
    })?;
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return Err("value out of range");
        }
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| "value out of range")
    }
}

/// Go's `time.ParseDuration`: `[-+]` then number-unit pairs (`1h2m3.5s`),
/// or a bare `0`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if body == "0" {
        return Some(Duration::ZERO);
    }
    if body.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * nanos_per;
    }
    if text.starts_with('-') {
        return Some(Duration::ZERO);
    }
    Some(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_go_parses_them() {
        assert_eq!(parse_int("0x10"), Ok(16));
        assert_eq!(parse_int("-5"), Ok(-5));
        assert_eq!(parse_int("x"), Err("parse error"));
        assert_eq!(parse_int("99999999999999999999"), Err("value out of range"));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_bool("T"), Some(true));
    }
}
