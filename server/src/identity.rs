//! Who this member is, worked out before anything starts: its ID and its
//! cluster's, and the initial members, from the WAL of a restarted member,
//! from `--initial-cluster`, from the running cluster a new member joins,
//! or from discovery.

use std::sync::Arc;

use cairn_core::member::MemberInfo;
use cairn_core::raft::NodeId;
use cairn_runtime_tokio::peer_members;
use cairn_runtime_tokio::transport::PeerSecurity;

use crate::config::{ClusterState, Config, InitialCluster, Url};
use crate::logging::Logger;
use crate::{discovery, ids};

/// Who this member is: its id and its cluster's, from the initial cluster.
#[derive(Debug)]
pub struct Identity {
    pub local_id: NodeId,
    pub cluster_id: u64,
    /// Every initial member, this one included.
    pub initial: Vec<(NodeId, MemberInfo)>,
}

/// Who this member is.
///
/// * Restarted (a WAL exists): the IDs its WAL records, whatever the flags
///   say now (a member added at run time has an ID derived from the time).
/// * New, in a new cluster: IDs derived from `--initial-cluster` and the
///   cluster token, as etcd derives them.
/// * New, joining (`--initial-cluster-state existing`): the running
///   cluster's ID and this member's ID as `member add` made it, asked of the
///   other members' peer URLs (etcd's `GetClusterFromRemotePeers`).
/// * New, with `--discovery` or `--discovery-srv`: the initial cluster is
///   the one discovered (see `discovery`); a restarted member contacts no
///   discovery.
pub async fn identify(
    config: &Config,
    peer_security: Option<&Arc<dyn PeerSecurity>>,
    log: &Logger,
) -> Result<Identity, String> {
    let dir = cairn_runtime_tokio::DataDir::new(&config.data_dir_path(), config.wal_dir.as_deref());
    // etcd checks --initial-cluster against the advertised URLs only when the
    // member is new; a restarted member keeps the identity its WAL records.
    let restarted = dir.has_wal();
    let discovered = if restarted {
        discovery::note_restart(config, log);
        None
    } else {
        discovery::bootstrap(config, log).await?
    };
    let cluster = if let Some(found) = &discovered {
        found.cluster.clone()
    } else if restarted {
        InitialCluster::parse(&config.initial_cluster).map_err(|e| e.to_string())?
    } else {
        config.verify_initial_cluster().map_err(|e| e.to_string())?
    };
    let token = discovered
        .as_ref()
        .map_or(&config.initial_cluster_token, |found| &found.token);
    let mut initial: Vec<(NodeId, MemberInfo)> = Vec::new();
    let mut local_id = None;
    for (name, urls) in cluster.members() {
        let peer_urls: Vec<String> = urls.iter().map(Url::to_string).collect();
        let id = ids::member_id(&peer_urls, token, None);
        if *name == config.name {
            local_id = Some(id);
        }
        initial.push((
            id,
            MemberInfo {
                name: name.clone(),
                peer_urls,
                client_urls: Vec::new(),
            },
        ));
    }
    if restarted {
        if let Some(metadata) = dir.wal_metadata() {
            // A member bootstrapped with these flags has the IDs they
            // derive; a data dir whose member *and* cluster differ from them
            // was written by another cluster (a member added at run time
            // starts with `existing` and has an ID of its own).
            if config.initial_cluster_state == ClusterState::New {
                let member_ids: Vec<NodeId> = initial.iter().map(|(id, _)| *id).collect();
                let cluster_id = ids::cluster_id(&member_ids);
                if let Some(local_id) = local_id {
                    if metadata.member_id != local_id && metadata.cluster_id != cluster_id {
                        return Err(format!(
                            "the data directory {} belongs to member {:x} of cluster {:x}, not to member {local_id:x} of cluster {cluster_id:x} that --name, --initial-cluster and --initial-cluster-token describe; start it with the flags it was created with, or use an empty data directory",
                            config.data_dir_path().display(),
                            metadata.member_id,
                            metadata.cluster_id
                        ));
                    }
                }
            }
            return Ok(Identity {
                local_id: metadata.member_id,
                cluster_id: metadata.cluster_id,
                initial,
            });
        }
    }
    if !restarted && config.initial_cluster_state == ClusterState::Existing {
        let own: Vec<String> = config
            .initial_advertise_peer_urls
            .iter()
            .map(Url::to_string)
            .collect();
        return join_identity(&initial, &own, peer_security).await;
    }
    let local_id = local_id.ok_or_else(|| {
        format!(
            "couldn't find local name {:?} in the initial cluster configuration",
            config.name
        )
    })?;
    let member_ids: Vec<NodeId> = initial.iter().map(|(id, _)| *id).collect();
    let cluster_id = ids::cluster_id(&member_ids);
    Ok(Identity {
        local_id,
        cluster_id,
        initial,
    })
}

/// Asks the other members of `initial` (by their peer URLs) for the running
/// cluster, and finds this member in it by its peer URLs `own`.
async fn join_identity(
    initial: &[(NodeId, MemberInfo)],
    own: &[String],
    peer_security: Option<&Arc<dyn PeerSecurity>>,
) -> Result<Identity, String> {
    let mut own_sorted = own.to_vec();
    own_sorted.sort();
    let mut errors = Vec::new();
    for (_, info) in initial {
        let mut theirs = info.peer_urls.clone();
        theirs.sort();
        if theirs == own_sorted {
            continue;
        }
        for url in &info.peer_urls {
            match peer_members::fetch_members(url, peer_security, JOIN_FETCH_TIMEOUT).await {
                Ok(remote) => {
                    let local_id = peer_members::find_own(&remote, own).ok_or_else(|| {
                        format!(
                            "error validating peerURLs {{ClusterID:{:x} Members:[{}]}}: \
                             no member of the running cluster has the peer URLs {} \
                             (add it first with `etcdctl member add`)",
                            remote.cluster_id,
                            remote
                                .members
                                .iter()
                                .map(|m| format!("{:x}={}", m.id, m.peer_urls.join(",")))
                                .collect::<Vec<_>>()
                                .join(" "),
                            own.join(",")
                        )
                    })?;
                    let initial = remote
                        .members
                        .into_iter()
                        .map(|m| {
                            (
                                m.id,
                                MemberInfo {
                                    name: m.name,
                                    peer_urls: m.peer_urls,
                                    client_urls: m.client_urls,
                                },
                            )
                        })
                        .collect();
                    return Ok(Identity {
                        local_id,
                        cluster_id: remote.cluster_id,
                        initial,
                    });
                }
                Err(error) => errors.push(format!("{url}: {error}")),
            }
        }
    }
    Err(format!(
        "cannot fetch cluster info from peer urls: could not retrieve cluster information \
         from the given URLs ({})",
        errors.join("; ")
    ))
}

/// How long one member may take to say who is in the cluster.
const JOIN_FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
