//! What the real disk and network measure, under etcd 3.4's metric names:
//!
//! | metric                                        | measured                                        |
//! |-----------------------------------------------|-------------------------------------------------|
//! | `etcd_disk_wal_fsync_duration_seconds`        | each fdatasync of a WAL segment after appends   |
//! | `etcd_disk_wal_write_bytes_total` (a gauge)   | bytes appended to WAL segments                  |
//! | `etcd_disk_backend_commit_duration_seconds`   | each snapshot file made durable: write, fsync,  |
//! |                                               | rename, directory fsync (cairn's backend commit)|
//! | `etcd_network_peer_sent_bytes_total{To}`      | bytes written on the connection to a peer       |
//! | `etcd_network_peer_received_bytes_total{From}`| bytes read from a peer after its hello          |
//! | `etcd_network_peer_round_trip_time_seconds{To}`| the kernel's smoothed TCP round-trip time of   |
//! |                                               | the connection to a peer (`TCP_INFO`), sampled  |
//! |                                               | after writes, at most once per second           |
//!
//! The server registers them in its registry ([`RuntimeMetrics::register`]);
//! peers are labelled by member ID in hex, as etcd labels them.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The least time between two round-trip samples of one connection.
pub const ROUND_TRIP_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Handles to the runtime's metrics; cloning shares them.
#[derive(Clone, Debug)]
pub struct RuntimeMetrics {
    pub wal_fsync: Histogram,
    pub wal_write_bytes: IntGauge,
    pub backend_commit: Histogram,
    pub peer_sent_bytes: IntCounterVec,
    pub peer_received_bytes: IntCounterVec,
    pub peer_round_trip: HistogramVec,
}

impl Default for RuntimeMetrics {
    fn default() -> RuntimeMetrics {
        RuntimeMetrics::new()
    }
}

impl RuntimeMetrics {
    /// The metrics, registered nowhere yet.
    pub fn new() -> RuntimeMetrics {
        // etcd's disk histograms: 1 ms doubling to 8.192 s (14 buckets).
        let disk_buckets = exponential_buckets(0.001, 2.0, 14).expect("valid buckets");
        let histogram = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(disk_buckets.clone()))
                .expect("a valid histogram")
        };
        RuntimeMetrics {
            wal_fsync: histogram(
                "etcd_disk_wal_fsync_duration_seconds",
                "The latency distributions of fsync called by WAL.",
            ),
            wal_write_bytes: IntGauge::new(
                "etcd_disk_wal_write_bytes_total",
                "Total number of bytes written in WAL.",
            )
            .expect("a valid gauge"),
            backend_commit: histogram(
                "etcd_disk_backend_commit_duration_seconds",
                "The latency distributions of commit called by backend.",
            ),
            peer_sent_bytes: IntCounterVec::new(
                Opts::new(
                    "etcd_network_peer_sent_bytes_total",
                    "The total number of bytes sent to peers.",
                ),
                &["To"],
            )
            .expect("a valid counter"),
            peer_received_bytes: IntCounterVec::new(
                Opts::new(
                    "etcd_network_peer_received_bytes_total",
                    "The total number of bytes received from peers.",
                ),
                &["From"],
            )
            .expect("a valid counter"),
            // etcd's: 0.1 ms doubling to 3.2768 s (16 buckets).
            peer_round_trip: HistogramVec::new(
                HistogramOpts::new(
                    "etcd_network_peer_round_trip_time_seconds",
                    "Round-Trip-Time histogram between peers",
                )
                .buckets(exponential_buckets(0.0001, 2.0, 16).expect("valid buckets")),
                &["To"],
            )
            .expect("a valid histogram"),
        }
    }

    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.wal_fsync.clone()))?;
        registry.register(Box::new(self.wal_write_bytes.clone()))?;
        registry.register(Box::new(self.backend_commit.clone()))?;
        registry.register(Box::new(self.peer_sent_bytes.clone()))?;
        registry.register(Box::new(self.peer_received_bytes.clone()))?;
        registry.register(Box::new(self.peer_round_trip.clone()))?;
        Ok(())
    }
}

/// A peer's label value: its member ID in hex, as etcd's `types.ID` prints it.
pub fn peer_label(id: u64) -> String {
    format!("{id:x}")
}

/// The kernel's smoothed round-trip time of TCP socket `fd`, if it has one.
pub fn tcp_round_trip(fd: std::os::fd::RawFd) -> Option<Duration> {
    // SAFETY: tcp_info is plain integers, valid when zeroed.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `length` bytes into `info`, which is
    // that large; `fd` is a socket the caller keeps open for the call.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut length,
        )
    };
    (result == 0 && info.tcpi_rtt > 0).then(|| Duration::from_micros(u64::from(info.tcpi_rtt)))
}

/// A reader or writer that adds the bytes through it to a counter.
#[derive(Debug)]
pub struct Counted<S> {
    inner: S,
    bytes: IntCounter,
}

impl<S> Counted<S> {
    pub fn new(inner: S, bytes: IntCounter) -> Counted<S> {
        Counted { inner, bytes }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.bytes.inc_by(read as u64);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &polled {
            self.bytes.inc_by(*written as u64);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn disk_buckets_are_etcds() {
        let metrics = RuntimeMetrics::new();
        let registry = Registry::new();
        metrics.register(&registry).expect("register");
        metrics.wal_fsync.observe(0.003);
        let families = registry.gather();
        let fsync = families
            .iter()
            .find(|f| f.name() == "etcd_disk_wal_fsync_duration_seconds")
            .expect("registered");
        let bounds: Vec<f64> = fsync.get_metric()[0]
            .get_histogram()
            .get_bucket()
            .iter()
            .map(|b| b.upper_bound())
            .collect();
        let expected: Vec<f64> = (0..14).map(|i| 0.001 * f64::from(1u32 << i)).collect();
        assert_eq!(bounds, expected);
    }

    #[tokio::test]
    async fn counted_streams_count_bytes_both_ways() {
        let (a, b) = tokio::io::duplex(64);
        let sent = IntCounter::new("sent", "sent").expect("counter");
        let received = IntCounter::new("received", "received").expect("counter");
        let mut writer = Counted::new(a, sent.clone());
        let mut reader = Counted::new(b, received.clone());
        writer.write_all(b"hello, peer").await.expect("write");
        let mut buffer = [0u8; 11];
        reader.read_exact(&mut buffer).await.expect("read");
        assert_eq!((sent.get(), received.get()), (11, 11));
    }

    #[tokio::test]
    async fn a_loopback_connection_has_a_round_trip_time() {
        use std::os::fd::AsRawFd;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let mut client = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        client.write_all(b"ping").await.expect("write");
        let mut buffer = [0u8; 4];
        server.read_exact(&mut buffer).await.expect("read");
        let rtt = tcp_round_trip(client.as_raw_fd()).expect("a round trip");
        assert!(rtt < Duration::from_secs(1), "{rtt:?}");
    }
}
