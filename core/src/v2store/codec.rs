//! The v2 store's snapshot image and the log payload of a [`V2Write`]
//! (both layouts in docs/peer-protocol.md, "v2 writes").
//!
//! Both are canonical, as every cairn codec: whatever decodes re-encodes to
//! the same bytes (the empty image aside, which is the empty store). The
//! auth state's parts are in `codec_auth`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use super::codec_auth::{put_auth_image, put_auth_write, read_auth_image, read_auth_write};
use super::path::{clean_path, depth, split};
use super::{Kind, Node, V2Action, V2Event, V2Node, V2Store, V2Write, HISTORY_CAPACITY, MAX_DEPTH};
use crate::codec::wire::{put_bytes, put_i64, put_varint, Reader};
use crate::codec::CodecError;

/// The image's format version.
const IMAGE_VERSION: u8 = 1;

// Write tags.
const TAG_SET: u8 = 1;
const TAG_CREATE: u8 = 2;
const TAG_UPDATE: u8 = 3;
const TAG_COMPARE_AND_SWAP: u8 = 4;
const TAG_DELETE: u8 = 5;
const TAG_COMPARE_AND_DELETE: u8 = 6;
const TAG_EXPIRE: u8 = 7;
const TAG_AUTH: u8 = 8;

// Write flags.
const W_DIR: u8 = 0x01;
const W_REFRESH: u8 = 0x02;
const W_EXPIRES: u8 = 0x04;
const W_UNIQUE: u8 = 0x08;
const W_RECURSIVE: u8 = 0x10;

// Tree node flags.
const N_DIR: u8 = 0x01;
const N_EXPIRES: u8 = 0x02;

// Event flags, and event node flags.
const E_REFRESH: u8 = 0x01;
const E_PREV: u8 = 0x02;
const EN_DIR: u8 = 0x01;
const EN_VALUE: u8 = 0x02;
const EN_EXPIRES: u8 = 0x04;

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

/// Encodes a write into a log payload (layout documented in
/// docs/peer-protocol.md, "v2 writes").
pub fn put_v2_write(out: &mut Vec<u8>, write: &V2Write) {
    match write {
        V2Write::Set {
            path,
            dir,
            value,
            expire_ms,
            refresh,
        } => {
            out.push(TAG_SET);
            put_string(out, path);
            put_string(out, value);
            let flags = flag(*dir, W_DIR) | flag(*refresh, W_REFRESH);
            put_expiring_flags(out, flags, *expire_ms);
        }
        V2Write::Create {
            path,
            dir,
            value,
            unique,
            expire_ms,
        } => {
            out.push(TAG_CREATE);
            put_string(out, path);
            put_string(out, value);
            let flags = flag(*dir, W_DIR) | flag(*unique, W_UNIQUE);
            put_expiring_flags(out, flags, *expire_ms);
        }
        V2Write::Update {
            path,
            value,
            expire_ms,
            refresh,
        } => {
            out.push(TAG_UPDATE);
            put_string(out, path);
            put_string(out, value);
            put_expiring_flags(out, flag(*refresh, W_REFRESH), *expire_ms);
        }
        V2Write::CompareAndSwap {
            path,
            prev_value,
            prev_index,
            value,
            expire_ms,
            refresh,
        } => {
            out.push(TAG_COMPARE_AND_SWAP);
            put_string(out, path);
            put_string(out, prev_value);
            put_varint(out, *prev_index);
            put_string(out, value);
            put_expiring_flags(out, flag(*refresh, W_REFRESH), *expire_ms);
        }
        V2Write::Delete {
            path,
            dir,
            recursive,
        } => {
            out.push(TAG_DELETE);
            put_string(out, path);
            out.push(flag(*dir, W_DIR) | flag(*recursive, W_RECURSIVE));
        }
        V2Write::CompareAndDelete {
            path,
            prev_value,
            prev_index,
        } => {
            out.push(TAG_COMPARE_AND_DELETE);
            put_string(out, path);
            put_string(out, prev_value);
            put_varint(out, *prev_index);
        }
        V2Write::Expire { now_ms } => {
            out.push(TAG_EXPIRE);
            put_i64(out, *now_ms);
        }
        V2Write::Auth(write) => {
            out.push(TAG_AUTH);
            put_auth_write(out, write);
        }
    }
}

