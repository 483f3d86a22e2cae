//! The operator: carries out the schedule's membership changes and
//! leadership moves as a person with etcdctl would, through the leader, one
//! at a time, while the other faults go on.
//!
//! * A change is planned against the cluster as the operator knows it when
//!   the change comes due, so that the voters stay between
//!   [`VOTERS_MIN`] and [`VOTERS_MAX`], counting for the minimum only
//!   voters that can run (a member refusing its corrupt storage never will):
//!   a voter is removed from three only after a new one was added (etcd's
//!   advice: add first), and a down voter of three is replaced learner first
//!   (add a learner, promote it, remove the down one), since etcd refuses to
//!   add a voter while one is unreachable.
//! * Each step asks the member the operator believes leads, and retries
//!   (another leader, a refusal of etcd's checks that may pass later) until
//!   the change's deadline. An answer that may hide a change that took
//!   effect (a timeout, a lost answer, "leader changed") makes a later
//!   "member exists" / "member not found" mean success; a change whose fate
//!   stays unknown is settled later from a member list
//!   ([`Operator::reconcile`]), as the liveness phase does at the end.
//! * A member added is started right after its addition is acknowledged,
//!   on an empty data dir, and joins. A member removed is never started
//!   again; it should stop by itself when it applies its own removal.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::member::{ClientError, ClientRequest, ClientResponse, MemberChange, MemberStatus};
use cairn_runtime_sim::node::MemberExit;
use madsim::net::Endpoint;
use tokio::sync::mpsc;

use super::client::call;
use super::faults::Cluster;
use super::members::{
    client_address, member_id, member_info, slot_of, Membership, MEMBER_SLOTS, VOTERS_MAX,
    VOTERS_MIN,
};
use super::World;
use crate::scenario::Fault;
use crate::trace::EventKind;

/// How long one membership change (all its steps) may take.
const CHANGE_MS_MAX: u64 = 12_000;
/// Pause before asking again after "not leader", "no leader" or no answer.
const RETRY_MS: u64 = 300;
/// Pause before asking again after a refusal by etcd's checks (unhealthy,
/// not enough started members, learner not ready).
const RETRY_REFUSED_MS: u64 = 500;

/// One request the operator makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Add { slot: usize, learner: bool },
    Promote { slot: usize },
    Remove { slot: usize },
    MoveLeader { slot: usize },
}

impl Step {
    fn request(self) -> ClientRequest {
        match self {
            Step::Add { slot, learner } => ClientRequest::ChangeMember(MemberChange::Add {
                id: member_id(slot),
                peer_urls: member_info(slot).peer_urls,
                learner,
            }),
            Step::Promote { slot } => ClientRequest::ChangeMember(MemberChange::Promote {
                id: member_id(slot),
            }),
            Step::Remove { slot } => ClientRequest::ChangeMember(MemberChange::Remove {
                id: member_id(slot),
            }),
            Step::MoveLeader { slot } => ClientRequest::MoveLeader {
                target: member_id(slot),
            },
        }
    }

    fn describe(self) -> String {
        match self {
            Step::Add { slot, learner } => format!(
                "add m{} as a {}",
                member_id(slot),
                if learner { "learner" } else { "voter" }
            ),
            Step::Promote { slot } => format!("promote m{}", member_id(slot)),
            Step::Remove { slot } => format!("remove m{}", member_id(slot)),
            Step::MoveLeader { slot } => format!("move leadership to m{}", member_id(slot)),
        }
    }
}

/// What an answer means for a step.
enum Verdict {
    Done,
    /// Ask again after this long.
    Retry {
        after_ms: u64,
    },
    /// The step cannot succeed: give up the change.
    Failed,
}

/// Whether `error` may hide a change that took effect: everything except
/// refusals that come before anything is appended.
fn may_have_taken_effect(error: &ClientError) -> bool {
    !matches!(
        error,
        ClientError::NotLeader
            | ClientError::NoLeader
            | ClientError::Unhealthy
            | ClientError::NotEnoughStarted
            | ClientError::TooManyLearners
            | ClientError::LearnerNotReady
            | ClientError::MemberExists
            | ClientError::PeerUrlExists
            | ClientError::MemberNotFound
            | ClientError::MemberNotLearner
            | ClientError::BadLeaderTransferee
    )
}

