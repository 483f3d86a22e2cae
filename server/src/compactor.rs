//! Auto-compaction (`--auto-compaction-mode`, `--auto-compaction-retention`),
//! with etcd 3.4's schedules (`etcdserver/api/v3compactor`). Only the leader
//! compacts; the compaction itself goes through the log like a client's.
//!
//! * periodic, retention `P`: every `P/10` (at most 6 minutes) the current
//!   revision is recorded; once `P` has passed since the last compaction (and
//!   then every `min(P, 1h)`), the store is compacted at the revision recorded
//!   `P` ago, so roughly `P` of history is kept.
//! * revision, retention `N`: every 5 minutes, compacted at `current − N`
//!   when that moved since the last compaction.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::auth::Caller;
use cairn_core::member::{calls, ClientError};
use cairn_core::mvcc::MvccError;
use cairn_runtime_tokio::MemberHandle;
use tokio::time::Instant;

use crate::config::{format_duration, AutoCompaction};
use crate::logging::Logger;

/// etcd's `revInterval`.
const REVISION_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// etcd's `retryDivisor`.
const RETRY_DIVISOR: u32 = 10;
/// Longest compaction interval of the periodic mode.
const MAX_PERIODIC_INTERVAL: Duration = Duration::from_secs(3600);

/// Starts the compactor for `policy` (nothing when disabled).
///
/// `revision_interval` is etcd's 5 minutes; tests shorten it with
/// `CAIRN_AUTO_COMPACTION_REVISION_INTERVAL_MS`, since etcd's own tests
/// replace its clock and a process test cannot.
pub fn spawn(handle: MemberHandle, policy: AutoCompaction, log: Arc<Logger>) {
    match policy {
        AutoCompaction::Disabled => {}
        AutoCompaction::Periodic(period) => {
            tokio::spawn(periodic(handle, period, log));
        }
        AutoCompaction::Revision(retention) => {
            let interval = std::env::var("CAIRN_AUTO_COMPACTION_REVISION_INTERVAL_MS")
                .ok()
                .and_then(|ms| ms.parse::<u64>().ok())
                .map_or(REVISION_INTERVAL, Duration::from_millis);
            tokio::spawn(by_revision(handle, retention, interval, log));
        }
    }
}

/// The member's current revision, and whether it leads.
async fn revision_and_leadership(handle: &MemberHandle) -> Option<(i64, bool)> {
    let (header, status) = handle.call(Caller::System, calls::Status).await.ok()?;
    Some((header.revision, status.leader == header.member_id))
}

/// Compacts at `revision`: `Ok` also when it was compacted already.
async fn compact(handle: &MemberHandle, revision: i64) -> Result<(), ClientError> {
    let call = calls::Compact {
        revision,
        physical: false,
    };
    match handle.call(Caller::System, call).await {
        Ok(_) | Err((_, ClientError::Mvcc(MvccError::Compacted))) => Ok(()),
        Err((_, error)) => Err(error),
    }
}

/// Compacts at `revision`, logging as etcd's compactor logs; whether it
/// succeeded (or the revision was compacted already).
async fn compact_logged(
    handle: &MemberHandle,
    revision: i64,
    retention: &str,
    retry: Duration,
    log: &Logger,
) -> bool {
    log.notice(
        "compactor",
        &format!("Starting auto-compaction at revision {revision} (retention: {retention})"),
    );
    match compact(handle, revision).await {
        Ok(()) => {
            log.notice(
                "compactor",
                &format!("Finished auto-compaction at revision {revision}"),
            );
            true
        }
        Err(error) => {
            log.notice(
                "compactor",
                &format!("Failed auto-compaction at revision {revision} ({error})"),
            );
            log.notice(
                "compactor",
                &format!("Retry after {}", format_duration(retry)),
            );
            false
        }
    }
}

async fn periodic(handle: MemberHandle, period: Duration, log: Arc<Logger>) {
    let compact_interval = period.min(MAX_PERIODIC_INTERVAL);
    let retry_interval = compact_interval / RETRY_DIVISOR;
    let retentions = (period.as_nanos() / retry_interval.as_nanos().max(1)) as usize + 1;
    let mut revisions: VecDeque<i64> = VecDeque::new();
    let mut last_success = Instant::now();
    let mut base_interval = period;
    loop {
        let current = revision_and_leadership(&handle).await;
        if let Some((revision, _)) = current {
            revisions.push_back(revision);
            if revisions.len() > retentions {
                // The front is always the revision of `period` ago.
                revisions.pop_front();
            }
        }
        tokio::time::sleep(retry_interval).await;
        let leads = revision_and_leadership(&handle)
            .await
            .is_some_and(|(_, leads)| leads);
        if !leads || last_success.elapsed() < base_interval {
            continue;
        }
        if base_interval == period {
            base_interval = compact_interval;
        }
        let Some(&revision) = revisions.front() else {
            continue;
        };
        let retention = format_duration(period);
        if compact_logged(&handle, revision, &retention, retry_interval, &log).await {
            last_success = Instant::now();
        }
    }
}

async fn by_revision(handle: MemberHandle, retention: u64, interval: Duration, log: Arc<Logger>) {
    let retention = i64::try_from(retention).unwrap_or(i64::MAX);
    let mut previous = 0i64;
    loop {
        tokio::time::sleep(interval).await;
        let Some((current, true)) = revision_and_leadership(&handle).await else {
            continue;
        };
        let revision = current.saturating_sub(retention);
        if revision <= 0 || revision == previous {
            continue;
        }
        let kept = format!("{retention} revisions");
        if compact_logged(&handle, revision, &kept, interval, &log).await {
            previous = revision;
        }
    }
}