/// Flags with [`W_EXPIRES`] added when there is an expiration, which follows.
fn put_expiring_flags(out: &mut Vec<u8>, flags: u8, expire_ms: Option<i64>) {
    out.push(flags | flag(expire_ms.is_some(), W_EXPIRES));
    if let Some(at) = expire_ms {
        put_i64(out, at);
    }
}

/// Reads the flags allowed with `allowed`, and the expiration they announce.
fn read_expiring_flags(
    reader: &mut Reader<'_>,
    allowed: u8,
) -> Result<(u8, Option<i64>), CodecError> {
    let flags = reader.flags("v2 write flags", allowed | W_EXPIRES)?;
    let expire_ms = if flags & W_EXPIRES != 0 {
        Some(reader.i64("v2 write expire_ms")?)
    } else {
        None
    };
    Ok((flags, expire_ms))
}

/// Decodes a write encoded by [`put_v2_write`] from `reader`.
pub(crate) fn read_v2_write(reader: &mut Reader<'_>) -> Result<V2Write, CodecError> {
    let offset = reader.offset();
    let tag = reader.u8("v2 write tag")?;
    let write = match tag {
        TAG_SET => {
            let path = reader.string("v2 write path")?;
            let value = reader.string("v2 write value")?;
            let (flags, expire_ms) = read_expiring_flags(reader, W_DIR | W_REFRESH)?;
            V2Write::Set {
                path,
                dir: flags & W_DIR != 0,
                value,
                expire_ms,
                refresh: flags & W_REFRESH != 0,
            }
        }
        TAG_CREATE => {
            let path = reader.string("v2 write path")?;
            let value = reader.string("v2 write value")?;
            let (flags, expire_ms) = read_expiring_flags(reader, W_DIR | W_UNIQUE)?;
            V2Write::Create {
                path,
                dir: flags & W_DIR != 0,
                value,
                unique: flags & W_UNIQUE != 0,
                expire_ms,
            }
        }
        TAG_UPDATE => {
            let path = reader.string("v2 write path")?;
            let value = reader.string("v2 write value")?;
            let (flags, expire_ms) = read_expiring_flags(reader, W_REFRESH)?;
            V2Write::Update {
                path,
                value,
                expire_ms,
                refresh: flags & W_REFRESH != 0,
            }
        }
        TAG_COMPARE_AND_SWAP => {
            let path = reader.string("v2 write path")?;
            let prev_value = reader.string("v2 write prev_value")?;
            let prev_index = reader.varint("v2 write prev_index")?;
            let value = reader.string("v2 write value")?;
            let (flags, expire_ms) = read_expiring_flags(reader, W_REFRESH)?;
            V2Write::CompareAndSwap {
                path,
                prev_value,
                prev_index,
                value,
                expire_ms,
                refresh: flags & W_REFRESH != 0,
            }
        }
        TAG_DELETE => {
            let path = reader.string("v2 write path")?;
            let flags = reader.flags("v2 write flags", W_DIR | W_RECURSIVE)?;
            V2Write::Delete {
                path,
                dir: flags & W_DIR != 0,
                recursive: flags & W_RECURSIVE != 0,
            }
        }
        TAG_COMPARE_AND_DELETE => V2Write::CompareAndDelete {
            path: reader.string("v2 write path")?,
            prev_value: reader.string("v2 write prev_value")?,
            prev_index: reader.varint("v2 write prev_index")?,
        },
        TAG_EXPIRE => V2Write::Expire {
            now_ms: reader.i64("v2 write now_ms")?,
        },
        TAG_AUTH => V2Write::Auth(read_auth_write(reader)?),
        tag => {
            return Err(CodecError::UnknownTag {
                what: "v2 write",
                tag,
                offset,
            })
        }
    };
    Ok(write)
}

fn action_tag(action: V2Action) -> u8 {
    match action {
        V2Action::Get => 0,
        V2Action::Create => 1,
        V2Action::Set => 2,
        V2Action::Update => 3,
        V2Action::Delete => 4,
        V2Action::CompareAndSwap => 5,
        V2Action::CompareAndDelete => 6,
        V2Action::Expire => 7,
    }
}

/// The action of a tag; `get` is never in the history.
fn action_of(tag: u8) -> Option<V2Action> {
    Some(match tag {
        1 => V2Action::Create,
        2 => V2Action::Set,
        3 => V2Action::Update,
        4 => V2Action::Delete,
        5 => V2Action::CompareAndSwap,
        6 => V2Action::CompareAndDelete,
        7 => V2Action::Expire,
        _ => return None,
    })
}

