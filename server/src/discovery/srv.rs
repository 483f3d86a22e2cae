//! `--discovery-srv`: the initial cluster from DNS SRV records, as etcd 3.4's
//! `embed.Config.GetDNSClusterNames` and `pkg/srv.GetCluster` build it.
//!
//! ```text
//!   _etcd-server-ssl[-<srv-name>]._tcp.<domain>   https:// peers
//!   _etcd-server[-<srv-name>]._tcp.<domain>       http:// peers
//! ```
//!
//! Each record is a member `scheme://target:port`; the one whose address is
//! this member's advertised peer address gets `--name`, the others the
//! names `0`, `1`, ... (they take their own names when they publish them).
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

use crate::config::{Scheme, Url};

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

/// The SRV service name: `etcd-server`, `-ssl` for https, `-<name>` with
/// `--discovery-srv-name` (etcd's `GetSRVService`).
pub fn service(scheme: Scheme, srv_name: Option<&str>) -> String {
    let mut service = "etcd-server".to_string();
    if scheme == Scheme::Https {
        service.push_str("-ssl");
    }
    if let Some(name) = srv_name.filter(|name| !name.is_empty()) {
        service.push('-');
        service.push_str(name);
    }
    service
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
async fn lookup_srv(resolver: &TokioResolver, name: &str) -> Result<Vec<SrvTarget>, String> {
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

/// Go's `net.ResolveTCPAddr`: an IP literal as is, else the name's first
/// IPv4 address (else its first address).
pub async fn resolve_tcp(
    resolver: &TokioResolver,
    host: &str,
    port: u16,
) -> Result<SocketAddr, String> {
    let host = host.trim_end_matches('.');
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port));
    }
    let ips = resolver
        .lookup_ip(format!("{host}."))
        .await
        .map_err(|e| format!("lookup {host}: {e}"))?;
    let all: Vec<IpAddr> = ips.iter().collect();
    let ip = all
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| format!("lookup {host}: no such host"))?;
    Ok(SocketAddr::new(ip, port))
}

/// etcd's `srv.GetCluster` for one service: `name=scheme://target:port`
/// items, this member (found by its advertised peer addresses) named `name`.
async fn get_cluster(
    resolver: &TokioResolver,
    scheme: Scheme,
    service: &str,
    name: &str,
    domain: &str,
    advertised: &[(SocketAddr, Url)],
    next_temp_name: &mut usize,
) -> Result<Vec<String>, String> {
    let records = lookup_srv(resolver, &query_name(service, domain))
        .await
        .map_err(|e| format!("error querying DNS SRV records for _{service} {e}"))?;
    let mut resolved = Vec::new();
    for record in &records {
        resolved.push(resolve_tcp(resolver, &record.target, record.port).await);
    }
    build_items(
        scheme,
        service,
        name,
        &records,
        &resolved,
        advertised,
        next_temp_name,
    )
    .map_err(|e| format!("error querying DNS SRV records for _{service} {e}"))
}

/// The pure part of [`get_cluster`]: SRV records and their resolved
/// addresses to initial-cluster items. An error only if no item came out.
pub fn build_items(
    scheme: Scheme,
    service: &str,
    name: &str,
    records: &[SrvTarget],
    resolved: &[Result<SocketAddr, String>],
    advertised: &[(SocketAddr, Url)],
    next_temp_name: &mut usize,
) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut last_error = None;
    for (record, address) in records.iter().zip(resolved) {
        let address = match address {
            Ok(address) => address,
            Err(error) => {
                last_error = Some(error.clone());
                continue;
            }
        };
        let own = advertised
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, url)| url);
        let member = match own {
            Some(_) => name.to_string(),
            None => {
                let temp = next_temp_name.to_string();
                *next_temp_name += 1;
                temp
            }
        };
        let host = record.target.trim_end_matches('.');
        let host_port = if host.contains(':') {
            format!("[{host}]:{}", record.port)
        } else {
            format!("{host}:{}", record.port)
        };
        match own {
            Some(url) if url.scheme != scheme => {
                last_error = Some(format!(
                    "bootstrap at {}://{host_port} from DNS for {service} has scheme mismatch with expected peer {url}",
                    scheme.as_str()
                ));
            }
            _ => items.push(format!("{member}={}://{host_port}", scheme.as_str())),
        }
    }
    if items.is_empty() {
        return Err(last_error.unwrap_or_default());
    }
    Ok(items)
}

