//! The primitives both codecs share: LEB128 varints, length-prefixed byte
//! strings, strict booleans and flag bytes.
//!
//! Every encoding is canonical: the decoders accept exactly the bytes the
//! encoders produce (minimal varints, booleans 0 or 1, no unknown flag bits, no
//! trailing bytes), so `encode(decode(bytes)) == bytes` whenever decode succeeds.

use bytes::Bytes;

use super::CodecError;

/// The most bytes a u64 varint takes (ceil(64 / 7)).
pub(crate) const MAX_VARINT_BYTES: usize = 10;

/// Appends `value` as an unsigned LEB128 varint: 7 bits per byte, least
/// significant group first, high bit set on every byte but the last.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a signed integer as the varint of its two's-complement bits (as
/// protobuf's `int64`): non-negative values, the common case for revisions,
/// lease ids and TTLs, stay short; a negative one takes 10 bytes.
#[inline]
pub(crate) fn put_i64(out: &mut Vec<u8>, value: i64) {
    put_varint(out, value as u64);
}

/// Appends a varint length, then the bytes.
#[inline]
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[inline]
pub(crate) fn put_bool(out: &mut Vec<u8>, value: bool) {
    out.push(u8::from(value));
}

/// Appends a count, then each string.
pub(crate) fn put_strings(out: &mut Vec<u8>, strings: &[String]) {
    put_varint(out, strings.len() as u64);
    for string in strings {
        put_bytes(out, string.as_bytes());
    }
}

