//! A fault-injecting TCP proxy in front of each member's peer listener, so a
//! test can cut peer links between real processes without network
//! namespaces.
//!
//! Every member advertises its proxy's port as its peer URL; the proxy
//! forwards to the member's real `--listen-peer-urls`. A member sends to a
//! peer only over the one connection it dials itself (peers never answer on
//! it), and that connection opens with a hello naming the sender, so the
//! proxy in front of member `to` knows which directed link `from -> to` each
//! connection carries:
//!
//! ```text
//!   m1 ──dial──▶ proxy(m2) ──▶ m2's listener      link m1 -> m2
//!   m2 ──dial──▶ proxy(m1) ──▶ m1's listener      link m2 -> m1
//! ```
//!
//! A directed link can be cut in two ways ([`LinkFault`]): dropped (its
//! connections are closed, new ones are closed after their hello) or
//! blackholed (its connections stay open and everything sent on them is
//! read and thrown away, so the sender notices nothing). Healing a
//! blackholed link closes its connections, since a frame may have been cut
//! in half; the sender redials.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::codec::{decode_hello, HELLO_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How a cut link loses its traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFault {
    /// Connections are closed; the sender sees errors and redials.
    Drop,
    /// Connections stay open; what is sent on them is discarded.
    Blackhole,
}

/// Time allowed for a dialing member's hello to arrive.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to reach the member behind a proxy.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes read from one side of a connection at a time.
const COPY_BUFFER_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Links {
    /// Member index -> its Raft member ID, once the test has learned them.
    ids: Vec<u64>,
    /// Cut directed links, by (from, to) member index.
    cut: BTreeMap<(usize, usize), LinkFault>,
    /// The proxies are shut down: every connection ends.
    closed: bool,
}

impl Links {
    fn fault(&self, from_id: u64, to: usize) -> Option<LinkFault> {
        if self.closed {
            return Some(LinkFault::Drop);
        }
        let from = self.ids.iter().position(|&id| id == from_id)?;
        self.cut.get(&(from, to)).copied()
    }
}

#[derive(Debug)]
struct Shared {
    links: Mutex<Links>,
    /// Bumped on every change of `links`, so connections re-check theirs.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn fault(&self, from_id: u64, to: usize) -> Option<LinkFault> {
        self.links.lock().expect("links").fault(from_id, to)
    }

    fn update(&self, change: impl FnOnce(&mut Links)) {
        change(&mut self.links.lock().expect("links"));
        self.changed.send_modify(|generation| *generation += 1);
    }
}

/// The proxies of one cluster and the links they cut.
#[derive(Debug)]
pub struct NetFault {
    shared: Arc<Shared>,
    /// Member index -> the port its proxy listens on (its advertised peer port).
    ports: Vec<u16>,
    listeners: Vec<JoinHandle<()>>,
}

impl NetFault {
    /// Binds one proxy per member on a free loopback port; `targets[i]` is
    /// member i's real peer port. Must be called within a tokio runtime.
    pub fn start(targets: &[u16]) -> NetFault {
        let (changed, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            links: Mutex::new(Links::default()),
            changed,
        });
        let mut ports = Vec::new();
        let mut listeners = Vec::new();
        for (to, &target) in targets.iter().enumerate() {
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a proxy");
            std_listener.set_nonblocking(true).expect("nonblocking");
            ports.push(std_listener.local_addr().expect("proxy address").port());
            let listener = TcpListener::from_std(std_listener).expect("tokio listener");
            listeners.push(tokio::spawn(accept_loop(
                listener,
                to,
                target,
                shared.clone(),
            )));
        }
        NetFault {
            shared,
            ports,
            listeners,
        }
    }

    /// The port member i's proxy listens on.
    pub fn port(&self, i: usize) -> u16 {
        self.ports[i]
    }

    /// Tells the proxies which Raft member ID each member index has (as the
    /// members report it); until then no link can be cut.
    pub fn set_member_ids(&self, ids: Vec<u64>) {
        assert_eq!(ids.len(), self.ports.len(), "one ID per member");
        self.shared.update(|links| links.ids = ids);
    }

    /// Cuts the directed link `from -> to`.
    pub fn cut(&self, from: usize, to: usize, fault: LinkFault) {
        assert_ne!(from, to, "a member has no link to itself");
        self.shared.update(|links| {
            links.cut.insert((from, to), fault);
        });
    }

    /// Cuts every link into and out of `member`.
    pub fn isolate(&self, member: usize, fault: LinkFault) {
        let members = self.ports.len();
        self.shared.update(|links| {
            for other in (0..members).filter(|&other| other != member) {
                links.cut.insert((member, other), fault);
                links.cut.insert((other, member), fault);
            }
        });
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.shared.update(|links| links.cut.clear());
    }
}

