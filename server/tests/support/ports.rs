//! Ports for test members (shared with cairn-client's tests by `#[path]`).

use std::net::TcpListener;

/// A free loopback port for a member to listen on, taken below Linux's
/// ephemeral range (32768-60999): a port from the kernel's own pick (bind to
/// port 0, then release) can be handed meanwhile to another process's
/// outgoing connection, and the member then fails to bind it. Ports go round
/// from an offset per test process, and each is checked free before use.
///
/// `CAIRN_TEST_PORTS=first-last` confines the ports to that range (for
/// runs that share a machine and were each given a range).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    let (first, count) = port_range();
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() % 100) * 120,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..count {
        let port = (first + NEXT.fetch_add(1, Ordering::Relaxed) % count) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {first}..{}", first + count)
}

/// The first port and how many: `CAIRN_TEST_PORTS`, else 20000-31999.
fn port_range() -> (u32, u32) {
    let given = std::env::var("CAIRN_TEST_PORTS").ok().and_then(|range| {
        let (first, last) = range.split_once('-')?;
        let (first, last) = (
            first.trim().parse::<u32>().ok()?,
            last.trim().parse::<u32>().ok()?,
        );
        (first < last && last <= u32::from(u16::MAX)).then_some((first, last - first + 1))
    });
    given.unwrap_or((20_000, 12_000))
}
