//! Revisions: `(main, sub)`, ordered by main then sub.

/// A point in the store's history: `main` is the revision of the write
/// transaction, `sub` the position of the change within it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub const fn new(main: i64, sub: i64) -> Revision {
        Revision { main, sub }
    }
}
