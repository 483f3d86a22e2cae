//! Lease holders: each grants a lease, attaches its key (`rl/<holder>`) to
//! it and keeps it alive through a LeaseKeepAlive stream about once a
//! second, against whichever member answers, asking LeaseTimeToLive now and
//! then too. After a seeded number of renewals, and when the cluster is
//! healed, a holder abandons its lease and asks TimeToLive until it is gone,
//! so that expiries (and the deletes of the attached keys, which the
//! watchers see) happen too; then, before healing, it grants another.
//!
//! Safety, checked all along (the simulator's lease holders make the same
//! check): a lease renewed by a keep-alive called at `t` lives until at
//! least `t + TTL`, as the leader renews no earlier than the call. So a
//! lease reported gone (keep-alive TTL 0, TimeToLive TTL -1) by an answer
//! that returned before the last successful keep-alive's call + TTL was
//! revoked too early. A lease that no keep-alive reached for a whole TTL (a
//! long leader isolation, say) may expire; that is not flagged.
//!
//! Liveness, checked at the end: the lease each holder abandons once the
//! cluster is healed is gone before the workload stops (the recovery phase
//! lasts longer than a TTL). Under faults, each new leader extends every
//! lease (as etcd's does), so an abandoned lease may outlive the phase.

use std::time::Duration;

use cairn_proto::etcdserverpb as pb;
use cairn_sim_tests::checker::generate::SplitMix64;
use pb::lease_client::LeaseClient;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use super::{connect, stopped, Clock, Stop};

/// Renewal period, and the random part added to it.
const KEEPALIVE_EVERY_MS: u64 = 900;
const KEEPALIVE_JITTER_MS: u64 = 200;
/// Every this many renewals, a TimeToLive query as well.
const TIME_TO_LIVE_EVERY: u32 = 3;
/// How long one keep-alive answer or unary call may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// Slack for the millisecond clock's rounding; the bug being looked for
/// shows up seconds early.
pub const EXPIRY_ALLOWANCE_MS: u64 = 100;
/// Leases one holder grants at most, and rounds one lease lives at most
/// (the stop signal comes first).
const GRANTS_MAX: u32 = 1_000;
const ROUNDS_MAX: u32 = 10_000;
/// Renewals before a lease is abandoned under faults: at least, and the
/// random part.
const RENEWALS_MIN: u32 = 10;
const RENEWALS_RANDOM: u64 = 20;
/// Under faults, an abandoned lease is watched this much longer than its
/// TTL, then left to itself.
const ABANDONED_WATCH_MS: u64 = 8_000;
/// Pause between TimeToLive queries on an abandoned lease.
const ABANDONED_POLL: Duration = Duration::from_millis(500);

/// What one lease holder did and found.
#[derive(Debug, Default)]
pub struct LeaseLog {
    pub holder: usize,
    pub grants: u32,
    pub keepalives: u32,
    pub time_to_live_queries: u32,
    /// Leases found gone, whether abandoned or not.
    pub expiries: u32,
    /// Leases abandoned, and of them those seen gone.
    pub abandoned: u32,
    pub abandoned_gone: u32,
    /// Whether the lease abandoned after healing was seen gone (`None`: the
    /// holder held none then).
    pub healed_lease_gone: Option<bool>,
    /// Leases found gone too early.
    pub problems: Vec<String>,
    /// What happened to each lease, with times, to explain a problem.
    pub notes: Vec<String>,
}

/// A granted lease.
#[derive(Debug, Clone, Copy)]
struct Lease {
    id: i64,
    /// The TTL the leader granted (it may round the one asked for up).
    ttl_secs: i64,
    /// When the grant was called: the TTL runs from its apply, no earlier.
    granted_ms: u64,
}

impl Lease {
    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl_secs).unwrap_or(0) * 1_000
    }
}

/// Signals a lease holder follows.
#[derive(Debug, Clone)]
pub struct Phases {
    /// The faults are over: abandon the lease, grant no more.
    pub healed: Stop,
    /// Return.
    pub stop: Stop,
}

/// One lease holder's state.
struct Holder {
    log: LeaseLog,
    endpoints: Vec<String>,
    rng: SplitMix64,
    clock: Clock,
    phases: Phases,
}

