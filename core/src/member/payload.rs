//! Log payloads: the [`Proposal`] a normal entry carries and the [`MemberInfo`]
//! in a membership change's context. Layouts in docs/peer-protocol.md, "Log
//! payloads".
//!
//! ```text
//!  proposal     version=1 | origin v | seq v | [identity] | op tag u8 | op fields
//!  identity     tag 9 | 0 (anonymous) or 1 | user name s   (absent: the member itself)
//!  member info  version=1 | name s | peer_urls n×s | client_urls n×s
//! ```
//! `v` is an LEB128 varint (signed values as their two's-complement bits), `s`
//! a varint length then the bytes, `n×` a varint count then the items.

use bytes::Bytes;

use super::request::{AlarmKind, MemberInfo, Op, Proposal};
use crate::auth::codec::{put_auth_op, read_auth_op};
use crate::auth::Identity;
use crate::codec::wire::{put_bool, put_bytes, put_i64, put_strings, put_varint, Reader};
use crate::codec::CodecError;
use crate::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    SortOrder, SortTarget, TxnRequest,
};

/// The first byte of every log payload. A payload with another version is
/// refused, never guessed at: entries outlive the binary that wrote them, so a
/// new layout must come with a new version and a decoder for both.
pub const PAYLOAD_FORMAT_VERSION: u8 = 1;

/// How deep txns may nest (the proposal's own txn is level 1). Decoding stops
/// there rather than recursing without bound on hostile input. Txns arriving
/// over gRPC cannot get near it: prost refuses messages nested more than 100
/// deep, and each txn level costs two (TxnRequest, RequestOp), so they nest at
/// most 49 deep. A member must not propose a txn deeper than this.
pub const MAX_TXN_DEPTH: usize = 64;

const OP_PUT: u8 = 1;
const OP_DELETE_RANGE: u8 = 2;
const OP_TXN: u8 = 3;
const OP_COMPACT: u8 = 4;
const OP_LEASE_GRANT: u8 = 5;
const OP_LEASE_REVOKE: u8 = 6;
const OP_PUBLISH_ATTRIBUTES: u8 = 7;
const OP_ALARM: u8 = 8;
/// Not an op: names who asked for the op that follows.
const OP_IDENTITY: u8 = 9;
const OP_AUTH: u8 = 10;
const OP_UPDATE_MEMBER: u8 = 11;
const OP_V2: u8 = 12;

const IDENTITY_ANONYMOUS: u8 = 0;
const IDENTITY_USER: u8 = 1;

const REQUEST_RANGE: u8 = 1;
const REQUEST_PUT: u8 = 2;
const REQUEST_DELETE_RANGE: u8 = 3;
const REQUEST_TXN: u8 = 4;

// CompareTarget tags, numbered as etcd's Compare.CompareTarget.
const TARGET_VERSION: u8 = 0;
const TARGET_CREATE: u8 = 1;
const TARGET_MOD: u8 = 2;
const TARGET_VALUE: u8 = 3;
const TARGET_LEASE: u8 = 4;

const PUT_PREV_KV: u8 = 0x01;
const PUT_IGNORE_VALUE: u8 = 0x02;
const PUT_IGNORE_LEASE: u8 = 0x04;
const PUT_FLAGS: u8 = PUT_PREV_KV | PUT_IGNORE_VALUE | PUT_IGNORE_LEASE;

const RANGE_SERIALIZABLE: u8 = 0x01;
const RANGE_KEYS_ONLY: u8 = 0x02;
const RANGE_COUNT_ONLY: u8 = 0x04;
const RANGE_FLAGS: u8 = RANGE_SERIALIZABLE | RANGE_KEYS_ONLY | RANGE_COUNT_ONLY;

/// The fewest bytes a Compare takes: key, range_end, result, target tag, value.
const MIN_COMPARE_BYTES: usize = 5;
/// The fewest bytes a RequestOp takes: an empty nested txn (tag + 3 counts).
const MIN_REQUEST_OP_BYTES: usize = 4;

/// Encodes a proposal into a new buffer.
pub fn encode_proposal(proposal: &Proposal) -> Bytes {
    let mut out = Vec::with_capacity(size_hint(&proposal.op));
    encode_proposal_into(proposal, &mut out);
    Bytes::from(out)
}

