//! Starting a member: a brand-new cluster, joining one with an empty data
//! directory, or recovering from what is on disk (the newest snapshot that
//! decodes, then every WAL record after it).

use std::collections::VecDeque;

use bytes::Bytes;

use super::action::Action;
use super::config::MemberConfig;
use super::node::Member;
use super::persistence::Persistence;
use super::request::MemberInfo;
use super::requests::Requests;
use super::state::AppliedState;
use crate::lease::{LeaseIdGenerator, LessorConfig};
use crate::mvcc::{Store, StoreConfig};
use crate::raft::{NodeId, RawNode};
use crate::snapshot;
use crate::time::Instant;
use crate::wal::{SnapshotMarker, WalWriter};
use crate::watch::WatchHub;

/// Why a member cannot start from what is on disk.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("raft: {0}")]
    Raft(#[from] crate::raft::RestoreError),
    #[error("{0}")]
    Wal(#[from] crate::wal::WalError),
    #[error("snapshot: {0}")]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error("the data directory belongs to member {found_member:x} of cluster {found_cluster:x}, not to member {member:x} of cluster {cluster:x}")]
    WrongCluster {
        found_cluster: u64,
        found_member: NodeId,
        cluster: u64,
        member: NodeId,
    },
    #[error("the WAL starts after snapshot {wal_index} but the newest usable snapshot is at {snapshot_index}")]
    SnapshotMissing { wal_index: u64, snapshot_index: u64 },
}

/// How a member came up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartKind {
    /// A member of a brand-new cluster, on an empty data directory.
    Bootstrapped,
    /// A new member of a running cluster, on an empty data directory.
    Joined,
    /// From the WAL (and a snapshot) of an earlier run.
    Restarted,
}

impl Member {
    /// The one start-up every runtime uses. On an empty data directory
    /// (`wal_segments` empty) the member bootstraps a new cluster from
    /// `initial`, or joins a running one (`join_existing`). Otherwise it
    /// recovers: from the newest snapshot that decodes, falling back to older
    /// ones (a snapshot file damaged on disk is not fatal while an older one
    /// and the WAL after it remain), then from the WAL alone.
    ///
    /// `snapshots_newest_first` yields each snapshot file's name and bytes;
    /// the runtime reads them lazily, so only those tried are read.
    pub fn start(
        config: MemberConfig,
        initial: &[(NodeId, MemberInfo)],
        join_existing: bool,
        wal_segments: &[(&str, &[u8])],
        snapshots_newest_first: impl IntoIterator<Item = (String, Bytes)>,
        now: Instant,
    ) -> Result<(Member, StartKind), StartError> {
        if wal_segments.is_empty() {
            return if join_existing {
                Ok((Member::join(config, now)?, StartKind::Joined))
            } else {
                let member = Member::bootstrap(config, initial, now)?;
                Ok((member, StartKind::Bootstrapped))
            };
        }
        let mut unusable = None;
        for snapshot in snapshots_newest_first {
            match Member::recover(config.clone(), Some(snapshot), wal_segments, now) {
                Ok(member) => return Ok((member, StartKind::Restarted)),
                // This file is damaged: an older one may still do.
                Err(error @ StartError::Snapshot(_)) => {
                    unusable.get_or_insert(error);
                }
                Err(error) => return Err(error),
            }
        }
        match Member::recover(config, None, wal_segments, now) {
            Ok(member) => Ok((member, StartKind::Restarted)),
            // The WAL needs a snapshot: say why the snapshots would not do.
            Err(error) => Err(unusable.unwrap_or(error)),
        }
    }

    /// A member of a brand-new cluster: `initial` lists every initial member
    /// (id and who it is). Emits the actions that create the WAL.
    pub fn bootstrap(
        config: MemberConfig,
        initial: &[(NodeId, MemberInfo)],
        now: Instant,
    ) -> Result<Member, StartError> {
        let metadata = crate::wal::Metadata {
            cluster_id: config.cluster_id,
            member_id: config.id(),
        };
        let (wal, segment) = WalWriter::create(metadata, SnapshotMarker::default());
        let contexts: Vec<(NodeId, Bytes)> = initial
            .iter()
            .map(|(id, info)| (*id, super::payload::encode_member_info(info)))
            .collect();
        let raft = RawNode::bootstrap(config.raft.clone(), &contexts, now)?;
        let mut member =
            Member::assemble(config, raft, Store::new(StoreConfig::default()), wal, now);
        member.disk.create_segment(segment);
        member.drive();
        Ok(member)
    }

