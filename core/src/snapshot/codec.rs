//! Encoding and decoding the snapshot file.
//!
//! ```text
//!  header   magic "CAIRNSNP" | version u32 | section_count u32          (16 B)
//!  section  kind u32 | 0 u32 | body_len u64 | body_crc u32 | 0 u32     (24 B)
//!           body | zero padding to a multiple of 8          (× 6, in kind order)
//!  trailer  magic "CAIRNEND" | file_crc u32 | 0 u32                     (16 B)
//! ```
//! `file_crc` is CRC-32 (IEEE) of every byte before the trailer; `body_crc` of the
//! body alone (it names the damaged section). Integers are little-endian.

use bytes::Bytes;

use super::error::SnapshotError;
use super::member::Member;
use crate::auth::AuthStore;
use crate::lease::LeaseRecord;
use crate::mvcc::{Store, StoreConfig};
use crate::raft::{ConfState, SnapshotMeta};

pub const SNAPSHOT_MAGIC: [u8; 8] = *b"CAIRNSNP";
const TRAILER_MAGIC: [u8; 8] = *b"CAIRNEND";
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

const HEADER_BYTES: usize = 16;
const DEFAULT_TOKEN_TTL_MS: u64 = 300_000;
const SECTION_HEADER_BYTES: usize = 24;
const TRAILER_BYTES: usize = 16;

const SECTION_META: u32 = 1;
const SECTION_MEMBERS: u32 = 2;
const SECTION_KV: u32 = 3;
const SECTION_LEASES: u32 = 4;
const SECTION_V2: u32 = 5;
const SECTION_AUTH: u32 = 6;
const SECTION_KINDS: [u32; 6] = [
    SECTION_META,
    SECTION_MEMBERS,
    SECTION_KV,
    SECTION_LEASES,
    SECTION_V2,
    SECTION_AUTH,
];

/// `{term:016x}-{index:016x}.snap`, as etcd names snapshots.
pub fn snapshot_name(term: u64, index: u64) -> String {
    format!("{term:016x}-{index:016x}.snap")
}

/// (term, index) of a snapshot file name, if it is one.
pub fn parse_snapshot_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".snap")?;
    let (term, index) = stem.split_once('-')?;
    let hex = |s: &str| {
        (s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
    };
    Some((hex(term)?, hex(index)?))
}

/// The state to encode, borrowed from the live state machine.
#[derive(Clone, Copy, Debug)]
pub struct SnapshotView<'a> {
    /// Raft's applied index and term, and the membership Raft sees there.
    pub meta: &'a SnapshotMeta,
    pub members: &'a [Member],
    /// IDs of members removed from the cluster: never to be added again.
    pub removed: &'a [u64],
    pub kv: &'a Store,
    pub leases: &'a [LeaseRecord],
    /// The v2 store's image ([`crate::v2store::V2Store::encode`]).
    pub v2: &'a [u8],
    /// Users, roles and permissions.
    pub auth: &'a AuthStore,
}

/// A decoded snapshot. Keys and values of `kv` share the decoded buffer.
#[derive(Clone, Debug)]
pub struct SnapshotImage {
    pub meta: SnapshotMeta,
    pub members: Vec<Member>,
    /// IDs of removed members (none in files written before they were kept).
    pub removed: Vec<u64>,
    pub kv: Store,
    pub leases: Vec<LeaseRecord>,
    /// Empty in files written before the v2 store existed.
    pub v2: crate::v2store::V2Store,
    /// An empty section (written before auth existed) decodes as the initial
    /// state. Its tokens' TTL is the default; the member sets its own.
    pub auth: AuthStore,
}

/// Encodes a snapshot file.
pub fn encode(view: &SnapshotView<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(SECTION_KINDS.len() as u32).to_le_bytes());
    for kind in SECTION_KINDS {
        let header_at = out.len();
        out.extend_from_slice(&[0u8; SECTION_HEADER_BYTES]);
        let body_at = out.len();
        match kind {
            SECTION_META => encode_meta(&mut out, view.meta),
            SECTION_MEMBERS => encode_members(&mut out, view.members, view.removed),
            SECTION_KV => view.kv.encode_image(&mut out),
            SECTION_LEASES => encode_leases(&mut out, view.leases),
            SECTION_V2 => out.extend_from_slice(view.v2),
            SECTION_AUTH => out.extend_from_slice(&view.auth.encode_image()),
            _ => unreachable!("every section kind is encoded"),
        }
        let body_len = out.len() - body_at;
        let body_crc = crc32fast::hash(&out[body_at..]);
        out.resize(out.len().next_multiple_of(8), 0);
        let header = &mut out[header_at..body_at];
        header[0..4].copy_from_slice(&kind.to_le_bytes());
        header[8..16].copy_from_slice(&(body_len as u64).to_le_bytes());
        header[16..20].copy_from_slice(&body_crc.to_le_bytes());
    }
    let file_crc = crc32fast::hash(&out);
    out.extend_from_slice(&TRAILER_MAGIC);
    out.extend_from_slice(&file_crc.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out
}