/// Appends the encoding of a proposal to `out`.
pub fn encode_proposal_into(proposal: &Proposal, out: &mut Vec<u8>) {
    out.push(PAYLOAD_FORMAT_VERSION);
    put_varint(out, proposal.origin);
    put_varint(out, proposal.seq);
    match &proposal.identity {
        Identity::System => {}
        Identity::Anonymous => out.extend_from_slice(&[OP_IDENTITY, IDENTITY_ANONYMOUS]),
        Identity::User(name) => {
            out.extend_from_slice(&[OP_IDENTITY, IDENTITY_USER]);
            put_bytes(out, name.as_bytes());
        }
    }
    match &proposal.op {
        Op::Put(put) => {
            out.push(OP_PUT);
            put_put(out, put);
        }
        Op::DeleteRange(delete) => {
            out.push(OP_DELETE_RANGE);
            put_delete(out, delete);
        }
        Op::Txn(txn) => {
            out.push(OP_TXN);
            put_txn(out, txn);
        }
        Op::Compact { revision, physical } => {
            out.push(OP_COMPACT);
            put_i64(out, *revision);
            put_bool(out, *physical);
        }
        Op::LeaseGrant { id, ttl_secs } => {
            out.push(OP_LEASE_GRANT);
            put_i64(out, *id);
            put_i64(out, *ttl_secs);
        }
        Op::LeaseRevoke { id } => {
            out.push(OP_LEASE_REVOKE);
            put_i64(out, *id);
        }
        Op::Alarm {
            activate,
            member,
            alarm,
        } => {
            out.push(OP_ALARM);
            put_bool(out, *activate);
            put_varint(out, *member);
            out.push(alarm.to_byte());
        }
        Op::Auth(op) => {
            out.push(OP_AUTH);
            put_auth_op(out, op);
        }
        Op::PublishAttributes {
            member,
            name,
            client_urls,
        } => {
            out.push(OP_PUBLISH_ATTRIBUTES);
            put_varint(out, *member);
            put_bytes(out, name.as_bytes());
            put_strings(out, client_urls);
        }
        Op::UpdateMember { member, peer_urls } => {
            out.push(OP_UPDATE_MEMBER);
            put_varint(out, *member);
            put_strings(out, peer_urls);
        }
        Op::V2(write) => {
            out.push(OP_V2);
            crate::v2store::put_v2_write(out, write);
        }
    }
}

/// Decodes a proposal; keys and values are slices of `data`.
pub fn decode_proposal(data: &Bytes) -> Result<Proposal, CodecError> {
    let mut reader = Reader::new(data, 0);
    read_version(&mut reader)?;
    let origin = reader.varint("proposal origin")?;
    let seq = reader.varint("proposal seq")?;
    let mut tag_offset = reader.offset();
    let mut tag = reader.u8("op tag")?;
    let mut identity = Identity::System;
    if tag == OP_IDENTITY {
        let offset = reader.offset();
        identity = match reader.u8("identity kind")? {
            IDENTITY_ANONYMOUS => Identity::Anonymous,
            IDENTITY_USER => Identity::User(reader.string("user name")?),
            kind => {
                return Err(CodecError::UnknownTag {
                    what: "identity kind",
                    tag: kind,
                    offset,
                })
            }
        };
        tag_offset = reader.offset();
        tag = reader.u8("op tag")?;
    }
    let op = match tag {
        OP_PUT => Op::Put(read_put(&mut reader)?),
        OP_DELETE_RANGE => Op::DeleteRange(read_delete(&mut reader)?),
        OP_TXN => Op::Txn(read_txn(&mut reader, 1)?),
        OP_COMPACT => Op::Compact {
            revision: reader.i64("compact revision")?,
            physical: reader.bool("compact physical")?,
        },
        OP_LEASE_GRANT => Op::LeaseGrant {
            id: reader.i64("lease id")?,
            ttl_secs: reader.i64("lease ttl")?,
        },
        OP_LEASE_REVOKE => Op::LeaseRevoke {
            id: reader.i64("lease id")?,
        },
        OP_ALARM => {
            let activate = reader.bool("alarm activate")?;
            let member = reader.varint("alarm member")?;
            let offset = reader.offset();
            let byte = reader.u8("alarm type")?;
            let alarm = AlarmKind::from_byte(byte).ok_or(CodecError::UnknownTag {
                what: "alarm type",
                tag: byte,
                offset,
            })?;
            Op::Alarm {
                activate,
                member,
                alarm,
            }
        }
        OP_AUTH => Op::Auth(read_auth_op(&mut reader)?),
        OP_PUBLISH_ATTRIBUTES => Op::PublishAttributes {
            member: reader.varint("publish member")?,
            name: reader.string("member name")?,
            client_urls: reader.strings("client urls", "client url")?,
        },
        OP_UPDATE_MEMBER => Op::UpdateMember {
            member: reader.varint("updated member")?,
            peer_urls: reader.strings("peer urls", "peer url")?,
        },
        OP_V2 => Op::V2(crate::v2store::read_v2_write(&mut reader)?),
        tag => {
            return Err(CodecError::UnknownTag {
                what: "op",
                tag,
                offset: tag_offset,
            })
        }
    };
    reader.finish("proposal")?;
    Ok(Proposal {
        origin,
        seq,
        identity,
        op,
    })
}