    /// A member that joins an existing cluster with an empty data directory.
    pub fn join(config: MemberConfig, now: Instant) -> Result<Member, StartError> {
        let metadata = crate::wal::Metadata {
            cluster_id: config.cluster_id,
            member_id: config.id(),
        };
        let (wal, segment) = WalWriter::create(metadata, SnapshotMarker::default());
        let raft = RawNode::join(config.raft.clone(), now)?;
        let mut member =
            Member::assemble(config, raft, Store::new(StoreConfig::default()), wal, now);
        member.disk.create_segment(segment);
        member.drive();
        Ok(member)
    }

    /// Restarts from disk: the newest snapshot that decodes (if any, with its
    /// file name) and every WAL segment in name order. A torn WAL tail is
    /// truncated (it was never acknowledged); corruption anywhere else, or a data
    /// directory of another member or cluster, refuses to start.
    pub fn recover(
        config: MemberConfig,
        snapshot_file: Option<(String, Bytes)>,
        wal_segments: &[(&str, &[u8])],
        now: Instant,
    ) -> Result<Member, StartError> {
        let store_config = StoreConfig {
            max_txn_ops: config.max_txn_ops,
        };
        let image = match &snapshot_file {
            Some((_, bytes)) => Some(snapshot::decode(bytes, store_config)?),
            None => None,
        };
        let marker = image
            .as_ref()
            .map_or(SnapshotMarker::default(), |image| SnapshotMarker {
                index: image.meta.index,
                term: image.meta.term,
            });
        let recovered = crate::wal::recover(wal_segments, marker)?;
        if recovered.metadata.cluster_id != config.cluster_id
            || recovered.metadata.member_id != config.id()
        {
            return Err(StartError::WrongCluster {
                found_cluster: recovered.metadata.cluster_id,
                found_member: recovered.metadata.member_id,
                cluster: config.cluster_id,
                member: config.id(),
            });
        }
        let meta = image.as_ref().map(|i| i.meta.clone()).unwrap_or_default();
        let raft = RawNode::restart(
            config.raft.clone(),
            crate::raft::Restored {
                hard_state: recovered.hard_state,
                snapshot: meta.clone(),
                entries: recovered.entries.clone(),
            },
            now,
        )?;
        let wal = WalWriter::resume(&recovered);
        let store = image
            .as_ref()
            .map_or_else(|| Store::new(store_config), |i| i.kv.clone());
        let mut member = Member::assemble(config, raft, store, wal, now);
        if let Some(image) = image {
            member.disk.last_snapshot_index = image.meta.index;
            member.state.restore(image, member.config.auth_token_ttl_ms);
            if let Some((name, _)) = &snapshot_file {
                member.disk.snapshot_files.push(name.clone());
            }
        }
        member.disk.wal_segments = wal_segments
            .iter()
            .map(|(name, _)| (*name).to_string())
            .collect();
        if let crate::wal::TailVerdict::Torn {
            segment, offset, ..
        } = &recovered.verdict
        {
            member.actions.push_back(Action::TruncateWal {
                segment: segment.clone(),
                offset: *offset,
            });
        }
        member.drive();
        if member.config.force_new_cluster {
            // Everything committed is applied by now (drive ran every ready).
            member.raft.force_new_cluster();
            let id = member.id();
            member.state.roster.retain(|&m, _| m == id);
            member.drive();
        }
        Ok(member)
    }

    pub(super) fn assemble(
        config: MemberConfig,
        raft: RawNode,
        store: Store,
        wal: WalWriter,
        now: Instant,
    ) -> Member {
        let lessor_config = LessorConfig::from_election_timeout_ms(
            config.raft.tick_interval_ms * config.raft.election_ticks as u64,
        );
        let state = AppliedState::new(
            store,
            lessor_config,
            config.auth_token_ttl_ms,
            config.knobs.lease_no_extend_on_promote,
        );
        let role = raft.role_state();
        Member {
            raft,
            state,
            disk: Persistence::new(wal),
            requests: Requests::new(config.first_seq),
            actions: VecDeque::new(),
            now,
            last_tick: now,
            published: false,
            publish_retry_at: now,
            role,
            nospace_retry_at: now,
            // Distinct per member and per incarnation (first_seq comes from
            // the runtime's clock): a reused id would let a revocation meant
            // for an expired lease hit a new one granted under the same id.
            lease_ids: LeaseIdGenerator::new(
                config.seed ^ config.raft.id.rotate_left(32) ^ config.first_seq.rotate_left(17),
            ),
            counters: super::counters::Counters::default(),
            watch: WatchHub::new(),
            progress_notify_at: now + config.watch_progress_notify_interval_ms,
            membership: super::membership::MembershipRequests::default(),
            v2: super::v2::V2Member::default(),
            config,
        }
    }
}