impl Drop for NetFault {
    fn drop(&mut self) {
        for listener in &self.listeners {
            listener.abort();
        }
        self.shared.update(|links| links.closed = true);
    }
}

/// Accepts connections for member `to` until the [`NetFault`] is dropped
/// (which aborts it).
async fn accept_loop(listener: TcpListener, to: usize, target: u16, shared: Arc<Shared>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of descriptors, say: give the system a moment.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(serve_connection(inbound, to, target, shared.clone()));
    }
}

/// Carries one dialed connection to member `to`, obeying the faults of its
/// link until either side closes it or the [`NetFault`] is dropped.
async fn serve_connection(mut inbound: TcpStream, to: usize, target: u16, shared: Arc<Shared>) {
    let _ = inbound.set_nodelay(true);
    let mut changes = shared.changed.subscribe();
    let mut hello = [0u8; HELLO_BYTES];
    let read = tokio::time::timeout(HELLO_TIMEOUT, inbound.read_exact(&mut hello)).await;
    if !matches!(read, Ok(Ok(_))) {
        return;
    }
    // Not a member's hello: forwarded as it is, the member refuses it.
    let from_id = match decode_hello(&hello) {
        Ok(Some((hello, _))) => hello.from,
        _ => 0,
    };
    match shared.fault(from_id, to) {
        Some(LinkFault::Drop) => return,
        Some(LinkFault::Blackhole) => {
            return discard_until_changed(inbound, changes, from_id, to, &shared).await
        }
        None => {}
    }
    let connect = TcpStream::connect(("127.0.0.1", target));
    let Ok(Ok(mut upstream)) = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, connect).await else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    if upstream.write_all(&hello).await.is_err() {
        return;
    }
    let mut blackholed = false;
    let mut sent = vec![0u8; COPY_BUFFER_BYTES];
    let mut answered = vec![0u8; COPY_BUFFER_BYTES];
    // Invariant: once blackholed, nothing more reaches the other side, and
    // the connection ends when the link's fault changes.
    loop {
        tokio::select! {
            read = inbound.read(&mut sent) => {
                let Ok(n @ 1..) = read else { return };
                if !blackholed && upstream.write_all(&sent[..n]).await.is_err() {
                    return;
                }
            }
            read = upstream.read(&mut answered) => {
                let Ok(n @ 1..) = read else { return };
                if !blackholed && inbound.write_all(&answered[..n]).await.is_err() {
                    return;
                }
            }
            change = changes.changed() => {
                if change.is_err() {
                    return;
                }
                match shared.fault(from_id, to) {
                    Some(LinkFault::Drop) => return,
                    Some(LinkFault::Blackhole) => blackholed = true,
                    None if blackholed => return,
                    None => {}
                }
            }
        }
    }
}

/// Reads and throws away what a blackholed link's sender sends, until the
/// link's fault changes (then the connection is closed).
async fn discard_until_changed(
    mut inbound: TcpStream,
    mut changes: watch::Receiver<u64>,
    from_id: u64,
    to: usize,
    shared: &Shared,
) {
    let mut discarded = vec![0u8; COPY_BUFFER_BYTES];
    loop {
        tokio::select! {
            read = inbound.read(&mut discarded) => {
                let Ok(1..) = read else { return };
            }
            change = changes.changed() => {
                if change.is_err() || shared.fault(from_id, to) != Some(LinkFault::Blackhole) {
                    return;
                }
            }
        }
    }
}
