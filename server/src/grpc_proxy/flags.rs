//! `cairn grpc-proxy start`'s flags: etcd 3.4's names, defaults and help
//! (`etcdmain/grpc_proxy.go`), parsed as cobra/pflag parses them.
//!
//! ```text
//!   args ──▶ --name=value | --name value | --bool[=v] | -h/--help | -- | positional (ignored)
//!        ──▶ unknown flag / bad value ──▶ "Error: <why>" + usage on stderr, then "<why>", exit 1
//!        ──▶ checkArgs: resolver-prefix needs resolver-ttl >= 1 and the other way round
//!        ──▶ Flags
//! ```
//!
//! Flags cairn accepts but does not implement (`--enable-pprof`,
//! `--experimental-*`) are listed by [`Flags::refused`]: set to
//! anything but their default they stop the start, naming themselves.

use std::path::PathBuf;

use crate::config::parse_int_go as parse_int;

/// etcd's table of the start command's flags, as `--help` prints it.
const FLAGS_TABLE: &str = include_str!("flags_table.txt");

/// What `cairn grpc-proxy ...` asks for.
#[derive(Debug)]
pub enum Command {
    /// `start` with these flags.
    Start(Box<Flags>),
    /// Help text for stdout (exit 0).
    Help(String),
    /// A refused command line: the text for stderr (exit 1).
    Refused(String),
}

/// Every flag of `etcd grpc-proxy start`, with etcd's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Flags {
    pub listen_addr: String,
    pub endpoints: Vec<String>,
    pub advertise_client_url: String,
    pub resolver_prefix: String,
    pub resolver_ttl_seconds: i64,
    pub namespace: String,
    pub enable_pprof: bool,
    pub data_dir: String,
    pub max_send_bytes: i64,
    pub max_recv_bytes: i64,
    pub metrics_addr: String,
    pub discovery_srv: String,
    pub discovery_srv_name: String,
    pub insecure_discovery: bool,
    /// proxy → cluster: `--cert`, `--key`, `--cacert`.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub cacert: Option<PathBuf>,
    pub insecure_skip_tls_verify: bool,
    /// clients → proxy: `--cert-file`, `--key-file`, `--trusted-ca-file`.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    pub listen_cipher_suites: Vec<String>,
    pub auto_tls: bool,
    pub client_crl_file: Option<PathBuf>,
    pub serializable_ordering: bool,
    pub leasing_prefix: String,
    pub debug: bool,
    pub max_concurrent_streams: u32,
}

impl Default for Flags {
    fn default() -> Flags {
        Flags {
            listen_addr: "127.0.0.1:23790".to_string(),
            endpoints: vec!["127.0.0.1:2379".to_string()],
            advertise_client_url: "127.0.0.1:23790".to_string(),
            resolver_prefix: String::new(),
            resolver_ttl_seconds: 0,
            namespace: String::new(),
            enable_pprof: false,
            data_dir: "default.proxy".to_string(),
            max_send_bytes: 1_572_864,
            max_recv_bytes: i64::from(i32::MAX),
            metrics_addr: String::new(),
            discovery_srv: String::new(),
            discovery_srv_name: String::new(),
            insecure_discovery: false,
            cert: None,
            key: None,
            cacert: None,
            insecure_skip_tls_verify: false,
            cert_file: None,
            key_file: None,
            trusted_ca_file: None,
            listen_cipher_suites: Vec::new(),
            auto_tls: false,
            client_crl_file: None,
            serializable_ordering: false,
            leasing_prefix: String::new(),
            debug: false,
            max_concurrent_streams: u32::MAX,
        }
    }
}

/// Whether a flag takes a value or is a switch.
fn is_bool(name: &str) -> bool {
    matches!(
        name,
        "enable-pprof"
            | "insecure-discovery"
            | "insecure-skip-tls-verify"
            | "auto-tls"
            | "experimental-serializable-ordering"
            | "debug"
            | "help"
    )
}

/// pflag's type word for an integer flag, for its error text.
fn int_parser(name: &str) -> Option<&'static str> {
    match name {
        "resolver-ttl" | "max-send-bytes" | "max-recv-bytes" => Some("ParseInt"),
        "max-concurrent-streams" => Some("ParseUint"),
        _ => None,
    }
}

/// Splits a pflag list value (`a,b`) as pflag's CSV reader does for plain values.
fn split_list(value: &str) -> Vec<String> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(',').map(str::to_string).collect()
}

