//! Range requests, exactly as etcd 3.4's `applierV3backend.Range`:
//!
//! 1. Without sorting or revision filters, fetch `limit + 1` to learn `more`;
//!    with them, fetch everything (they apply before the limit).
//! 2. `count` is the number of keys in the range at the revision, before the
//!    filters and the limit.
//! 3. Filters prune, then sort (a non-KEY target with order NONE sorts ascending),
//!    then truncate to `limit`, setting `more` if anything was cut.
//!
//! Sorting is stable, so ties keep key order (etcd's `sort.Sort` leaves ties in
//! an unspecified order).

use super::error::MvccError;
use super::store::{KeyRange, Store};
use super::txn_check::validate_range;
use super::types::{KeyValue, RangeRequest, RangeResponse, ResponseHeader, SortOrder, SortTarget};

impl Store {
    /// A Range at the current revision (a read outside any transaction).
    pub fn range(&self, request: &RangeRequest) -> Result<RangeResponse, MvccError> {
        validate_range(request)?;
        self.range_in_view(request, self.current_revision)
    }

    /// A Range against a view whose newest revision is `view_revision` (inside a
    /// write txn that already changed something, `current + 1`).
    pub(super) fn range_in_view(
        &self,
        request: &RangeRequest,
        view_revision: i64,
    ) -> Result<RangeResponse, MvccError> {
        let filtered = request.sort_order != SortOrder::None
            || request.min_mod_revision != 0
            || request.max_mod_revision != 0
            || request.min_create_revision != 0
            || request.max_create_revision != 0;
        let fetch_limit = if filtered || request.limit <= 0 {
            0
        } else {
            usize::try_from(request.limit).unwrap_or(usize::MAX - 1) + 1
        };
        let at = self.check_read_revision(request.revision, view_revision)?;
        let range = KeyRange::new(&request.key, &request.range_end);
        let (mut kvs, count) = self.collect(range, at, fetch_limit, request.count_only);

        let keep = |kv: &KeyValue| {
            !(request.max_mod_revision != 0 && kv.mod_revision > request.max_mod_revision
                || request.min_mod_revision != 0 && kv.mod_revision < request.min_mod_revision
                || request.max_create_revision != 0
                    && kv.create_revision > request.max_create_revision
                || request.min_create_revision != 0
                    && kv.create_revision < request.min_create_revision)
        };
        kvs.retain(keep);
        sort(&mut kvs, request.sort_order, request.sort_target);

        let mut more = false;
        if request.limit > 0 && kvs.len() as u64 > request.limit as u64 {
            kvs.truncate(request.limit as usize);
            more = true;
        }
        if request.keys_only {
            for kv in &mut kvs {
                kv.value = bytes::Bytes::new();
            }
        }
        Ok(RangeResponse {
            header: ResponseHeader {
                revision: view_revision,
            },
            kvs,
            more,
            count: count as i64,
        })
    }
}

fn sort(kvs: &mut [KeyValue], order: SortOrder, target: SortTarget) {
    // Results come in ascending key order: sort by KEY only when asked to, and
    // default to ASCEND for other targets (etcd's rule).
    let order = match (order, target) {
        (SortOrder::None, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    let compare = |a: &KeyValue, b: &KeyValue| match target {
        SortTarget::Key => a.key.cmp(&b.key),
        SortTarget::Version => a.version.cmp(&b.version),
        SortTarget::Create => a.create_revision.cmp(&b.create_revision),
        SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
        SortTarget::Value => a.value.cmp(&b.value),
    };
    match order {
        SortOrder::Ascend => kvs.sort_by(compare),
        SortOrder::Descend => kvs.sort_by(|a, b| compare(b, a)),
        SortOrder::None => {}
    }
}
