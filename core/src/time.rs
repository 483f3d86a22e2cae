//! Time as an input.
//!
//! Core never reads a clock. Runtimes translate their clock (tokio's, madsim's) into
//! an [`Instant`]: milliseconds since an origin the runtime chooses (typically its
//! start). Only differences between instants carry meaning.

use std::fmt;
use std::ops::{Add, Sub};

/// A point in time, in milliseconds since a runtime-chosen origin.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    ms: u64,
}

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant { ms: 0 };

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant { ms }
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.ms
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub const fn millis_since(self, earlier: Instant) -> u64 {
        self.ms.saturating_sub(earlier.ms)
    }
}

impl Add<u64> for Instant {
    type Output = Instant;
    /// Adds milliseconds.
    fn add(self, ms: u64) -> Instant {
        Instant {
            ms: self.ms.saturating_add(ms),
        }
    }
}

impl Sub<u64> for Instant {
    type Output = Instant;
    /// Subtracts milliseconds, saturating at the origin.
    fn sub(self, ms: u64) -> Instant {
        Instant {
            ms: self.ms.saturating_sub(ms),
        }
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.ms)
    }
}
