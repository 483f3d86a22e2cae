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
//! The resolver, the lookup and the client records (`_etcd-client...`) are
//! cairn-client's (`cairn_client::srv`), shared with cairnctl.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;

use crate::config::{Scheme, Url};

use cairn_client::srv::lookup_srv;
pub use cairn_client::srv::{client_records, query_name, resolver, SrvTarget, NAMESERVER_ENV};

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
