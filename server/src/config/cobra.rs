//! The command-line rules of etcd's subcommands (`etcd gateway start`,
//! `etcd grpc-proxy start`), which use cobra and pflag rather than Go's
//! `flag` package the server's own flags use:
//!
//! ```text
//!   --name=value  --name value  --bool  --bool=false  -h  --help  --
//!   string slices: comma-separated, the first use replaces the default,
//!   later uses append
//!   errors: "unknown flag: --x", "unknown shorthand flag: 'x' in -x",
//!           "flag needs an argument: --x",
//!           "invalid argument \"v\" for \"--x\" flag: <why>"
//! ```
//!
//! [`Command::usage`] writes cobra's help text (pflag's column layout,
//! flags sorted by name, defaults shown as pflag shows them).

use std::collections::BTreeMap;
use std::time::Duration;

use super::goflag;

/// A flag's value type, as pflag names it in the help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Strings,
    Bool,
    Duration,
}

/// One flag of a command.
#[derive(Debug, Clone)]
pub struct Flag {
    pub name: &'static str,
    pub kind: Kind,
    /// The default as pflag prints it (`""` for none; `"[a,b]"` for slices;
    /// `"1m0s"` for durations; `"false"` for booleans).
    pub default: &'static str,
    pub usage: &'static str,
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    String(String),
    Strings(Vec<String>),
    Bool(bool),
    Duration(Duration),
}

/// A subcommand: its path (`gateway start`), one-line description and flags.
#[derive(Debug, Clone)]
pub struct Command {
    /// Words after the program name, e.g. `"gateway start"`.
    pub path: &'static str,
    pub short: &'static str,
    pub flags: Vec<Flag>,
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// `-h`/`--help`: print [`Command::usage`] on stdout.
    Help,
    /// Run with these values (every flag present, defaults filled in) and
    /// these positional arguments (cobra ignores them for `start`).
    Run {
        values: BTreeMap<&'static str, Value>,
        positional: Vec<String>,
    },
}

impl Command {
    /// Parses `args` (the words after the command path) with pflag's rules.
    /// The error is the text cobra prints after `Error: `.
    pub fn parse(&self, args: &[String]) -> Result<Parsed, String> {
        let mut values = BTreeMap::new();
        for flag in &self.flags {
            values.insert(flag.name, default_value(flag)?);
        }
        let mut set_slices: Vec<&'static str> = Vec::new();
        let mut positional = Vec::new();
        let mut help = false;
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            if arg == "--" {
                positional.extend(args[i..].iter().cloned());
                break;
            }
            if let Some(long) = arg.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((name, value)) => (name, Some(value.to_string())),
                    None => (long, None),
                };
                if name == "help" {
                    help = match inline {
                        Some(value) => goflag::parse_bool(&value)
                            .ok_or_else(|| invalid(&value, "--help", &bool_error(&value)))?,
                        None => true,
                    };
                    continue;
                }
                let Some(flag) = self.flags.iter().find(|f| f.name == name) else {
                    return Err(format!("unknown flag: --{name}"));
                };
                let text = match (inline, flag.kind) {
                    (Some(value), _) => value,
                    (None, Kind::Bool) => "true".to_string(),
                    (None, _) => match args.get(i) {
                        Some(next) => {
                            i += 1;
                            next.clone()
                        }
                        None => return Err(format!("flag needs an argument: --{name}")),
                    },
                };
                let value = parse_value(flag, &text)?;
                match (value, values.get_mut(flag.name)) {
                    (Value::Strings(more), Some(Value::Strings(list)))
                        if set_slices.contains(&flag.name) =>
                    {
                        list.extend(more);
                    }
                    (value, _) => {
                        if flag.kind == Kind::Strings {
                            set_slices.push(flag.name);
                        }
                        values.insert(flag.name, value);
                    }
                }
            } else if arg.len() > 1 && arg.starts_with('-') {
                // Shorthands: only -h exists.
                let rest = &arg[1..];
                let first = rest.chars().next().unwrap_or('-');
                if first != 'h' {
                    return Err(format!("unknown shorthand flag: '{first}' in {arg}"));
                }
                match rest.strip_prefix("h=") {
                    Some(value) => {
                        help = goflag::parse_bool(value)
                            .ok_or_else(|| invalid(value, "-h, --help", &bool_error(value)))?;
                    }
                    None if rest == "h" => help = true,
                    None => {
                        let next = rest.chars().nth(1).unwrap_or('-');
                        return Err(format!("unknown shorthand flag: '{next}' in {arg}"));
                    }
                }
            } else {
                positional.push(arg.clone());
            }
        }
        if help {
            return Ok(Parsed::Help);
        }
        Ok(Parsed::Run { values, positional })
    }

    /// cobra's help for a runnable command, with `program` as the root's
    /// name.
    pub fn usage(&self, program: &str) -> String {
        let last = self.path.rsplit(' ').next().unwrap_or(self.path);
        let mut out = format!(
            "{}\n\nUsage:\n  {program} {} [flags]\n\nFlags:\n",
            self.short, self.path
        );
        let help_usage = format!("help for {last}");
        let mut lines: Vec<(String, String, String)> = self
            .flags
            .iter()
            .map(|flag| {
                let left = match flag.kind {
                    Kind::Bool => format!("      --{}", flag.name),
                    Kind::String => format!("      --{} string", flag.name),
                    Kind::Strings => format!("      --{} strings", flag.name),
                    Kind::Duration => format!("      --{} duration", flag.name),
                };
                let mut right = flag.usage.to_string();
                match flag.kind {
                    Kind::String if !flag.default.is_empty() => {
                        right.push_str(&format!(" (default \"{}\")", flag.default));
                    }
                    Kind::Bool if flag.default == "true" => right.push_str(" (default true)"),
                    Kind::Strings if flag.default != "[]" => {
                        right.push_str(&format!(" (default {})", flag.default));
                    }
                    Kind::Duration if flag.default != "0s" => {
                        right.push_str(&format!(" (default {})", flag.default));
                    }
                    _ => {}
                }
                (flag.name.to_string(), left, right)
            })
            .collect();
        lines.push(("help".into(), "  -h, --help".into(), help_usage));
        lines.sort();
        let width = lines
            .iter()
            .map(|(_, left, _)| left.len())
            .max()
            .unwrap_or(0);
        for (_, left, right) in lines {
            out.push_str(&format!("{left:width$}   {right}\n"));
        }
        out
    }
}

