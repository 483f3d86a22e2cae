//! Member and cluster IDs, derived as etcd 3.4 derives them
//! (`etcdserver/api/membership`), so that a cluster started with the same
//! flags has the same IDs under cairn as under etcd, and response headers
//! match etcd's byte for byte.
//!
//! ```text
//!   member ID   first 8 bytes (big-endian) of SHA-1( sorted peer URLs, concatenated
//!                 ‖ cluster token ‖ [unix seconds, decimal — `member add` only] )
//!   cluster ID  first 8 bytes (big-endian) of SHA-1( sorted member IDs, 8 bytes
//!                 big-endian each )
//! ```

use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};

fn sha1_prefix(bytes: &[u8]) -> u64 {
    let hash = digest(&SHA1_FOR_LEGACY_USE_ONLY, bytes);
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash.as_ref()[..8]);
    u64::from_be_bytes(prefix)
}

/// A member's ID from its peer URLs and the cluster token, and for a member
/// added at run time the Unix time of the addition (etcd's `NewMember`).
/// Never 0 (0 means "no member" in Raft).
pub fn member_id(peer_urls: &[String], token: &str, added_at_unix: Option<i64>) -> u64 {
    let mut urls: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    let mut bytes: Vec<u8> = urls.concat().into_bytes();
    bytes.extend_from_slice(token.as_bytes());
    if let Some(seconds) = added_at_unix {
        bytes.extend_from_slice(seconds.to_string().as_bytes());
    }
    sha1_prefix(&bytes).max(1)
}

/// The cluster's ID from its initial members' IDs (etcd's `genID`). Never 0.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    sha1_prefix(&bytes).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// etcd 3.4.23 started with `--name default` and its defaults
    /// (`--initial-advertise-peer-urls http://localhost:2380`,
    /// `--initial-cluster-token etcd-cluster`) reports member
    /// 8e9e05c52164694d in cluster cdf818194e3a8c32.
    #[test]
    fn etcds_default_member_and_cluster_ids() {
        let member = member_id(&["http://localhost:2380".into()], "etcd-cluster", None);
        assert_eq!(format!("{member:x}"), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", cluster_id(&[member])), "cdf818194e3a8c32");
    }

    #[test]
    fn ids_depend_on_urls_token_and_time_not_order() {
        let a = member_id(&["http://a:2380".into(), "http://b:2380".into()], "t", None);
        let b = member_id(&["http://b:2380".into(), "http://a:2380".into()], "t", None);
        assert_eq!(a, b);
        assert_ne!(a, member_id(&["http://a:2380".into()], "t", None));
        assert_ne!(
            a,
            member_id(&["http://a:2380".into(), "http://b:2380".into()], "u", None)
        );
        assert_ne!(
            a,
            member_id(
                &["http://a:2380".into(), "http://b:2380".into()],
                "t",
                Some(1)
            )
        );
        assert_eq!(cluster_id(&[3, 1, 2]), cluster_id(&[1, 2, 3]));
        assert_ne!(cluster_id(&[1, 2, 3]), cluster_id(&[1, 2]));
    }
}
