//! The cluster's members as the harness knows them, and how one is started
//! on a madsim node: the initial members bootstrap, a member added at run
//! time joins on an empty data dir.
//!
//! Members live in slots: slot `i` is member id `i + 1` at 10.0.0.`i + 1`.
//! A slot is used once: a removed member's id and address are never given
//! to another member, and it never runs again with its old data.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use cairn_core::member::{MemberConfig, MemberEvent, MemberInfo};
use cairn_core::raft::{self, NodeId};
use cairn_runtime_sim::disk::SimStorage;
use cairn_runtime_sim::node::{peer_url, run_member, MemberExit, MemberSpec, CLIENT_PORT};
use cairn_runtime_tokio::{RuntimeEvent, MEMBER_REMOVED};
use madsim::runtime::{Handle, NodeHandle};

use super::World;
use crate::checker::generate::SplitMix64;
use crate::scenario::{Bug, Scenario, DRIFT_PPM_MAX};
use crate::trace::EventKind;

/// Slots for members, the initial ones included: a run adds at most this
/// many minus the initial members.
pub const MEMBER_SLOTS: usize = 16;
/// Membership changes keep the voters between these (a crashed member is
/// replaced learner first, so that a change never leaves fewer than three).
pub const VOTERS_MIN: usize = 3;
pub const VOTERS_MAX: usize = 5;
const CLUSTER_ID: u64 = 0xca1e_0000_0000_0001;

/// What the harness knows of one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Never added.
    Unused,
    /// Its addition was asked for and the answer lost: it may be a member
    /// (then it is started once a member list shows it).
    Pending {
        learner: bool,
    },
    Voter,
    Learner,
    /// Its removal was asked for and the answer lost: it may be gone.
    Leaving,
    /// Removed from the cluster: it never runs again.
    Removed,
}

impl Membership {
    /// Whether it is (or may still be) a member that runs.
    pub fn is_member(self) -> bool {
        matches!(
            self,
            Membership::Voter | Membership::Learner | Membership::Leaving
        )
    }
}

pub fn member_ip(slot: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, slot as u8 + 1))
}

pub fn client_address(slot: usize) -> SocketAddr {
    SocketAddr::new(member_ip(slot), CLIENT_PORT)
}

pub fn member_id(slot: usize) -> NodeId {
    slot as NodeId + 1
}

/// The slot of member `id` (ids are 1-based slot numbers).
pub fn slot_of(id: NodeId) -> Option<usize> {
    let slot = (id as usize).checked_sub(1)?;
    (slot < MEMBER_SLOTS).then_some(slot)
}

/// Who the member in `slot` is: its name and URLs.
pub fn member_info(slot: usize) -> MemberInfo {
    let ip = member_ip(slot);
    MemberInfo {
        name: format!("m{}", member_id(slot)),
        peer_urls: vec![peer_url(ip)],
        client_urls: vec![format!("http://{ip}:{CLIENT_PORT}")],
    }
}

fn member_config(scenario: &Scenario, slot: usize) -> MemberConfig {
    let id = member_id(slot);
    let mut raft = raft::Config::new(id, scenario.seed.rotate_left(7) ^ id);
    raft.knobs.skip_vote_persistence = scenario.bug == Some(Bug::SkipVotePersistence);
    let info = member_info(slot);
    let mut config = MemberConfig::new(raft, CLUSTER_ID, info.name, info.client_urls);
    config.snapshot_count = scenario.snapshot_count;
    config.snapshot_catchup_entries = scenario.snapshot_catchup_entries;
    config.request_timeout_ms = 3_000;
    config.knobs.local_linearizable_reads = scenario.bug == Some(Bug::LocalReads);
    config.knobs.lease_no_extend_on_promote = scenario.bug == Some(Bug::LeaseNoExtend);
    config.knobs.v2_local_quorum_reads = scenario.bug == Some(Bug::V2LocalReads);
    config
}

/// The clock drift of the member in `slot`: drawn with the scenario for
/// the initial members, from a stream of the seed and the slot for the
/// ones added later.
fn drift_ppm(scenario: &Scenario, slot: usize) -> i64 {
    match scenario.drift_ppm.get(slot) {
        Some(ppm) => *ppm,
        None => {
            let mut rng = SplitMix64(scenario.seed ^ 0x5ce0_a210_0000_0003 ^ slot as u64);
            rng.below(2 * DRIFT_PPM_MAX as u64 + 1) as i64 - DRIFT_PPM_MAX
        }
    }
}

/// Starts members on madsim nodes.
pub struct Launcher {
    handle: Handle,
    scenario: Scenario,
    world: Arc<Mutex<World>>,
}