/// Decodes a snapshot file; every corruption is a typed error.
pub fn decode(file: &Bytes, kv_config: StoreConfig) -> Result<SnapshotImage, SnapshotError> {
    if file.len() < HEADER_BYTES + TRAILER_BYTES {
        return Err(SnapshotError::TooShort(file.len()));
    }
    if file[0..8] != SNAPSHOT_MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let version = u32_at(file, 8);
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedVersion(
            version,
            SNAPSHOT_FORMAT_VERSION,
        ));
    }
    let trailer_at = file.len() - TRAILER_BYTES;
    if file[trailer_at..trailer_at + 8] != TRAILER_MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let stored = u32_at(file, trailer_at + 8);
    let computed = crc32fast::hash(&file[..trailer_at]);
    if stored != computed {
        return Err(SnapshotError::FileChecksum { stored, computed });
    }
    if u32_at(file, trailer_at + 12) != 0 {
        return Err(SnapshotError::Reserved);
    }
    let section_count = u32_at(file, 12) as usize;
    if section_count != SECTION_KINDS.len() {
        return Err(SnapshotError::SectionBody {
            kind: 0,
            reason: format!("{section_count} sections, expected {}", SECTION_KINDS.len()),
        });
    }
    let mut bodies: Vec<Bytes> = Vec::with_capacity(SECTION_KINDS.len());
    let mut at = HEADER_BYTES;
    for (position, expected) in SECTION_KINDS.into_iter().enumerate() {
        if trailer_at - at < SECTION_HEADER_BYTES {
            return Err(SnapshotError::SectionTruncated {
                kind: expected,
                offset: at,
            });
        }
        let found = u32_at(file, at);
        if found != expected {
            return Err(SnapshotError::SectionKind {
                position,
                expected,
                found,
            });
        }
        if u32_at(file, at + 4) != 0 || u32_at(file, at + 20) != 0 {
            return Err(SnapshotError::Reserved);
        }
        let body_len = u64_at(file, at + 8);
        let body_at = at + SECTION_HEADER_BYTES;
        let body_end = usize::try_from(body_len)
            .ok()
            .and_then(|len| body_at.checked_add(len))
            .filter(|&end| end <= trailer_at)
            .ok_or(SnapshotError::SectionTruncated {
                kind: expected,
                offset: at,
            })?;
        let body = file.slice(body_at..body_end);
        if crc32fast::hash(&body) != u32_at(file, at + 16) {
            return Err(SnapshotError::SectionChecksum { kind: expected });
        }
        let padded_end = body_end.next_multiple_of(8);
        if padded_end > trailer_at || file[body_end..padded_end].iter().any(|&b| b != 0) {
            return Err(SnapshotError::Reserved);
        }
        bodies.push(body);
        at = padded_end;
    }
    if at != trailer_at {
        return Err(SnapshotError::TrailingBytes(trailer_at - at));
    }
    let [meta, members, kv, leases, v2, auth]: [Bytes; 6] =
        bodies.try_into().expect("six sections");
    let members_and_removed =
        decode_members(&members).map_err(|reason| body_error(SECTION_MEMBERS, reason))?;
    Ok(SnapshotImage {
        meta: decode_meta(&meta).map_err(|reason| body_error(SECTION_META, reason))?,
        members: members_and_removed.0,
        removed: members_and_removed.1,
        kv: Store::decode_image(&kv, kv_config)?,
        leases: decode_leases(&leases).map_err(|reason| body_error(SECTION_LEASES, reason))?,
        v2: crate::v2store::V2Store::decode(&v2)
            .map_err(|e| body_error(SECTION_V2, e.to_string()))?,
        auth: AuthStore::decode_image(&auth, DEFAULT_TOKEN_TTL_MS)
            .map_err(|e| body_error(SECTION_AUTH, e.to_string()))?,
    })
}

