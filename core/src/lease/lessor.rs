//! The lessor: leases, their attached keys and their expiry queue.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::{
    LeaseError, LeaseId, EXPIRED_LEASE_RETRY_MS, LEASE_REVOKE_RATE_PER_SEC, MAX_LEASE_TTL_SECS,
    NO_LEASE,
};
use crate::time::Instant;

/// Lessor parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LessorConfig {
    /// Grants with a smaller TTL get this one.
    pub min_ttl_secs: i64,
}

impl LessorConfig {
    /// etcd's rule: the minimum TTL is 1.5 × the election timeout, rounded up to
    /// whole seconds (so a lease outlives a leader election). 1000 ms → 2 s.
    pub fn from_election_timeout_ms(election_timeout_ms: u64) -> LessorConfig {
        let min_ttl_ms = election_timeout_ms.saturating_mul(3) / 2;
        LessorConfig {
            min_ttl_secs: min_ttl_ms.div_ceil(1000) as i64,
        }
    }
}

/// One lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: LeaseId,
    /// The granted TTL after the minimum-TTL rule.
    pub ttl_secs: i64,
    /// When it expires; `None` while this lessor is not primary ("forever").
    expiry: Option<Instant>,
    /// When the expiry queue next looks at it (its key in `Lessor::queue`).
    check_at: Option<Instant>,
    /// This primary has proposed revoking it (it expired). Until the
    /// revocation applies or this lessor is demoted, the lease is never
    /// renewed again, not even by a stall's extension: a keep-alive answered
    /// now would be undone by the revocation already in the log.
    revoking: bool,
    keys: BTreeSet<Bytes>,
}

impl Lease {
    /// Milliseconds until expiry at `now` (0 if past or being revoked);
    /// `None` means never.
    pub fn remaining_ms(&self, now: Instant) -> Option<u64> {
        if self.revoking {
            return Some(0);
        }
        self.expiry.map(|expiry| expiry.millis_since(now))
    }

    /// Whether this primary proposed revoking it and the revocation has not
    /// applied yet.
    pub fn is_revoking(&self) -> bool {
        self.revoking
    }

    /// The attached keys, in key order.
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> {
        self.keys.iter()
    }
}

/// What a snapshot keeps of a lease (etcd persists id and TTL; expiry restarts on
/// promotion and attached keys are rebuilt from the key-value store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    pub id: LeaseId,
    pub ttl_secs: i64,
}

/// The answer to LeaseTimeToLive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeToLive {
    pub id: LeaseId,
    /// Remaining seconds, truncated as etcd does; while not primary etcd reports
    /// `Duration::MAX` in seconds (9223372036).
    pub remaining_secs: i64,
    pub granted_ttl_secs: i64,
    pub keys: Vec<Bytes>,
}

/// Remaining TTL etcd reports for a lease that never expires.
const FOREVER_SECS: i64 = i64::MAX / 1_000_000_000;

/// All leases.
///
/// Invariants: `queue` holds exactly `(check_at, id)` for every lease whose
/// `check_at` is set; `check_at` is set and `revoking` true only while
/// `primary`.
#[derive(Clone, Debug)]
pub struct Lessor {
    config: LessorConfig,
    primary: bool,
    leases: BTreeMap<LeaseId, Lease>,
    queue: BTreeSet<(Instant, LeaseId)>,
    /// Deliberate bug (simulator only): leases keep the clock they started
    /// on every member at grant, and promotion does not extend them.
    bug_no_extend_on_promote: bool,
}

impl Lessor {
    /// An empty, non-primary lessor.
    pub fn new(config: LessorConfig) -> Lessor {
        Lessor {
            config,
            primary: false,
            leases: BTreeMap::new(),
            queue: BTreeSet::new(),
            bug_no_extend_on_promote: false,
        }
    }

    /// Turns on a deliberate bug for the simulator to catch: every member
    /// starts a lease's clock when it applies the grant, and a new leader
    /// expires leases on that clock instead of giving each a full TTL (so
    /// keep-alives its predecessor answered count for nothing). Never set
    /// outside tests.
    #[doc(hidden)]
    pub fn set_bug_no_extend_on_promote(&mut self, on: bool) {
        self.bug_no_extend_on_promote = on;
    }

