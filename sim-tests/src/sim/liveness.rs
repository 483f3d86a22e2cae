//! The liveness phase, after every fault is healed: a write commits, then
//! every live member converges to the same applied index, KV hash and
//! member list (the members that joined included), the list is what the
//! operator made of the cluster, and every watcher saw a prefix of the
//! converged history. Last, every live member's value of every workload
//! key joins the history as a read ([`final_reads`]): the linearizability
//! checker then shows that every acknowledged write is there, on every
//! member, new ones included. And every live voter's v2 log is read for the
//! v2 check ([`v2probe`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_core::member::{ClientRequest, ClientResponse, MemberStatus};
use cairn_core::mvcc::{PutRequest, RangeRequest, RangeResponse};
use cairn_runtime_sim::node::MemberExit;
use madsim::net::Endpoint;

use super::faults::Cluster;
use super::members::{client_address, member_id, slot_of, Membership, MEMBER_SLOTS};
use super::operator::{added_after_all, names, settle, start_joining};
use super::{client, v2probe, watcher, World};
use crate::history::{Input, Operation, Output};
use crate::trace::EventKind;
use crate::v2_check::MemberLog;

/// After faults are healed, a write must commit within this long.
pub const LIVENESS_WRITE_MS: u64 = 20_000;
/// ... and every live member must then agree within this long.
pub const CONVERGENCE_MS: u64 = 30_000;

/// What one member reported: (applied index, revision, KV hash). A
/// learner answers no HashKV (etcd serves learners serializable ranges and
/// status only): its hash is left out, and its keys are compared with a
/// voter's instead ([`Probe::learners_agree`]).
type Converged = (u64, i64, Option<u32>);

/// Whether every member answered and all agree.
fn agree(states: &[Option<Converged>]) -> bool {
    let answered: Option<Vec<Converged>> = states.iter().copied().collect();
    answered.is_some_and(|states| {
        states
            .windows(2)
            .all(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1))
            && {
                let hashes: Vec<u32> = states.iter().filter_map(|s| s.2).collect();
                hashes.windows(2).all(|w| w[0] == w[1])
            }
    })
}

/// The members that must take part: in the cluster (or maybe on their way
/// out), and not refusing their storage.
fn live_members(world: &Mutex<World>) -> Vec<usize> {
    let world = world.lock().expect("world");
    world
        .members()
        .into_iter()
        .filter(|&slot| !matches!(world.exits[slot], Some(MemberExit::Refused(_))))
        .collect()
}

/// Client numbers of the final reads: this plus the member's slot.
const FINAL_READ_CLIENT: u32 = 1_000;

/// What the phase found: failures, the final reads for the history, and
/// the live voters' v2 logs.
#[derive(Debug, Default)]
pub struct Found {
    pub failures: Vec<String>,
    pub final_reads: Vec<Operation>,
    pub v2_logs: Vec<MemberLog>,
}

impl Found {
    fn failed(failures: Vec<String>) -> Found {
        Found {
            failures,
            ..Found::default()
        }
    }
}

