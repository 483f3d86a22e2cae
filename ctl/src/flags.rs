//! pflag's rules for one command's flags (its own and the global ones), as
//! cobra applies them for etcdctl:
//!
//! ```text
//!   --name=value  --name value  --bool  --bool=false  -w json  -wjson  -w=json
//!   -h/--help anywhere     --  (the rest is positional)    -  (positional)
//!   flags and positional arguments may be interleaved
//!   errors: "unknown flag: --x", "unknown shorthand flag: 'x' in -x",
//!           "flag needs an argument: --x", "flag needs an argument: 'w' in -w",
//!           "invalid argument \"v\" for \"--x\" flag: <why>"
//! ```
//!
//! Values are checked when set (as pflag does) and kept as parsed
//! [`Value`]s; [`Values::changed`] says which the command line set, which
//! is what etcd's `ETCDCTL_*` environment rule needs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A flag's value type (pflag's `Type()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Strings,
    Bool,
    Duration,
    Int,
    Uint,
}

/// One flag: name, optional one-letter shorthand, type, default as pflag
/// prints it, help text.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub name: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    pub default: &'static str,
    pub usage: &'static str,
}

/// A flag without a shorthand.
pub const fn flag(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    usage: &'static str,
) -> Flag {
    Flag {
        name,
        short: None,
        kind,
        default,
        usage,
    }
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Strings(Vec<String>),
    Bool(bool),
    Duration(Duration),
    Int(i64),
    Uint(u64),
}

/// Every flag of a command with its value, and which were set.
#[derive(Debug, Clone, Default)]
pub struct Values {
    values: BTreeMap<&'static str, Value>,
    changed: BTreeSet<&'static str>,
    flags: Vec<Flag>,
}

/// What a command line parsed into.
#[derive(Debug)]
pub struct Parsed {
    pub values: Values,
    pub positional: Vec<String>,
    /// `-h`/`--help` was given.
    pub help: bool,
}

impl Values {
    /// The defaults of `flags`.
    pub fn new(flags: &[Flag]) -> Values {
        let mut values = Values {
            flags: flags.to_vec(),
            ..Values::default()
        };
        for flag in flags {
            let value = parse_value(flag.kind, default_text(flag), None)
                .unwrap_or(Value::String(flag.default.to_string()));
            values.values.insert(flag.name, value);
        }
        values
    }

    fn find(&self, name: &str) -> Option<Flag> {
        self.flags.iter().copied().find(|f| f.name == name)
    }

    fn find_short(&self, short: char) -> Option<Flag> {
        self.flags.iter().copied().find(|f| f.short == Some(short))
    }

    /// Sets `name` from text, as `--name=text` would; the error is pflag's.
    pub fn set(&mut self, name: &str, text: &str) -> Result<(), String> {
        let Some(flag) = self.find(name) else {
            return Err(format!("unknown flag: --{name}"));
        };
        let first = !self.changed.contains(flag.name);
        let previous = self.values.get(flag.name).cloned();
        let value = parse_value(flag.kind, text, (!first).then_some(previous).flatten()).map_err(
            |why| {
                let shown = match flag.short {
                    Some(short) => format!("-{short}, --{}", flag.name),
                    None => format!("--{}", flag.name),
                };
                format!("invalid argument {text:?} for {shown:?} flag: {why}")
            },
        )?;
        self.values.insert(flag.name, value);
        self.changed.insert(flag.name);
        Ok(())
    }

    /// Sets `name` from text as if it had not been set before: a list
    /// flag gets this value alone (`set` appends, as a repeated flag does).
    pub fn replace(&mut self, name: &str, text: &str) -> Result<(), String> {
        self.changed.remove(name);
        self.set(name, text)
    }

    /// Whether the command line (or the environment) set `name`.
    pub fn changed(&self, name: &str) -> bool {
        self.changed.contains(name)
    }

    pub fn string(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        }
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            Some(Value::Strings(list)) => list.clone(),
            _ => Vec::new(),
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Bool(true)))
    }

    pub fn duration(&self, name: &str) -> Duration {
        match self.values.get(name) {
            Some(Value::Duration(d)) => *d,
            _ => Duration::ZERO,
        }
    }

    pub fn int(&self, name: &str) -> i64 {
        match self.values.get(name) {
            Some(Value::Int(n)) => *n,
            _ => 0,
        }
    }

    pub fn uint(&self, name: &str) -> u64 {
        match self.values.get(name) {
            Some(Value::Uint(n)) => *n,
            _ => 0,
        }
    }

    /// The value as `--debug` prints it (Go's `%v` of the pflag value).
    pub fn shown(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Strings(list)) => format!("[{}]", list.join(",")),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Duration(d)) => format_duration(*d),
            Some(Value::Int(n)) => n.to_string(),
            Some(Value::Uint(n)) => n.to_string(),
            None => String::new(),
        }
    }
}

/// The default as text a value parses from (`[a,b]` → `a,b`).
fn default_text(flag: &Flag) -> &'static str {
    match flag.kind {
        Kind::Strings => flag
            .default
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(flag.default),
        _ => flag.default,
    }
}

/// Whether `flag` may be given without a value (pflag's `NoOptDefVal`).
pub fn takes_no_value(flag: &Flag) -> bool {
    flag.kind == Kind::Bool
}