fn verdict(step: Step, answer: &Result<ClientResponse, ClientError>, uncertain: bool) -> Verdict {
    match (step, answer) {
        (Step::MoveLeader { .. }, Ok(ClientResponse::LeaderMoved)) => Verdict::Done,
        (Step::MoveLeader { .. }, Err(ClientError::NotLeader | ClientError::NoLeader)) => {
            Verdict::Retry { after_ms: RETRY_MS }
        }
        // A move that timed out or went elsewhere is not asked again.
        (Step::MoveLeader { .. }, _) => Verdict::Failed,
        (_, Ok(ClientResponse::MemberChanged(_))) => Verdict::Done,
        // An earlier attempt took effect after all.
        (Step::Add { .. }, Err(ClientError::MemberExists))
        | (Step::Remove { .. }, Err(ClientError::MemberNotFound))
        | (Step::Promote { .. }, Err(ClientError::MemberNotLearner))
            if uncertain =>
        {
            Verdict::Done
        }
        (
            _,
            Err(
                ClientError::Unhealthy
                | ClientError::NotEnoughStarted
                | ClientError::TooManyLearners
                | ClientError::LearnerNotReady,
            ),
        ) => Verdict::Retry {
            after_ms: RETRY_REFUSED_MS,
        },
        (_, Err(error)) if !may_have_taken_effect(error) && !is_not_leader(error) => {
            Verdict::Failed
        }
        _ => Verdict::Retry { after_ms: RETRY_MS },
    }
}

fn is_not_leader(error: &ClientError) -> bool {
    matches!(error, ClientError::NotLeader | ClientError::NoLeader)
}

/// Runs the operator until the schedule is over (`changes` closed).
/// `initial_members` slots are taken by the initial cluster.
pub async fn run(
    cluster: Arc<Mutex<Cluster>>,
    world: Arc<Mutex<World>>,
    mut changes: mpsc::UnboundedReceiver<Fault>,
    initial_members: usize,
) {
    let endpoint = Endpoint::bind("0.0.0.0:0")
        .await
        .expect("bind the operator");
    let mut operator = Operator {
        cluster,
        world,
        endpoint,
        next_slot: initial_members,
        next_request: 1 << 56,
    };
    while let Some(change) = changes.recv().await {
        operator.carry_out(&change).await;
        operator.world().operator_busy = false;
    }
}

/// The operator's state between changes.
pub struct Operator {
    cluster: Arc<Mutex<Cluster>>,
    world: Arc<Mutex<World>>,
    endpoint: Endpoint,
    /// The next slot a new member gets (slots are never reused).
    next_slot: usize,
    next_request: u64,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("next_slot", &self.next_slot)
            .finish()
    }
}

/// The cluster as the operator sees it when a change comes due.
struct View {
    voters: Vec<usize>,
    learners: Vec<usize>,
    leader: Option<usize>,
    /// Members not running (killed, refusing their storage, stopped).
    out: Vec<usize>,
    /// Members that will never run again (they refuse their storage).
    broken: Vec<usize>,
}

impl View {
    /// Voters other than `except` that can run (down for a while maybe, but
    /// not broken for good): what the cluster's fault tolerance rests on.
    fn runnable_voters_except(&self, except: usize) -> usize {
        self.voters
            .iter()
            .filter(|&&voter| voter != except && !self.broken.contains(&voter))
            .count()
    }
}

