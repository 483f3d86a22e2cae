//! Reading history back as events, for watch catch-up.
//!
//! Cost: this walks the key index over `[key, range_end)` and the retained
//! revisions of those keys, then sorts the events found; it does not keep a
//! separate revision-ordered log (that would double the memory per revision).

use super::error::MvccError;
use super::store::{KeyRange, Store};
use super::types::{Event, EventKind, KeyValue};

impl Store {
    /// Every change to keys in `[key, range_end)` (etcd's range_end rules) with
    /// main revision in `from..=to`, in revision order, with `prev_kv` where the
    /// previous revision is retained. `from` below the compact revision fails with
    /// [`MvccError::Compacted`]; `to` is capped at the current revision.
    pub fn events(
        &self,
        key: &[u8],
        range_end: &[u8],
        from: i64,
        to: i64,
    ) -> Result<Vec<Event>, MvccError> {
        if from < self.compact_revision {
            return Err(MvccError::Compacted);
        }
        let to = to.min(self.current_revision);
        let mut events = Vec::new();
        self.visit(KeyRange::new(key, range_end), |stored, index| {
            let slots = index.slots();
            let first = slots.partition_point(|slot| slot.main < from);
            for position in first..slots.len() {
                let slot = &slots[position];
                if slot.main > to {
                    break;
                }
                let previous = position
                    .checked_sub(1)
                    .filter(|&p| !slots[p].tombstone)
                    .map(|p| super::store::key_value(stored, index.describe(p)));
                let (kind, kv) = if slot.tombstone {
                    let kv = KeyValue {
                        key: stored.clone(),
                        mod_revision: slot.main,
                        ..KeyValue::default()
                    };
                    (EventKind::Delete, kv)
                } else {
                    (
                        EventKind::Put,
                        super::store::key_value(stored, index.describe(position)),
                    )
                };
                events.push(Event {
                    kind,
                    kv,
                    prev_kv: previous,
                    sub_revision: i64::from(slot.sub),
                });
            }
            true
        });
        events.sort_by_key(|event| (event.kv.mod_revision, event.sub_revision));
        Ok(events)
    }
}