/// Runs the phase.
pub async fn run(
    cluster: Arc<Mutex<Cluster>>,
    world: Arc<Mutex<World>>,
    keys: usize,
    watch_logs: Vec<watcher::WatchLog>,
) -> Found {
    let endpoint = Endpoint::bind("0.0.0.0:0").await.expect("bind the probe");
    let mut probe = Probe {
        endpoint,
        world: world.clone(),
        id: 1 << 60,
    };
    let healed_ms = probe.now();
    if !probe.write_commits(healed_ms + LIVENESS_WRITE_MS).await {
        return Found::failed(vec![format!(
            "liveness: no write committed within {LIVENESS_WRITE_MS}ms of healing"
        )]);
    }
    let converge_from = probe.now();
    let deadline_ms = converge_from + CONVERGENCE_MS;
    let mut live = live_members(&world);
    let mut last = Vec::new();
    let mut lists = Vec::new();
    while probe.now() < deadline_ms {
        if probe.settle_unsettled(&cluster, &live, false).await {
            live = live_members(&world);
        }
        last = probe.kv_states(&live).await;
        if agree(&last) && probe.learners_agree(&live).await {
            lists = probe.member_lists(&live).await;
            let agreed =
                lists.iter().all(Option::is_some) && lists.windows(2).all(|w| w[0] == w[1]);
            if agreed {
                let list = lists[0].clone().unwrap_or_default();
                if probe.settle_last(&cluster, &list) {
                    // A change whose answer was lost took effect after all
                    // (or did not): converge again with the right members.
                    live = live_members(&world);
                    continue;
                }
                let mut failures = check_members(&world.lock().expect("world"), &list);
                let revision = last[0].map_or(0, |(_, revision, _)| revision);
                let voter = live
                    .iter()
                    .copied()
                    .find(|&slot| !probe.is_learner(slot))
                    .unwrap_or(live[0]);
                failures.extend(check_watchers(voter, revision, &watch_logs).await);
                let final_reads = probe.final_reads(&live, keys).await;
                if final_reads.len() < live.len() * keys {
                    failures.push(
                        "liveness: a member did not answer the final reads of every key".into(),
                    );
                }
                let voters = probe.voters_of(&live);
                let clock = world.clone();
                let now = move || clock.lock().expect("world").now_ms();
                let v2_logs = match v2probe::read_logs(&voters, now).await {
                    Ok(logs) => logs,
                    Err(error) => {
                        failures.push(format!("v2: {error}"));
                        Vec::new()
                    }
                };
                return Found {
                    failures,
                    final_reads,
                    v2_logs,
                };
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let named: Vec<String> = live.iter().map(|&s| format!("m{}", member_id(s))).collect();
    if agree(&last) {
        let lists: Vec<Option<String>> = lists
            .iter()
            .map(|list| list.as_ref().map(|l| names(l)))
            .collect();
        return Found::failed(vec![format!(
            "convergence: members {named:?} agree on their data, but their voters not on the member list {CONVERGENCE_MS}ms after a write committed: {lists:?}"
        )]);
    }
    Found::failed(vec![format!(
        "convergence: members {named:?} still disagree {CONVERGENCE_MS}ms after a write committed: (applied index, revision, hash) = {last:?}"
    )])
}

/// The liveness phase's client.
struct Probe {
    endpoint: Endpoint,
    world: Arc<Mutex<World>>,
    id: u64,
}

impl Probe {
    fn now(&self) -> u64 {
        self.world.lock().expect("world").now_ms()
    }

    fn note(&self, text: String) {
        self.world
            .lock()
            .expect("world")
            .record(None, EventKind::Note(text));
    }

    async fn ask(&mut self, slot: usize, request: ClientRequest) -> Option<ClientResponse> {
        self.id += 1;
        match client::call(&self.endpoint, client_address(slot), self.id, request).await {
            Some((_, Ok(response))) => Some(response),
            _ => None,
        }
    }

    /// Puts a key through the live members in turn until one commits it.
    async fn write_commits(&mut self, deadline_ms: u64) -> bool {
        let live = live_members(&self.world);
        while self.now() < deadline_ms {
            for &slot in &live {
                let put = ClientRequest::Put(PutRequest {
                    key: "liveness".into(),
                    value: "ok".into(),
                    ..PutRequest::default()
                });
                if let Some(ClientResponse::Put(_)) = self.ask(slot, put).await {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        false
    }

    /// Each member's (applied index, revision, KV hash), `None` where it did
    /// not answer.
    async fn kv_states(&mut self, live: &[usize]) -> Vec<Option<Converged>> {
        let mut states = Vec::new();
        for &slot in live {
            let status = self.ask(slot, ClientRequest::Status).await;
            if self.is_learner(slot) {
                states.push(match (status, self.all_keys(slot).await) {
                    (Some(ClientResponse::Status(status)), Some(range)) => {
                        Some((status.raft_applied_index, range.header.revision, None))
                    }
                    _ => None,
                });
                continue;
            }
            let hash = self.ask(slot, ClientRequest::HashKv { revision: 0 }).await;
            states.push(match (status, hash) {
                (Some(ClientResponse::Status(status)), Some(ClientResponse::HashKv(hash))) => {
                    Some((
                        status.raft_applied_index,
                        hash.current_revision,
                        Some(hash.hash),
                    ))
                }
                _ => None,
            });
        }
        states
    }

    fn voters_of(&self, live: &[usize]) -> Vec<usize> {
        live.iter()
            .copied()
            .filter(|&slot| !self.is_learner(slot))
            .collect()
    }

    fn is_learner(&self, slot: usize) -> bool {
        self.world.lock().expect("world").membership[slot] == Membership::Learner
    }

    /// Every key the member has, read locally (serializable).
    async fn all_keys(&mut self, slot: usize) -> Option<RangeResponse> {
        let range = ClientRequest::Range(RangeRequest {
            key: Bytes::from_static(b"\0"),
            range_end: Bytes::from_static(b"\0"),
            serializable: true,
            ..RangeRequest::default()
        });
        match self.ask(slot, range).await {
            Some(ClientResponse::Range(range)) => Some(range),
            _ => None,
        }
    }

    /// Each live member's value of each workload key, read locally, as reads
    /// for the history. Taken once the members agree on their applied
    /// index, after a write of the final leader's term committed: each
    /// member's state then holds every write acknowledged in the run, so a
    /// local read is as good as a linearizable one. One read per key keeps
    /// the checker's parts as small as the workload's own.
    async fn final_reads(&mut self, live: &[usize], keys: usize) -> Vec<Operation> {
        let mut reads = Vec::new();
        for &slot in live {
            let call_ms = self.now();
            let range = ClientRequest::Range(RangeRequest {
                key: Bytes::from(client::key(0)),
                range_end: Bytes::from_static(b"k:"),
                serializable: true,
                ..RangeRequest::default()
            });
            let Some(ClientResponse::Range(range)) = self.ask(slot, range).await else {
                continue;
            };
            let return_ms = self.now();
            for index in 0..keys {
                let key = client::key(index);
                let value = range
                    .kvs
                    .iter()
                    .find(|kv| kv.key == key.as_bytes())
                    .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
                reads.push(Operation {
                    id: (1 << 61) + (slot * 64 + index) as u64,
                    client: FINAL_READ_CLIENT + slot as u32,
                    call_ms,
                    return_ms: Some(return_ms),
                    input: Input::Get { key },
                    output: Some(Output::Get(value)),
                });
            }
        }
        reads
    }

    /// Every live learner has the keys of the first live voter.
    async fn learners_agree(&mut self, live: &[usize]) -> bool {
        let learners: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&s| self.is_learner(s))
            .collect();
        let Some(&voter) = live.iter().find(|&&s| !self.is_learner(s)) else {
            return learners.is_empty();
        };
        if learners.is_empty() {
            return true;
        }
        let Some(reference) = self.all_keys(voter).await else {
            return false;
        };
        for learner in learners {
            if self.all_keys(learner).await.map(|range| range.kvs) != Some(reference.kvs.clone()) {
                return false;
            }
        }
        true
    }

    /// The member list of each live voter (a learner does not serve one,
    /// as in etcd 3.4).
    async fn member_lists(&mut self, live: &[usize]) -> Vec<Option<Vec<MemberStatus>>> {
        let mut lists = Vec::new();
        for slot in self.voters_of(live) {
            lists.push(match self.ask(slot, ClientRequest::MemberList).await {
                Some(ClientResponse::MemberList(list)) => Some(list),
                _ => None,
            });
        }
        lists
    }

    /// While a change's fate is unknown, settles it from the member list of
    /// every live voter that answers (what a list shows is committed, so one
    /// list without a member on its way out shows it removed, even while
    /// that member, never told, still lists itself); returns whether the
    /// members changed.
    async fn settle_unsettled(
        &mut self,
        cluster: &Mutex<Cluster>,
        live: &[usize],
        last: bool,
    ) -> bool {
        let mut changed = false;
        for slot in self.voters_of(live) {
            let unsettled = self
                .world
                .lock()
                .expect("world")
                .membership
                .iter()
                .any(|m| matches!(m, Membership::Pending { .. } | Membership::Leaving));
            if !unsettled {
                break;
            }
            if let Some(ClientResponse::MemberList(list)) =
                self.ask(slot, ClientRequest::MemberList).await
            {
                changed |= self.settle(cluster, &list, last);
            }
        }
        changed
    }

    /// The list the live members agree on, at the end: settles every change
    /// still unknown. Returns whether the members changed.
    fn settle_last(&mut self, cluster: &Mutex<Cluster>, list: &[MemberStatus]) -> bool {
        self.settle(cluster, list, true)
    }

    fn settle(&mut self, cluster: &Mutex<Cluster>, list: &[MemberStatus], last: bool) -> bool {
        let (settled, added) = {
            let mut world = self.world.lock().expect("world");
            let settled = settle(&mut world, list, last);
            let added = added_after_all(&world, list);
            (settled, added)
        };
        let changed = !settled.is_empty() || !added.is_empty();
        for settled in settled {
            self.note(format!("liveness: {settled}"));
        }
        for (slot, learner) in added {
            self.note(format!(
                "liveness: m{} was added after all",
                member_id(slot)
            ));
            start_joining(cluster, &self.world, slot, learner);
        }
        if changed {
            // A member found removed may still run: stop it, as the operator
            // would.
            let removed: Vec<usize> = {
                let world = self.world.lock().expect("world");
                (0..MEMBER_SLOTS)
                    .filter(|&slot| world.membership[slot] == Membership::Removed)
                    .collect()
            };
            let mut cluster = cluster.lock().expect("cluster");
            let launched = cluster.launched();
            for slot in removed.into_iter().filter(|s| launched.contains(s)) {
                cluster.shut_down_removed(slot);
            }
        }
        changed
    }
}

/// The member list the live members agreed on must be the cluster the
/// operator made: every member it added and did not remove (running, or
/// refusing its storage), as a voter or learner as it left it; no member it
/// removed or that stopped as removed.
fn check_members(world: &World, list: &[MemberStatus]) -> Vec<String> {
    let mut failures = Vec::new();
    for member in list {
        let Some(slot) = slot_of(member.id) else {
            failures.push(format!(
                "members: m{} is listed, but was never added",
                member.id
            ));
            continue;
        };
        let expected = world.membership[slot];
        let as_listed = if member.is_learner {
            Membership::Learner
        } else {
            Membership::Voter
        };
        if expected != as_listed {
            let removed = matches!(world.exits[slot], Some(MemberExit::Removed));
            failures.push(format!(
                "members: m{} is listed as a {:?}, but the operator left it {expected:?}{}",
                member.id,
                as_listed,
                if removed {
                    " (it applied its own removal and stopped)"
                } else {
                    ""
                }
            ));
        }
    }
    for slot in world.members() {
        if !list.iter().any(|m| slot_of(m.id) == Some(slot)) {
            failures.push(format!(
                "members: m{} was added and never removed, but is not listed ({})",
                member_id(slot),
                names(list)
            ));
        }
    }
    failures
}

/// Every watcher saw a prefix of the history that the member in `slot`
/// replays.
async fn check_watchers(
    slot: usize,
    revision: i64,
    watch_logs: &[watcher::WatchLog],
) -> Vec<String> {
    match watcher::reference_history(client_address(slot), revision).await {
        None => vec![format!(
            "watch: m{} did not replay its history up to revision {revision}",
            member_id(slot)
        )],
        Some(reference) => match watcher::check_watchers(watch_logs, &reference) {
            Ok(()) => Vec::new(),
            Err(error) => vec![format!("watch: {error}")],
        },
    }
}
