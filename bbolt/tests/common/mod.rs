//! What the etcd tests share: whether etcd is installed, and
//! `etcdctl snapshot status`'s figures computed from a file as cairn-bbolt
//! reads it.

#![allow(dead_code)]

use std::path::Path;

use cairn_bbolt::{Db, Entry};

pub const ETCD: &str = "/usr/bin/etcd";
pub const ETCDCTL: &str = "/usr/bin/etcdctl";

/// Whether etcd is installed: without it a test prints SKIPPED and passes,
/// unless `CAIRN_REQUIRE_ETCD=1` (as in CI), where it fails.
pub fn tools_available(test: &str) -> bool {
    let missing = !Path::new(ETCD).exists() || !Path::new(ETCDCTL).exists();
    let required = std::env::var("CAIRN_REQUIRE_ETCD").is_ok_and(|v| v != "0" && !v.is_empty());
    if missing {
        assert!(!required, "{test}: CAIRN_REQUIRE_ETCD is set but etcd is missing: apt-get install etcd-server etcd-client");
        eprintln!("SKIPPED {test}: etcd not installed");
    }
    !missing
}

/// CRC-32C (Castagnoli), as Go's `crc32.MakeTable(crc32.Castagnoli)`.
pub struct Crc32c {
    table: [u32; 256],
    crc: u32,
}

impl Crc32c {
    pub fn new() -> Crc32c {
        let mut table = [0u32; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut crc = i as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
            *slot = crc;
        }
        Crc32c { table, crc: !0 }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.crc =
                self.table[((self.crc ^ u32::from(*byte)) & 0xff) as usize] ^ (self.crc >> 8);
        }
    }

    pub fn sum(&self) -> u32 {
        !self.crc
    }
}

/// `etcdctl snapshot status`'s hash, revision and key count, from the file
/// as cairn-bbolt reads it.
pub fn status_of(db: &Db<'_>) -> (u32, i64, u64) {
    let mut hash = Crc32c::new();
    let mut revision = 0i64;
    let mut keys = 0u64;
    let mut buckets = Vec::new();
    db.for_each(db.root(), |name, entry| {
        match entry {
            Entry::Bucket(root) => buckets.push((name, root)),
            Entry::Value(_) => panic!("a value at the top level"),
        }
        Ok(())
    })
    .expect("the root bucket reads");
    for (name, root) in buckets {
        hash.write(name);
        db.for_each(root, |key, entry| {
            let Entry::Value(value) = entry else {
                panic!("etcd nests no buckets")
            };
            hash.write(key);
            hash.write(value);
            if name == b"key" {
                revision = i64::from_be_bytes(key[..8].try_into().expect("a revision key"));
            }
            keys += 1;
            Ok(())
        })
        .expect("a bucket reads");
    }
    (hash.sum(), revision, keys)
}

/// A JSON number field of etcdctl's one-line answer.
pub fn json_number(text: &str, field: &str) -> u64 {
    let at = text
        .find(&format!("\"{field}\":"))
        .unwrap_or_else(|| panic!("{field} in {text}"));
    text[at + field.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a number")
}