/// A cursor over a `Bytes`. Byte strings come back as `Bytes::slice`s of it:
/// no copies. Offsets in errors are `base + position`.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    data: &'a Bytes,
    position: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `data` whose first byte is at `base` in what the caller
    /// decodes (for error offsets).
    pub(crate) fn new(data: &'a Bytes, base: usize) -> Reader<'a> {
        Reader {
            data,
            position: 0,
            base,
        }
    }

    pub(crate) fn offset(&self) -> usize {
        self.base + self.position
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.position
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        match self.data.get(self.position) {
            Some(&byte) => {
                self.position += 1;
                Ok(byte)
            }
            None => Err(CodecError::Truncated {
                what,
                offset: self.offset(),
            }),
        }
    }

    /// A byte that must be 0 or 1.
    pub(crate) fn bool(&mut self, what: &'static str) -> Result<bool, CodecError> {
        Ok(self.flags(what, 0x01)? == 1)
    }

    /// A byte whose bits outside `allowed` must be clear.
    pub(crate) fn flags(&mut self, what: &'static str, allowed: u8) -> Result<u8, CodecError> {
        let offset = self.offset();
        let value = self.u8(what)?;
        if value & !allowed != 0 {
            return Err(CodecError::InvalidFlags {
                what,
                value,
                allowed,
                offset,
            });
        }
        Ok(value)
    }

    /// An unsigned LEB128 varint in its minimal form.
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64, CodecError> {
        let offset = self.offset();
        let input = &self.data[self.position..];
        let mut value = 0u64;
        for (i, &byte) in input.iter().take(MAX_VARINT_BYTES).enumerate() {
            if i == MAX_VARINT_BYTES - 1 && byte > 1 {
                // The tenth byte holds bit 63 only, and ends the varint.
                return Err(CodecError::VarintOverflow { what, offset });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(CodecError::NonCanonicalVarint { what, offset });
                }
                self.position += i + 1;
                return Ok(value);
            }
        }
        // Fewer than ten bytes left, all with the continuation bit set.
        Err(CodecError::Truncated { what, offset })
    }

    /// A signed integer written by [`put_i64`].
    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, CodecError> {
        Ok(self.varint(what)? as i64)
    }

    /// A varint length checked against the bytes left.
    fn length(&mut self, what: &'static str) -> Result<usize, CodecError> {
        let offset = self.offset();
        let len = self.varint(what)?;
        let remaining = self.remaining();
        if len > remaining as u64 {
            return Err(CodecError::LengthOutOfBounds {
                what,
                len,
                offset,
                remaining,
            });
        }
        Ok(len as usize)
    }

    /// A varint count of items that each take at least `min_item_bytes`,
    /// checked against the bytes left (so it can size a `Vec` safely).
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
    ) -> Result<usize, CodecError> {
        let offset = self.offset();
        let count = self.varint(what)?;
        let remaining = self.remaining();
        if count > (remaining / min_item_bytes) as u64 {
            return Err(CodecError::CountOutOfBounds {
                what,
                count,
                offset,
                remaining,
            });
        }
        Ok(count as usize)
    }

    /// A length-prefixed byte string, as a slice of the input.
    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<Bytes, CodecError> {
        let len = self.length(what)?;
        let start = self.position;
        self.position += len;
        Ok(self.data.slice(start..self.position))
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn string(&mut self, what: &'static str) -> Result<String, CodecError> {
        let len = self.length(what)?;
        let start = self.position;
        let text = std::str::from_utf8(&self.data[start..start + len]).map_err(|_| {
            CodecError::InvalidUtf8 {
                what,
                offset: self.base + start,
            }
        })?;
        self.position += len;
        Ok(text.to_owned())
    }

    /// A count, then that many strings.
    pub(crate) fn strings(
        &mut self,
        count_what: &'static str,
        what: &'static str,
    ) -> Result<Vec<String>, CodecError> {
        let count = self.count(count_what, 1)?;
        let mut strings = Vec::with_capacity(count);
        for _ in 0..count {
            strings.push(self.string(what)?);
        }
        Ok(strings)
    }

    /// A count, then that many varints.
    pub(crate) fn varints(
        &mut self,
        count_what: &'static str,
        what: &'static str,
    ) -> Result<Vec<u64>, CodecError> {
        let count = self.count(count_what, 1)?;
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(self.varint(what)?);
        }
        Ok(values)
    }

    /// Checks that nothing follows the value just read.
    pub(crate) fn finish(self, what: &'static str) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(CodecError::TrailingBytes {
                what,
                count,
                offset: self.offset(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &'static [u8]) -> Result<u64, CodecError> {
        let data = Bytes::from_static(bytes);
        let mut reader = Reader::new(&data, 0);
        let value = reader.varint("v")?;
        reader.finish("v")?;
        Ok(value)
    }

    #[test]
    fn varints_round_trip_at_every_width() {
        let mut values = vec![0, 1, u64::MAX, u64::MAX - 1, 1 << 63];
        for shift in 1..64 {
            values.extend([(1u64 << shift) - 1, 1u64 << shift]);
        }
        for value in values {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let expected_len = (64 - value.leading_zeros() as usize).div_ceil(7).max(1);
            assert_eq!(out.len(), expected_len, "{value}");
            let data = Bytes::from(out);
            let mut reader = Reader::new(&data, 0);
            assert_eq!(reader.varint("v"), Ok(value));
            assert_eq!(reader.remaining(), 0);
        }
    }

    #[test]
    fn varints_refuse_overflow_padding_and_truncation() {
        assert_eq!(read(&[0xac, 0x02]), Ok(300));
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Ok(u64::MAX)
        );
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(CodecError::VarintOverflow {
                what: "v",
                offset: 0
            })
        );
        assert_eq!(
            read(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            Err(CodecError::VarintOverflow {
                what: "v",
                offset: 0
            })
        );
        assert_eq!(
            read(&[0x81, 0x00]),
            Err(CodecError::NonCanonicalVarint {
                what: "v",
                offset: 0
            })
        );
        assert_eq!(
            read(&[0x81, 0x81]),
            Err(CodecError::Truncated {
                what: "v",
                offset: 0
            })
        );
        assert_eq!(
            read(&[]),
            Err(CodecError::Truncated {
                what: "v",
                offset: 0
            })
        );
    }

    #[test]
    fn lengths_and_counts_never_exceed_the_input() {
        let data = Bytes::from_static(&[0x05, b'a', b'b']);
        let mut reader = Reader::new(&data, 7);
        assert_eq!(
            reader.bytes("key"),
            Err(CodecError::LengthOutOfBounds {
                what: "key",
                len: 5,
                offset: 7,
                remaining: 2
            })
        );
        let data = Bytes::from_static(&[0x03, 0x00, 0x00, 0x00, 0x00, 0x00]);
        let mut reader = Reader::new(&data, 0);
        assert_eq!(
            reader.count("entries", 2),
            Err(CodecError::CountOutOfBounds {
                what: "entries",
                count: 3,
                offset: 0,
                remaining: 5
            })
        );
    }

    #[test]
    fn strings_must_be_utf8_and_bytes_are_slices() {
        let data = Bytes::from(vec![0x02, 0xc3, 0x28]);
        let mut reader = Reader::new(&data, 10);
        assert_eq!(
            reader.string("name"),
            Err(CodecError::InvalidUtf8 {
                what: "name",
                offset: 11
            })
        );
        let data = Bytes::from(vec![0x02, b'h', b'i', 0x00]);
        let mut reader = Reader::new(&data, 0);
        let slice = reader.bytes("value").unwrap();
        assert_eq!(&slice[..], b"hi");
        assert_eq!(slice.as_ptr(), data[1..].as_ptr(), "a slice, not a copy");
        assert_eq!(
            reader.finish("value"),
            Err(CodecError::TrailingBytes {
                what: "value",
                count: 1,
                offset: 3
            })
        );
    }
}