/// Runs one lease holder until `phases.stop`.
pub async fn run_lease_holder(
    holder: usize,
    endpoints: Vec<String>,
    ttl_secs: i64,
    seed: u64,
    clock: Clock,
    phases: Phases,
) -> LeaseLog {
    let mut holder = Holder {
        log: LeaseLog {
            holder,
            ..LeaseLog::default()
        },
        endpoints,
        rng: SplitMix64(seed),
        clock,
        phases,
    };
    for _ in 0..GRANTS_MAX {
        if stopped(&holder.phases.healed) {
            break;
        }
        let Some(lease) = holder.grant(ttl_secs).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let renewals = RENEWALS_MIN + holder.rng.below(RENEWALS_RANDOM + 1) as u32;
        let Some(renewed_ms) = holder.keep_alive(lease, renewals).await else {
            continue;
        };
        let healed = stopped(&holder.phases.healed);
        let gone = holder.abandon(lease, renewed_ms).await;
        if healed || stopped(&holder.phases.healed) {
            holder.log.healed_lease_gone = Some(gone);
            break;
        }
    }
    holder.log
}

impl Holder {
    fn member(&mut self) -> usize {
        self.rng.below(self.endpoints.len() as u64) as usize
    }

    fn note(&mut self, note: String) {
        let now_ms = self.clock.now_ms();
        self.log.notes.push(format!("{now_ms}ms: {note}"));
    }

    /// Grants a lease and attaches the holder's key to it (best effort).
    async fn grant(&mut self, ttl_secs: i64) -> Option<Lease> {
        let member = self.member();
        let channel = connect(&self.endpoints[member], Some(ANSWER_TIMEOUT)).await?;
        let granted_ms = self.clock.now_ms();
        let request = pb::LeaseGrantRequest {
            ttl: ttl_secs,
            id: 0,
        };
        let response = LeaseClient::new(channel.clone())
            .lease_grant(request)
            .await
            .ok()?
            .into_inner();
        let lease = Lease {
            id: response.id,
            ttl_secs: response.ttl,
            granted_ms,
        };
        self.log.grants += 1;
        self.note(format!(
            "lease {:x} granted through m{} (TTL {}s, called {granted_ms}ms)",
            lease.id,
            member + 1,
            lease.ttl_secs
        ));
        let put = pb::PutRequest {
            key: format!("rl/{}", self.log.holder).into_bytes().into(),
            value: format!("{:x}", lease.id).into_bytes().into(),
            lease: lease.id,
            ..Default::default()
        };
        let _ = pb::kv_client::KvClient::new(channel).put(put).await;
        Some(lease)
    }

    /// Keeps `lease` alive until `renewals` succeeded or the cluster is
    /// healed (then returns the last renewal's call time), or until it is
    /// found gone or `stop` (then `None`).
    async fn keep_alive(&mut self, lease: Lease, renewals: u32) -> Option<u64> {
        let mut renewed_ms = lease.granted_ms;
        let mut renewed = 0;
        let mut stream: Option<KeepAliveStream> = None;
        for round in 1..=ROUNDS_MAX {
            if renewed >= renewals || stopped(&self.phases.healed) {
                return Some(renewed_ms);
            }
            let pause_ms = KEEPALIVE_EVERY_MS + self.rng.below(KEEPALIVE_JITTER_MS + 1);
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            if stopped(&self.phases.stop) {
                return None;
            }
            let member = self.member();
            if stream.is_none() {
                stream = KeepAliveStream::open(&self.endpoints[member]).await;
            }
            if let Some(open) = &mut stream {
                let call_ms = self.clock.now_ms();
                match open.keep_alive(lease.id).await {
                    Some(ttl) if ttl > 0 => {
                        self.log.keepalives += 1;
                        renewed += 1;
                        renewed_ms = call_ms;
                    }
                    Some(_) => {
                        self.found_gone(lease, renewed_ms, "a keep-alive answered TTL 0");
                        return None;
                    }
                    // Broken or silent: another member next round.
                    None => stream = None,
                }
            }
            if round % TIME_TO_LIVE_EVERY == 0 {
                self.log.time_to_live_queries += 1;
                if time_to_live(&self.endpoints[member], lease.id).await == Ok(-1) {
                    self.found_gone(lease, renewed_ms, "TimeToLive answered TTL -1");
                    return None;
                }
            }
        }
        None
    }