fn path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

impl Flags {
    /// Sets one flag from its text; `Err` is pflag's reason.
    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let invalid =
            |what: &str| format!("invalid argument {value:?} for \"--{name}\" flag: {what}");
        if is_bool(name) {
            let parsed = crate::config::parse_bool_go(value).ok_or_else(|| {
                invalid(&format!(
                    "strconv.ParseBool: parsing {value:?}: invalid syntax"
                ))
            })?;
            match name {
                "enable-pprof" => self.enable_pprof = parsed,
                "insecure-discovery" => self.insecure_discovery = parsed,
                "insecure-skip-tls-verify" => self.insecure_skip_tls_verify = parsed,
                "auto-tls" => self.auto_tls = parsed,
                "experimental-serializable-ordering" => self.serializable_ordering = parsed,
                "debug" => self.debug = parsed,
                _ => {}
            }
            return Ok(());
        }
        if let Some(function) = int_parser(name) {
            let number = parse_int(value).map_err(|error| {
                invalid(&format!(
                    "strconv.{function}: parsing {value:?}: {}",
                    match error {
                        crate::config::GoNumError::Syntax => "invalid syntax",
                        crate::config::GoNumError::Range => "value out of range",
                    }
                ))
            })?;
            match name {
                "resolver-ttl" => self.resolver_ttl_seconds = number,
                "max-send-bytes" => self.max_send_bytes = number,
                "max-recv-bytes" => self.max_recv_bytes = number,
                _ => {
                    self.max_concurrent_streams = u32::try_from(number).map_err(|_| {
                        invalid(&format!(
                            "strconv.ParseUint: parsing {value:?}: {}",
                            if number < 0 {
                                "invalid syntax"
                            } else {
                                "value out of range"
                            }
                        ))
                    })?
                }
            }
            return Ok(());
        }
        let text = value.to_string();
        match name {
            "listen-addr" => self.listen_addr = text,
            "discovery-srv" => self.discovery_srv = text,
            "discovery-srv-name" => self.discovery_srv_name = text,
            "metrics-addr" => self.metrics_addr = text,
            "endpoints" => self.endpoints = split_list(value),
            "advertise-client-url" => self.advertise_client_url = text,
            "resolver-prefix" => self.resolver_prefix = text,
            "namespace" => self.namespace = text,
            "data-dir" => self.data_dir = text,
            "cert" => self.cert = path(value),
            "key" => self.key = path(value),
            "cacert" => self.cacert = path(value),
            "cert-file" => self.cert_file = path(value),
            "key-file" => self.key_file = path(value),
            "trusted-ca-file" => self.trusted_ca_file = path(value),
            "listen-cipher-suites" => self.listen_cipher_suites = split_list(value),
            "client-crl-file" => self.client_crl_file = path(value),
            "experimental-leasing-prefix" => self.leasing_prefix = text,
            _ => return Err(format!("unknown flag: --{name}")),
        }
        Ok(())
    }

    /// Flags set to something cairn does not implement: (flag=value, why).
    pub fn refused(&self) -> Vec<String> {
        let mut refused = Vec::new();
        let mut refuse = |set: bool, flag: &str, value: String, why: &str| {
            if set {
                refused.push(format!("--{flag}={value}: {why}"));
            }
        };
        refuse(
            self.enable_pprof,
            "enable-pprof",
            "true".into(),
            "the /debug/pprof endpoints are not implemented",
        );
        refuse(
            self.serializable_ordering,
            "experimental-serializable-ordering",
            "true".into(),
            "ordered serializable reads across endpoints are not implemented",
        );
        refuse(
            !self.leasing_prefix.is_empty(),
            "experimental-leasing-prefix",
            self.leasing_prefix.clone(),
            "the leasing KV is not implemented",
        );
        refused
    }

    /// etcd's `checkArgs`: the resolver flags go together.
    fn check(&self) -> Result<(), String> {
        if !self.resolver_prefix.is_empty() && self.resolver_ttl_seconds < 1 {
            return Err(format!(
                "invalid resolver-ttl {}",
                self.resolver_ttl_seconds
            ));
        }
        if self.resolver_prefix.is_empty() && self.resolver_ttl_seconds > 0 {
            return Err(format!(
                "invalid resolver-prefix {:?}",
                self.resolver_prefix
            ));
        }
        if !self.resolver_prefix.is_empty() && self.advertise_client_url.is_empty() {
            return Err(format!(
                "invalid advertise-client-url {:?}",
                self.advertise_client_url
            ));
        }
        Ok(())
    }
}

