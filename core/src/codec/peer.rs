//! The peer protocol: a hello, then a stream of self-delimiting frames, each
//! holding one Raft [`Message`]. Layouts in docs/peer-protocol.md.
//!
//! ```text
//!  hello   "CRNP" | version u16 | cluster_id u64 | from u64 | to u64 | crc u32   (34 B)
//!  frame   0xC1 | body_len u32 | crc32(body) u32 | body                          (9 B + body)
//!  body    from v | to v | term v | tag u8 | fields of the variant
//! ```
//! Fixed-width integers are little-endian; `v` is an LEB128 varint. The CRC is
//! CRC-32 (IEEE), as `crc32fast`, like the WAL's.

use bytes::Bytes;

use super::wire::{put_bool, put_bytes, put_varint, Reader};
use super::{CodecError, HelloRefusal};
use crate::raft::{
    ConfState, Entry, EntryKind, Message, MessageBody, NodeId, ReadId, RejectHint, SnapshotMeta,
};

/// The first byte of every frame; it also names the frame format's version (a
/// second version would take 0xC2).
pub const FRAME_MAGIC: u8 = 0xC1;

/// Magic byte, body length, body CRC.
pub const FRAME_HEADER_BYTES: usize = 9;

/// The largest frame body a decoder accepts. Raft bounds an append at
/// `max_message_bytes` (1 MiB by default) but always sends at least one entry,
/// and forwarded proposals are batched; 64 MiB is far above any honest message
/// and still small enough that a corrupt length cannot make a peer buffer
/// gigabytes.
pub const MAX_FRAME_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The largest whole frame, header included.
pub const MAX_FRAME_BYTES: usize = FRAME_HEADER_BYTES + MAX_FRAME_BODY_BYTES;

/// The first bytes a connecting member sends, once.
pub const HELLO_MAGIC: [u8; 4] = *b"CRNP";

/// The peer protocol version a hello announces. A member refuses any other.
pub const PEER_PROTOCOL_VERSION: u16 = 1;

/// The size of a hello (it has no variable part).
pub const HELLO_BYTES: usize = 34;

/// What an accepting member writes, once, before it closes a connection
/// whose hello came from a member removed from its cluster (etcd answers
/// such a peer `410 Gone`); the connecting member then stops.
pub const REMOVED_NOTICE: [u8; 8] = *b"CRNPGONE";

const TAG_APPEND: u8 = 1;
const TAG_APPEND_RESPONSE: u8 = 2;
const TAG_HEARTBEAT: u8 = 3;
const TAG_HEARTBEAT_RESPONSE: u8 = 4;
const TAG_VOTE: u8 = 5;
const TAG_VOTE_RESPONSE: u8 = 6;
const TAG_SNAPSHOT: u8 = 7;
const TAG_PROPOSE: u8 = 8;
const TAG_READ_INDEX: u8 = 9;
const TAG_READ_INDEX_RESPONSE: u8 = 10;
const TAG_TRANSFER_LEADER: u8 = 11;
const TAG_TIMEOUT_NOW: u8 = 12;

const VOTE_PRE: u8 = 0x01;
const VOTE_TRANSFER: u8 = 0x02;
const VOTE_RESPONSE_PRE: u8 = 0x01;
const VOTE_RESPONSE_GRANTED: u8 = 0x02;

/// The fewest bytes an entry takes: term, index, kind, data length.
const MIN_ENTRY_BYTES: usize = 4;

/// Appends one frame holding `message` to `out`.
///
/// # Panics
/// If the body exceeds [`MAX_FRAME_BODY_BYTES`]: Raft bounds its messages far
/// below that, so only a bug gets there (and a peer would refuse the frame).
pub fn encode_message(message: &Message, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[FRAME_MAGIC, 0, 0, 0, 0, 0, 0, 0, 0]);
    encode_message_body(message, out);
    let body = &out[start + FRAME_HEADER_BYTES..];
    assert!(
        body.len() <= MAX_FRAME_BODY_BYTES,
        "a {} message of {} bytes exceeds MAX_FRAME_BODY_BYTES",
        message.body.name(),
        body.len()
    );
    let len = body.len() as u32;
    let crc = crc32fast::hash(body);
    out[start + 1..start + 5].copy_from_slice(&len.to_le_bytes());
    out[start + 5..start + 9].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the frame at the start of `buf`.