/// cobra's help for a command that only groups subcommands
/// (`etcd gateway`).
pub fn group_usage(program: &str, name: &str, short: &str, children: &[&Command]) -> String {
    let mut out =
        format!("{short}\n\nUsage:\n  {program} {name} [command]\n\nAvailable Commands:\n");
    for child in children {
        let last = child.path.rsplit(' ').next().unwrap_or(child.path);
        out.push_str(&format!("  {last:<11} {}\n", child.short));
    }
    out.push_str(&format!(
        "\nFlags:\n  -h, --help   help for {name}\n\nUse \"{program} {name} [command] --help\" for more information about a command.\n"
    ));
    out
}

fn default_value(flag: &Flag) -> Result<Value, String> {
    Ok(match flag.kind {
        Kind::String => Value::String(flag.default.to_string()),
        Kind::Strings => {
            let inner = flag
                .default
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            Value::Strings(split_csv(&inner))
        }
        Kind::Bool => Value::Bool(flag.default == "true"),
        Kind::Duration => Value::Duration(
            goflag::parse_duration(flag.default)
                .map_err(|e| format!("default of --{}: {e}", flag.name))?,
        ),
    })
}

fn parse_value(flag: &Flag, text: &str) -> Result<Value, String> {
    let name = format!("--{}", flag.name);
    Ok(match flag.kind {
        Kind::String => Value::String(text.to_string()),
        Kind::Strings => Value::Strings(split_csv(text)),
        Kind::Bool => Value::Bool(
            goflag::parse_bool(text).ok_or_else(|| invalid(text, &name, &bool_error(text)))?,
        ),
        Kind::Duration => {
            Value::Duration(goflag::parse_duration(text).map_err(|why| invalid(text, &name, &why))?)
        }
    })
}

/// pflag reads a slice as one CSV record; an empty value is an empty list.
fn split_csv(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(',').map(str::to_string).collect()
}

fn bool_error(text: &str) -> String {
    format!("strconv.ParseBool: parsing {text:?}: invalid syntax")
}

fn invalid(text: &str, name: &str, why: &str) -> String {
    format!("invalid argument {text:?} for {name:?} flag: {why}")
}

/// Typed access to parsed values (the names are the command's own, so a
/// miss is a programming error answered with the type's zero value).
pub trait Values {
    fn string(&self, name: &str) -> String;
    fn strings(&self, name: &str) -> Vec<String>;
    fn boolean(&self, name: &str) -> bool;
    fn duration(&self, name: &str) -> Duration;
}

