//! DNS SRV discovery of a cluster's client endpoints, as etcd's
//! `pkg/srv.GetClient` does it: `etcdctl --discovery-srv`, `etcd gateway`
//! and `grpc-proxy` use it, and the server's own `--discovery-srv` (which
//! looks up peer records) shares the resolver and lookup.
//!
//! ```text
//!   _etcd-client-ssl[-<srv-name>]._tcp.<domain>   https:// endpoints
//!   _etcd-client[-<srv-name>]._tcp.<domain>       http:// endpoints
//! ```
//!
//! Names are resolved with hickory's resolver configured from
//! `/etc/resolv.conf`. For tests, `CAIRN_DNS_NAMESERVER=ip:port` replaces the
//! system's name servers with that one (UDP and TCP).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;

/// The test-only override of the name server.
pub const NAMESERVER_ENV: &str = "CAIRN_DNS_NAMESERVER";

/// One SRV answer: target host (with its trailing dot) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvTarget {
    pub priority: u16,
    pub weight: u16,
    pub target: String,
    pub port: u16,
}

/// The DNS name queried: `_<service>._tcp.<domain>.` (absolute).
pub fn query_name(service: &str, domain: &str) -> String {
    let domain = domain.trim_end_matches('.');
    format!("_{service}._tcp.{domain}.")
}

/// The resolver: the system's configuration, or the name server of
/// [`NAMESERVER_ENV`].
pub fn resolver() -> Result<TokioResolver, String> {
    if let Ok(server) = std::env::var(NAMESERVER_ENV) {
        let address: SocketAddr = server
            .parse()
            .map_err(|e| format!("{NAMESERVER_ENV}={server}: {e} (want ip:port)"))?;
        let mut config = ResolverConfig::new();
        config.add_name_server(NameServerConfig::new(address, Protocol::Udp));
        config.add_name_server(NameServerConfig::new(address, Protocol::Tcp));
        let mut options = ResolverOpts::default();
        options.timeout = Duration::from_secs(2);
        options.attempts = 1;
        options.cache_size = 0;
        let mut builder =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
        *builder.options_mut() = options;
        return Ok(builder.build());
    }
    let mut builder = TokioResolver::builder_tokio()
        .map_err(|e| format!("cannot read the resolver configuration: {e}"))?;
    builder.options_mut().cache_size = 0;
    Ok(builder.build())
}

/// SRV records sorted by priority, then heavier weight first (Go
/// shuffles by weight; a stable order keeps the temporary names stable).
pub async fn lookup_srv(resolver: &TokioResolver, name: &str) -> Result<Vec<SrvTarget>, String> {
    let lookup = resolver
        .srv_lookup(name)
        .await
        .map_err(|e| format!("lookup {name}: {e}"))?;
    let mut targets: Vec<SrvTarget> = lookup
        .iter()
        .map(|srv| SrvTarget {
            priority: srv.priority(),
            weight: srv.weight(),
            target: srv.target().to_utf8(),
            port: srv.port(),
        })
        .collect();
    targets.sort_by(|a, b| {
        (a.priority, std::cmp::Reverse(a.weight), &a.target, a.port).cmp(&(
            b.priority,
            std::cmp::Reverse(b.weight),
            &b.target,
            b.port,
        ))
    });
    Ok(targets)
}

/// etcd's `srv.GetClient("etcd-client", domain, name)`: the records of
/// `_etcd-client-ssl[-name]._tcp.<domain>` (as `https://target:port`) then
/// of `_etcd-client[-name]._tcp.<domain>` (`http://`). An error only when
/// both lookups fail.
pub async fn client_records(
    domain: &str,
    srv_name: Option<&str>,
) -> Result<Vec<(String, SrvTarget)>, String> {
    let resolver = resolver()?;
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for (scheme, service) in [("https", "etcd-client-ssl"), ("http", "etcd-client")] {
        let service = match srv_name.filter(|name| !name.is_empty()) {
            Some(name) => format!("{service}-{name}"),
            None => service.to_string(),
        };
        match lookup_srv(&resolver, &query_name(&service, domain)).await {
            Ok(found) => {
                for record in found {
                    // A name keeps its trailing dot, as Go's does; an
                    // address (a target like `127.0.0.1.`) loses it, so it
                    // can be dialled.
                    let mut record = record;
                    let bare = record.target.trim_end_matches('.').to_string();
                    let host = match bare.parse::<IpAddr>() {
                        Ok(IpAddr::V6(_)) => format!("[{bare}]"),
                        Ok(IpAddr::V4(_)) => bare.clone(),
                        Err(_) => record.target.clone(),
                    };
                    if bare.parse::<IpAddr>().is_ok() {
                        record.target = bare;
                    }
                    records.push((format!("{scheme}://{host}:{}", record.port), record));
                }
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.len() == 2 {
        return Err(format!(
            "dns lookup errors: {} and {}",
            errors[0], errors[1]
        ));
    }
    Ok(records)
}