/// Encodes a member's name and URLs (a membership change's context).
pub fn encode_member_info(info: &MemberInfo) -> Bytes {
    let strings = info.peer_urls.iter().chain(&info.client_urls);
    let text_bytes: usize = info.name.len() + strings.map(|url| url.len() + 2).sum::<usize>();
    let mut out = Vec::with_capacity(8 + text_bytes);
    out.push(PAYLOAD_FORMAT_VERSION);
    put_bytes(&mut out, info.name.as_bytes());
    put_strings(&mut out, &info.peer_urls);
    put_strings(&mut out, &info.client_urls);
    Bytes::from(out)
}

/// Decodes what [`encode_member_info`] wrote.
pub fn decode_member_info(data: &Bytes) -> Result<MemberInfo, CodecError> {
    let mut reader = Reader::new(data, 0);
    read_version(&mut reader)?;
    let info = MemberInfo {
        name: reader.string("member name")?,
        peer_urls: reader.strings("peer urls", "peer url")?,
        client_urls: reader.strings("client urls", "client url")?,
    };
    reader.finish("member info")?;
    Ok(info)
}

fn read_version(reader: &mut Reader<'_>) -> Result<(), CodecError> {
    let version = reader.u8("log payload version")?;
    if version != PAYLOAD_FORMAT_VERSION {
        return Err(CodecError::UnsupportedVersion {
            what: "log payload",
            offset: 0,
            found: version.into(),
            supported: PAYLOAD_FORMAT_VERSION.into(),
        });
    }
    Ok(())
}

/// Enough for the common single-key ops to encode without reallocating.
fn size_hint(op: &Op) -> usize {
    const FIXED: usize = 48;
    match op {
        Op::Put(put) => FIXED + put.key.len() + put.value.len(),
        Op::DeleteRange(delete) => FIXED + delete.key.len() + delete.range_end.len(),
        Op::Txn(_) => 256,
        _ => FIXED,
    }
}

fn put_put(out: &mut Vec<u8>, put: &PutRequest) {
    put_bytes(out, &put.key);
    put_bytes(out, &put.value);
    put_i64(out, put.lease);
    let mut flags = 0;
    if put.prev_kv {
        flags |= PUT_PREV_KV;
    }
    if put.ignore_value {
        flags |= PUT_IGNORE_VALUE;
    }
    if put.ignore_lease {
        flags |= PUT_IGNORE_LEASE;
    }
    out.push(flags);
}

fn read_put(reader: &mut Reader<'_>) -> Result<PutRequest, CodecError> {
    let key = reader.bytes("put key")?;
    let value = reader.bytes("put value")?;
    let lease = reader.i64("put lease")?;
    let flags = reader.flags("put flags", PUT_FLAGS)?;
    Ok(PutRequest {
        key,
        value,
        lease,
        prev_kv: flags & PUT_PREV_KV != 0,
        ignore_value: flags & PUT_IGNORE_VALUE != 0,
        ignore_lease: flags & PUT_IGNORE_LEASE != 0,
    })
}