///
/// Returns `Ok(None)` while `buf` holds only a prefix of a frame (read more and
/// call again), and `Ok(Some((message, consumed)))` once it holds a whole one:
/// the frame is `buf[..consumed]` and the next one starts after it. A bad magic
/// byte or an oversize length is reported as soon as the header shows it, before
/// the body arrives. Entry payloads are slices of `buf`.
pub fn decode_frame(buf: &Bytes) -> Result<Option<(Message, usize)>, CodecError> {
    let Some(&magic) = buf.first() else {
        return Ok(None);
    };
    if magic != FRAME_MAGIC {
        return Err(CodecError::BadMagic {
            what: "frame",
            found: magic.into(),
            expected: FRAME_MAGIC.into(),
        });
    }
    if buf.len() < FRAME_HEADER_BYTES {
        return Ok(None);
    }
    let len = read_u32(&buf[1..5]);
    if len as usize > MAX_FRAME_BODY_BYTES {
        return Err(CodecError::FrameTooLarge {
            len,
            max: MAX_FRAME_BODY_BYTES,
        });
    }
    let end = FRAME_HEADER_BYTES + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let stored = read_u32(&buf[5..9]);
    let computed = crc32fast::hash(&buf[FRAME_HEADER_BYTES..end]);
    if stored != computed {
        return Err(CodecError::ChecksumMismatch {
            what: "frame",
            stored,
            computed,
        });
    }
    let body = buf.slice(FRAME_HEADER_BYTES..end);
    let message = decode_body(&body, FRAME_HEADER_BYTES)?;
    Ok(Some((message, end)))
}

/// Appends the body of a frame (no header, no checksum): for transports that
/// frame messages themselves.
pub fn encode_message_body(message: &Message, out: &mut Vec<u8>) {
    put_varint(out, message.from);
    put_varint(out, message.to);
    put_varint(out, message.term);
    match &message.body {
        MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            commit,
        } => {
            out.push(TAG_APPEND);
            put_varint(out, *prev_index);
            put_varint(out, *prev_term);
            put_varint(out, *commit);
            put_entries(out, entries);
        }
        MessageBody::AppendResponse { index, reject } => {
            out.push(TAG_APPEND_RESPONSE);
            put_varint(out, *index);
            match reject {
                None => put_bool(out, false),
                Some(hint) => {
                    put_bool(out, true);
                    put_varint(out, hint.index);
                    put_varint(out, hint.term);
                }
            }
        }
        MessageBody::Heartbeat { commit, read_round } => {
            out.push(TAG_HEARTBEAT);
            put_varint(out, *commit);
            put_varint(out, *read_round);
        }
        MessageBody::HeartbeatResponse { read_round } => {
            out.push(TAG_HEARTBEAT_RESPONSE);
            put_varint(out, *read_round);
        }
        MessageBody::Vote {
            pre,
            last_index,
            last_term,
            transfer,
        } => {
            out.push(TAG_VOTE);
            let mut flags = 0;
            if *pre {
                flags |= VOTE_PRE;
            }
            if *transfer {
                flags |= VOTE_TRANSFER;
            }
            out.push(flags);
            put_varint(out, *last_index);
            put_varint(out, *last_term);
        }
        MessageBody::VoteResponse { pre, granted } => {
            out.push(TAG_VOTE_RESPONSE);
            let mut flags = 0;
            if *pre {
                flags |= VOTE_RESPONSE_PRE;
            }
            if *granted {
                flags |= VOTE_RESPONSE_GRANTED;
            }
            out.push(flags);
        }
        MessageBody::Snapshot { meta } => {
            out.push(TAG_SNAPSHOT);
            put_varint(out, meta.index);
            put_varint(out, meta.term);
            put_ids(out, &meta.conf_state.voters);
            put_ids(out, &meta.conf_state.learners);
        }
        MessageBody::Propose { entries } => {
            out.push(TAG_PROPOSE);
            put_entries(out, entries);
        }
        MessageBody::ReadIndex { ids } => {
            out.push(TAG_READ_INDEX);
            put_ids(out, ids);
        }
        MessageBody::ReadIndexResponse { ids, index } => {
            out.push(TAG_READ_INDEX_RESPONSE);
            put_varint(out, *index);
            put_ids(out, ids);
        }
        MessageBody::TransferLeader { target } => {
            out.push(TAG_TRANSFER_LEADER);
            put_varint(out, *target);
        }
        MessageBody::TimeoutNow => out.push(TAG_TIMEOUT_NOW),
    }
}