    // ---- getters ----

    pub fn is_primary(&self) -> bool {
        self.primary
    }

    pub fn contains(&self, id: LeaseId) -> bool {
        self.leases.contains_key(&id)
    }

    pub fn get(&self, id: LeaseId) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// Every lease, by id.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// What a snapshot stores.
    pub fn records(&self) -> Vec<LeaseRecord> {
        self.leases
            .values()
            .map(|lease| LeaseRecord {
                id: lease.id,
                ttl_secs: lease.ttl_secs,
            })
            .collect()
    }

    /// LeaseTimeToLive at `now`.
    pub fn time_to_live(&self, id: LeaseId, now: Instant) -> Result<TimeToLive, LeaseError> {
        let lease = self.leases.get(&id).ok_or(LeaseError::NotFound)?;
        Ok(TimeToLive {
            id,
            remaining_secs: lease
                .remaining_ms(now)
                .map_or(FOREVER_SECS, |ms| (ms / 1000) as i64),
            granted_ttl_secs: lease.ttl_secs,
            keys: lease.keys.iter().cloned().collect(),
        })
    }

    // ---- commands applied from the log (identical on every member) ----

    /// Grants a lease (applying a LeaseGrant entry). `id` must be non-zero: the
    /// receiving member picks one with [`super::LeaseIdGenerator`] before proposing.
    pub fn grant(
        &mut self,
        id: LeaseId,
        ttl_secs: i64,
        now: Instant,
    ) -> Result<&Lease, LeaseError> {
        if id == NO_LEASE {
            return Err(LeaseError::NotFound);
        }
        if ttl_secs > MAX_LEASE_TTL_SECS {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::AlreadyExists);
        }
        let ttl_secs = ttl_secs.max(self.config.min_ttl_secs);
        let lease = Lease {
            id,
            ttl_secs,
            expiry: (self.bug_no_extend_on_promote && !self.primary)
                .then(|| now + (ttl_secs.max(0) as u64).saturating_mul(1000)),
            check_at: None,
            revoking: false,
            keys: BTreeSet::new(),
        };
        self.leases.insert(id, lease);
        if self.primary {
            self.refresh(id, now, 0);
        }
        Ok(&self.leases[&id])
    }

    /// Revokes a lease (applying a LeaseRevoke entry) and returns its keys in key
    /// order, which the key-value store deletes in one revision.
    pub fn revoke(&mut self, id: LeaseId) -> Result<Vec<Bytes>, LeaseError> {
        let lease = self.leases.remove(&id).ok_or(LeaseError::NotFound)?;
        if let Some(at) = lease.check_at {
            self.queue.remove(&(at, id));
        }
        Ok(lease.keys.into_iter().collect())
    }

    /// Attaches `key` to lease `id` (a put with a lease).
    pub fn attach(&mut self, id: LeaseId, key: Bytes) -> Result<(), LeaseError> {
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::NotFound)?;
        lease.keys.insert(key);
        Ok(())
    }

    /// Detaches `key` from lease `id` (an overwrite or a delete).
    pub fn detach(&mut self, id: LeaseId, key: &[u8]) -> Result<(), LeaseError> {
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::NotFound)?;
        lease.keys.remove(key);
        Ok(())
    }

    /// Rebuilds the lessor from a snapshot: leases, then their keys (from the
    /// key-value store's current lease of each key). Non-primary afterwards.
    pub fn restore(
        config: LessorConfig,
        records: &[LeaseRecord],
        attached: impl IntoIterator<Item = (LeaseId, Bytes)>,
    ) -> Lessor {
        let mut lessor = Lessor::new(config);
        for record in records {
            lessor.leases.insert(
                record.id,
                Lease {
                    id: record.id,
                    ttl_secs: record.ttl_secs,
                    expiry: None,
                    check_at: None,
                    revoking: false,
                    keys: BTreeSet::new(),
                },
            );
        }
        for (id, key) in attached {
            // A key whose lease is gone stays unattached, as in etcd.
            let _ = lessor.attach(id, key);
        }
        lessor
    }

    // ---- leader-only inputs (not replicated) ----

    /// A keep-alive at `now`: the lease lives `ttl` more seconds. Returns the TTL.
    ///
    /// `Expired` means the lease ran out (or its revocation is already
    /// proposed): the caller should wait for the revocation to apply and then
    /// answer "not found", as etcd does, never renew it.
    pub fn renew(&mut self, id: LeaseId, now: Instant) -> Result<i64, LeaseError> {
        if !self.primary {
            return Err(LeaseError::NotPrimary);
        }
        let lease = self.leases.get(&id).ok_or(LeaseError::NotFound)?;
        if lease.remaining_ms(now) == Some(0) {
            return Err(LeaseError::Expired);
        }
        let ttl = lease.ttl_secs;
        self.refresh(id, now, 0);
        Ok(ttl)
    }

    /// Up to `max` expired leases at `now`, earliest expiry first, for the leader
    /// to propose revoking. Each is handed out again only after
    /// [`EXPIRED_LEASE_RETRY_MS`] if it is still there, and from now on it is
    /// `revoking`: never renewed again by this primary.
    pub fn expired(&mut self, now: Instant, max: usize) -> Vec<LeaseId> {
        let mut expired = Vec::new();
        while expired.len() < max {
            let Some(&(at, id)) = self.queue.first() else {
                break;
            };
            if at > now {
                break;
            }
            self.queue.remove(&(at, id));
            let lease = self.leases.get_mut(&id).expect("queued lease exists");
            let retry_at = now + EXPIRED_LEASE_RETRY_MS;
            lease.check_at = Some(retry_at);
            self.queue.insert((retry_at, id));
            if lease.remaining_ms(now) == Some(0) {
                lease.revoking = true;
                expired.push(id);
            }
        }
        expired
    }

    /// This member leads and has applied every entry of earlier terms (see
    /// the member): every lease gets its full TTL plus `extend_ms` (the leader
    /// cannot know which keep-alives its predecessor saw), and, as etcd does,
    /// expiries are spread so that no more than 3/4 of
    /// [`LEASE_REVOKE_RATE_PER_SEC`] leases expire in any one second.
    ///
    /// Called again on a primary after a stall, it extends every lease the
    /// same way except those whose revocation is already proposed.
    pub fn promote(&mut self, now: Instant, extend_ms: u64) {
        let was_primary = self.primary;
        self.primary = true;
        if self.bug_no_extend_on_promote && !was_primary {
            self.promote_without_extending(now);
            return;
        }
        let ids: Vec<LeaseId> = self
            .leases
            .values()
            .filter(|lease| !lease.revoking)
            .map(|lease| lease.id)
            .collect();
        for &id in &ids {
            self.refresh(id, now, extend_ms);
        }
        if ids.len() < LEASE_REVOKE_RATE_PER_SEC {
            return;
        }
        let mut by_expiry: Vec<(u64, LeaseId)> = ids
            .iter()
            .map(|id| {
                let remaining = self.leases[id].remaining_ms(now).unwrap_or(u64::MAX);
                (remaining, *id)
            })
            .collect();
        by_expiry.sort_unstable();
        let target_per_sec = (3 * LEASE_REVOKE_RATE_PER_SEC / 4) as u64;
        let mut base_window = by_expiry[0].0;
        let mut next_window = base_window.saturating_add(1000);
        let mut expires: u64 = 0;
        for (remaining, id) in by_expiry {
            if remaining > next_window {
                base_window = remaining;
                next_window = base_window.saturating_add(1000);
                expires = 1;
                continue;
            }
            expires += 1;
            if expires <= target_per_sec {
                continue;
            }
            // Leases already `remaining - base` ms ahead need that much less delay.
            let delay_ms =
                (1000 * expires / target_per_sec).saturating_sub(remaining - base_window);
            next_window = base_window + delay_ms;
            self.refresh(id, now, delay_ms + extend_ms);
        }
    }

    /// The deliberate bug: leases keep the expiry they got at grant.
    fn promote_without_extending(&mut self, now: Instant) {
        let ids: Vec<(LeaseId, Option<Instant>)> = self
            .leases
            .values()
            .map(|lease| (lease.id, lease.expiry))
            .collect();
        for (id, expiry) in ids {
            match expiry {
                Some(at) => {
                    let lease = self.leases.get_mut(&id).expect("listed lease");
                    lease.check_at = Some(at);
                    self.queue.insert((at, id));
                }
                None => self.refresh(id, now, 0),
            }
        }
    }

    /// This member is no longer leader: leases never expire here until promoted,
    /// and revocations it proposed are the next leader's to decide again.
    pub fn demote(&mut self) {
        self.primary = false;
        self.queue.clear();
        let keep_expiry = self.bug_no_extend_on_promote;
        for lease in self.leases.values_mut() {
            if !keep_expiry {
                lease.expiry = None;
            }
            lease.check_at = None;
            lease.revoking = false;
        }
    }

    fn refresh(&mut self, id: LeaseId, now: Instant, extend_ms: u64) {
        let lease = self
            .leases
            .get_mut(&id)
            .expect("refreshing a lease that exists");
        let ttl_ms = (lease.ttl_secs.max(0) as u64).saturating_mul(1000);
        let expiry = now + extend_ms.saturating_add(ttl_ms);
        if let Some(at) = lease.check_at {
            self.queue.remove(&(at, id));
        }
        lease.expiry = Some(expiry);
        lease.check_at = Some(expiry);
        self.queue.insert((expiry, id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn primary() -> Lessor {
        let mut lessor = Lessor::new(LessorConfig::from_election_timeout_ms(1000));
        lessor.promote(at(0), 0);
        lessor
    }

    #[test]
    fn minimum_ttl_is_one_and_a_half_election_timeouts_rounded_up() {
        assert_eq!(LessorConfig::from_election_timeout_ms(1000).min_ttl_secs, 2);
        assert_eq!(LessorConfig::from_election_timeout_ms(2000).min_ttl_secs, 3);
        let mut lessor = primary();
        assert_eq!(lessor.grant(1, 1, at(0)).map(|l| l.ttl_secs), Ok(2));
        assert_eq!(lessor.grant(2, 60, at(0)).map(|l| l.ttl_secs), Ok(60));
    }

    #[test]
    fn grant_errors_match_etcd() {
        let mut lessor = primary();
        assert_eq!(lessor.grant(0, 10, at(0)).err(), Some(LeaseError::NotFound));
        assert_eq!(
            lessor.grant(1, MAX_LEASE_TTL_SECS + 1, at(0)).err(),
            Some(LeaseError::TtlTooLarge)
        );
        lessor.grant(1, 10, at(0)).expect("grant");
        assert_eq!(
            lessor.grant(1, 10, at(0)).err(),
            Some(LeaseError::AlreadyExists)
        );
        assert_eq!(
            LeaseError::AlreadyExists.to_string(),
            "etcdserver: lease already exists"
        );
    }

    #[test]
    fn expiry_renew_and_retry() {
        let mut lessor = primary();
        lessor.grant(1, 10, at(0)).expect("grant");
        lessor.grant(2, 5, at(0)).expect("grant");
        assert_eq!(lessor.expired(at(4_999), 10), Vec::<LeaseId>::new());
        assert_eq!(lessor.renew(1, at(4_000)), Ok(10));
        assert_eq!(lessor.expired(at(20_000), 10), vec![2, 1]);
        // Handed out again only after the retry interval.
        assert_eq!(lessor.expired(at(20_001), 10), Vec::<LeaseId>::new());
        // Ties in the retry queue go by id.
        assert_eq!(lessor.expired(at(23_000), 1), vec![1]);
        assert_eq!(lessor.renew(2, at(23_000)), Err(LeaseError::Expired));
        assert_eq!(lessor.renew(9, at(23_000)), Err(LeaseError::NotFound));
    }

    #[test]
    fn followers_never_expire_and_promotion_extends() {
        let mut lessor = Lessor::new(LessorConfig { min_ttl_secs: 1 });
        lessor.grant(1, 10, at(0)).expect("grant");
        assert_eq!(lessor.renew(1, at(0)), Err(LeaseError::NotPrimary));
        assert_eq!(lessor.expired(at(1_000_000), 10), Vec::<LeaseId>::new());
        assert_eq!(
            lessor.time_to_live(1, at(0)).map(|t| t.remaining_secs),
            Ok(9_223_372_036)
        );
        lessor.promote(at(1_000_000), 2_000);
        assert_eq!(
            lessor.get(1).and_then(|l| l.remaining_ms(at(1_000_000))),
            Some(12_000)
        );
        lessor.demote();
        assert_eq!(lessor.expired(at(9_000_000), 10), Vec::<LeaseId>::new());
    }

    #[test]
    fn a_lease_handed_out_for_revocation_is_never_renewed_until_demotion() {
        let mut lessor = primary();
        lessor.grant(1, 2, at(0)).expect("grant");
        lessor.grant(2, 10, at(0)).expect("grant");
        assert_eq!(lessor.expired(at(2_000), 10), vec![1]);
        assert!(lessor.get(1).is_some_and(Lease::is_revoking));
        assert_eq!(lessor.renew(1, at(2_001)), Err(LeaseError::Expired));
        // A stall's extension revives everything but the lease being revoked.
        lessor.promote(at(2_500), 1_000);
        assert_eq!(lessor.renew(1, at(2_501)), Err(LeaseError::Expired));
        assert_eq!(
            lessor.time_to_live(1, at(2_501)).map(|t| t.remaining_secs),
            Ok(0)
        );
        assert_eq!(lessor.renew(2, at(2_501)), Ok(10));
        // Still retried while it is there.
        assert_eq!(lessor.expired(at(5_000), 10), vec![1]);
        // The next leader decides afresh.
        lessor.demote();
        assert!(lessor.get(1).is_some_and(|lease| !lease.is_revoking()));
        lessor.promote(at(6_000), 1_000);
        assert_eq!(lessor.renew(1, at(6_000)), Ok(2));
    }

    #[test]
    fn the_deliberate_bug_keeps_the_grant_clock_through_promotion() {
        let mut lessor = Lessor::new(LessorConfig { min_ttl_secs: 1 });
        lessor.set_bug_no_extend_on_promote(true);
        lessor.grant(1, 3, at(0)).expect("grant");
        lessor.promote(at(2_000), 1_000);
        assert_eq!(lessor.expired(at(3_000), 10), vec![1]);
    }

    #[test]
    fn promotion_spreads_a_pile_of_expiries() {
        let mut lessor = Lessor::new(LessorConfig { min_ttl_secs: 1 });
        for id in 1..=3_000 {
            lessor.grant(id, 10, at(0)).expect("grant");
        }
        lessor.promote(at(0), 0);
        // No second holds more than the revoke rate's worth of expiries.
        let mut per_second: BTreeMap<u64, usize> = BTreeMap::new();
        for lease in lessor.leases() {
            *per_second
                .entry(lease.remaining_ms(at(0)).expect("primary") / 1000)
                .or_default() += 1;
        }
        assert!(
            per_second.values().all(|&n| n <= LEASE_REVOKE_RATE_PER_SEC),
            "{per_second:?}"
        );
    }

    #[test]
    fn revoke_returns_attached_keys_in_order() {
        let mut lessor = primary();
        lessor.grant(7, 10, at(0)).expect("grant");
        lessor.attach(7, Bytes::from_static(b"b")).expect("attach");
        lessor.attach(7, Bytes::from_static(b"a")).expect("attach");
        lessor.attach(7, Bytes::from_static(b"c")).expect("attach");
        lessor.detach(7, b"c").expect("detach");
        assert_eq!(
            lessor.attach(8, Bytes::from_static(b"x")),
            Err(LeaseError::NotFound)
        );
        assert_eq!(
            lessor.revoke(7),
            Ok(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")])
        );
        assert_eq!(lessor.revoke(7), Err(LeaseError::NotFound));
        assert_eq!(lessor.expired(at(100_000), 10), Vec::<LeaseId>::new());
    }

    #[test]
    fn generated_ids_are_positive_unused_and_seeded() {
        let mut lessor = primary();
        let mut a = super::super::LeaseIdGenerator::new(42);
        let mut b = super::super::LeaseIdGenerator::new(42);
        let id = a.next_id(&lessor);
        assert!(id > 0);
        assert_eq!(id, b.next_id(&lessor));
        lessor.grant(id, 10, at(0)).expect("grant");
        assert_ne!(a.next_id(&lessor), id);
    }
}
