//! Key-range permissions: a role's grants merged into disjoint intervals, and
//! the question "may this user read (write) this key or this range?".
//!
//! etcd's rules, which clients depend on:
//! * a permission with an empty `range_end` covers exactly its key;
//! * `range_end` = `"\0"` means "every key from `key` on";
//! * otherwise it covers `[key, range_end)`;
//! * a request for one key (empty `range_end`) is allowed if any interval of
//!   the right type holds the key; a request for a range is allowed only if
//!   the union of the intervals covers all of it.

use super::{Access, PermType, Permission};

/// The end of an interval: a key (exclusive) or the end of the key space.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Key(Vec<u8>),
    Infinite,
}

/// `[begin, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Interval {
    begin: Vec<u8>,
    end: End,
}

impl Interval {
    /// The interval a permission or a request names (see the module docs).
    fn of(key: &[u8], range_end: &[u8]) -> Interval {
        let end = match range_end {
            [] => {
                // The single key: [key, key + "\0").
                let mut next = key.to_vec();
                next.push(0);
                End::Key(next)
            }
            [0] => End::Infinite,
            end => End::Key(end.to_vec()),
        };
        Interval {
            begin: key.to_vec(),
            end,
        }
    }

    fn is_empty(&self) -> bool {
        match &self.end {
            End::Key(end) => end.as_slice() <= self.begin.as_slice(),
            End::Infinite => false,
        }
    }
}

/// Sorted, disjoint, non-adjacent intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct IntervalSet {
    intervals: Vec<Interval>,
}

impl IntervalSet {
    fn from_intervals(mut all: Vec<Interval>) -> IntervalSet {
        all.retain(|i| !i.is_empty());
        all.sort_by(|a, b| a.begin.cmp(&b.begin).then_with(|| a.end.cmp(&b.end)));
        let mut merged: Vec<Interval> = Vec::with_capacity(all.len());
        for interval in all {
            if let Some(last) = merged.last_mut() {
                let touches = match &last.end {
                    End::Infinite => true,
                    End::Key(end) => interval.begin.as_slice() <= end.as_slice(),
                };
                if touches {
                    if interval.end > last.end {
                        last.end = interval.end;
                    }
                    continue;
                }
            }
            merged.push(interval);
        }
        IntervalSet { intervals: merged }
    }

    /// The interval with the greatest begin not after `key`.
    fn floor(&self, key: &[u8]) -> Option<&Interval> {
        let after = self
            .intervals
            .partition_point(|i| i.begin.as_slice() <= key);
        after.checked_sub(1).map(|i| &self.intervals[i])
    }

    fn holds_key(&self, key: &[u8]) -> bool {
        self.floor(key).is_some_and(|i| match &i.end {
            End::Infinite => true,
            End::Key(end) => key < end.as_slice(),
        })
    }

    fn covers(&self, wanted: &Interval) -> bool {
        self.floor(&wanted.begin)
            .is_some_and(|i| i.end >= wanted.end)
    }
}

/// One user's permissions, merged over all its roles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergedPerms {
    read: IntervalSet,
    write: IntervalSet,
}

impl MergedPerms {
    /// Merges the permissions of every role a user has.
    pub fn merge<'a>(perms: impl IntoIterator<Item = &'a Permission>) -> MergedPerms {
        let mut read = Vec::new();
        let mut write = Vec::new();
        for perm in perms {
            let interval = Interval::of(&perm.key, &perm.range_end);
            if perm.perm_type.allows(Access::Read) {
                read.push(interval.clone());
            }
            if perm.perm_type.allows(Access::Write) {
                write.push(interval);
            }
        }
        MergedPerms {
            read: IntervalSet::from_intervals(read),
            write: IntervalSet::from_intervals(write),
        }
    }

    /// Whether `access` to `key` (with an empty `range_end`) or to the range
    /// `[key, range_end)` is granted.
    pub fn permits(&self, access: Access, key: &[u8], range_end: &[u8]) -> bool {
        let set = match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
        };
        if range_end.is_empty() {
            return set.holds_key(key);
        }
        let wanted = Interval::of(key, range_end);
        if wanted.is_empty() {
            // An empty range touches no key; etcd still asks for its start.
            return set.holds_key(key);
        }
        set.covers(&wanted)
    }
}