fn put_delete(out: &mut Vec<u8>, delete: &DeleteRangeRequest) {
    put_bytes(out, &delete.key);
    put_bytes(out, &delete.range_end);
    put_bool(out, delete.prev_kv);
}

fn read_delete(reader: &mut Reader<'_>) -> Result<DeleteRangeRequest, CodecError> {
    Ok(DeleteRangeRequest {
        key: reader.bytes("delete key")?,
        range_end: reader.bytes("delete range_end")?,
        prev_kv: reader.bool("delete prev_kv")?,
    })
}

fn put_range(out: &mut Vec<u8>, range: &RangeRequest) {
    put_bytes(out, &range.key);
    put_bytes(out, &range.range_end);
    put_i64(out, range.limit);
    put_i64(out, range.revision);
    out.push(match range.sort_order {
        SortOrder::None => 0,
        SortOrder::Ascend => 1,
        SortOrder::Descend => 2,
    });
    out.push(match range.sort_target {
        SortTarget::Key => 0,
        SortTarget::Version => 1,
        SortTarget::Create => 2,
        SortTarget::Mod => 3,
        SortTarget::Value => 4,
    });
    let mut flags = 0;
    if range.serializable {
        flags |= RANGE_SERIALIZABLE;
    }
    if range.keys_only {
        flags |= RANGE_KEYS_ONLY;
    }
    if range.count_only {
        flags |= RANGE_COUNT_ONLY;
    }
    out.push(flags);
    put_i64(out, range.min_mod_revision);
    put_i64(out, range.max_mod_revision);
    put_i64(out, range.min_create_revision);
    put_i64(out, range.max_create_revision);
}

fn read_range(reader: &mut Reader<'_>) -> Result<RangeRequest, CodecError> {
    let key = reader.bytes("range key")?;
    let range_end = reader.bytes("range range_end")?;
    let limit = reader.i64("range limit")?;
    let revision = reader.i64("range revision")?;
    let offset = reader.offset();
    let sort_order = match reader.u8("range sort order")? {
        0 => SortOrder::None,
        1 => SortOrder::Ascend,
        2 => SortOrder::Descend,
        tag => {
            return Err(CodecError::UnknownTag {
                what: "sort order",
                tag,
                offset,
            })
        }
    };
    let offset = reader.offset();
    let sort_target = match reader.u8("range sort target")? {
        0 => SortTarget::Key,
        1 => SortTarget::Version,
        2 => SortTarget::Create,
        3 => SortTarget::Mod,
        4 => SortTarget::Value,
        tag => {
            return Err(CodecError::UnknownTag {
                what: "sort target",
                tag,
                offset,
            })
        }
    };
    let flags = reader.flags("range flags", RANGE_FLAGS)?;
    Ok(RangeRequest {
        key,
        range_end,
        limit,
        revision,
        sort_order,
        sort_target,
        serializable: flags & RANGE_SERIALIZABLE != 0,
        keys_only: flags & RANGE_KEYS_ONLY != 0,
        count_only: flags & RANGE_COUNT_ONLY != 0,
        min_mod_revision: reader.i64("range min_mod_revision")?,
        max_mod_revision: reader.i64("range max_mod_revision")?,
        min_create_revision: reader.i64("range min_create_revision")?,
        max_create_revision: reader.i64("range max_create_revision")?,
    })
}

fn put_txn(out: &mut Vec<u8>, txn: &TxnRequest) {
    put_varint(out, txn.compare.len() as u64);
    for compare in &txn.compare {
        put_compare(out, compare);
    }
    for ops in [&txn.success, &txn.failure] {
        put_varint(out, ops.len() as u64);
        for op in ops {
            put_request_op(out, op);
        }
    }
}

