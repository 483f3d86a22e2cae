//! SimDisk: the driver's [`Disk`] on a [`SimFs`], with injected faults.
//!
//! One task per member carries out disk actions in order, as the real disk
//! worker does: writes go to the live image, then a simulated fdatasync
//! (which takes a random time, sometimes hundreds of milliseconds) makes them
//! durable, then the completion is reported. A full disk answers a write with
//! ENOSPC, which the driver treats as fatal, as the real one does.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::member::{Action, WalOp};
use cairn_runtime_tokio::io::{DiskDone, SnapshotSource};
use cairn_runtime_tokio::Disk;
use madsim::rand::{thread_rng, Rng};
use tokio::sync::mpsc;

use crate::fs::SimFs;

/// An ordinary fdatasync, in simulated milliseconds.
pub const FSYNC_MS: std::ops::RangeInclusive<u64> = 1..=8;
/// An fdatasync during a slow-disk fault.
pub const SLOW_FSYNC_MS: std::ops::RangeInclusive<u64> = 200..=900;

/// How long a lying disk (the `ack_before_fsync` bug) keeps acknowledged
/// writes in a volatile cache.
pub const LYING_CACHE_FLUSH_MS: std::ops::RangeInclusive<u64> = 100..=1_000;

/// Faults the simulator turns on and off for one member's disk. Shared with
/// the harness; survives the member's crashes.
#[derive(Debug, Default)]
pub struct DiskFaults {
    /// Every fdatasync is slow while set.
    pub slow: bool,
    /// Writes fail with ENOSPC while set.
    pub full: bool,
    /// Deliberate bug: report a WAL write done before its fdatasync.
    pub ack_before_fsync: bool,
}

/// One member's disk: its files and its faults, both outliving the member.
#[derive(Clone, Debug, Default)]
pub struct SimStorage {
    pub fs: Arc<Mutex<SimFs>>,
    pub faults: Arc<Mutex<DiskFaults>>,
}

/// The driver's side of the simulated disk.
#[derive(Debug)]
pub struct SimDisk {
    tx: mpsc::UnboundedSender<Action>,
    storage: SimStorage,
}

impl SimDisk {
    /// Starts the disk task of the current madsim node; completions go to `done`.
    pub fn start(storage: SimStorage, done: mpsc::UnboundedSender<DiskDone>) -> SimDisk {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(storage.clone(), rx, done));
        SimDisk { tx, storage }
    }
}

impl Disk for SimDisk {
    fn submit(&mut self, action: Action) {
        let _ = self.tx.send(action);
    }

    fn snapshot_source(&mut self, name: &str) -> io::Result<SnapshotSource> {
        let fs = self.storage.fs.lock().expect("fs lock");
        fs.read(&format!("snap/{name}"))
            .map(SnapshotSource::Bytes)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

fn enospc(action: &'static str) -> DiskDone {
    DiskDone::Failed {
        action,
        error: io::Error::from_raw_os_error(28),
    }
}

async fn fsync_pause(storage: &SimStorage) -> Duration {
    let slow = storage.faults.lock().expect("faults lock").slow;
    let range = if slow { SLOW_FSYNC_MS } else { FSYNC_MS };
    let took = Duration::from_millis(thread_rng().gen_range(range));
    tokio::time::sleep(took).await;
    took
}

async fn run(
    storage: SimStorage,
    mut actions: mpsc::UnboundedReceiver<Action>,
    done: mpsc::UnboundedSender<DiskDone>,
) {
    while let Some(action) = actions.recv().await {
        let report = execute(&storage, action).await;
        if let Some(report) = report {
            let fatal = matches!(report, DiskDone::Failed { .. });
            if done.send(report).is_err() || fatal {
                return;
            }
        }
    }
}

async fn execute(storage: &SimStorage, action: Action) -> Option<DiskDone> {
    let (full, ack_early) = {
        let faults = storage.faults.lock().expect("faults lock");
        (faults.full, faults.ack_before_fsync)
    };
    match action {
        Action::WriteWal { token, ops, sync } => {
            if full {
                return Some(enospc("write WAL"));
            }
            let mut touched: Vec<String> = Vec::new();
            {
                let mut fs = storage.fs.lock().expect("fs lock");
                for op in ops {
                    match op {
                        WalOp::Create(segment) => {
                            fs.create_durable(&format!("wal/{}", segment.name), &segment.bytes)
                        }
                        WalOp::Append {
                            segment,
                            offset,
                            bytes,
                        } => {
                            let name = format!("wal/{segment}");
                            assert!(
                                fs.write(&name, offset, bytes::Bytes::from(bytes)),
                                "append to missing {name}"
                            );
                            if !touched.contains(&name) {
                                touched.push(name);
                            }
                        }
                    }
                }
            }
            if !sync {
                // Written, not synced: in the page cache until a crash.
                return Some(DiskDone::WalWritten {
                    token,
                    took: Duration::ZERO,
                });
            }
            if ack_early {
                // The bug: acknowledged now, made durable a little later.
                let storage = storage.clone();
                tokio::spawn(async move {
                    // A volatile write cache flushes when it likes.
                    let lag = thread_rng().gen_range(LYING_CACHE_FLUSH_MS);
                    tokio::time::sleep(Duration::from_millis(lag)).await;
                    let mut fs = storage.fs.lock().expect("fs lock");
                    for name in &touched {
                        fs.sync(name);
                    }
                });
                return Some(DiskDone::WalWritten {
                    token,
                    took: Duration::ZERO,
                });
            }
            let took = fsync_pause(storage).await;
            let mut fs = storage.fs.lock().expect("fs lock");
            for name in &touched {
                fs.sync(name);
            }
            Some(DiskDone::WalWritten { token, took })
        }
        Action::TruncateWal { segment, offset } => {
            fsync_pause(storage).await;
            let mut fs = storage.fs.lock().expect("fs lock");
            fs.truncate_durable(&format!("wal/{segment}"), offset);
            None
        }
        // Background snapshots are written in order here too: a subset of
        // what the real disk may do, which runs them beside WAL writes.
        Action::SaveSnapshot { name, bytes, .. } => {
            if full {
                return Some(enospc("save snapshot"));
            }
            fsync_pause(storage).await;
            let mut fs = storage.fs.lock().expect("fs lock");
            fs.create_durable(&format!("snap/{name}"), &bytes);
            Some(DiskDone::SnapshotSaved { name })
        }
        Action::DeleteFiles { wal, snapshots } => {
            let mut fs = storage.fs.lock().expect("fs lock");
            for name in wal {
                fs.remove(&format!("wal/{name}"));
            }
            for name in snapshots {
                fs.remove(&format!("snap/{name}"));
            }
            None
        }
        _ => None,
    }
}