/// `cairn grpc-proxy start --help`.
fn start_help() -> String {
    format!("start the grpc proxy\n\n{}", start_usage())
}

fn start_usage() -> String {
    format!("Usage:\n  cairn grpc-proxy start [flags]\n\nFlags:\n{FLAGS_TABLE}")
}

/// `cairn grpc-proxy` alone or with `--help`.
fn group_help() -> String {
    "grpc-proxy related command\n\nUsage:\n  cairn grpc-proxy [command]\n\nAvailable Commands:\n  start       start the grpc proxy\n\nFlags:\n  -h, --help   help for grpc-proxy\n\nUse \"cairn grpc-proxy [command] --help\" for more information about a command.\n".to_string()
}

/// cobra's refusal: the error, the usage, then etcd prints the error again
/// (without a newline).
fn refusal(why: &str) -> Command {
    Command::Refused(format!("Error: {why}\n{}\n{why}", start_usage()))
}

/// Parses the arguments after `grpc-proxy`.
pub fn parse(args: &[String]) -> Command {
    match args.first().map(String::as_str) {
        Some("start") => {}
        None | Some("-h") | Some("--help") => return Command::Help(group_help()),
        Some(other) if other.starts_with('-') => {
            return Command::Refused(format!(
                "Error: unknown flag: {other}\n{}\nunknown flag: {other}",
                group_help().trim_start_matches("grpc-proxy related command\n\n")
            ))
        }
        Some(_) => return Command::Help(group_help()),
    }
    let mut flags = Flags::default();
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--") else {
            if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
                if short.starts_with('h') {
                    return Command::Help(start_help());
                }
                let first = short.chars().next().unwrap_or('-');
                return refusal(&format!("unknown shorthand flag: '{first}' in {arg}"));
            }
            continue; // cobra accepts (and etcd ignores) positional arguments
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (body, None),
        };
        if name == "help" {
            return Command::Help(start_help());
        }
        let value = match inline {
            Some(value) => value,
            None if is_bool(name) => "true".to_string(),
            None if Flags::default().set(name, "").is_err() && int_parser(name).is_none() => {
                return refusal(&format!("unknown flag: --{name}"));
            }
            None => match rest.next() {
                Some(value) => value.clone(),
                None => return refusal(&format!("flag needs an argument: --{name}")),
            },
        };
        if let Err(why) = flags.set(name, &value) {
            return refusal(&why);
        }
    }
    if let Err(why) = flags.check() {
        return Command::Refused(why);
    }
    Command::Start(Box::new(flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_and_values() {
        let Command::Start(flags) = parse(&args(&["start"])) else {
            panic!("start")
        };
        assert_eq!(*flags, Flags::default());
        let Command::Start(flags) = parse(&args(&[
            "start",
            "--endpoints=a:1,b:2",
            "--listen-addr",
            "127.0.0.1:5",
            "--debug",
            "--resolver-prefix=/p",
            "--resolver-ttl",
            "0x10",
        ])) else {
            panic!("start")
        };
        assert_eq!(flags.endpoints, vec!["a:1", "b:2"]);
        assert_eq!(flags.listen_addr, "127.0.0.1:5");
        assert!(flags.debug);
        assert_eq!(flags.resolver_ttl_seconds, 16);
    }

    #[test]
    fn refusals_in_pflag_words() {
        let Command::Refused(text) = parse(&args(&["start", "--foo"])) else {
            panic!("refused")
        };
        assert!(text.starts_with("Error: unknown flag: --foo\nUsage:\n"));
        assert!(text.ends_with("\nunknown flag: --foo"));
        let Command::Refused(text) = parse(&args(&["start", "--resolver-ttl=x"])) else {
            panic!("refused")
        };
        assert!(text.starts_with("Error: invalid argument \"x\" for \"--resolver-ttl\" flag: strconv.ParseInt: parsing \"x\": invalid syntax\n"));
        let Command::Refused(text) = parse(&args(&["start", "--resolver-prefix=/p"])) else {
            panic!("refused")
        };
        assert_eq!(text, "invalid resolver-ttl 0");
        let Command::Refused(text) = parse(&args(&["start", "--namespace"])) else {
            panic!("refused")
        };
        assert!(text.starts_with("Error: flag needs an argument: --namespace\n"));
    }
}
