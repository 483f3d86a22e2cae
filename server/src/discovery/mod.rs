//! Discovery bootstrap: the initial cluster of a new member from an etcd
//! discovery service (`--discovery`, [`v2`]) or from DNS SRV records
//! (`--discovery-srv`, [`srv`]), as etcd 3.4 finds it.
//!
//! Only a new member (no WAL yet) discovers; a restarted member keeps the
//! cluster its WAL records and contacts nothing (etcd logs that the token
//! is ignored).
//!
//! A member that finds the discovery cluster full would, with etcd's
//! default `--discovery-fallback=proxy`, become a v2 proxy. cairn has no
//! proxy mode: it stops and says so, as it does with `exit`.

pub mod keys;
pub mod srv;
pub mod v2;

use std::collections::BTreeSet;

use crate::config::{ClusterState, Config, DiscoveryFallback, InitialCluster, Url};
use crate::ids;
use crate::logging::Logger;

/// What discovery found: the initial cluster, and the token its member IDs
/// are derived with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    pub cluster: InitialCluster,
    pub token: String,
}

/// For a new member started with `--discovery` or `--discovery-srv`: the
/// initial cluster and its token. `None` when neither is set.
pub async fn bootstrap(config: &Config, log: &Logger) -> Result<Option<Bootstrap>, String> {
    if let Some(url) = &config.discovery {
        return join_discovery(config, url, log).await.map(Some);
    }
    if let Some(domain) = &config.discovery_srv {
        return srv_cluster(config, domain, log).await.map(Some);
    }
    Ok(None)
}

/// A restarted member: discovery settings are ignored, as etcd does.
pub fn note_restart(config: &Config, log: &Logger) {
    if config.discovery.is_some() {
        log.warn(
            "etcdserver",
            &format!(
                "discovery token ignored since a cluster has already been initialized. Valid log found at {:?}",
                config.wal_dir_path().display().to_string()
            ),
        );
    }
}

/// `--discovery`: register with the service and wait for the others.
async fn join_discovery(config: &Config, url: &str, log: &Logger) -> Result<Bootstrap, String> {
    // The temporary cluster of this member alone (checked as etcd does).
    let temporary = config.verify_initial_cluster().map_err(|e| e.to_string())?;
    let own: Vec<String> = temporary
        .urls_of(&config.name)
        .unwrap_or_default()
        .iter()
        .map(Url::to_string)
        .collect();
    // etcd derives IDs with the discovery URL as the cluster token.
    let id = ids::member_id(&own, url, None);
    let joined = match v2::Discovery::new(url, config.discovery_proxy.as_deref(), id, log) {
        Ok(mut discovery) => discovery.join_cluster(&temporary.to_string()).await,
        Err(error) => Err(error),
    };
    let text = match joined {
        Ok(text) => text,
        Err(error) => return Err(join_failure(config, url, &error, log)),
    };
    let cluster = InitialCluster::parse(&text).map_err(|e| e.to_string())?;
    if cluster.has_duplicate_url() {
        return Err(format!("discovery cluster {cluster} has duplicate url"));
    }
    Ok(Bootstrap {
        cluster,
        token: url.to_string(),
    })
}