impl PermType {
    /// Whether this grant allows `access`.
    pub fn allows(self, access: Access) -> bool {
        matches!(
            (self, access),
            (PermType::ReadWrite, _)
                | (PermType::Read, Access::Read)
                | (PermType::Write, Access::Write)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn perm(key: &str, end: &str, perm_type: PermType) -> Permission {
        Permission {
            key: key.as_bytes().to_vec(),
            range_end: end.as_bytes().to_vec(),
            perm_type,
        }
    }

    #[test]
    fn single_key_grants_only_that_key() {
        let merged = MergedPerms::merge(&[perm("foo", "", PermType::Read)]);
        assert!(merged.permits(Access::Read, b"foo", b""));
        assert!(!merged.permits(Access::Read, b"foo1", b""));
        assert!(!merged.permits(Access::Read, b"fo", b""));
        assert!(!merged.permits(Access::Write, b"foo", b""));
        // The range [foo, foo\0) is exactly the key.
        assert!(merged.permits(Access::Read, b"foo", b"foo\0"));
        assert!(!merged.permits(Access::Read, b"foo", b"fop"));
    }

    #[test]
    fn prefix_and_from_key_grants() {
        let merged = MergedPerms::merge(&[
            perm("a/", "a0", PermType::ReadWrite),
            perm("m", "\0", PermType::Write),
        ]);
        assert!(merged.permits(Access::Read, b"a/x", b""));
        assert!(merged.permits(Access::Read, b"a/", b"a0"));
        assert!(merged.permits(Access::Read, b"a/b", b"a/c"));
        assert!(!merged.permits(Access::Read, b"a/", b"a1"));
        assert!(!merged.permits(Access::Read, b"a", b"a0"));
        assert!(merged.permits(Access::Write, b"zzz", b""));
        assert!(merged.permits(Access::Write, b"m", b"\0"));
        assert!(!merged.permits(Access::Write, b"l", b"\0"));
        assert!(!merged.permits(Access::Read, b"m", b""));
    }

    #[test]
    fn adjacent_grants_cover_their_union() {
        let merged = MergedPerms::merge(&[
            perm("a", "c", PermType::Read),
            perm("c", "e", PermType::ReadWrite),
        ]);
        assert!(merged.permits(Access::Read, b"a", b"e"));
        assert!(!merged.permits(Access::Read, b"a", b"f"));
        assert!(!merged.permits(Access::Write, b"a", b"e"));
        assert!(merged.permits(Access::Write, b"c", b"e"));
    }

    #[test]
    fn nothing_granted_permits_nothing() {
        let merged = MergedPerms::merge(&[]);
        assert!(!merged.permits(Access::Read, b"", b""));
        assert!(!merged.permits(Access::Read, b"", b"\0"));
    }

    /// Keys over a tiny alphabet, so that intervals collide often.
    fn small_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0u8..4, 0..4)
    }

    fn any_perm() -> impl Strategy<Value = Permission> {
        let end = prop_oneof![
            Just(Vec::new()),
            Just(vec![0u8]),
            small_key().prop_filter("not the \\0 sentinel", |k| k.as_slice() != [0]),
        ];
        (small_key(), end, 0u8..3).prop_map(|(key, range_end, t)| Permission {
            key,
            range_end,
            perm_type: PermType::from_byte(t).expect("0..3"),
        })
    }

    /// Whether one key lies in a permission, by the definition.
    fn in_perm(perm: &Permission, key: &[u8]) -> bool {
        match perm.range_end.as_slice() {
            [] => key == perm.key.as_slice(),
            [0] => key >= perm.key.as_slice(),
            end => key >= perm.key.as_slice() && key < end,
        }
    }

    proptest! {
        /// A single-key check agrees with "some grant of the right type holds it".
        #[test]
        fn key_checks_match_the_definition(perms in proptest::collection::vec(any_perm(), 0..6), key in small_key()) {
            let merged = MergedPerms::merge(&perms);
            for access in [Access::Read, Access::Write] {
                let expected = perms.iter().any(|p| p.perm_type.allows(access) && in_perm(p, &key));
                prop_assert_eq!(merged.permits(access, &key, b""), expected);
            }
        }

        /// A permitted range never contains a key that no grant holds.
        #[test]
        fn a_permitted_range_holds_only_granted_keys(
            perms in proptest::collection::vec(any_perm(), 0..6),
            begin in small_key(),
            end in small_key().prop_filter("a real end", |k| !k.is_empty() && k.as_slice() != [0]),
            probes in proptest::collection::vec(small_key(), 0..20),
        ) {
            let merged = MergedPerms::merge(&perms);
            if begin < end && merged.permits(Access::Read, &begin, &end) {
                for key in probes.iter().filter(|k| k.as_slice() >= begin.as_slice() && k.as_slice() < end.as_slice()) {
                    prop_assert!(perms.iter().any(|p| p.perm_type.allows(Access::Read) && in_perm(p, key)), "{:?} in {:?}..{:?}", key, begin, end);
                }
            }
        }
    }
}