    /// Stops renewing `lease` and asks TimeToLive until it is gone (checked
    /// like any other finding), or `stop`, or, before healing, a while
    /// after its TTL. Whether it was seen gone.
    async fn abandon(&mut self, lease: Lease, renewed_ms: u64) -> bool {
        self.log.abandoned += 1;
        self.note(format!("lease {:x} abandoned", lease.id));
        let give_up_ms = renewed_ms + lease.ttl_ms() + ABANDONED_WATCH_MS;
        for _ in 0..ROUNDS_MAX {
            let given_up = self.clock.now_ms() > give_up_ms && !stopped(&self.phases.healed);
            if given_up || stopped(&self.phases.stop) {
                break;
            }
            tokio::time::sleep(ABANDONED_POLL).await;
            let member = self.member();
            self.log.time_to_live_queries += 1;
            if time_to_live(&self.endpoints[member], lease.id).await == Ok(-1) {
                self.log.abandoned_gone += 1;
                self.found_gone(lease, renewed_ms, "TimeToLive answered TTL -1 (abandoned)");
                return true;
            }
        }
        self.note(format!("lease {:x} not seen gone", lease.id));
        false
    }

    fn found_gone(&mut self, lease: Lease, renewed_ms: u64, how: &str) {
        self.log.expiries += 1;
        let found_ms = self.clock.now_ms();
        let earliest_ms = renewed_ms + lease.ttl_ms();
        self.note(format!(
            "lease {:x}: {how}; last renewal called {renewed_ms}ms, so it may expire from {earliest_ms}ms",
            lease.id
        ));
        if found_ms + EXPIRY_ALLOWANCE_MS < earliest_ms {
            self.log.problems.push(format!(
                "holder {}: lease {:x} was gone at {found_ms}ms ({how}), though a keep-alive called at {renewed_ms}ms renewed it with a TTL of {}s: not before {earliest_ms}ms",
                self.log.holder, lease.id, lease.ttl_secs
            ));
        }
    }
}

/// The lease's remaining TTL as a TimeToLive query answers it (-1: gone).
async fn time_to_live(endpoint: &str, id: i64) -> Result<i64, String> {
    let channel = connect(endpoint, Some(ANSWER_TIMEOUT))
        .await
        .ok_or("no connection")?;
    let request = pb::LeaseTimeToLiveRequest { id, keys: false };
    let response = LeaseClient::new(channel)
        .lease_time_to_live(request)
        .await
        .map_err(|status| status.message().to_string())?;
    Ok(response.into_inner().ttl)
}

/// One LeaseKeepAlive stream to one member.
#[derive(Debug)]
struct KeepAliveStream {
    requests: mpsc::Sender<pb::LeaseKeepAliveRequest>,
    responses: tonic::Streaming<pb::LeaseKeepAliveResponse>,
}

impl KeepAliveStream {
    async fn open(endpoint: &str) -> Option<KeepAliveStream> {
        let channel: Channel = connect(endpoint, None).await?;
        let (requests, queue) = mpsc::channel(4);
        let stream = tokio_stream::wrappers::ReceiverStream::new(queue);
        let mut client = LeaseClient::new(channel);
        let responses = tokio::time::timeout(ANSWER_TIMEOUT, client.lease_keep_alive(stream))
            .await
            .ok()?
            .ok()?
            .into_inner();
        Some(KeepAliveStream {
            requests,
            responses,
        })
    }

    /// One renewal: the TTL answered, or `None` if the stream failed or
    /// stayed silent (then it must not be used again: a late answer would
    /// be taken for the next one's).
    async fn keep_alive(&mut self, id: i64) -> Option<i64> {
        let request = pb::LeaseKeepAliveRequest { id };
        self.requests.try_send(request).ok()?;
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, self.responses.message()).await;
        let response = answer.ok()?.ok()??;
        assert_eq!(response.id, id, "a keep-alive answered for another lease");
        Some(response.ttl)
    }
}