/// etcd's lines for a failed join (`startEtcdOrProxyV2`); answers the error
/// the start stops with.
fn join_failure(config: &Config, url: &str, error: &keys::DiscoveryError, log: &Logger) -> String {
    let failed = format!("failed to join discovery cluster ({error})");
    match error {
        keys::DiscoveryError::DuplicateId => {
            log.error(
                "etcdmain",
                &format!(
                    "member {:?} has previously registered with discovery service token ({url}).",
                    config.name
                ),
            );
            log.error(
                "etcdmain",
                &format!(
                    "But etcd could not find valid cluster configuration in the given data dir ({}).",
                    config.data_dir_path().display()
                ),
            );
            log.info(
                "etcdmain",
                "Please check the given data dir path if the previous bootstrap succeeded",
            );
            log.info(
                "etcdmain",
                "or use a new discovery token if the previous bootstrap failed.",
            );
            failed
        }
        keys::DiscoveryError::DuplicateName => {
            log.error("etcdmain", &format!("member with duplicated name has registered with discovery service token({url})."));
            log.error(
                "etcdmain",
                "please check (cURL) the discovery token for more information.",
            );
            log.error(
                "etcdmain",
                "please do not reuse the discovery token and generate a new one to bootstrap the cluster.",
            );
            failed
        }
        keys::DiscoveryError::FullCluster
            if config.discovery_fallback == DiscoveryFallback::Proxy =>
        {
            format!(
                "{failed}: falling back to a v2 proxy (--discovery-fallback=proxy, the default) is not supported by cairn; \
                 start with --discovery-fallback=exit, or add this member with `etcdctl member add` and --initial-cluster-state=existing"
            )
        }
        _ => {
            log.info(
                "etcdmain",
                &format!("discovery token {url} was used, but failed to bootstrap the cluster."),
            );
            log.info(
                "etcdmain",
                "please generate a new discovery token and try to bootstrap again.",
            );
            failed
        }
    }
}

/// `--discovery-srv`: the initial cluster from SRV records, checked as
/// etcd checks it (this member in it, its URLs the advertised ones).
async fn srv_cluster(config: &Config, domain: &str, log: &Logger) -> Result<Bootstrap, String> {
    let items = match srv::cluster_items(
        &config.name,
        domain,
        config.discovery_srv_name.as_deref(),
        &config.initial_advertise_peer_urls,
    )
    .await
    {
        Ok(items) => items,
        Err(error) => {
            log.error(
                "embed",
                &format!("couldn't resolve during SRV discovery ({error})"),
            );
            return Err(format!("error setting up initial cluster: {error}"));
        }
    };
    for item in &items {
        log.notice(
            "embed",
            &format!("got bootstrap from DNS for etcd-server at {item}"),
        );
    }
    let cluster = InitialCluster::parse(&items.join(","))
        .map_err(|e| format!("error setting up initial cluster: {e}"))?;
    let Some(own) = cluster.urls_of(&config.name) else {
        return Err(format!(
            "error setting up initial cluster: cannot find local etcd member {:?} in SRV records",
            config.name
        ));
    };
    if config.initial_cluster_state == ClusterState::New {
        advertised_match(config, own).await?;
    }
    if cluster.has_duplicate_url() {
        return Err(format!("initial cluster {cluster} has duplicate url"));
    }
    Ok(Bootstrap {
        cluster,
        token: config.initial_cluster_token.clone(),
    })
}

/// etcd's `VerifyBootstrap` check that the advertised peer URLs are the
/// cluster's for this member, names resolved (SRV targets are names).
async fn advertised_match(config: &Config, in_cluster: &[Url]) -> Result<(), String> {
    let resolver = srv::resolver()?;
    let resolve = |urls: Vec<Url>| {
        let resolver = &resolver;
        async move {
            let mut out = BTreeSet::new();
            for url in urls {
                let address = srv::resolve_tcp(resolver, &url.host, url.port).await?;
                out.insert((url.scheme.as_str(), address));
            }
            Ok::<_, String>(out)
        }
    };
    let advertised = resolve(config.initial_advertise_peer_urls.clone()).await?;
    let cluster = resolve(in_cluster.to_vec()).await?;
    if advertised != cluster {
        let urls = |urls: &[Url]| {
            urls.iter()
                .map(Url::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        return Err(format!(
            "--initial-cluster has {} but missing from --initial-advertise-peer-urls={} (the SRV records of {} resolve to other addresses)",
            in_cluster
                .iter()
                .map(|url| format!("{}={url}", config.name))
                .collect::<Vec<_>>()
                .join(","),
            urls(&config.initial_advertise_peer_urls),
            config.discovery_srv.as_deref().unwrap_or_default()
        ));
    }
    Ok(())
}
