//! What etcd's `/v2/stats/self` and `/v2/stats/leader` report of the Raft
//! traffic, measured by the driver on the messages it sends and receives:
//! append requests sent and received, the leader this member follows and
//! since when, and per follower the round trips of append requests (from
//! an append sent to a follower with none outstanding until its answer)
//! with the answers that succeeded and those that refused.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cairn_core::raft::{Message, MessageBody, NodeId};
use tokio::time::Instant;

/// Round trips to one follower, in milliseconds (etcd's `LatencyStats`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FollowerStats {
    pub current_ms: f64,
    pub average_ms: f64,
    pub stddev_ms: f64,
    pub minimum_ms: f64,
    pub maximum_ms: f64,
    /// Answers that accepted the entries, and those that refused them.
    pub success: u64,
    pub fail: u64,
    samples: u64,
    /// Welford's running sum of squared differences from the mean.
    m2: f64,
    outstanding: Option<Instant>,
}

impl FollowerStats {
    fn sample(&mut self, ms: f64) {
        self.samples += 1;
        self.current_ms = ms;
        if self.samples == 1 {
            self.minimum_ms = ms;
            self.maximum_ms = ms;
        } else {
            self.minimum_ms = self.minimum_ms.min(ms);
            self.maximum_ms = self.maximum_ms.max(ms);
        }
        let delta = ms - self.average_ms;
        self.average_ms += delta / self.samples as f64;
        self.m2 += delta * (ms - self.average_ms);
        self.stddev_ms = (self.m2 / self.samples as f64).sqrt();
    }
}

/// The counts at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RaftStatsView {
    pub append_sent: u64,
    pub append_received: u64,
    /// The leader this member last heard from (itself once it sends
    /// appends), and how long ago that began.
    pub leader: Option<(NodeId, std::time::Duration)>,
    pub followers: BTreeMap<NodeId, FollowerStats>,
}

#[derive(Debug, Default)]
struct Inner {
    append_sent: u64,
    append_received: u64,
    leader: Option<(NodeId, Instant)>,
    followers: BTreeMap<NodeId, FollowerStats>,
}

/// Shared by the driver (which counts) and its handles (which read).
#[derive(Clone, Debug, Default)]
pub struct RaftStats {
    inner: Arc<Mutex<Inner>>,
}

impl RaftStats {
    /// A message this member sends.
    pub fn sent(&self, message: &Message) {
        if let MessageBody::Append { .. } = message.body {
            let mut inner = self.inner.lock().expect("raft stats lock");
            inner.append_sent += 1;
            if inner.leader.map(|(id, _)| id) != Some(message.from) {
                inner.leader = Some((message.from, Instant::now()));
            }
            let follower = inner.followers.entry(message.to).or_default();
            follower.outstanding.get_or_insert_with(Instant::now);
        }
    }

    /// The member learned who leads (`0`: nobody).
    pub fn leader_known(&self, leader: NodeId) {
        let mut inner = self.inner.lock().expect("raft stats lock");
        if leader != 0 && inner.leader.map(|(id, _)| id) != Some(leader) {
            inner.leader = Some((leader, Instant::now()));
            inner.followers.clear();
        }
    }

    /// A message this member receives.
    pub fn received(&self, message: &Message) {
        match &message.body {
            MessageBody::Append { .. } => {
                let mut inner = self.inner.lock().expect("raft stats lock");
                inner.append_received += 1;
                if inner.leader.map(|(id, _)| id) != Some(message.from) {
                    inner.leader = Some((message.from, Instant::now()));
                    inner.followers.clear();
                }
            }
            MessageBody::AppendResponse { reject, .. } => {
                let mut inner = self.inner.lock().expect("raft stats lock");
                let follower = inner.followers.entry(message.from).or_default();
                if reject.is_some() {
                    follower.fail += 1;
                } else {
                    follower.success += 1;
                }
                if let Some(sent) = follower.outstanding.take() {
                    follower.sample(sent.elapsed().as_secs_f64() * 1000.0);
                }
            }
            _ => {}
        }
    }

    pub fn view(&self) -> RaftStatsView {
        let inner = self.inner.lock().expect("raft stats lock");
        RaftStatsView {
            append_sent: inner.append_sent,
            append_received: inner.append_received,
            leader: inner.leader.map(|(id, since)| (id, since.elapsed())),
            followers: inner.followers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_are_summarised_as_etcd_does() {
        let mut stats = FollowerStats::default();
        for ms in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            stats.sample(ms);
        }
        assert_eq!(stats.current_ms, 9.0);
        assert_eq!(stats.minimum_ms, 2.0);
        assert_eq!(stats.maximum_ms, 9.0);
        assert!((stats.average_ms - 5.0).abs() < 1e-9);
        assert!((stats.stddev_ms - 2.0).abs() < 1e-9);
    }
}
