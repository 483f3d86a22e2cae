//! The start-up corruption check, with the gRPC `Maintenance` client it asks
//! other members' client URLs with.

use cairn_core::auth::Caller;
use cairn_core::member::calls;
use cairn_core::raft::NodeId;
use cairn_proto::etcdserverpb::{maintenance_client::MaintenanceClient, HashKvRequest};
use cairn_runtime_tokio::MemberHandle;

use crate::logging::Logger;
use crate::tls;

/// etcd's `--experimental-initial-corrupt-check`: before serving clients,
/// compare this member's KV hash with every reachable peer's at the same
/// revision; a difference means the data diverged, and the member refuses to
/// serve. Peers that are unreachable, behind, or compacted differently are
/// skipped with a warning, as etcd does.
pub async fn initial_corrupt_check(
    handle: &MemberHandle,
    local: NodeId,
    dialer: &tls::Dialer,
    log: &Logger,
) -> Result<(), String> {
    log.info(
        "etcdserver",
        &format!("{local:x} starting initial corruption check with timeout 7s..."),
    );
    // Wait until the member is part of a cluster with a leader (bounded).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(7);
    let members = loop {
        if let Ok((_, members)) = handle.call(Caller::System, calls::MemberList).await {
            let published = members
                .iter()
                .filter(|m| m.id != local)
                .all(|m| !m.client_urls.is_empty());
            if published || tokio::time::Instant::now() >= deadline {
                break members;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let local_hash = handle
        .call(Caller::System, calls::HashKv { revision: 0 })
        .await;
    let Ok((_, local_hash)) = local_hash else {
        return Err("initial corruption check: cannot hash the local store".to_string());
    };
    let mut compared = 0;
    for peer in members.iter().filter(|m| m.id != local) {
        let Some(url) = peer.client_urls.first() else {
            log.warn(
                "etcdserver",
                &format!("cannot check hash of peer {:x}: no client URL", peer.id),
            );
            continue;
        };
        let answer = async {
            let channel = dialer
                .channel(url, std::time::Duration::from_secs(5))
                .await?;
            let mut client = MaintenanceClient::new(channel);
            let request = HashKvRequest {
                revision: local_hash.hash_revision,
            };
            client
                .hash_kv(request)
                .await
                .map(|r| r.into_inner())
                .map_err(|e| e.message().to_string())
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), answer).await {
            Ok(Ok(remote)) if remote.compact_revision == local_hash.compact_revision => {
                compared += 1;
                if remote.hash != local_hash.hash {
                    log.error(
                        "etcdserver",
                        &format!(
                            "{local:x}'s hash {} != {:x}'s hash {} (revision {}, compact revision {})",
                            local_hash.hash, peer.id, remote.hash, local_hash.hash_revision, local_hash.compact_revision
                        ),
                    );
                    return Err(format!("{local:x} found data inconsistency with peers"));
                }
            }
            Ok(Ok(remote)) => log.warn(
                "etcdserver",
                &format!(
                    "{local:x} cannot check hash of peer {:x}: peer has a different compact revision {} (local {})",
                    peer.id, remote.compact_revision, local_hash.compact_revision
                ),
            ),
            Ok(Err(error)) => log.warn(
                "etcdserver",
                &format!("{local:x} cannot check the hash of peer {:x}: {error}", peer.id),
            ),
            Err(_) => log.warn("etcdserver", &format!("{local:x} cannot check the hash of peer {:x}: timed out", peer.id)),
        }
    }
    log.info(
        "etcdserver",
        &format!("{local:x} initial corruption checking passed; no corruption ({compared} peers compared)"),
    );
    Ok(())
}

/// One peer's KV hash at `revision`, asked over its client URL.
async fn peer_hash(
    dialer: &tls::Dialer,
    url: &str,
    revision: i64,
) -> Result<cairn_proto::etcdserverpb::HashKvResponse, String> {
    let answer = async {
        let channel = dialer
            .channel(url, std::time::Duration::from_secs(5))
            .await?;
        MaintenanceClient::new(channel)
            .hash_kv(HashKvRequest { revision })
            .await
            .map(|r| r.into_inner())
            .map_err(|e| e.message().to_string())
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), answer).await {
        Ok(result) => result,
        Err(_) => Err("timed out".to_string()),
    }
}

/// etcd's `--experimental-corrupt-check-time`: every `interval`, the leader
/// compares its KV hash with every member's at the same revision (etcd's
/// `checkHashKV`). A member whose hash differs at the same compaction, or
/// that claims a later revision or compaction than the leader, raises the
/// CORRUPT alarm naming it, which stops writes cluster-wide.
pub async fn periodic_corrupt_check(
    handle: MemberHandle,
    local: NodeId,
    dialer: tls::Dialer,
    interval: std::time::Duration,
    log: std::sync::Arc<Logger>,
) {
    log.info(
        "etcdserver",
        &format!(
            "enabled corruption checking with {} interval",
            crate::config::format_duration(interval)
        ),
    );
    loop {
        tokio::time::sleep(interval).await;
        let Ok((_, status)) = handle.call(Caller::System, calls::Status).await else {
            continue;
        };
        if status.leader != local {
            continue;
        }
        if let Err(error) = check_hash_kv(&handle, local, &dialer, &log).await {
            log.debug("etcdserver", &format!("check hash kv failed {error}"));
        }
    }
}

async fn check_hash_kv(
    handle: &MemberHandle,
    local: NodeId,
    dialer: &tls::Dialer,
    log: &Logger,
) -> Result<(), String> {
    let hash = |revision| handle.call(Caller::System, calls::HashKv { revision });
    let (_, mine) = hash(0).await.map_err(|(_, e)| e.to_string())?;
    let (_, members) = handle
        .call(Caller::System, calls::MemberList)
        .await
        .map_err(|(_, e)| e.to_string())?;
    let mut peers = Vec::new();
    for peer in members.iter().filter(|m| m.id != local && !m.is_learner) {
        let Some(url) = peer.client_urls.first() else {
            continue;
        };
        match peer_hash(dialer, url, mine.hash_revision).await {
            Ok(remote) => peers.push((peer.id, remote)),
            Err(error) => log.warn(
                "etcdserver",
                &format!(
                    "{local:x} failed to hash kv for peer {:x}: {error}",
                    peer.id
                ),
            ),
        }
    }
    // The leader's own hash again: if it changed at the same revision, the
    // leader's own store is the one that is corrupt.
    let (_, again) = hash(0).await.map_err(|(_, e)| e.to_string())?;
    let mut corrupt = Vec::new();
    if again.hash != mine.hash
        && again.hash_revision == mine.hash_revision
        && again.compact_revision == mine.compact_revision
    {
        log.error(
            "etcdserver",
            &format!(
                "{local:x}'s hash {} != {local:x}'s hash {} (revision {}, compact revision {})",
                mine.hash, again.hash, mine.hash_revision, mine.compact_revision
            ),
        );
        corrupt.push(local);
    }
    for (id, remote) in peers {
        let revision = remote.header.as_ref().map_or(0, |h| h.revision);
        let why = if revision > again.current_revision {
            Some(format!(
                "revision {revision} from member {id:x}, expected at most {}",
                again.current_revision
            ))
        } else if remote.compact_revision > again.compact_revision {
            Some(format!(
                "compact revision {} from member {id:x}, expected at most {}",
                remote.compact_revision, again.compact_revision
            ))
        } else if remote.compact_revision == mine.compact_revision && remote.hash != mine.hash {
            Some(format!(
                "{local:x}'s hash {} != {id:x}'s hash {} (revision {}, peer revision {revision}, compact revision {})",
                mine.hash, remote.hash, mine.hash_revision, mine.compact_revision
            ))
        } else {
            None
        };
        if let Some(why) = why {
            log.error("etcdserver", &why);
            corrupt.push(id);
        }
    }
    for member in corrupt {
        let alarm = calls::Alarm {
            action: cairn_core::member::AlarmAction::Activate,
            member,
            alarm: Some(cairn_core::member::AlarmKind::Corrupt),
        };
        if let Err((_, error)) = handle.call(Caller::System, alarm).await {
            log.warn(
                "etcdserver",
                &format!("failed to raise the CORRUPT alarm for {member:x}: {error}"),
            );
        }
    }
    Ok(())
}