/// Parses `args` against `flags` with pflag's rules.
pub fn parse(flags: &[Flag], args: &[String]) -> Result<Parsed, String> {
    let mut values = Values::new(flags);
    let mut positional = Vec::new();
    let mut help = false;
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        if arg == "--" {
            positional.extend(args[index..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            if name == "help" {
                help = inline.is_none_or(|v| parse_bool(v).unwrap_or(false));
                continue;
            }
            let Some(flag) = values.find(name) else {
                return Err(format!("unknown flag: --{name}"));
            };
            let text = match inline {
                Some(value) => value.to_string(),
                None if takes_no_value(&flag) => "true".to_string(),
                None if index < args.len() => {
                    index += 1;
                    args[index - 1].clone()
                }
                None => return Err(format!("flag needs an argument: --{name}")),
            };
            values.set(flag.name, &text)?;
        } else if arg.len() > 1 && arg.starts_with('-') {
            let shorts: Vec<char> = arg[1..].chars().collect();
            let mut at = 0;
            while at < shorts.len() {
                let short = shorts[at];
                let rest: String = shorts[at + 1..].iter().collect();
                if short == 'h' {
                    help = true;
                    at += 1;
                    continue;
                }
                let Some(flag) = values.find_short(short) else {
                    return Err(format!("unknown shorthand flag: '{short}' in {arg}"));
                };
                if let Some(value) = rest.strip_prefix('=') {
                    values.set(flag.name, value)?;
                    break;
                }
                if takes_no_value(&flag) {
                    values.set(flag.name, "true")?;
                    at += 1;
                    continue;
                }
                if !rest.is_empty() {
                    values.set(flag.name, &rest)?;
                } else if index < args.len() {
                    index += 1;
                    values.set(flag.name, &args[index - 1])?;
                } else {
                    return Err(format!("flag needs an argument: '{short}' in -{short}"));
                }
                break;
            }
        } else {
            positional.push(arg.clone());
        }
    }
    Ok(Parsed {
        values,
        positional,
        help,
    })
}

fn parse_value(kind: Kind, text: &str, previous: Option<Value>) -> Result<Value, String> {
    Ok(match kind {
        Kind::String => Value::String(text.to_string()),
        Kind::Strings => {
            let mut list = match previous {
                Some(Value::Strings(list)) => list,
                _ => Vec::new(),
            };
            if !text.is_empty() {
                list.extend(text.split(',').map(str::to_string));
            }
            Value::Strings(list)
        }
        Kind::Bool => Value::Bool(parse_bool(text)?),
        Kind::Duration => Value::Duration(parse_duration(text)?),
        Kind::Int => Value::Int(
            text.parse::<i64>()
                .map_err(|_| format!("strconv.ParseInt: parsing {text:?}: invalid syntax"))?,
        ),
        Kind::Uint => Value::Uint(
            text.parse::<u64>()
                .map_err(|_| format!("strconv.ParseUint: parsing {text:?}: invalid syntax"))?,
        ),
    })
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {text:?}: invalid syntax"
        )),
    }
}

/// Go's `time.ParseDuration` (non-negative durations only).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let body = text.strip_prefix('+').unwrap_or(text);
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() || body.starts_with('-') {
        return Err(invalid());
    }
    let mut total_ns: f64 = 0.0;
    let mut rest = body;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(format!("time: unknown unit {other:?} in duration {text:?}")),
        };
        total_ns += value * scale;
    }
    Ok(Duration::from_nanos(total_ns as u64))
}

/// Go's `time.Duration.String()` for non-negative durations.
pub fn format_duration(duration: Duration) -> String {
    let ns = duration.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_fraction(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_fraction(ns as f64 / 1e6));
    }
    let secs_total = ns as f64 / 1e9;
    let hours = (secs_total / 3600.0).floor();
    let minutes = ((secs_total - hours * 3600.0) / 60.0).floor();
    let seconds = secs_total - hours * 3600.0 - minutes * 60.0;
    let mut out = String::new();
    if hours > 0.0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0.0 || minutes > 0.0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", trim_fraction(seconds)));
    out
}

fn trim_fraction(value: f64) -> String {
    let text = format!("{value:.9}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag {
            name: "write-out",
            short: Some('w'),
            kind: Kind::String,
            default: "simple",
            usage: "",
        },
        flag("prefix", Kind::Bool, "false", ""),
        flag("limit", Kind::Int, "0", ""),
        flag("endpoints", Kind::Strings, "[127.0.0.1:2379]", ""),
        flag("dial-timeout", Kind::Duration, "2s", ""),
    ];

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn long_short_and_positional() {
        let parsed = parse(
            FLAGS,
            &args(&["a", "-wjson", "--prefix", "--limit", "3", "b", "--", "--c"]),
        )
        .expect("parses");
        assert_eq!(parsed.positional, args(&["a", "b", "--c"]));
        assert_eq!(parsed.values.string("write-out"), "json");
        assert!(parsed.values.bool("prefix"));
        assert_eq!(parsed.values.int("limit"), 3);
        assert_eq!(
            parsed.values.strings("endpoints"),
            args(&["127.0.0.1:2379"])
        );
    }

    #[test]
    fn errors_are_pflags() {
        let error = |list: &[&str]| parse(FLAGS, &args(list)).err().unwrap_or_default();
        assert_eq!(error(&["--x"]), "unknown flag: --x");
        assert_eq!(error(&["-x"]), "unknown shorthand flag: 'x' in -x");
        assert_eq!(error(&["--limit"]), "flag needs an argument: --limit");
        assert_eq!(error(&["-w"]), "flag needs an argument: 'w' in -w");
        assert_eq!(
            error(&["--dial-timeout", "xx"]),
            "invalid argument \"xx\" for \"--dial-timeout\" flag: time: invalid duration \"xx\""
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_micros(2156)), "2.156ms");
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn slices_replace_then_append() {
        let parsed = parse(FLAGS, &args(&["--endpoints", "a,b", "--endpoints=c"])).expect("ok");
        assert_eq!(parsed.values.strings("endpoints"), args(&["a", "b", "c"]));
    }
}
