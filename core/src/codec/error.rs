//! Why bytes are not a log payload, a peer frame or a hello.
//!
//! Every variant is an operating error (bytes from a disk or a socket), never a
//! panic. `what` names the field being read; `offset` counts bytes from the
//! start of the payload, frame or hello the decoder was given (for a frame, from
//! its magic byte, so body offsets start at [`super::FRAME_HEADER_BYTES`]).

use crate::raft::NodeId;

/// Why decoding failed; `Display` is one line naming what was expected and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{what} at offset {offset} runs past the end of the input")]
    Truncated { what: &'static str, offset: usize },
    #[error("bad {what} magic {found:#x} at offset 0, expected {expected:#x}")]
    BadMagic {
        what: &'static str,
        found: u32,
        expected: u32,
    },
    #[error("unsupported {what} version {found} at offset {offset}, this build reads version {supported}")]
    UnsupportedVersion {
        what: &'static str,
        offset: usize,
        found: u32,
        supported: u32,
    },
    #[error("unknown {what} tag {tag} at offset {offset}")]
    UnknownTag {
        what: &'static str,
        tag: u8,
        offset: usize,
    },
    #[error("{what} byte {value:#04x} at offset {offset} has bits outside {allowed:#04x}")]
    InvalidFlags {
        what: &'static str,
        value: u8,
        allowed: u8,
        offset: usize,
    },
    #[error("{what} varint at offset {offset} overflows 64 bits")]
    VarintOverflow { what: &'static str, offset: usize },
    #[error("{what} varint at offset {offset} is not minimally encoded")]
    NonCanonicalVarint { what: &'static str, offset: usize },
    #[error("{what} length {len} at offset {offset} exceeds the {remaining} bytes left")]
    LengthOutOfBounds {
        what: &'static str,
        len: u64,
        offset: usize,
        remaining: usize,
    },
    #[error("{what} count {count} at offset {offset} cannot fit in the {remaining} bytes left")]
    CountOutOfBounds {
        what: &'static str,
        count: u64,
        offset: usize,
        remaining: usize,
    },
    #[error("{what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str, offset: usize },
    #[error("{what} at offset {offset} is out of order or repeated")]
    OutOfOrder { what: &'static str, offset: usize },
    #[error("txn at offset {offset} nests deeper than {limit} levels")]
    TxnTooDeep { limit: usize, offset: usize },
    #[error("{count} unexpected bytes after the {what} at offset {offset}")]
    TrailingBytes {
        what: &'static str,
        count: usize,
        offset: usize,
    },
    #[error("frame body length {len} at offset 1 exceeds the limit of {max} bytes")]
    FrameTooLarge { len: u32, max: usize },
    #[error("{what} checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        what: &'static str,
        stored: u32,
        computed: u32,
    },
}

/// Why a member refuses a well-formed hello (see [`super::Hello::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelloRefusal {
    #[error("peer {from} belongs to cluster {theirs:#x}, this member to cluster {ours:#x}")]
    ClusterMismatch {
        from: NodeId,
        theirs: u64,
        ours: u64,
    },
    #[error("peer {from} addressed member {to}, but this is member {local}")]
    Misaddressed {
        from: NodeId,
        to: NodeId,
        local: NodeId,
    },
}