/// Decodes what [`encode_message_body`] wrote; entry payloads are slices of
/// `body`, and error offsets count from its first byte.
pub fn decode_message_body(body: &Bytes) -> Result<Message, CodecError> {
    decode_body(body, 0)
}

fn decode_body(body: &Bytes, base: usize) -> Result<Message, CodecError> {
    let mut reader = Reader::new(body, base);
    let from = reader.varint("message from")?;
    let to = reader.varint("message to")?;
    let term = reader.varint("message term")?;
    let tag_offset = reader.offset();
    let body = match reader.u8("message tag")? {
        TAG_APPEND => MessageBody::Append {
            prev_index: reader.varint("append prev_index")?,
            prev_term: reader.varint("append prev_term")?,
            commit: reader.varint("append commit")?,
            entries: read_entries(&mut reader)?,
        },
        TAG_APPEND_RESPONSE => MessageBody::AppendResponse {
            index: reader.varint("append response index")?,
            reject: match reader.bool("append response rejected")? {
                false => None,
                true => Some(RejectHint {
                    index: reader.varint("reject hint index")?,
                    term: reader.varint("reject hint term")?,
                }),
            },
        },
        TAG_HEARTBEAT => MessageBody::Heartbeat {
            commit: reader.varint("heartbeat commit")?,
            read_round: reader.varint("heartbeat read_round")?,
        },
        TAG_HEARTBEAT_RESPONSE => MessageBody::HeartbeatResponse {
            read_round: reader.varint("heartbeat response read_round")?,
        },
        TAG_VOTE => {
            let flags = reader.flags("vote flags", VOTE_PRE | VOTE_TRANSFER)?;
            MessageBody::Vote {
                pre: flags & VOTE_PRE != 0,
                transfer: flags & VOTE_TRANSFER != 0,
                last_index: reader.varint("vote last_index")?,
                last_term: reader.varint("vote last_term")?,
            }
        }
        TAG_VOTE_RESPONSE => {
            let allowed = VOTE_RESPONSE_PRE | VOTE_RESPONSE_GRANTED;
            let flags = reader.flags("vote response flags", allowed)?;
            MessageBody::VoteResponse {
                pre: flags & VOTE_RESPONSE_PRE != 0,
                granted: flags & VOTE_RESPONSE_GRANTED != 0,
            }
        }
        TAG_SNAPSHOT => MessageBody::Snapshot {
            meta: SnapshotMeta {
                index: reader.varint("snapshot index")?,
                term: reader.varint("snapshot term")?,
                conf_state: ConfState {
                    voters: reader.varints("voters", "voter id")?,
                    learners: reader.varints("learners", "learner id")?,
                },
            },
        },
        TAG_PROPOSE => MessageBody::Propose {
            entries: read_entries(&mut reader)?,
        },
        TAG_READ_INDEX => MessageBody::ReadIndex {
            ids: read_ids(&mut reader)?,
        },
        TAG_READ_INDEX_RESPONSE => MessageBody::ReadIndexResponse {
            index: reader.varint("read index response index")?,
            ids: read_ids(&mut reader)?,
        },
        TAG_TRANSFER_LEADER => MessageBody::TransferLeader {
            target: reader.varint("transfer target")?,
        },
        TAG_TIMEOUT_NOW => MessageBody::TimeoutNow,
        tag => {
            return Err(CodecError::UnknownTag {
                what: "message",
                tag,
                offset: tag_offset,
            })
        }
    };
    reader.finish("message")?;
    Ok(Message {
        from,
        to,
        term,
        body,
    })
}

fn put_entries(out: &mut Vec<u8>, entries: &[Entry]) {
    let data_bytes: usize = entries.iter().map(|entry| entry.data.len()).sum();
    out.reserve(data_bytes + entries.len() * 12 + 5);
    put_varint(out, entries.len() as u64);
    for entry in entries {
        put_varint(out, entry.term);
        put_varint(out, entry.index);
        out.push(entry.kind.to_byte());
        put_bytes(out, &entry.data);
    }
}