impl Operator {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("world")
    }

    fn now_ms(&self) -> u64 {
        self.world().now_ms()
    }

    fn note(&self, text: String) {
        self.world().record(None, EventKind::Note(text));
    }

    async fn ask(&mut self, to: SocketAddr, request: ClientRequest) -> Option<ClientResponse> {
        self.next_request += 1;
        match call(&self.endpoint, to, self.next_request, request).await {
            Some((_, Ok(response))) => Some(response),
            _ => None,
        }
    }

    fn view(&self) -> View {
        let world = self.world();
        let members = world.members();
        View {
            voters: world.voters(),
            learners: world.learners(),
            leader: world.leader().filter(|l| members.contains(l)),
            out: members
                .iter()
                .copied()
                .filter(|&slot| world.is_out(slot))
                .collect(),
            broken: members
                .into_iter()
                .filter(|&slot| matches!(world.exits[slot], Some(MemberExit::Refused(_))))
                .collect(),
        }
    }

    fn new_slot(&mut self) -> Result<usize, String> {
        if self.next_slot >= MEMBER_SLOTS {
            return Err(format!("all {MEMBER_SLOTS} member slots used"));
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// The steps `change` takes in the cluster `view`, or why it is skipped.
    fn plan(&mut self, change: &Fault, view: &View) -> Result<Vec<Step>, String> {
        let pick =
            |candidates: &[usize], pick: u64| candidates[(pick % candidates.len() as u64) as usize];
        let leader = || view.leader.ok_or_else(|| "no leader known".to_string());
        match *change {
            Fault::AddMember { learner: false } => {
                if view.voters.len() >= VOTERS_MAX {
                    return Err(format!("{VOTERS_MAX} voters already"));
                }
                Ok(vec![Step::Add {
                    slot: self.new_slot()?,
                    learner: false,
                }])
            }
            Fault::AddMember { learner: true } => {
                if !view.learners.is_empty() {
                    return Err("there is a learner already".into());
                }
                Ok(vec![Step::Add {
                    slot: self.new_slot()?,
                    learner: true,
                }])
            }
            Fault::PromoteLearner => match view.learners.first() {
                None => Err("no learner".into()),
                Some(_) if view.voters.len() >= VOTERS_MAX => {
                    Err(format!("{VOTERS_MAX} voters already"))
                }
                Some(&slot) => Ok(vec![Step::Promote { slot }]),
            },
            Fault::RemoveFollower { pick: n } => {
                let candidates: Vec<usize> = view
                    .voters
                    .iter()
                    .chain(&view.learners)
                    .copied()
                    .filter(|&slot| Some(slot) != view.leader)
                    .collect();
                if candidates.is_empty() {
                    return Err("no follower".into());
                }
                self.remove_plan(pick(&candidates, n), view)
            }
            Fault::RemoveLeader => {
                let leader = leader()?;
                self.remove_plan(leader, view)
            }
            Fault::ReplaceDown { pick: n } => {
                if view.out.is_empty() {
                    return Err("no member is down".into());
                }
                self.replace_plan(pick(&view.out, n), view)
            }
            Fault::MoveLeader { pick: n } => {
                let leader = leader()?;
                let candidates: Vec<usize> = view
                    .voters
                    .iter()
                    .copied()
                    .filter(|&slot| slot != leader && !view.out.contains(&slot))
                    .collect();
                if candidates.is_empty() {
                    return Err("no other voter is up".into());
                }
                Ok(vec![Step::MoveLeader {
                    slot: pick(&candidates, n),
                }])
            }
            _ => unreachable!("not a membership change: {change:?}"),
        }
    }

    /// Removes `slot`; a voter whose removal would leave fewer than
    /// [`VOTERS_MIN`] voters that can run is replaced by a new voter added
    /// first. (A voter broken for good counts as a voter for etcd's checks
    /// but not for fault tolerance: removing a healthy member next to it
    /// leaves a cluster that a power loss before the removal's commit is
    /// durable can leave without a quorum of its old configuration; seed
    /// 19975.)
    fn remove_plan(&mut self, slot: usize, view: &View) -> Result<Vec<Step>, String> {
        if view.voters.contains(&slot) && view.runnable_voters_except(slot) < VOTERS_MIN {
            return Ok(vec![
                Step::Add {
                    slot: self.new_slot()?,
                    learner: false,
                },
                Step::Remove { slot },
            ]);
        }
        Ok(vec![Step::Remove { slot }])
    }

    /// Removes the down member `slot` and replaces it: by a voter added
    /// after the removal if [`VOTERS_MIN`] voters that can run remain,
    /// otherwise learner first (a voter cannot be added while one is
    /// unreachable).
    fn replace_plan(&mut self, slot: usize, view: &View) -> Result<Vec<Step>, String> {
        if !view.voters.contains(&slot) {
            return Ok(vec![Step::Remove { slot }]);
        }
        if view.runnable_voters_except(slot) >= VOTERS_MIN {
            return Ok(vec![
                Step::Remove { slot },
                Step::Add {
                    slot: self.new_slot()?,
                    learner: false,
                },
            ]);
        }
        let mut steps = Vec::new();
        let learner = match view.learners.first() {
            Some(&learner) => learner,
            None => {
                let learner = self.new_slot()?;
                steps.push(Step::Add {
                    slot: learner,
                    learner: true,
                });
                learner
            }
        };
        steps.push(Step::Promote { slot: learner });
        steps.push(Step::Remove { slot });
        Ok(steps)
    }

    async fn carry_out(&mut self, change: &Fault) {
        self.reconcile().await;
        let view = self.view();
        let steps = match self.plan(change, &view) {
            Ok(steps) => steps,
            Err(why) => {
                self.note(format!("{}: skipped, {why}", change.kind()));
                return;
            }
        };
        let started_ms = self.now_ms();
        let plan: Vec<String> = steps.iter().map(|step| step.describe()).collect();
        self.world().record(
            None,
            EventKind::Fault {
                kind: change.kind(),
                description: plan.join(", then "),
                until_ms: None,
            },
        );
        let deadline_ms = started_ms + CHANGE_MS_MAX;
        for step in steps {
            if !self.carry_out_step(step, deadline_ms).await {
                return;
            }
        }
    }

    /// Asks the leader for `step` until it is done or `deadline_ms`;
    /// returns whether it was done.
    async fn carry_out_step(&mut self, step: Step, deadline_ms: u64) -> bool {
        let mut uncertain = false;
        let mut attempts = 0u32;
        let mut last = String::from("no leader known");
        while self.now_ms() < deadline_ms {
            let Some(leader) = self.world().leader() else {
                tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
                continue;
            };
            attempts += 1;
            self.next_request += 1;
            let reply = call(
                &self.endpoint,
                client_address(leader),
                self.next_request,
                step.request(),
            )
            .await;
            let answer = match reply {
                Some((_, answer)) => answer,
                None => Err(ClientError::Timeout),
            };
            let verdict = verdict(step, &answer, uncertain);
            if let Err(error) = &answer {
                uncertain |= may_have_taken_effect(error);
                last = format!("m{}: {error}", member_id(leader));
            }
            match verdict {
                Verdict::Done => {
                    self.done(step, answer.ok());
                    return true;
                }
                Verdict::Retry { after_ms } => {
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                }
                Verdict::Failed => break,
            }
        }
        self.note(format!(
            "operator: gave up to {} after {attempts} attempts ({last})",
            step.describe()
        ));
        if uncertain {
            self.uncertain(step);
        }
        false
    }

    /// Records what an acknowledged step did, and starts a member added.
    fn done(&mut self, step: Step, answer: Option<ClientResponse>) {
        let listed = match &answer {
            Some(ClientResponse::MemberChanged(list)) => format!(" (members {})", names(list)),
            _ => String::new(),
        };
        self.note(format!("operator: {}: done{listed}", step.describe()));
        match step {
            Step::Add { slot, learner } => self.start_joining(slot, learner),
            Step::Promote { slot } => {
                self.world().membership[slot] = Membership::Voter;
            }
            Step::Remove { slot } => {
                self.world().membership[slot] = Membership::Removed;
            }
            Step::MoveLeader { .. } => {}
        }
    }

    /// A step whose fate is unknown: settled by a later member list.
    fn uncertain(&mut self, step: Step) {
        let mut world = self.world();
        match step {
            Step::Add { slot, learner } => {
                world.membership[slot] = Membership::Pending { learner };
            }
            Step::Remove { slot } if world.membership[slot].is_member() => {
                world.membership[slot] = Membership::Leaving;
            }
            _ => {}
        }
    }

    fn start_joining(&mut self, slot: usize, learner: bool) {
        start_joining(&self.cluster, &self.world, slot, learner);
    }

    /// Settles changes whose fate was unknown from the leader's member list.
    pub async fn reconcile(&mut self) {
        let unsettled = self
            .world()
            .membership
            .iter()
            .any(|m| matches!(m, Membership::Pending { .. } | Membership::Leaving));
        let leader = self.world().leader();
        let (true, Some(leader)) = (unsettled, leader) else {
            return;
        };
        let Some(ClientResponse::MemberList(list)) = self
            .ask(client_address(leader), ClientRequest::MemberList)
            .await
        else {
            return;
        };
        let settled = settle(&mut self.world(), &list, false);
        for settled in settled {
            self.note(format!("operator: {settled}"));
        }
        let pending = added_after_all(&self.world(), &list);
        for (slot, learner) in pending {
            self.note(format!(
                "operator: m{} was added after all",
                member_id(slot)
            ));
            self.start_joining(slot, learner);
        }
    }
}

/// Settles what a member list shows. A list is applied, hence committed,
/// state: a member on its way out that is not listed was removed, and a
/// learner listed as a voter was promoted. With `last` (the list the
/// members converged on at the end, when nothing can commit any more) a
/// member on its way out that is listed stays, and one pending addition
/// that is not listed was never added. Returns what changed, in words.
/// Members pending addition that are listed are left to the caller (they
/// must be started).
pub fn settle(world: &mut World, list: &[MemberStatus], last: bool) -> Vec<String> {
    let mut changed = Vec::new();
    for slot in 0..MEMBER_SLOTS {
        let listed = list.iter().find(|m| slot_of(m.id) == Some(slot));
        let as_listed = |m: &MemberStatus| {
            if m.is_learner {
                Membership::Learner
            } else {
                Membership::Voter
            }
        };
        let now = match (world.membership[slot], listed) {
            (Membership::Leaving, None) => Membership::Removed,
            (Membership::Leaving, Some(m)) if last => as_listed(m),
            // A promotion whose answer was lost; at the end, whatever the
            // list says (a lagging list may not show a promotion yet).
            (Membership::Learner, Some(m)) if !m.is_learner => Membership::Voter,
            (Membership::Voter | Membership::Learner, Some(m)) if last => as_listed(m),
            (Membership::Pending { .. }, None) if last => Membership::Unused,
            (other, _) => other,
        };
        if now != world.membership[slot] {
            changed.push(format!(
                "m{} is {now:?} (was {:?})",
                member_id(slot),
                world.membership[slot]
            ));
            world.membership[slot] = now;
        }
    }
    changed
}

/// Slots pending addition that `list` shows: they were added, and must be
/// started.
pub fn added_after_all(world: &World, list: &[MemberStatus]) -> Vec<(usize, bool)> {
    (0..MEMBER_SLOTS)
        .filter_map(|slot| match world.membership[slot] {
            Membership::Pending { learner } => Some((slot, learner)),
            _ => None,
        })
        .filter(|(slot, _)| list.iter().any(|m| slot_of(m.id) == Some(*slot)))
        .collect()
}

/// Starts the member just added to the cluster: on an empty data dir, it
/// joins, knowing the members it was added to (etcd's `--initial-cluster`
/// as `member add` prints it).
pub fn start_joining(cluster: &Mutex<Cluster>, world: &Mutex<World>, slot: usize, learner: bool) {
    let peers = world
        .lock()
        .expect("world")
        .members()
        .into_iter()
        .chain([slot])
        .map(|s| (member_id(s), member_info(s)))
        .collect();
    let membership = if learner {
        Membership::Learner
    } else {
        Membership::Voter
    };
    cluster
        .lock()
        .expect("cluster")
        .launch(slot, peers, true, membership);
}

/// `m1 m2 m4(learner)`.
pub fn names(list: &[MemberStatus]) -> String {
    list.iter()
        .map(|m| {
            if m.is_learner {
                format!("m{}(learner)", m.id)
            } else {
                format!("m{}", m.id)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
