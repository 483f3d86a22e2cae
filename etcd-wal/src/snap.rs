//! `*.snap` files and conf change entries.

use prost::Message;

use crate::proto;
use crate::{ConfChange, ConfChangeType, Corruption, EtcdFileError, RaftSnapshot};

/// A `*.snap` file's bytes, checked as etcd's `snap.Read` checks them:
/// not empty, a `snappb.snapshot` with data and a non-zero CRC-32C of that
/// data that matches, the data a `raftpb.Snapshot`. `file` names it in
/// errors and in the result.
pub fn decode_snap_file(file: &str, bytes: &[u8]) -> Result<RaftSnapshot, EtcdFileError> {
    let corrupt = |what| EtcdFileError::corrupt(file, 0, what);
    let bad = |what: &'static str, e: prost::DecodeError| {
        corrupt(Corruption::BadPayload {
            what,
            reason: e.to_string(),
        })
    };
    if bytes.is_empty() {
        return Err(corrupt(Corruption::EmptySnapshot));
    }
    let outer = proto::SnapFile::decode(bytes).map_err(|e| bad("snappb.snapshot", e))?;
    if outer.data.is_empty() || outer.crc == 0 {
        return Err(corrupt(Corruption::EmptySnapshot));
    }
    let computed = crc32c::crc32c(&outer.data);
    if computed != outer.crc {
        return Err(corrupt(Corruption::CrcMismatch {
            stored: outer.crc,
            computed,
        }));
    }
    let snap =
        proto::Snapshot::decode(outer.data.as_slice()).map_err(|e| bad("raftpb.Snapshot", e))?;
    let metadata = snap.metadata.unwrap_or_default();
    let conf = metadata.conf_state.unwrap_or_default();
    Ok(RaftSnapshot {
        index: metadata.index,
        term: metadata.term,
        voters: conf.voters,
        learners: conf.learners,
        data: snap.data,
        file: file.to_string(),
    })
}

/// The data of a [`crate::EntryType::ConfChange`] entry.
pub fn decode_conf_change(data: &[u8]) -> Result<ConfChange, EtcdFileError> {
    let corrupt = |what| EtcdFileError::corrupt("conf change entry", 0, what);
    let cc = proto::ConfChange::decode(data).map_err(|e| {
        corrupt(Corruption::BadPayload {
            what: "raftpb.ConfChange",
            reason: e.to_string(),
        })
    })?;
    let kind = match cc.r#type {
        0 => ConfChangeType::AddNode,
        1 => ConfChangeType::RemoveNode,
        2 => ConfChangeType::UpdateNode,
        3 => ConfChangeType::AddLearnerNode,
        other => return Err(corrupt(Corruption::UnknownConfChangeType(other))),
    };
    Ok(ConfChange {
        id: cc.id,
        kind,
        node_id: cc.node_id,
        context: cc.context,
    })
}
