//! Memory per key of the MVCC store: 1,000,000 puts of 64-byte keys with 256-byte
//! values, measured with a counting global allocator (requested bytes, so the
//! figure excludes malloc's own headers and fragmentation).
//!
//! Run: `cargo run --release -p cairn-core --example mvcc_memory`
//!
//! Prints the live heap after the puts, the key and value bytes stored, and the
//! overhead per key: (live heap - key bytes - value bytes) / keys.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use cairn_core::lease::{Lessor, LessorConfig};
use cairn_core::mvcc::{PutRequest, Store};

struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const KEYS: usize = 1_000_000;
const KEY_BYTES: usize = 64;
const VALUE_BYTES: usize = 256;

fn main() {
    let mut store = Store::default();
    let mut leases = Lessor::new(LessorConfig::from_election_timeout_ms(1000));
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    for i in 0..KEYS {
        // Keys in a scattered order (as hashed ids would arrive), fixed width.
        let id = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let key = format!("/registry/pods/{id:0>48x}");
        let mut key = key.into_bytes();
        key.resize(KEY_BYTES, b'x');
        let request = PutRequest {
            key: Bytes::from(key),
            value: Bytes::from(vec![(i % 251) as u8; VALUE_BYTES]),
            ..PutRequest::default()
        };
        let applied = store.put(&mut leases, &request).expect("put");
        drop(applied);
    }
    let total = LIVE_BYTES.load(Ordering::Relaxed) - before;
    let payload = KEYS * (KEY_BYTES + VALUE_BYTES);
    println!("keys: {KEYS}, key {KEY_BYTES} B, value {VALUE_BYTES} B");
    println!(
        "live heap: {total} bytes ({:.1} MiB)",
        total as f64 / (1024.0 * 1024.0)
    );
    println!("key+value bytes: {payload}");
    println!(
        "overhead per key: {:.1} bytes (total per key {:.1} bytes)",
        (total - payload) as f64 / KEYS as f64,
        total as f64 / KEYS as f64
    );
    assert_eq!(store.key_count(), KEYS);
}