impl Values for BTreeMap<&'static str, Value> {
    fn string(&self, name: &str) -> String {
        match self.get(name) {
            Some(Value::String(value)) => value.clone(),
            _ => String::new(),
        }
    }

    fn strings(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Value::Strings(value)) => value.clone(),
            _ => Vec::new(),
        }
    }

    fn boolean(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Bool(true)))
    }

    fn duration(&self, name: &str) -> Duration {
        match self.get(name) {
            Some(Value::Duration(value)) => *value,
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> Command {
        Command {
            path: "gateway start",
            short: "start the gateway",
            flags: vec![
                Flag {
                    name: "endpoints",
                    kind: Kind::Strings,
                    default: "[127.0.0.1:2379]",
                    usage: "comma separated etcd cluster endpoints",
                },
                Flag {
                    name: "listen-addr",
                    kind: Kind::String,
                    default: "127.0.0.1:23790",
                    usage: "listen address",
                },
                Flag {
                    name: "insecure-discovery",
                    kind: Kind::Bool,
                    default: "false",
                    usage: "accept insecure SRV records",
                },
                Flag {
                    name: "retry-delay",
                    kind: Kind::Duration,
                    default: "1m0s",
                    usage: "duration of delay before retrying failed endpoints",
                },
            ],
        }
    }

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn run(words: &[&str]) -> Result<BTreeMap<&'static str, Value>, String> {
        match command().parse(&args(words))? {
            Parsed::Run { values, .. } => Ok(values),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults_and_values() {
        let values = run(&[]).unwrap();
        assert_eq!(values.strings("endpoints"), vec!["127.0.0.1:2379"]);
        assert_eq!(values.duration("retry-delay"), Duration::from_secs(60));
        let values = run(&[
            "--endpoints",
            "a:1",
            "--endpoints=b:2,c:3",
            "--insecure-discovery",
            "--retry-delay=2s",
            "--listen-addr",
            "x:1",
        ])
        .unwrap();
        assert_eq!(values.strings("endpoints"), vec!["a:1", "b:2", "c:3"]);
        assert!(values.boolean("insecure-discovery"));
        assert_eq!(values.duration("retry-delay"), Duration::from_secs(2));
        assert_eq!(values.string("listen-addr"), "x:1");
        assert!(!run(&["--insecure-discovery=false"])
            .unwrap()
            .boolean("insecure-discovery"));
    }

    #[test]
    fn errors_are_pflags() {
        assert_eq!(run(&["--bogus"]).unwrap_err(), "unknown flag: --bogus");
        assert_eq!(run(&["--bogus=1"]).unwrap_err(), "unknown flag: --bogus");
        assert_eq!(
            run(&["-x"]).unwrap_err(),
            "unknown shorthand flag: 'x' in -x"
        );
        assert_eq!(
            run(&["--listen-addr"]).unwrap_err(),
            "flag needs an argument: --listen-addr"
        );
        assert_eq!(
            run(&["--retry-delay=xx"]).unwrap_err(),
            "invalid argument \"xx\" for \"--retry-delay\" flag: time: invalid duration \"xx\""
        );
        assert_eq!(
            run(&["--insecure-discovery=maybe"]).unwrap_err(),
            "invalid argument \"maybe\" for \"--insecure-discovery\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(run(&["-h"]).unwrap_err(), "help");
        assert_eq!(run(&["--help"]).unwrap_err(), "help");
        assert!(run(&["--help=false"]).is_ok());
    }

    #[test]
    fn usage_has_pflags_columns() {
        let usage = command().usage("cairn");
        assert!(usage
            .starts_with("start the gateway\n\nUsage:\n  cairn gateway start [flags]\n\nFlags:\n"));
        assert!(usage.contains(
            "      --endpoints strings      comma separated etcd cluster endpoints (default [127.0.0.1:2379])\n"
        ));
        assert!(usage.contains("  -h, --help                   help for start\n"));
        assert!(usage.contains(
            "      --retry-delay duration   duration of delay before retrying failed endpoints (default 1m0s)\n"
        ));
    }

    proptest::proptest! {
        /// Any words: an answer, never a panic; a run has every flag.
        #[test]
        fn any_command_line_parses_or_errs(words in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::string::string_regex("-{0,2}[a-z=,:-]{0,12}").unwrap(),
                proptest::sample::select(vec![
                    "--endpoints".to_string(), "--retry-delay".into(), "-h".into(),
                    "--".into(), "--insecure-discovery".into(), "1s".into(),
                ]),
            ],
            0..6,
        )) {
            if let Ok(Parsed::Run { values, .. }) = command().parse(&words) {
                proptest::prop_assert_eq!(values.len(), command().flags.len());
            }
        }
    }

    #[test]
    fn never_panics_on_arbitrary_words() {
        let words = [
            "-",
            "--",
            "-h=",
            "-hx",
            "--=",
            "---",
            "--endpoints=",
            "-h=maybe",
            "ü",
            "-ü",
        ];
        for a in words {
            for b in words {
                let _ = command().parse(&args(&[a, b]));
            }
        }
    }
}
