//! etcd's log lines for what a member and its runtime report: role changes,
//! publication, membership, snapshots, slow disks, refused peers.

use cairn_core::member::MemberEvent;
use cairn_core::raft::{NodeId, Role};
use cairn_runtime_tokio::RuntimeEvent;

use crate::logging::Logger;

/// Logs `event` of member `local` in etcd's words.
pub fn log_event(log: &Logger, local: NodeId, event: &RuntimeEvent) {
    match event {
        RuntimeEvent::Member(MemberEvent::RoleChanged(role)) => {
            let what = match role.role {
                Role::Leader => "leader",
                Role::Candidate => "candidate",
                Role::PreCandidate => "pre-candidate",
                Role::Follower => "follower",
            };
            log.info(
                "raft",
                &format!("{local:x} became {what} at term {}", role.term),
            );
            if role.leader != 0 {
                log.info(
                    "raft",
                    &format!(
                        "raft.node: {local:x} elected leader {:x} at term {}",
                        role.leader, role.term
                    ),
                );
            }
        }
        RuntimeEvent::Member(MemberEvent::Published {
            name,
            client_urls,
            cluster_id,
        }) => {
            log.info(
                "etcdserver",
                &format!(
                    "published {{Name:{name} ClientURLs:[{}]}} to cluster {cluster_id:x}",
                    client_urls.join(" ")
                ),
            );
            log.info("etcdserver/api", "enabled capabilities for version 3.4");
            log.info("embed", "ready to serve client requests");
        }
        RuntimeEvent::Member(MemberEvent::MemberAdded {
            id,
            peer_urls,
            learner,
        }) => {
            let kind = if *learner { "learner member" } else { "member" };
            log.info(
                "etcdserver/membership",
                &format!("added {kind} {id:x} [{}]", peer_urls.join(" ")),
            );
        }
        RuntimeEvent::Member(MemberEvent::MemberRemoved { id }) => {
            log.info("etcdserver/membership", &format!("removed member {id:x}"));
        }
        RuntimeEvent::Member(MemberEvent::MemberPromoted { id }) => {
            log.info("etcdserver/membership", &format!("promote member {id:x}"));
        }
        RuntimeEvent::Member(MemberEvent::MemberUpdated { id, peer_urls }) => {
            log.info(
                "etcdserver/membership",
                &format!("updated member {id:x} [{}]", peer_urls.join(" ")),
            );
        }
        // Another member's announcement: the peer port's /members shows
        // its client URLs now; nothing to log.
        RuntimeEvent::Member(MemberEvent::MemberAttributes { .. }) => {}
        RuntimeEvent::Member(MemberEvent::RemovedFromCluster) => {
            log.warn(
                "etcdserver",
                &format!(
                    "{local:x} {}; the data-dir used by this member must be removed",
                    cairn_runtime_tokio::MEMBER_REMOVED
                ),
            );
        }
        RuntimeEvent::Member(MemberEvent::SnapshotSaved { index, .. }) => {
            log.info("etcdserver", &format!("saved snapshot at index {index}"));
        }
        RuntimeEvent::Member(MemberEvent::SnapshotInstalled { index, .. }) => {
            log.info(
                "etcdserver",
                &format!("applied incoming snapshot at index {index}"),
            );
        }
        RuntimeEvent::Member(MemberEvent::SnapshotRefused { index, reason }) => {
            log.warn(
                "etcdserver",
                &format!("refused incoming snapshot at index {index}: {reason}"),
            );
        }
        RuntimeEvent::Member(MemberEvent::UndecodableEntry { index, reason }) => {
            log.error(
                "etcdserver",
                &format!("skipped undecodable entry at index {index}: {reason}"),
            );
        }
        RuntimeEvent::SlowFsync { took } => {
            log.warn(
                "wal",
                &format!("sync duration of {took:?}, expected less than 1s"),
            );
        }
        RuntimeEvent::PeerRefused(reason) => log.warn("rafthttp", reason),
        RuntimeEvent::Fatal(reason) => log.error("etcdserver", reason),
    }
}