/// How many leading bytes two keys share.
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn invalid(what: &'static str, offset: usize) -> CodecError {
    CodecError::OutOfOrder { what, offset }
}

impl V2Store {
    pub(super) fn encode_image(&self) -> Vec<u8> {
        if self.index == 0 && self.auth.is_empty() {
            // Nothing was ever written: the empty image (as in snapshots
            // from before the v2 store).
            return Vec::new();
        }
        let mut out = vec![IMAGE_VERSION];
        put_varint(&mut out, self.index);
        put_varint(&mut out, self.node_count() as u64);
        let mut previous: &[u8] = b"";
        for (path, node) in self.nodes.iter().filter(|(path, _)| *path != "/") {
            let shared = shared_prefix(previous, path.as_bytes());
            put_varint(&mut out, shared as u64);
            put_bytes(&mut out, &path.as_bytes()[shared..]);
            previous = path.as_bytes();
            let flags = flag(node.is_dir(), N_DIR) | flag(node.expire_ms.is_some(), N_EXPIRES);
            out.push(flags);
            put_varint(&mut out, node.created_index);
            put_varint(&mut out, node.modified_index);
            if let Some(at) = node.expire_ms {
                put_i64(&mut out, at);
            }
            if let Kind::Key(value) = &node.kind {
                put_string(&mut out, value);
            }
        }
        put_varint(&mut out, self.history.len() as u64);
        for event in &self.history {
            out.push(action_tag(event.action));
            out.push(flag(event.refresh, E_REFRESH) | flag(event.prev_node.is_some(), E_PREV));
            put_event_node(&mut out, &event.node);
            if let Some(prev) = &event.prev_node {
                put_event_node(&mut out, prev);
            }
        }
        // The auth section, only when there is auth state (so images from
        // before v2 auth read as they are, with no auth state).
        if !self.auth.is_empty() {
            put_auth_image(&mut out, &self.auth);
        }
        out
    }

    pub(super) fn decode_image(bytes: &[u8]) -> Result<V2Store, CodecError> {
        if bytes.is_empty() {
            return Ok(V2Store::new());
        }
        let data = Bytes::copy_from_slice(bytes);
        let mut reader = Reader::new(&data, 0);
        let version = reader.u8("v2 store version")?;
        if version != IMAGE_VERSION {
            return Err(CodecError::UnsupportedVersion {
                what: "v2 store",
                offset: 0,
                found: u32::from(version),
                supported: u32::from(IMAGE_VERSION),
            });
        }
        let offset = reader.offset();
        let index = reader.varint("v2 store index")?;
        if index > i64::MAX as u64 {
            return Err(invalid("v2 store index (beyond i64::MAX)", offset));
        }
        let mut store = V2Store::new();
        store.index = index;
        read_tree(&mut reader, &mut store)?;
        read_history(&mut reader, &mut store)?;
        if reader.remaining() > 0 {
            store.auth = read_auth_image(&mut reader)?;
        }
        reader.finish("v2 store")?;
        if store.index == 0 && store.auth.is_empty() {
            // A store that never changed has the empty image, and only that
            // one: an image decodes from one encoding only.
            return Err(invalid(
                "v2 store index 0 (the empty store's image is empty)",
                offset,
            ));
        }
        Ok(store)
    }
}

