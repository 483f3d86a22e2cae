//! Binary codecs: the wire primitives every codec of cairn's own uses
//! (`wire`), and the peer protocol. The log payloads a member proposes are
//! encoded next to what they encode, in `crate::member::payload`.
//!
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
mod peer;
pub(crate) mod wire;

pub use error::{CodecError, HelloRefusal};
pub use peer::{
    decode_frame, decode_hello, decode_message_body, encode_hello, encode_message,
    encode_message_body, Hello, FRAME_HEADER_BYTES, FRAME_MAGIC, HELLO_BYTES, HELLO_MAGIC,
    MAX_FRAME_BODY_BYTES, MAX_FRAME_BYTES, PEER_PROTOCOL_VERSION, REMOVED_NOTICE,
};

#[cfg(test)]
mod tests;