fn read_entries(reader: &mut Reader<'_>) -> Result<Vec<Entry>, CodecError> {
    let count = reader.count("entries", MIN_ENTRY_BYTES)?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let term = reader.varint("entry term")?;
        let index = reader.varint("entry index")?;
        let offset = reader.offset();
        let tag = reader.u8("entry kind")?;
        let kind = EntryKind::from_byte(tag).ok_or(CodecError::UnknownTag {
            what: "entry kind",
            tag,
            offset,
        })?;
        let data = reader.bytes("entry data")?;
        entries.push(Entry {
            term,
            index,
            kind,
            data,
        });
    }
    Ok(entries)
}

fn put_ids(out: &mut Vec<u8>, ids: &[u64]) {
    put_varint(out, ids.len() as u64);
    for &id in ids {
        put_varint(out, id);
    }
}

fn read_ids(reader: &mut Reader<'_>) -> Result<Vec<ReadId>, CodecError> {
    reader.varints("read ids", "read id")
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

/// The handshake a connecting member sends before its first frame, so the
/// accepting member can refuse a peer of another cluster (or a stray client)
/// before reading any message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    pub cluster_id: u64,
    /// The connecting member.
    pub from: NodeId,
    /// The member it means to reach.
    pub to: NodeId,
}

impl Hello {
    /// Whether the member `local` of cluster `cluster_id` should accept this
    /// connection.
    pub fn check(&self, cluster_id: u64, local: NodeId) -> Result<(), HelloRefusal> {
        if self.cluster_id != cluster_id {
            return Err(HelloRefusal::ClusterMismatch {
                from: self.from,
                theirs: self.cluster_id,
                ours: cluster_id,
            });
        }
        if self.to != local {
            return Err(HelloRefusal::Misaddressed {
                from: self.from,
                to: self.to,
                local,
            });
        }
        Ok(())
    }
}

/// The hello member `from` of cluster `cluster_id` sends to member `to`.
pub fn encode_hello(cluster_id: u64, from: NodeId, to: NodeId) -> [u8; HELLO_BYTES] {
    let mut hello = [0u8; HELLO_BYTES];
    hello[0..4].copy_from_slice(&HELLO_MAGIC);
    hello[4..6].copy_from_slice(&PEER_PROTOCOL_VERSION.to_le_bytes());
    hello[6..14].copy_from_slice(&cluster_id.to_le_bytes());
    hello[14..22].copy_from_slice(&from.to_le_bytes());
    hello[22..30].copy_from_slice(&to.to_le_bytes());
    let crc = crc32fast::hash(&hello[..30]);
    hello[30..34].copy_from_slice(&crc.to_le_bytes());
    hello
}

/// Decodes the hello at the start of `buf`: `Ok(None)` until [`HELLO_BYTES`]
/// have arrived (a wrong magic or version is reported as soon as its bytes
/// have), then the hello and the bytes it took (always [`HELLO_BYTES`]; frames
/// follow).
pub fn decode_hello(buf: &[u8]) -> Result<Option<(Hello, usize)>, CodecError> {
    if buf.len() >= HELLO_MAGIC.len() && buf[..4] != HELLO_MAGIC {
        return Err(CodecError::BadMagic {
            what: "hello",
            found: u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]),
            expected: u32::from_be_bytes(HELLO_MAGIC),
        });
    }
    // The version comes before the checksum: another version's hello may have
    // another length, and its sender deserves a clear refusal.
    if buf.len() >= 6 {
        let version = u16::from_le_bytes([buf[4], buf[5]]);
        if version != PEER_PROTOCOL_VERSION {
            return Err(CodecError::UnsupportedVersion {
                what: "peer protocol",
                offset: 4,
                found: version.into(),
                supported: PEER_PROTOCOL_VERSION.into(),
            });
        }
    }
    if buf.len() < HELLO_BYTES {
        return Ok(None);
    }
    let stored = read_u32(&buf[30..34]);
    let computed = crc32fast::hash(&buf[..30]);
    if stored != computed {
        return Err(CodecError::ChecksumMismatch {
            what: "hello",
            stored,
            computed,
        });
    }
    let hello = Hello {
        cluster_id: read_u64(&buf[6..14]),
        from: read_u64(&buf[14..22]),
        to: read_u64(&buf[22..30]),
    };
    Ok(Some((hello, HELLO_BYTES)))
}