fn read_tree(reader: &mut Reader<'_>, store: &mut V2Store) -> Result<(), CodecError> {
    // Each node: shared, suffix length, one suffix byte, flags, 2 indexes.
    let count = reader.count("v2 node count", 6)?;
    let mut nodes = BTreeMap::new();
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let offset = reader.offset();
        let shared = reader.varint("v2 node shared prefix")?;
        let suffix = reader.bytes("v2 node path")?;
        let shared = usize::try_from(shared)
            .ok()
            .filter(|&shared| shared <= previous.len())
            .ok_or_else(|| invalid("v2 node shared prefix", offset))?;
        let mut key = previous[..shared].to_vec();
        key.extend_from_slice(&suffix);
        if shared_prefix(&previous, &key) != shared || key <= previous {
            return Err(invalid("v2 node path (unsorted or not canonical)", offset));
        }
        previous.clone_from(&key);
        let path = String::from_utf8(key).map_err(|_| CodecError::InvalidUtf8 {
            what: "v2 node path",
            offset,
        })?;
        if path == "/" || clean_path(&path) != path || depth(&path) > MAX_DEPTH {
            return Err(invalid(
                "v2 node path (not clean, the root, or too deep)",
                offset,
            ));
        }
        let flags = reader.flags("v2 node flags", N_DIR | N_EXPIRES)?;
        let index_offset = reader.offset();
        let created_index = reader.varint("v2 node created index")?;
        let modified_index = reader.varint("v2 node modified index")?;
        if created_index == 0 || created_index > modified_index || modified_index > store.index {
            return Err(invalid("v2 node indexes", index_offset));
        }
        let expire_ms = if flags & N_EXPIRES != 0 {
            Some(reader.i64("v2 node expire_ms")?)
        } else {
            None
        };
        let kind = if flags & N_DIR != 0 {
            Kind::Dir(BTreeSet::new())
        } else {
            Kind::Key(reader.string("v2 node value")?)
        };
        let (parent, name) = split(&path);
        let parent_children = if parent == "/" {
            store.nodes.get_mut("/")
        } else {
            nodes.get_mut(parent)
        };
        match parent_children {
            Some(Node {
                kind: Kind::Dir(children),
                ..
            }) => children.insert(name.to_owned()),
            _ => return Err(invalid("v2 node parent (missing or a key)", offset)),
        };
        if let Some(at) = expire_ms {
            store.ttl.insert((at, path.clone()));
        }
        let node = Node {
            created_index,
            modified_index,
            expire_ms,
            kind,
        };
        nodes.insert(path, node);
    }
    store.nodes.append(&mut nodes);
    Ok(())
}

fn read_history(reader: &mut Reader<'_>, store: &mut V2Store) -> Result<(), CodecError> {
    let offset = reader.offset();
    // Each event: action, flags, and a node of at least 4 bytes.
    let count = reader.count("v2 history count", 6)?;
    if count > HISTORY_CAPACITY {
        return Err(invalid("v2 history count (beyond capacity)", offset));
    }
    let mut history = VecDeque::with_capacity(count);
    for i in 0..count {
        let offset = reader.offset();
        let tag = reader.u8("v2 event action")?;
        let action = action_of(tag).ok_or(CodecError::UnknownTag {
            what: "v2 event action",
            tag,
            offset,
        })?;
        let flags = reader.flags("v2 event flags", E_REFRESH | E_PREV)?;
        let node = read_event_node(reader)?;
        let prev_node = if flags & E_PREV != 0 {
            Some(read_event_node(reader)?)
        } else {
            None
        };
        // Consecutive indexes ending at the store's.
        let expected = (store.index + 1).checked_sub((count - i) as u64);
        if expected != Some(node.modified_index) || node.modified_index == 0 {
            return Err(invalid("v2 event index", offset));
        }
        history.push_back(V2Event {
            action,
            etcd_index: node.modified_index,
            node,
            prev_node,
            refresh: flags & E_REFRESH != 0,
        });
    }
    store.history = history;
    Ok(())
}

fn put_event_node(out: &mut Vec<u8>, node: &V2Node) {
    put_string(out, &node.key);
    let flags = flag(node.dir, EN_DIR)
        | flag(node.value.is_some(), EN_VALUE)
        | flag(node.expiration_ms.is_some(), EN_EXPIRES);
    out.push(flags);
    put_varint(out, node.modified_index);
    put_varint(out, node.created_index);
    if let Some(at) = node.expiration_ms {
        put_i64(out, at);
    }
    if let Some(value) = &node.value {
        put_string(out, value);
    }
}

fn read_event_node(reader: &mut Reader<'_>) -> Result<V2Node, CodecError> {
    let offset = reader.offset();
    let key = reader.string("v2 event key")?;
    if clean_path(&key) != key {
        return Err(invalid("v2 event key (not clean)", offset));
    }
    let flags = reader.flags("v2 event node flags", EN_DIR | EN_VALUE | EN_EXPIRES)?;
    let modified_index = reader.varint("v2 event modified index")?;
    let created_index = reader.varint("v2 event created index")?;
    let expiration_ms = if flags & EN_EXPIRES != 0 {
        Some(reader.i64("v2 event expiration")?)
    } else {
        None
    };
    let value = if flags & EN_VALUE != 0 {
        Some(reader.string("v2 event value")?)
    } else {
        None
    };
    Ok(V2Node {
        key,
        dir: flags & EN_DIR != 0,
        value,
        nodes: None,
        expiration_ms,
        modified_index,
        created_index,
    })
}
