//! Ports for test members (shared with cairn-client's tests by `#[path]`).

use std::net::TcpListener;

/// A free loopback port for a member to listen on, taken below Linux's
/// ephemeral range (32768-60999): a port from the kernel's own pick (bind to
/// port 0, then release) can be handed meanwhile to another process's
/// outgoing connection, and the member then fails to bind it. Ports go round
/// from an offset per test process, and each is checked free before use.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() % 100) * 120,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + COUNT)
}