impl std::fmt::Debug for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launcher").finish()
    }
}

impl Launcher {
    pub fn new(handle: Handle, scenario: Scenario, world: Arc<Mutex<World>>) -> Launcher {
        Launcher {
            handle,
            scenario,
            world,
        }
    }

    /// Creates the madsim node of the member in `slot`, on new storage, and
    /// starts it: a member of the initial cluster `peers` (which names every
    /// initial member), or with `join_existing` a member just added, which
    /// joins the running cluster of `peers` (the members the leader listed).
    pub fn launch(
        &self,
        slot: usize,
        peers: Vec<(NodeId, MemberInfo)>,
        join_existing: bool,
    ) -> (NodeHandle, SimStorage) {
        let storage = SimStorage::default();
        storage.faults.lock().expect("faults").ack_before_fsync =
            self.scenario.bug == Some(Bug::AckBeforeFsync);
        let node = member_id(slot);
        let events_world = self.world.clone();
        let spec = Arc::new(MemberSpec {
            ip: member_ip(slot),
            config: member_config(&self.scenario, slot),
            initial_cluster: peers,
            join_existing,
            storage: storage.clone(),
            clock_rate_ppm: drift_ppm(&self.scenario, slot),
            events: Arc::new(move |event| {
                if let RuntimeEvent::Member(MemberEvent::SnapshotInstalled { index, term }) = &event
                {
                    let note = format!("installed a snapshot at index {index} (term {term})");
                    let mut world = events_world.lock().expect("world");
                    world.record(Some(node), EventKind::Note(note));
                }
                if let RuntimeEvent::Member(MemberEvent::RoleChanged(state)) = event {
                    let mut world = events_world.lock().expect("world");
                    let role = format!("{:?}", state.role);
                    world.roles[slot] = (role.clone(), state.term);
                    world.record(
                        Some(node),
                        EventKind::Role {
                            role,
                            term: state.term,
                            leader: state.leader,
                        },
                    );
                }
            }),
        });
        let exit_world = self.world.clone();
        let member = self
            .handle
            .create_node()
            .name(format!("m{node}"))
            .ip(member_ip(slot))
            .init(move || {
                let spec = spec.clone();
                let world = exit_world.clone();
                async move {
                    let exit = run_member(spec).await;
                    world.lock().expect("world").member_exited(slot, exit);
                }
            })
            .build();
        (member, storage)
    }
}

impl World {
    /// The member in `slot` stopped on its own (or refused to start).
    fn member_exited(&mut self, slot: usize, exit: MemberExit) {
        let node = member_id(slot);
        let kind = match &exit {
            MemberExit::Refused(why) => EventKind::Refused(why.clone()),
            MemberExit::Fatal(why) => EventKind::Stopped(why.clone()),
            MemberExit::Removed => EventKind::Stopped(MEMBER_REMOVED.to_string()),
        };
        self.record(Some(node), kind);
        self.roles[slot] = ("Down".to_string(), self.roles[slot].1);
        if exit == MemberExit::Removed {
            // It applied its own removal: that removal is committed, whether
            // or not the operator has heard so yet.
            self.membership[slot] = Membership::Removed;
        }
        self.exits[slot] = Some(exit);
    }

    /// Members that are (or may still be) in the cluster, by slot: what
    /// faults act on.
    pub fn members(&self) -> Vec<usize> {
        (0..MEMBER_SLOTS)
            .filter(|&slot| self.membership[slot].is_member())
            .collect()
    }

    /// Where clients send requests: the voters (a learner answers little, a
    /// member on its way out is not used any more). A client picks one per
    /// request, so it learns of new members and forgets removed ones as soon
    /// as the operator does.
    pub fn serving(&self) -> Vec<SocketAddr> {
        (0..MEMBER_SLOTS)
            .filter(|&slot| self.membership[slot] == Membership::Voter)
            .map(client_address)
            .collect()
    }

    pub fn voters(&self) -> Vec<usize> {
        self.slots_in(Membership::Voter)
    }

    pub fn learners(&self) -> Vec<usize> {
        self.slots_in(Membership::Learner)
    }

    fn slots_in(&self, membership: Membership) -> Vec<usize> {
        (0..MEMBER_SLOTS)
            .filter(|&slot| self.membership[slot] == membership)
            .collect()
    }

    /// Whether the member in `slot` is not running: killed, refusing its
    /// storage, or stopped on an error.
    pub fn is_out(&self, slot: usize) -> bool {
        self.down[slot] || self.exits[slot].is_some()
    }
}
