//! The command line with Go `flag` package semantics, and the `ETCD_*` environment
//! pass etcd 3.4 runs after it (`pkg/flags.SetFlagsFromEnv`).
//!
//! ```text
//!   -name x   --name x   -name=x   --name=x      value flags (may take the next argument)
//!   -pre-vote --pre-vote=false                   bool flags (never take the next argument)
//!   --                                            ends the flags
//!   x                                             ends the flags (then refused: "'x' is not a valid flag")
//! ```
//! A flag given twice keeps its last value.

use std::collections::BTreeSet;

use super::error::ConfigError;
use super::fields::Config;
use super::spec::{self, FlagKind};

/// What the command line said, before the environment and validation.
#[derive(Debug, Default)]
pub(crate) struct CommandLine {
    pub config: Config,
    /// Flags given on the command line (etcd's `flag.Visit` set).
    pub set_by_flag: BTreeSet<&'static str>,
    /// Arguments left after the flags; etcd refuses them.
    pub positional: Vec<String>,
    pub help: bool,
    pub version: bool,
    pub warnings: Vec<String>,
}

fn ignored_warning(name: &str) -> String {
    format!("flag \"-{name}\" is no longer supported - ignoring.")
}

/// Parses `args` (without the program name) as Go's `flag.FlagSet.Parse` does.
pub(crate) fn parse_args(args: &[String]) -> Result<CommandLine, ConfigError> {
    let mut line = CommandLine::default();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        if arg.len() < 2 || !arg.starts_with('-') {
            break; // first non-flag argument: the rest is positional
        }
        index += 1;
        let without_dash = &arg[1..];
        let body = match without_dash.strip_prefix('-') {
            Some("") => break, // "--" ends the flags
            Some(rest) => rest,
            None => without_dash,
        };
        if body.is_empty() || body.starts_with(['-', '=']) {
            return Err(ConfigError::CommandLine(format!("bad flag syntax: {arg}")));
        }
        // "=" cannot be the first character of a name.
        let (name, inline_value) = match body[1..].find('=') {
            Some(at) => (&body[..at + 1], Some(&body[at + 2..])),
            None => (body, None),
        };
        let Some(spec) = spec::find(name) else {
            if name == "help" || name == "h" {
                line.help = true;
                return Ok(line);
            }
            return Err(ConfigError::CommandLine(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        match spec.kind {
            FlagKind::Ignored => line.warnings.push(ignored_warning(spec.name)),
            FlagKind::Bool => {
                let text = inline_value.unwrap_or("true");
                if super::goflag::parse_bool(text).is_none() {
                    return Err(ConfigError::CommandLine(format!(
                        "invalid boolean value {text:?} for -{name}: parse error"
                    )));
                }
                if spec.name == "version" {
                    line.version = super::goflag::parse_bool(text) == Some(true);
                } else {
                    set_flag(&mut line.config, spec.name, text)?;
                }
            }
            FlagKind::Value => {
                let value = match inline_value {
                    Some(value) => value,
                    None => {
                        let Some(next) = args.get(index) else {
                            return Err(ConfigError::CommandLine(format!(
                                "flag needs an argument: -{name}"
                            )));
                        };
                        index += 1;
                        next.as_str()
                    }
                };
                set_flag(&mut line.config, spec.name, value)?;
            }
        }
        line.set_by_flag.insert(spec.name);
    }
    line.positional = args[index..].to_vec();
    Ok(line)
}

/// Settings that are plain strings to etcd's flag parser and refused only by its
/// validation (so with exit code 1 and without the `invalid value` prefix).
const CHECKED_LATE: [&str; 2] = ["logger", "auto-compaction-mode"];

fn set_flag(config: &mut Config, name: &str, value: &str) -> Result<(), ConfigError> {
    config.set(name, value).map_err(|error| {
        if CHECKED_LATE.contains(&name) {
            return ConfigError::Setting(error.0);
        }
        ConfigError::CommandLine(format!(
            "invalid value {value:?} for flag -{name}: {}",
            error.0
        ))
    })
}

/// What the environment pass did.
#[derive(Debug, Default)]
pub(crate) struct EnvironmentPass {
    /// Flags set from `ETCD_*` variables (they count as "set" for etcd's later rules).
    pub set_by_env: BTreeSet<&'static str>,
    /// `recognized and used environment variable ETCD_X=v` lines.
    pub notices: Vec<String>,
    pub warnings: Vec<String>,
}

/// Applies `ETCD_<FLAG>` variables to flags not given on the command line, then
/// checks the remaining `ETCD_*` variables, exactly in etcd 3.4's order:
/// 1. every flag, by sorted name: a non-empty variable sets it (value errors are
///    remembered, the last one wins);
/// 2. every variable, in environment order: one naming a flag given on the
///    command line is fatal; other unused `ETCD_*` variables (including empty
///    ones) draw an "unrecognized" warning;
/// 3. then a remembered value error is returned.
pub(crate) fn apply_environment(
    config: &mut Config,
    set_by_flag: &BTreeSet<&'static str>,
    env: &[(String, String)],
) -> Result<EnvironmentPass, ConfigError> {
    let mut pass = EnvironmentPass::default();
    let mut used_keys = BTreeSet::new();
    let mut value_error = None;
    for name in spec::names_sorted() {
        if set_by_flag.contains(name) {
            continue;
        }
        let key = spec::env_key(name);
        let Some(value) = lookup(env, &key).filter(|value| !value.is_empty()) else {
            continue;
        };
        used_keys.insert(key.clone());
        let spec = spec::find(name).expect("names come from the table");
        let outcome = match spec.kind {
            FlagKind::Ignored => {
                pass.warnings.push(ignored_warning(name));
                Ok(())
            }
            // etcd reads --version before the environment: ETCD_VERSION has no effect.
            _ if name == "version" => Ok(()),
            _ => config.set(name, value),
        };
        match outcome {
            Ok(()) => {
                pass.set_by_env.insert(spec.name);
                pass.notices.push(format!(
                    "recognized and used environment variable {key}={value}"
                ));
            }
            Err(error) if CHECKED_LATE.contains(&name) => {
                value_error = Some(ConfigError::Setting(error.0));
            }
            Err(error) => {
                value_error = Some(ConfigError::Environment {
                    key,
                    value: value.to_string(),
                    reason: error.0,
                });
            }
        }
    }
    let shadowed: BTreeSet<String> = set_by_flag.iter().map(|name| spec::env_key(name)).collect();
    for (key, value) in env {
        if used_keys.contains(key) {
            continue;
        }
        if shadowed.contains(key) {
            return Err(ConfigError::EnvironmentShadowed(key.clone()));
        }
        if key.starts_with("ETCD_") {
            pass.warnings
                .push(format!("unrecognized environment variable {key}={value}"));
        }
    }
    match value_error {
        Some(error) => Err(error),
        None => Ok(pass),
    }
}

/// `os.Getenv`: the value of the last entry with that name.
pub(crate) fn lookup<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn equals_sign_splits_name_and_value() {
        let line = parse_args(&args(&["--initial-cluster=a=http://x:1,b=http://y:2"])).unwrap();
        assert_eq!(line.config.initial_cluster, "a=http://x:1,b=http://y:2");
        let line = parse_args(&args(&["-name="])).unwrap();
        assert_eq!(line.config.name, "");
    }

    #[test]
    fn help_stops_parsing_but_earlier_errors_win() {
        assert!(parse_args(&args(&["-h", "--bogus"])).unwrap().help);
        assert!(parse_args(&args(&["--help"])).unwrap().help);
        assert!(parse_args(&args(&["--bogus", "-h"])).is_err());
    }

    #[test]
    fn single_dash_and_empty_args_are_positional() {
        let line = parse_args(&args(&["-", "--name", "x"])).unwrap();
        assert_eq!(line.positional, ["-", "--name", "x"]);
        let line = parse_args(&args(&[""])).unwrap();
        assert_eq!(line.positional, [""]);
    }
}
