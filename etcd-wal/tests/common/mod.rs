//! A WAL writer in etcd's framing (wal/encoder.go, wal.go's Create, cut,
//! Save and SaveSnapshot), with its own bitwise CRC-32C, and a model of the
//! raft log it holds.

#![allow(dead_code)]

use cairn_etcd_wal::proto;
use cairn_etcd_wal::{Entry, EntryType, HardState, Metadata};
use prost::Message;

/// CRC-32C (Castagnoli) continued from `crc`, bit by bit: Go's
/// `crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), data)`.
pub fn crc32c_update(crc: u32, data: &[u8]) -> u32 {
    let mut crc = !crc;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub const METADATA: i64 = 1;
pub const ENTRY: i64 = 2;
pub const STATE: i64 = 3;
pub const CRC: i64 = 4;
pub const SNAPSHOT: i64 = 5;

/// Segments being written, and the log they hold.
#[derive(Debug, Clone)]
pub struct WalWriter {
    /// (name, bytes, end offset of every frame).
    pub segments: Vec<(String, Vec<u8>, Vec<usize>)>,
    crc: u32,
    metadata: Vec<u8>,
    pub state: HardState,
    /// The log after every write (index 1 at position 0).
    pub log: Vec<Entry>,
    /// Snapshot records written: (index, term).
    pub snapshots: Vec<(u64, u64)>,
}

impl WalWriter {
    /// etcd's `wal.Create`: a crc record (0), the metadata, a snapshot
    /// record at (0, 0).
    pub fn create(metadata: Metadata) -> WalWriter {
        let metadata = proto::Metadata {
            node_id: metadata.node_id,
            cluster_id: metadata.cluster_id,
        }
        .encode_to_vec();
        let mut w = WalWriter {
            segments: vec![(wal_name(0, 0), Vec::new(), Vec::new())],
            crc: 0,
            metadata: metadata.clone(),
            state: HardState::default(),
            log: Vec::new(),
            snapshots: Vec::new(),
        };
        w.record(CRC, Vec::new());
        w.record(METADATA, metadata);
        w.snapshot(0, 0);
        w
    }

    /// etcd's `encoder.encode`: the chained CRC over `data`, then the frame.
    pub fn record(&mut self, kind: i64, data: Vec<u8>) {
        let crc = if kind == CRC {
            self.crc
        } else {
            self.crc = crc32c_update(self.crc, &data);
            self.crc
        };
        let body = proto::Record {
            r#type: kind,
            crc,
            data,
        }
        .encode_to_vec();
        let pad = (8 - body.len() % 8) % 8;
        let mut word = body.len() as u64;
        if pad != 0 {
            word |= (0x80 | pad as u64) << 56;
        }
        let (_, bytes, ends) = self.segments.last_mut().expect("a segment");
        bytes.extend_from_slice(&word.to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes.resize(bytes.len() + pad, 0);
        ends.push(bytes.len());
    }

    /// An entry record; the log drops everything from its index on first.
    pub fn entry(&mut self, index: u64, term: u64, kind: EntryType, data: Vec<u8>) {
        let r#type = match kind {
            EntryType::Normal => 0,
            EntryType::ConfChange => 1,
            EntryType::ConfChangeV2 => 2,
        };
        let e = proto::Entry {
            r#type,
            term,
            index,
            data: data.clone(),
        };
        self.record(ENTRY, e.encode_to_vec());
        assert!(index >= 1 && index as usize <= self.log.len() + 1);
        self.log.truncate(index as usize - 1);
        self.log.push(Entry {
            index,
            term,
            kind,
            data,
        });
    }

    pub fn hard_state(&mut self, state: HardState) {
        self.state = state;
        let s = proto::HardState {
            term: state.term,
            vote: state.vote,
            commit: state.commit,
        };
        self.record(STATE, s.encode_to_vec());
    }

    pub fn snapshot(&mut self, index: u64, term: u64) {
        self.snapshots.push((index, term));
        self.record(SNAPSHOT, proto::WalSnapshot { index, term }.encode_to_vec());
    }

    /// etcd's `cut`: a new segment named after the next index, starting
    /// with the chain's crc, the metadata and the hard state (if any).
    pub fn cut(&mut self) {
        let seq = self.segments.len() as u64;
        let next = self.log.len() as u64 + 1;
        self.segments
            .push((wal_name(seq, next), Vec::new(), Vec::new()));
        self.record(CRC, Vec::new());
        self.record(METADATA, self.metadata.clone());
        if self.state != HardState::default() {
            let state = self.state;
            self.hard_state(state);
        }
    }

    /// Zeros after the last segment's records, as etcd preallocates.
    pub fn preallocate(&mut self, bytes: usize) {
        let (_, data, _) = self.segments.last_mut().expect("a segment");
        data.resize(data.len() + bytes, 0);
    }

    /// The segments as `decode_segments` takes them.
    pub fn parts(&self) -> Vec<(String, &[u8])> {
        self.segments
            .iter()
            .map(|(name, bytes, _)| (name.clone(), bytes.as_slice()))
            .collect()
    }
}

pub fn wal_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}.wal")
}

/// A `*.snap` file as etcd's `Snapshotter.SaveSnap` writes it.
pub fn snap_file(index: u64, term: u64, voters: &[u64], data: &[u8]) -> Vec<u8> {
    let snap = proto::Snapshot {
        data: data.to_vec(),
        metadata: Some(proto::SnapshotMetadata {
            conf_state: Some(proto::ConfState {
                voters: voters.to_vec(),
                ..Default::default()
            }),
            index,
            term,
        }),
    }
    .encode_to_vec();
    proto::SnapFile {
        crc: crc32c_update(0, &snap),
        data: snap,
    }
    .encode_to_vec()
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cairn-etcd-wal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
