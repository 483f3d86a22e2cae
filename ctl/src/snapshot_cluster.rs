//! The new cluster a `snapshot restore` bootstraps: `--initial-cluster`
//! and `--initial-advertise-peer-urls` checked as etcd checks them
//! (`types.NewURLs`, `types.NewURLsMap`, `ServerConfig.VerifyBootstrap`),
//! with etcd's error texts, and its members with etcd's IDs.
//!
//! ```text
//!   "a=http://h:2380,b=http://g:2380" ─▶ {a: [..], b: [..]} ─▶ members
//!   (ID = SHA-1 of sorted peer URLs ‖ token), sorted by ID; cluster ID
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::ToSocketAddrs;

use cairn_etcd_wal::ids::{cluster_id, member_id};
use cairn_etcd_wal::NewMember;

/// The members of a bootstrapped cluster, sorted by ID, and its ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCluster {
    pub id: u64,
    pub members: Vec<NewMember>,
}

/// Go's `url.Parse` as far as etcd's checks need it, and `types.NewURLs`'
/// rules: scheme http(s)/unix(s), a `host:port` authority, no path. The
/// URL as Go prints it back (scheme lowercased).
fn parse_url(text: &str) -> Result<String, String> {
    let input = text.trim();
    let scheme_end = input.find(':').filter(|&at| {
        let scheme = &input[..at];
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    let (scheme, rest) = match scheme_end {
        Some(at) => (input[..at].to_ascii_lowercase(), &input[at + 1..]),
        None => (String::new(), input),
    };
    if !["http", "https", "unix", "unixs"].contains(&scheme.as_str()) {
        return Err(format!(
            "URL scheme must be http, https, unix, or unixs: {input}"
        ));
    }
    let rest = rest.split(['#', '?']).next().unwrap_or_default();
    let (host, path) = match rest.strip_prefix("//") {
        Some(authority) => match authority.find('/') {
            Some(at) => (&authority[..at], &authority[at..]),
            None => (authority, ""),
        },
        None => ("", rest),
    };
    let host = host.rsplit('@').next().unwrap_or_default();
    if split_host_port(host).is_none() {
        return Err(format!(
            "URL address does not have the form \"host:port\": {input}"
        ));
    }
    if !path.is_empty() {
        return Err(format!("URL must not contain a path: {input}"));
    }
    Ok(format!(
        "{scheme}:{}",
        &input[input.find(':').unwrap_or(0) + 1..]
    ))
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`.
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']')?;
        let port = rest.strip_prefix(':')?;
        return (!port.contains(':')).then_some((host, port));
    }
    let (host, port) = text.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

/// `types.NewURLs`: every URL checked, sorted.
pub fn parse_urls(list: &[&str]) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("no valid URLs given".to_string());
    }
    let mut urls = list
        .iter()
        .map(|text| parse_url(text))
        .collect::<Result<Vec<_>, _>>()?;
    urls.sort();
    Ok(urls)
}

/// `types.NewURLsMap`: `name=url,name=url,...`, a name repeated for
/// several URLs; empty items skipped.
pub fn parse_initial_cluster(text: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut raw: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for item in text.split(',').filter(|item| !item.is_empty()) {
        let (name, url) = item.split_once('=').unwrap_or((item, ""));
        raw.entry(name.to_string()).or_default().push(url);
    }
    raw.into_iter()
        .map(|(name, urls)| Ok((name, parse_urls(&urls)?)))
        .collect()
}

/// `URLsMap.String()`: `name=url` pairs, sorted, comma-separated.
fn urls_map_string(map: &BTreeMap<String, Vec<String>>) -> String {
    let mut pairs: Vec<String> = map
        .iter()
        .flat_map(|(name, urls)| urls.iter().map(move |url| format!("{name}={url}")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// Go's `%q` of a string list: `["a" "b"]`.
fn quoted_list(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// A URL with its host name resolved to an address (Go's `resolveURL`:
/// the first address, IPv4 preferred); `localhost` and addresses stay as
/// they are. etcd retries a failing lookup for 30 s; this does not.
fn resolved(url: &str) -> Result<String, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(url.to_string());
    };
    let host = rest.split('/').next().unwrap_or_default();
    let name = split_host_port(host).map_or(host, |(name, _)| name);
    if name == "localhost" || name.parse::<std::net::IpAddr>().is_ok() {
        return Ok(url.to_string());
    }
    let addresses: Vec<std::net::SocketAddr> = host
        .to_socket_addrs()
        .map_err(|e| format!("lookup {host}: {e}"))?
        .collect();
    let chosen = addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(addresses.first())
        .map_or(host.to_string(), |a| a.to_string());
    Ok(format!("{scheme}://{chosen}"))
}

/// `netutil.URLStringsEqual`: equal as given, or once resolved.
fn urls_equal(a: &[String], b: &[String]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!(
            "len({}) != len({})",
            quoted_list(a),
            quoted_list(b)
        ));
    }
    if a == b {
        return Ok(());
    }
    let mut ra = a
        .iter()
        .map(|u| resolved(u))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rb = b
        .iter()
        .map(|u| resolved(u))
        .collect::<Result<Vec<_>, _>>()?;
    ra.sort();
    rb.sort();
    match ra.iter().zip(&rb).find(|(x, y)| x != y) {
        Some((x, y)) => Err(format!("resolved urls: {x:?} != {y:?}")),
        None => Ok(()),
    }
}

/// `ServerConfig.VerifyBootstrap` for a restore: the member is in the
/// cluster, its advertised URLs match the cluster's, no URL twice.
fn verify_bootstrap(
    name: &str,
    peer_urls: &[String],
    cluster: &BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    let Some(listed) = cluster.get(name) else {
        return Err(format!(
            "couldn't find local name {name:?} in the initial cluster configuration"
        ));
    };
    if let Err(why) = urls_equal(peer_urls, listed) {
        let advertised: BTreeSet<&String> = peer_urls.iter().collect();
        let initial: BTreeSet<&String> = listed.iter().collect();
        let own = || {
            let mut map = BTreeMap::new();
            map.insert(name.to_string(), peer_urls.to_vec());
            urls_map_string(&map)
        };
        let missing: Vec<String> = initial
            .difference(&advertised)
            .map(|url| format!("{name}={url}"))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "--initial-cluster has {} but missing from --initial-advertise-peer-urls={} ({why})",
                missing.join(","),
                peer_urls.join(",")
            ));
        }
        let extra: Vec<&str> = advertised
            .difference(&initial)
            .map(|url| url.as_str())
            .collect();
        if !extra.is_empty() {
            return Err(format!(
                "--initial-advertise-peer-urls has {} but missing from --initial-cluster={}",
                extra.join(","),
                own()
            ));
        }
        return Err(format!(
            "failed to resolve {} to match --initial-cluster={} ({why})",
            peer_urls.join(","),
            own()
        ));
    }
    let mut seen = BTreeSet::new();
    if cluster.values().flatten().any(|url| !seen.insert(url)) {
        return Err(format!(
            "initial cluster {} has duplicate url",
            urls_map_string(cluster)
        ));
    }
    Ok(())
}

/// The cluster a restore bootstraps, checked as etcd checks it; errors
/// are etcd's texts.
pub fn new_cluster(
    name: &str,
    advertise: &str,
    initial_cluster: &str,
    token: &str,
) -> Result<NewCluster, String> {
    let peer_urls = parse_urls(&advertise.split(',').collect::<Vec<_>>())?;
    let cluster = parse_initial_cluster(initial_cluster)?;
    verify_bootstrap(name, &peer_urls, &cluster)?;
    let mut members: Vec<NewMember> = Vec::new();
    for (member_name, urls) in &cluster {
        let id = member_id(urls, token, None);
        if members.iter().any(|m| m.id == id) {
            return Err(format!("member exists with identical ID {id:x}"));
        }
        members.push(NewMember {
            id,
            name: member_name.clone(),
            peer_urls: urls.clone(),
        });
    }
    members.sort_by_key(|m| m.id);
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    Ok(NewCluster {
        id: cluster_id(&ids),
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_with_etcds_words() {
        assert_eq!(parse_url(" http://h:1 "), Ok("http://h:1".to_string()));
        assert_eq!(parse_url("HTTP://h:1"), Ok("http://h:1".to_string()));
        assert!(parse_url("").unwrap_err().starts_with("URL scheme must be"));
        assert!(parse_url("ftp://h:1")
            .unwrap_err()
            .starts_with("URL scheme must be"));
        assert!(parse_url("http://h").unwrap_err().contains("host:port"));
        assert!(parse_url("http://h:1/x")
            .unwrap_err()
            .contains("must not contain a path"));
        assert_eq!(
            parse_url("http://[::1]:5"),
            Ok("http://[::1]:5".to_string())
        );
    }

    #[test]
    fn the_default_cluster_has_etcds_ids() {
        let cluster = new_cluster(
            "default",
            "http://localhost:2380",
            "default=http://localhost:2380",
            "etcd-cluster",
        )
        .unwrap();
        assert_eq!(format!("{:x}", cluster.id), "cdf818194e3a8c32");
        assert_eq!(format!("{:x}", cluster.members[0].id), "8e9e05c52164694d");
    }

    #[test]
    fn bootstrap_errors_are_etcds() {
        let err =
            |name, advertise, cluster| new_cluster(name, advertise, cluster, "t").unwrap_err();
        assert_eq!(
            err("x", "http://a:1", "default=http://a:1"),
            "couldn't find local name \"x\" in the initial cluster configuration"
        );
        assert_eq!(
            err("a", "http://a:1", "a=http://a:1,b=http://a:1"),
            "initial cluster a=http://a:1,b=http://a:1 has duplicate url"
        );
        assert_eq!(
            err("a", "http://a:1", "a=http://a:1,a=http://b:2"),
            "--initial-cluster has a=http://b:2 but missing from --initial-advertise-peer-urls=http://a:1 (len([\"http://a:1\"]) != len([\"http://a:1\" \"http://b:2\"]))"
        );
    }
}