/// Reads a txn at nesting level `depth` (the proposal's own txn is level 1).
fn read_txn(reader: &mut Reader<'_>, depth: usize) -> Result<TxnRequest, CodecError> {
    if depth > MAX_TXN_DEPTH {
        return Err(CodecError::TxnTooDeep {
            limit: MAX_TXN_DEPTH,
            offset: reader.offset(),
        });
    }
    let count = reader.count("txn compares", MIN_COMPARE_BYTES)?;
    let mut compare = Vec::with_capacity(count);
    for _ in 0..count {
        compare.push(read_compare(reader)?);
    }
    let success = read_request_ops(reader, "txn success ops", depth)?;
    let failure = read_request_ops(reader, "txn failure ops", depth)?;
    Ok(TxnRequest {
        compare,
        success,
        failure,
    })
}

fn put_compare(out: &mut Vec<u8>, compare: &Compare) {
    put_bytes(out, &compare.key);
    put_bytes(out, &compare.range_end);
    out.push(match compare.result {
        CompareResult::Equal => 0,
        CompareResult::Greater => 1,
        CompareResult::Less => 2,
        CompareResult::NotEqual => 3,
    });
    match &compare.target {
        CompareTarget::Version(version) => {
            out.push(TARGET_VERSION);
            put_i64(out, *version);
        }
        CompareTarget::Create(revision) => {
            out.push(TARGET_CREATE);
            put_i64(out, *revision);
        }
        CompareTarget::Mod(revision) => {
            out.push(TARGET_MOD);
            put_i64(out, *revision);
        }
        CompareTarget::Value(value) => {
            out.push(TARGET_VALUE);
            put_bytes(out, value);
        }
        CompareTarget::Lease(lease) => {
            out.push(TARGET_LEASE);
            put_i64(out, *lease);
        }
    }
}

fn read_compare(reader: &mut Reader<'_>) -> Result<Compare, CodecError> {
    let key = reader.bytes("compare key")?;
    let range_end = reader.bytes("compare range_end")?;
    let offset = reader.offset();
    let result = match reader.u8("compare result")? {
        0 => CompareResult::Equal,
        1 => CompareResult::Greater,
        2 => CompareResult::Less,
        3 => CompareResult::NotEqual,
        tag => {
            return Err(CodecError::UnknownTag {
                what: "compare result",
                tag,
                offset,
            })
        }
    };
    let offset = reader.offset();
    let target = match reader.u8("compare target")? {
        TARGET_VERSION => CompareTarget::Version(reader.i64("compare version")?),
        TARGET_CREATE => CompareTarget::Create(reader.i64("compare create_revision")?),
        TARGET_MOD => CompareTarget::Mod(reader.i64("compare mod_revision")?),
        TARGET_VALUE => CompareTarget::Value(reader.bytes("compare value")?),
        TARGET_LEASE => CompareTarget::Lease(reader.i64("compare lease")?),
        tag => {
            return Err(CodecError::UnknownTag {
                what: "compare target",
                tag,
                offset,
            })
        }
    };
    Ok(Compare {
        key,
        range_end,
        result,
        target,
    })
}

fn put_request_op(out: &mut Vec<u8>, op: &RequestOp) {
    match op {
        RequestOp::Range(range) => {
            out.push(REQUEST_RANGE);
            put_range(out, range);
        }
        RequestOp::Put(put) => {
            out.push(REQUEST_PUT);
            put_put(out, put);
        }
        RequestOp::DeleteRange(delete) => {
            out.push(REQUEST_DELETE_RANGE);
            put_delete(out, delete);
        }
        RequestOp::Txn(txn) => {
            out.push(REQUEST_TXN);
            put_txn(out, txn);
        }
    }
}

fn read_request_ops(
    reader: &mut Reader<'_>,
    count_what: &'static str,
    depth: usize,
) -> Result<Vec<RequestOp>, CodecError> {
    let count = reader.count(count_what, MIN_REQUEST_OP_BYTES)?;
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        let offset = reader.offset();
        ops.push(match reader.u8("request op tag")? {
            REQUEST_RANGE => RequestOp::Range(read_range(reader)?),
            REQUEST_PUT => RequestOp::Put(read_put(reader)?),
            REQUEST_DELETE_RANGE => RequestOp::DeleteRange(read_delete(reader)?),
            REQUEST_TXN => RequestOp::Txn(read_txn(reader, depth + 1)?),
            tag => {
                return Err(CodecError::UnknownTag {
                    what: "request op",
                    tag,
                    offset,
                })
            }
        });
    }
    Ok(ops)
}
