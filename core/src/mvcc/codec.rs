//! The store's image inside a snapshot (the MVCC section's body).
//!
//! ```text
//!  current_revision i64 | compact_revision i64 | key_count u64
//!  key_count × {
//!    key_len u32 | key | first_created i64 | first_version_base i64 | slot_count u32
//!    slot_count × { main i64 | sub u32 | flags u8 (bit 0: tombstone) | lease i64
//!                   | value_len u32 | value }
//!  }
//! ```
//! All integers little-endian. Keys strictly increase.

use bytes::Bytes;

use super::key_index::{KeyIndex, Slot};
use super::store::{Store, StoreConfig};

/// Why bytes are not a store image.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreDecodeError {
    #[error("store image truncated at byte {0}")]
    Truncated(usize),
    #[error("store image has {0} trailing bytes")]
    TrailingBytes(usize),
    #[error("store image key #{0} is out of order or duplicated")]
    KeyOrder(u64),
    #[error("store image key #{0} has an inconsistent history")]
    BadHistory(u64),
    #[error("store image slot has unknown flags {0:#x}")]
    BadFlags(u8),
    #[error("store image revisions are inconsistent (current {current}, compacted {compact})")]
    BadRevisions { current: i64, compact: i64 },
}

impl Store {
    /// Appends the store's image to `buf`.
    pub fn encode_image(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.current_revision.to_le_bytes());
        buf.extend_from_slice(&self.compact_revision.to_le_bytes());
        buf.extend_from_slice(&(self.index.len() as u64).to_le_bytes());
        for (key, index) in &self.index {
            buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
            buf.extend_from_slice(key);
            buf.extend_from_slice(&index.first_created().to_le_bytes());
            buf.extend_from_slice(&index.first_version_base().to_le_bytes());
            buf.extend_from_slice(&(index.slots().len() as u32).to_le_bytes());
            for slot in index.slots() {
                buf.extend_from_slice(&slot.main.to_le_bytes());
                buf.extend_from_slice(&slot.sub.to_le_bytes());
                buf.push(u8::from(slot.tombstone));
                buf.extend_from_slice(&slot.lease.to_le_bytes());
                buf.extend_from_slice(&(slot.value.len() as u32).to_le_bytes());
                buf.extend_from_slice(&slot.value);
            }
        }
    }

    /// Rebuilds a store from an image. Keys and values are slices of `image`
    /// (no copy); every inconsistency is a typed error.
    pub fn decode_image(image: &Bytes, config: StoreConfig) -> Result<Store, StoreDecodeError> {
        let mut reader = Reader {
            bytes: image,
            at: 0,
        };
        let current_revision = reader.i64()?;
        let compact_revision = reader.i64()?;
        if current_revision < 1 || compact_revision < -1 || compact_revision > current_revision {
            return Err(StoreDecodeError::BadRevisions {
                current: current_revision,
                compact: compact_revision,
            });
        }
        let key_count = reader.u64()?;
        let mut store = Store::new(config);
        store.current_revision = current_revision;
        store.compact_revision = compact_revision;
        let mut previous_key: Option<Bytes> = None;
        for number in 0..key_count {
            let key_len = reader.u32()? as usize;
            let key = reader.bytes(key_len)?;
            if key.is_empty()
                || previous_key
                    .as_ref()
                    .is_some_and(|previous| *previous >= key)
            {
                return Err(StoreDecodeError::KeyOrder(number));
            }
            let first_created = reader.i64()?;
            let first_version_base = reader.i64()?;
            let slot_count = reader.u32()? as usize;
            // Bound the allocation by what the remaining bytes can hold (25 B/slot).
            let mut slots = Vec::with_capacity(slot_count.min(reader.remaining() / 25));
            for _ in 0..slot_count {
                let main = reader.i64()?;
                let sub = reader.u32()?;
                let flags = reader.u8()?;
                if flags > 1 {
                    return Err(StoreDecodeError::BadFlags(flags));
                }
                let lease = reader.i64()?;
                let value_len = reader.u32()? as usize;
                let value = reader.bytes(value_len)?;
                if main > current_revision || (flags == 1 && !value.is_empty()) {
                    return Err(StoreDecodeError::BadHistory(number));
                }
                slots.push(Slot {
                    main,
                    sub,
                    tombstone: flags == 1,
                    lease,
                    value,
                });
            }
            let index = KeyIndex::from_parts(first_created, first_version_base, slots)
                .ok_or(StoreDecodeError::BadHistory(number))?;
            store.index.insert(key.clone(), index);
            previous_key = Some(key);
        }
        if reader.remaining() != 0 {
            return Err(StoreDecodeError::TrailingBytes(reader.remaining()));
        }
        Ok(store)
    }
}

struct Reader<'a> {
    bytes: &'a Bytes,
    at: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&[u8], StoreDecodeError> {
        if self.remaining() < n {
            return Err(StoreDecodeError::Truncated(self.at));
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn bytes(&mut self, n: usize) -> Result<Bytes, StoreDecodeError> {
        if self.remaining() < n {
            return Err(StoreDecodeError::Truncated(self.at));
        }
        let slice = self.bytes.slice(self.at..self.at + n);
        self.at += n;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, StoreDecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, StoreDecodeError> {
        let mut word = [0u8; 4];
        word.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(word))
    }

    fn u64(&mut self) -> Result<u64, StoreDecodeError> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }

    fn i64(&mut self) -> Result<i64, StoreDecodeError> {
        Ok(self.u64()? as i64)
    }
}
