//! Binary codecs for the replicated log's payloads and the peer protocol.
//!
//! * Log payloads ([`encode_proposal`], [`decode_proposal`], [`encode_member_info`],
//!   [`decode_member_info`]): what Raft entries carry, starting with
//!   [`PAYLOAD_FORMAT_VERSION`].
//! * The peer protocol ([`encode_hello`], [`decode_hello`], [`encode_message`],
//!   [`decode_frame`]): a handshake, then checksummed, self-delimiting frames of
//!   Raft messages.
//!
//! Both are written down byte by byte in docs/peer-protocol.md. Integers inside
//! payloads and bodies are LEB128 varints; byte strings are length-prefixed and
//! decode as `Bytes::slice`s of the input, never copies. Decoding never panics:
//! every byte sequence yields a value or a [`CodecError`] naming the field and
//! its offset. Encodings are canonical, so whatever decodes re-encodes to the
//! same bytes.

mod error;
mod payload;
mod peer;
pub(crate) mod wire;

pub use error::{CodecError, HelloRefusal};
pub use payload::{
    decode_member_info, decode_proposal, encode_member_info, encode_proposal, encode_proposal_into,
    MAX_TXN_DEPTH, PAYLOAD_FORMAT_VERSION,
};
pub use peer::{
    decode_frame, decode_hello, decode_message_body, encode_hello, encode_message,
    encode_message_body, Hello, FRAME_HEADER_BYTES, FRAME_MAGIC, HELLO_BYTES, HELLO_MAGIC,
    MAX_FRAME_BODY_BYTES, MAX_FRAME_BYTES, PEER_PROTOCOL_VERSION,
};

#[cfg(test)]
mod tests;
