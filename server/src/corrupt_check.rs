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