/// The initial cluster's items from both services. etcd 3.4 combines
/// them with a slip (it keeps the `http` results only when their lookup
/// *failed*, so http-only SRV records never bootstrap); cairn keeps every
/// record found, as etcd 3.5 does, and fails only when neither lookup
/// found any.
pub async fn cluster_items(
    name: &str,
    domain: &str,
    srv_name: Option<&str>,
    advertised_urls: &[Url],
) -> Result<Vec<String>, String> {
    let resolver = resolver()?;
    let mut advertised = Vec::new();
    for url in advertised_urls {
        advertised.push((
            resolve_tcp(&resolver, &url.host, url.port).await?,
            url.clone(),
        ));
    }
    let mut next_temp_name = 0;
    let https = get_cluster(
        &resolver,
        Scheme::Https,
        &service(Scheme::Https, srv_name),
        name,
        domain,
        &advertised,
        &mut next_temp_name,
    )
    .await;
    let http = get_cluster(
        &resolver,
        Scheme::Http,
        &service(Scheme::Http, srv_name),
        name,
        domain,
        &advertised,
        &mut next_temp_name,
    )
    .await;
    match (https, http) {
        (Err(https), Err(http)) => Err(format!("{https}; {http}")),
        (https, http) => Ok(https
            .unwrap_or_default()
            .into_iter()
            .chain(http.unwrap_or_default())
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn service_names_are_etcds() {
        assert_eq!(service(Scheme::Http, None), "etcd-server");
        assert_eq!(service(Scheme::Https, None), "etcd-server-ssl");
        assert_eq!(service(Scheme::Http, Some("blue")), "etcd-server-blue");
        assert_eq!(service(Scheme::Https, Some("blue")), "etcd-server-ssl-blue");
        assert_eq!(service(Scheme::Https, Some("")), "etcd-server-ssl");
        assert_eq!(
            query_name("etcd-server", "cairn.test."),
            "_etcd-server._tcp.cairn.test."
        );
    }

    fn record(target: &str, port: u16) -> SrvTarget {
        SrvTarget {
            priority: 0,
            weight: 0,
            target: target.to_string(),
            port,
        }
    }

    #[test]
    fn records_make_a_cluster_with_this_member_named() {
        let own = Url::parse("http://127.0.0.1:2380").unwrap();
        let advertised = vec![("127.0.0.1:2380".parse().unwrap(), own)];
        let records = vec![
            record("m1.cairn.test.", 2380),
            record("m2.cairn.test.", 2380),
            record("gone.", 1),
        ];
        let resolved = vec![
            Ok("127.0.0.1:2380".parse().unwrap()),
            Ok("127.0.0.2:2380".parse().unwrap()),
            Err("lookup gone: no such host".to_string()),
        ];
        let mut next = 0;
        let items = build_items(
            Scheme::Http,
            "etcd-server",
            "m1",
            &records,
            &resolved,
            &advertised,
            &mut next,
        )
        .unwrap();
        assert_eq!(
            items,
            [
                "m1=http://m1.cairn.test:2380",
                "0=http://m2.cairn.test:2380"
            ]
        );
        assert_eq!(next, 1);
        // The same member under https:// is a scheme mismatch.
        let mut next = 0;
        let error = build_items(
            Scheme::Https,
            "etcd-server-ssl",
            "m1",
            &records[..1],
            &resolved[..1],
            &advertised,
            &mut next,
        )
        .unwrap_err();
        assert_eq!(error, "bootstrap at https://m1.cairn.test:2380 from DNS for etcd-server-ssl has scheme mismatch with expected peer http://127.0.0.1:2380");
        let error = build_items(
            Scheme::Http,
            "etcd-server",
            "m1",
            &records[2..],
            &resolved[2..],
            &advertised,
            &mut next,
        )
        .unwrap_err();
        assert_eq!(error, "lookup gone: no such host");
    }

    proptest! {
        #[test]
        fn building_never_panics(targets in proptest::collection::vec((".{0,20}", any::<u16>(), any::<bool>()), 0..6), name in ".{0,8}") {
            let records: Vec<SrvTarget> = targets.iter().map(|(t, p, _)| record(t, *p)).collect();
            let resolved: Vec<Result<SocketAddr, String>> = targets.iter().map(|(_, p, ok)| if *ok { Ok(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), *p)) } else { Err("no".into()) }).collect();
            let own = Url::parse("http://127.0.0.1:2380").unwrap();
            let advertised = vec![("127.0.0.1:2380".parse().unwrap(), own)];
            let mut next = 0;
            if let Ok(items) = build_items(Scheme::Http, "etcd-server", &name, &records, &resolved, &advertised, &mut next) {
                prop_assert!(items.len() <= records.len());
            }
        }
    }
}
