//! Quorum arithmetic as pure functions: what a majority of voters has, and who
//! won an election.

use std::collections::BTreeMap;

use super::types::NodeId;

/// The number of voters that make a majority of `voters`.
pub fn majority(voters: usize) -> usize {
    voters / 2 + 1
}

/// The largest index that a majority of `voters` has reached, given each voter's
/// match index (missing voters count as 0). With no voters, returns `u64::MAX`
/// so that callers clamp it by their own log (etcd's convention).
pub fn committed_index(voters: &[NodeId], matched: impl Fn(NodeId) -> u64) -> u64 {
    if voters.is_empty() {
        return u64::MAX;
    }
    let mut indexes: Vec<u64> = voters.iter().map(|&v| matched(v)).collect();
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    indexes[majority(voters.len()) - 1]
}

/// The state of an election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    Won,
    Lost,
    Pending,
}

/// Tallies `votes` (voter → granted) among `voters`; votes from non-voters are
/// ignored.
pub fn vote_result(voters: &[NodeId], votes: &BTreeMap<NodeId, bool>) -> VoteResult {
    let needed = majority(voters.len());
    let mut granted = 0;
    let mut rejected = 0;
    for voter in voters {
        match votes.get(voter) {
            Some(true) => granted += 1,
            Some(false) => rejected += 1,
            None => {}
        }
    }
    if granted >= needed {
        VoteResult::Won
    } else if voters.len() - rejected < needed {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}

/// True if a majority of `voters` satisfy `acked`.
pub fn has_quorum(voters: &[NodeId], acked: impl Fn(NodeId) -> bool) -> bool {
    voters.iter().filter(|&&v| acked(v)).count() >= majority(voters.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_sizes() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(4), 3);
        assert_eq!(majority(5), 3);
    }

    #[test]
    fn committed_index_is_the_majority_median() {
        let matched = |id| [0, 5, 3, 9, 1, 7][id as usize];
        assert_eq!(committed_index(&[1], matched), 5);
        assert_eq!(committed_index(&[1, 2, 3], matched), 5);
        assert_eq!(committed_index(&[1, 2, 3, 4], matched), 3);
        assert_eq!(committed_index(&[1, 2, 3, 4, 5], matched), 5);
        assert_eq!(committed_index(&[], matched), u64::MAX);
    }

    #[test]
    fn vote_results() {
        let voters = [1, 2, 3];
        let mut votes = BTreeMap::new();
        votes.insert(1, true);
        assert_eq!(vote_result(&voters, &votes), VoteResult::Pending);
        votes.insert(2, false);
        assert_eq!(vote_result(&voters, &votes), VoteResult::Pending);
        votes.insert(3, true);
        assert_eq!(vote_result(&voters, &votes), VoteResult::Won);
        votes.insert(3, false);
        assert_eq!(vote_result(&voters, &votes), VoteResult::Lost);
        // A vote from a non-voter changes nothing.
        votes.insert(9, true);
        assert_eq!(vote_result(&voters, &votes), VoteResult::Lost);
    }
}
