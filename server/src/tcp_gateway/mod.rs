//! `cairn gateway start`: etcd's L4 gateway, a TCP proxy an application
//! host runs so its clients dial `127.0.0.1:23790` and reach whichever
//! member answers.
//!
//! ```text
//!   cairn gateway start --endpoints=a:2379,b:2379 [--discovery-srv=dom]
//!     │ flags: cobra's rules (config::cobra), etcd's names and defaults
//!     ├─ --discovery-srv: _etcd-client-ssl._tcp / _etcd-client._tcp SRV
//!     │    records; without --insecure-discovery only https endpoints
//!     │    that accept a TCP connection are kept
//!     ├─ endpoints: scheme stripped; none may resolve to the listen address
//!     ▼
//!   proxy::TcpProxy on --listen-addr ── "ready to proxy client requests"
//! ```
//!
//! Startup errors print etcd's texts and exit 1, as etcd's gateway does.

pub mod log;
pub mod proxy;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::config::cobra::{self, Command, Flag, Kind, Parsed, Values};
use log::Field;
use proxy::{Remote, TcpProxy};

/// How long a discovered https endpoint may take to accept a connection
/// (etcd's `ValidateSecureEndpoints` dial timeout).
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(5);

/// `gateway start` and its flags, as etcd 3.4 declares them.
pub fn start_command() -> Command {
    Command {
        path: "gateway start",
        short: "start the gateway",
        flags: vec![
            Flag {
                name: "listen-addr",
                kind: Kind::String,
                default: "127.0.0.1:23790",
                usage: "listen address",
            },
            Flag {
                name: "discovery-srv",
                kind: Kind::String,
                default: "",
                usage: "DNS domain used to bootstrap initial cluster",
            },
            Flag {
                name: "discovery-srv-name",
                kind: Kind::String,
                default: "",
                usage: "service name to query when using DNS discovery",
            },
            Flag {
                name: "insecure-discovery",
                kind: Kind::Bool,
                default: "false",
                usage: "accept insecure SRV records",
            },
            Flag {
                name: "trusted-ca-file",
                kind: Kind::String,
                default: "",
                usage: "path to the client server TLS CA file for verifying the discovered endpoints when discovery-srv is provided.",
            },
            Flag {
                name: "endpoints",
                kind: Kind::Strings,
                default: "[127.0.0.1:2379]",
                usage: "comma separated etcd cluster endpoints",
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

/// `cairn gateway ...` (`args` are the words after `gateway`).
pub fn main(args: &[String]) -> ExitCode {
    let start = start_command();
    if args.first().map(String::as_str) != Some("start") {
        // cobra: a command that only groups subcommands prints its help.
        print!(
            "{}",
            cobra::group_usage("cairn", "gateway", "gateway related command", &[&start])
        );
        return ExitCode::SUCCESS;
    }
    let values = match start.parse(&args[1..]) {
        Ok(Parsed::Help) => {
            print!("{}", start.usage("cairn"));
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run { values, .. }) => values,
        Err(error) => {
            eprint!(
                "Error: {error}\n{}\n{error}",
                start.usage("cairn").split_once("\n\n").map_or("", |x| x.1)
            );
            return ExitCode::from(1);
        }
    };
    let runtime = match crate::process::runtime(|text| eprintln!("{text}")) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let settings = Settings {
        listen_addr: values.string("listen-addr"),
        discovery_srv: values.string("discovery-srv"),
        discovery_srv_name: values.string("discovery-srv-name"),
        insecure_discovery: values.boolean("insecure-discovery"),
        endpoints: values.strings("endpoints"),
        retry_delay: values.duration("retry-delay"),
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { text, stderr }) => {
            if stderr {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
            ExitCode::from(1)
        }
    }
}

/// What `gateway start` was given.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen_addr: String,
    pub discovery_srv: String,
    pub discovery_srv_name: String,
    pub insecure_discovery: bool,
    pub endpoints: Vec<String>,
    pub retry_delay: Duration,
}

/// A startup error: etcd prints some on stdout, some on stderr.
#[derive(Debug)]
struct Failure {
    text: String,
    stderr: bool,
}

fn stdout_failure(text: String) -> Failure {
    Failure {
        text,
        stderr: false,
    }
}

/// One SRV record (or an `--endpoints` entry as priority 0, weight 0).
#[derive(Debug, Clone)]
pub struct Srv {
    pub target: String,
    pub port: u16,
    pub priority: u16,
    pub weight: u16,
}

async fn run(settings: Settings) -> Result<(), Failure> {
    let (mut endpoints, mut srvs) = if settings.discovery_srv.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        discover(
            &settings.discovery_srv,
            &settings.discovery_srv_name,
            settings.insecure_discovery,
            &|warn, msg, fields| {
                if warn {
                    log::warn(msg, fields)
                } else {
                    log::info(msg, fields)
                }
            },
        )
        .await
        .map_err(|text| Failure {
            text: format!("{text}\n"),
            stderr: true,
        })?
    };
    if endpoints.is_empty() {
        endpoints = settings.endpoints.clone();
    }
    let endpoints: Vec<String> = endpoints.iter().map(|e| strip_scheme(e)).collect();
    if srvs.is_empty() {
        for endpoint in &endpoints {
            // Go's Sscanf("%d") into a uint16: digits, else 0.
            let parsed = split_host_port(endpoint)
                .map(|(host, port)| (host, port.parse::<u16>().unwrap_or(0)));
            let Some((host, port)) = parsed else {
                return Err(stdout_failure(format!(
                    "error parsing endpoint {endpoint:?}"
                )));
            };
            srvs.push(Srv {
                target: host,
                port,
                priority: 0,
                weight: 0,
            });
        }
    }
    let Some((listen_host, listen_port)) = split_host_port(&settings.listen_addr) else {
        return Err(stdout_failure(format!(
            "failed to validate listen address: {}\n",
            settings.listen_addr
        )));
    };
    let Ok(listen_ips) = lookup_host(&listen_host).await else {
        return Err(stdout_failure(format!(
            "failed to resolve listen host: {listen_host}\n"
        )));
    };
    for srv in &srvs {
        let Ok(ips) = lookup_host(&srv.target).await else {
            return Err(stdout_failure(format!(
                "failed to resolve endpoint host: {}\n",
                srv.target
            )));
        };
        if srv.port.to_string() != listen_port {
            continue;
        }
        if let Some(ip) = ips.iter().find(|ip| listen_ips.contains(*ip)) {
            return Err(stdout_failure(format!(
                "SRV or endpoint ({}:{}->{ip}:{}) should not resolve to the gateway listen addr ({})\n",
                srv.target, srv.port, srv.port, settings.listen_addr
            )));
        }
    }
    if endpoints.is_empty() {
        return Err(stdout_failure("no endpoints found\n".into()));
    }
    let listener = tokio::net::TcpListener::bind(&settings.listen_addr)
        .await
        .map_err(|error| Failure {
            text: format!(
                "listen tcp {}: bind: {}\n",
                settings.listen_addr,
                proxy::go_errno_text(&error)
            ),
            stderr: true,
        })?;
    let remotes = srvs
        .iter()
        .map(|srv| {
            Remote::new(
                join_host_port(&srv.target, srv.port),
                srv.priority,
                srv.weight,
            )
        })
        .collect();
    let proxy = Arc::new(TcpProxy::new(remotes, settings.retry_delay));
    let error = proxy.run(listener).await;
    Err(Failure {
        text: format!("{error}\n"),
        stderr: true,
    })
}

/// Where [`discover`] writes its lines: `(warn, msg, fields)`.
pub type DiscoveryLog<'a> = dyn Fn(bool, &str, &[(&str, Field)]) + Sync + 'a;

/// `--discovery-srv` of the gateway and of the grpc proxy: etcd's
/// `discoverEndpoints` for the `etcd-client` service, logging as etcd does
/// (`log(warn, msg, fields)` writes a line). Returns the endpoints (with
/// schemes) and their SRV records; the error is the lookup's.
pub async fn discover(
    domain: &str,
    srv_name: &str,
    insecure: bool,
    log: &DiscoveryLog<'_>,
) -> Result<(Vec<String>, Vec<Srv>), String> {
    let domain = &domain.to_string();
    let name = Some(srv_name).filter(|n| !n.is_empty());
    let records = crate::discovery::srv::client_records(domain, name).await?;
    let endpoints: Vec<String> = records.iter().map(|(url, _)| url.clone()).collect();
    log(
        false,
        "discovered cluster from SRV",
        &[
            ("srv-server", Field::String(domain.clone())),
            ("endpoints", Field::Strings(endpoints.clone())),
        ],
    );
    let to_srv = |record: &crate::discovery::srv::SrvTarget| Srv {
        target: record.target.clone(),
        port: record.port,
        priority: record.priority,
        weight: record.weight,
    };
    if insecure {
        return Ok((endpoints, records.iter().map(|(_, r)| to_srv(r)).collect()));
    }
    log(
        false,
        "validating discovered SRV endpoints",
        &[
            ("srv-server", Field::String(domain.clone())),
            ("endpoints", Field::Strings(endpoints.clone())),
        ],
    );
    let mut valid = BTreeSet::new();
    let mut errors = Vec::new();
    for endpoint in &endpoints {
        let Some(address) = endpoint.strip_prefix("https://") else {
            errors.push(format!("{endpoint:?} is insecure"));
            continue;
        };
        let dial =
            tokio::time::timeout(VALIDATE_TIMEOUT, tokio::net::TcpStream::connect(address)).await;
        match dial {
            Ok(Ok(_)) => {
                valid.insert(endpoint.clone());
            }
            Ok(Err(error)) => errors.push(format!(
                "{endpoint:?} failed to dial ({})",
                proxy::go_dial_error(address, &error)
            )),
            Err(_) => errors.push(format!(
                "{endpoint:?} failed to dial (dial tcp {address}: i/o timeout)"
            )),
        }
    }
    let kept: Vec<String> = endpoints
        .iter()
        .filter(|e| valid.contains(*e))
        .cloned()
        .collect();
    if errors.is_empty() {
        log(
            false,
            "using validated discovered SRV endpoints",
            &[
                ("srv-server", Field::String(domain.clone())),
                ("endpoints", Field::Strings(kept.clone())),
            ],
        );
    } else {
        log(
            true,
            "failed to validate discovered endpoints",
            &[
                ("srv-server", Field::String(domain.clone())),
                ("endpoints", Field::Strings(kept.clone())),
                ("error", Field::String(errors.join(","))),
            ],
        );
    }
    let srvs = records
        .iter()
        .filter(|(url, _)| valid.contains(url))
        .map(|(_, r)| to_srv(r))
        .collect();
    Ok((kept, srvs))
}

/// `scheme://host:port` → `host:port` (etcd's `stripSchema`: only when the
/// text parses as a URL with a host).
pub fn strip_scheme(endpoint: &str) -> String {
    if let Some((scheme, rest)) = endpoint.split_once("://") {
        let scheme_ok = !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if scheme_ok && !host.is_empty() {
            return host.to_string();
        }
    }
    endpoint.to_string()
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`.
pub fn split_host_port(text: &str) -> Option<(String, String)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        if port.contains(':') {
            return None;
        }
        return Some((host.to_string(), port.to_string()));
    }
    let (host, port) = text.rsplit_once(':')?;
    if host.contains(':') || host.contains('[') || host.contains(']') {
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go's `net.LookupHost`: an IP literal is itself, else the system's
/// resolver (hosts file included).
async fn lookup_host(host: &str) -> Result<Vec<std::net::IpAddr>, String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![ip]);
    }
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        // Go resolves "" (as in ":23790") to the unspecified addresses.
        return Ok(vec![
            std::net::IpAddr::from([0, 0, 0, 0]),
            std::net::IpAddr::from([0u16; 8]),
        ]);
    }
    tokio::net::lookup_host((host, 0))
        .await
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_stripped_as_etcd_does() {
        assert_eq!(strip_scheme("http://127.0.0.1:2379"), "127.0.0.1:2379");
        assert_eq!(strip_scheme("https://a.example:2379/"), "a.example:2379");
        assert_eq!(strip_scheme("127.0.0.1:2379"), "127.0.0.1:2379");
        assert_eq!(strip_scheme("nohost"), "nohost");
    }

    #[test]
    fn host_port_split_is_gos() {
        assert_eq!(
            split_host_port("127.0.0.1:23790"),
            Some(("127.0.0.1".into(), "23790".into()))
        );
        assert_eq!(
            split_host_port("[::1]:2379"),
            Some(("::1".into(), "2379".into()))
        );
        assert_eq!(split_host_port(":2379"), Some(("".into(), "2379".into())));
        assert_eq!(split_host_port("nope"), None);
        assert_eq!(split_host_port("::1:2379"), None);
    }

    #[test]
    fn the_start_help_is_etcds() {
        let usage = start_command().usage("etcd");
        assert!(usage.contains(
            "      --discovery-srv string        DNS domain used to bootstrap initial cluster\n"
        ));
        assert!(usage.contains(
            "      --endpoints strings           comma separated etcd cluster endpoints (default [127.0.0.1:2379])\n"
        ));
    }
}
