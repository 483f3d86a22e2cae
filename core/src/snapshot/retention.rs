//! Which snapshot and WAL files may be deleted once a new snapshot is durable.
//!
//! WAL rule (etcd's `ReleaseLockTo` + purge): the segment holding the snapshot's
//! index — the last one whose first index is <= it — and every later segment are
//! needed to replay entries after the snapshot. Earlier segments may go, oldest
//! first, while more than `max_wals` segments would remain. Snapshot rule: keep
//! the newest `max_snapshots` (by index), and never the one just written.
//! A limit of 0 means unlimited (etcd's meaning): nothing of that kind is deleted.
//! Names that are not ours are never touched; leftover `*.snap.tmp` files from an
//! interrupted write are always deletable.

use crate::wal::parse_segment_name;

use super::codec::parse_snapshot_name;

/// etcd's `--max-snapshots` and `--max-wals` (both default 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub max_snapshots: usize,
    pub max_wals: usize,
}

impl Default for RetentionPolicy {
    fn default() -> RetentionPolicy {
        RetentionPolicy {
            max_snapshots: 5,
            max_wals: 5,
        }
    }
}

/// The files to delete, given the snapshot directory's and WAL directory's file
/// names and the index of the snapshot just made durable.
pub fn files_to_delete(
    snapshot_files: &[&str],
    wal_files: &[&str],
    snapshot_index: u64,
    policy: RetentionPolicy,
) -> Vec<String> {
    let mut doomed: Vec<String> = snapshot_files
        .iter()
        .filter(|name| name.ends_with(".snap.tmp"))
        .map(|name| (*name).to_string())
        .collect();

    if policy.max_snapshots > 0 {
        let mut snapshots: Vec<(u64, u64, &str)> = snapshot_files
            .iter()
            .filter_map(|name| parse_snapshot_name(name).map(|(term, index)| (index, term, *name)))
            .collect();
        snapshots.sort_unstable();
        let keep_from = snapshots.len().saturating_sub(policy.max_snapshots);
        doomed.extend(
            snapshots[..keep_from]
                .iter()
                .filter(|(index, _, _)| *index < snapshot_index)
                .map(|(_, _, name)| (*name).to_string()),
        );
    }

    if policy.max_wals > 0 {
        let mut segments: Vec<(u64, u64, &str)> = wal_files
            .iter()
            .filter_map(|name| parse_segment_name(name).map(|h| (h.seq, h.first_index, *name)))
            .collect();
        segments.sort_unstable();
        // The segment holding the snapshot index, and everything after, stays.
        let needed_from = segments
            .iter()
            .rposition(|(_, first_index, _)| *first_index <= snapshot_index)
            .unwrap_or(0);
        let excess = segments.len().saturating_sub(policy.max_wals);
        doomed.extend(
            segments[..needed_from.min(excess)]
                .iter()
                .map(|(_, _, name)| (*name).to_string()),
        );
    }
    doomed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::snapshot_name;
    use crate::wal::segment_name;

    #[test]
    fn keeps_segments_after_the_snapshot_and_the_newest_files() {
        let wals: Vec<String> = (0..10)
            .map(|seq| segment_name(seq, seq * 100 + 1))
            .collect();
        let snaps: Vec<String> = (1..=7).map(|i| snapshot_name(2, i * 100)).collect();
        let wal_refs: Vec<&str> = wals.iter().map(String::as_str).collect();
        let mut snap_refs: Vec<&str> = snaps.iter().map(String::as_str).collect();
        snap_refs.push("0000000000000002-0000000000000800.snap.tmp");
        snap_refs.push("notes.txt");
        let doomed = files_to_delete(&snap_refs, &wal_refs, 700, RetentionPolicy::default());
        let mut expected = vec!["0000000000000002-0000000000000800.snap.tmp".to_string()];
        expected.extend(snaps[..2].iter().cloned());
        // Snapshot index 700 lives in segment 6 (first index 601): 0..6 are
        // releasable, but only 5 may go to keep max_wals = 5 segments.
        expected.extend(wals[..5].iter().cloned());
        assert_eq!(doomed, expected);

        let few = files_to_delete(&snap_refs[..7], &wal_refs, 250, RetentionPolicy::default());
        // Index 250 lives in segment 2: only segments 0 and 1 may go.
        assert_eq!(few[2..], wals[..2]);
        let unlimited = RetentionPolicy {
            max_snapshots: 0,
            max_wals: 0,
        };
        assert!(files_to_delete(&snap_refs[..7], &wal_refs, 700, unlimited).is_empty());
    }
}