fn body_error(kind: u32, reason: String) -> SnapshotError {
    SnapshotError::SectionBody { kind, reason }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn encode_meta(out: &mut Vec<u8>, meta: &SnapshotMeta) {
    put_u64(out, meta.index);
    put_u64(out, meta.term);
    for ids in [&meta.conf_state.voters, &meta.conf_state.learners] {
        put_u32(out, ids.len() as u32);
        for &id in ids.iter() {
            put_u64(out, id);
        }
    }
}

fn encode_members(out: &mut Vec<u8>, members: &[Member], removed: &[u64]) {
    put_u32(out, members.len() as u32);
    for member in members {
        put_u64(out, member.id);
        out.push(u8::from(member.is_learner));
        put_str(out, &member.name);
        for urls in [&member.peer_urls, &member.client_urls] {
            put_u32(out, urls.len() as u32);
            for url in urls.iter() {
                put_str(out, url);
            }
        }
    }
    // Removed members follow, when there are any (older files end here).
    if !removed.is_empty() {
        put_u32(out, removed.len() as u32);
        for &id in removed {
            put_u64(out, id);
        }
    }
}

fn encode_leases(out: &mut Vec<u8>, leases: &[LeaseRecord]) {
    put_u32(out, leases.len() as u32);
    for lease in leases {
        put_u64(out, lease.id as u64);
        put_u64(out, lease.ttl_secs as u64);
    }
}

/// A bounds-checked cursor over a section body; errors are reasons.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() - self.at < n {
            return Err(format!("truncated at byte {}", self.at));
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32_at(self.take(4)?, 0))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64_at(self.take(8)?, 0))
    }

    /// A count of items of at least `min_item_bytes` each, bounded by what is left.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize, String> {
        let count = self.u32()? as usize;
        if count.saturating_mul(min_item_bytes) > self.bytes.len() - self.at {
            return Err(format!("count {count} exceeds the remaining bytes"));
        }
        Ok(count)
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }

    fn finish(self) -> Result<(), String> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(format!("{} trailing bytes", self.bytes.len() - self.at))
        }
    }
}

fn decode_meta(body: &[u8]) -> Result<SnapshotMeta, String> {
    let mut reader = Reader::new(body);
    let index = reader.u64()?;
    let term = reader.u64()?;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let count = reader.count(8)?;
        for _ in 0..count {
            list.push(reader.u64()?);
        }
        if !list.windows(2).all(|pair| pair[0] < pair[1]) {
            return Err("member ids are not sorted and unique".to_string());
        }
    }
    reader.finish()?;
    let [voters, learners] = lists;
    if voters.iter().any(|id| learners.binary_search(id).is_ok()) {
        return Err("a member is both voter and learner".to_string());
    }
    Ok(SnapshotMeta {
        index,
        term,
        conf_state: ConfState { voters, learners },
    })
}

fn decode_members(body: &[u8]) -> Result<(Vec<Member>, Vec<u64>), String> {
    let mut reader = Reader::new(body);
    let count = reader.count(21)?;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let id = reader.u64()?;
        let is_learner = match reader.u8()? {
            0 => false,
            1 => true,
            other => return Err(format!("learner flag {other}")),
        };
        let name = reader.string()?;
        let mut url_lists = [Vec::new(), Vec::new()];
        for urls in &mut url_lists {
            let count = reader.count(4)?;
            for _ in 0..count {
                urls.push(reader.string()?);
            }
        }
        let [peer_urls, client_urls] = url_lists;
        members.push(Member {
            id,
            name,
            peer_urls,
            client_urls,
            is_learner,
        });
    }
    let mut removed = Vec::new();
    if reader.at < reader.bytes.len() {
        let count = reader.count(8)?;
        // Written only when some member was removed: an empty list would be
        // a second encoding of "none".
        if count == 0 {
            return Err("members: a removed-member list that is present but empty".to_string());
        }
        for _ in 0..count {
            removed.push(reader.u64()?);
        }
    }
    reader.finish()?;
    Ok((members, removed))
}

fn decode_leases(body: &[u8]) -> Result<Vec<LeaseRecord>, String> {
    let mut reader = Reader::new(body);
    let count = reader.count(16)?;
    let mut leases = Vec::with_capacity(count);
    for _ in 0..count {
        let id = reader.u64()? as i64;
        let ttl_secs = reader.u64()? as i64;
        if id == 0 {
            return Err("lease id 0".to_string());
        }
        leases.push(LeaseRecord { id, ttl_secs });
    }
    reader.finish()?;
    Ok(leases)
}
