//! Choosing an id for a grant that asks for id 0.
//!
//! etcd picks the id on the member that receives the request, *before* proposing,
//! so every member applies the same id. This generator does the same from a seed
//! the runtime provides (and logs): deterministic, no OS randomness.

use super::{LeaseId, Lessor};

/// A seeded source of lease ids (SplitMix64), yielding positive ids.
#[derive(Clone, Debug)]
pub struct LeaseIdGenerator {
    state: u64,
}

impl LeaseIdGenerator {
    pub fn new(seed: u64) -> LeaseIdGenerator {
        LeaseIdGenerator { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A positive id no lease in `lessor` has (like etcd, `& (1 << 63) - 1`).
    pub fn next_id(&mut self, lessor: &Lessor) -> LeaseId {
        loop {
            let id = (self.next_u64() & (u64::MAX >> 1)) as LeaseId;
            if id != 0 && !lessor.contains(id) {
                return id;
            }
        }
    }
}
