//! Choosing an id for a grant that asks for id 0.
//!
//! etcd picks the id on the member that receives the request, *before* proposing,
//! so every member applies the same id. This generator does the same from a seed
//! the runtime provides (and logs): deterministic, no OS randomness.

use super::{LeaseId, Lessor};
use crate::rng::SplitMix64;

/// A seeded source of lease ids (cairn's one generator), yielding positive ids.
#[derive(Clone, Debug)]
pub struct LeaseIdGenerator {
    rng: SplitMix64,
}

impl LeaseIdGenerator {
    pub fn new(seed: u64) -> LeaseIdGenerator {
        LeaseIdGenerator {
            rng: SplitMix64::new(seed),
        }
    }

    /// A positive id no lease in `lessor` has (like etcd, `& (1 << 63) - 1`).
    pub fn next_id(&mut self, lessor: &Lessor) -> LeaseId {
        loop {
            let id = (self.rng.next_u64() & (u64::MAX >> 1)) as LeaseId;
            if id != 0 && !lessor.contains(id) {
                return id;
            }
        }
    }
}
