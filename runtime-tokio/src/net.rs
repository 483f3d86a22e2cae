//! Sockets for both kinds of address etcd listens on and dials: TCP
//! (`http://`, `https://`) and Unix domain sockets (`unix://`, `unixs://`).
//!
//! etcd takes a Unix URL's `host:port` as the socket's file name, relative to
//! the working directory (`unix://localhost:2379` is the file
//! `localhost:2379`), removes a stale file of that name before it binds, and
//! removes the file again when the listener closes. So does this module.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Whether a URL scheme names a Unix domain socket.
pub fn is_unix_scheme(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("unix") || scheme.eq_ignore_ascii_case("unixs")
}

/// A bound listener of either kind.
#[derive(Debug)]
pub enum NetListener {
    Tcp(TcpListener),
    Unix {
        listener: UnixListener,
        path: PathBuf,
    },
}

impl NetListener {
    /// Binds `address` (`host:port`); for a Unix scheme, the file of that
    /// name, after removing a stale one.
    pub async fn bind(unix: bool, address: &str) -> io::Result<NetListener> {
        if unix {
            let path = PathBuf::from(address);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
            let listener = UnixListener::bind(&path)?;
            Ok(NetListener::Unix { listener, path })
        } else {
            Ok(NetListener::Tcp(TcpListener::bind(address).await?))
        }
    }

    /// [`NetListener::bind`], a failure worded as Go's `net.Listen` words it
    /// (`listen tcp 127.0.0.1:2379: bind: Address in use`), as etcd logs it.
    pub async fn listen(unix: bool, address: &str) -> Result<NetListener, String> {
        NetListener::bind(unix, address).await.map_err(|e| {
            let network = if unix { "unix" } else { "tcp" };
            format!("listen {network} {address}: bind: {e}")
        })
    }

    /// Waits for the next connection; answers it and the peer's address
    /// (`None` for a Unix socket, whose peers have none).
    pub async fn accept(&self) -> io::Result<(NetStream, Option<SocketAddr>)> {
        match self {
            NetListener::Tcp(listener) => {
                let (stream, remote) = listener.accept().await?;
                Ok((NetStream::Tcp(stream), Some(remote)))
            }
            NetListener::Unix { listener, .. } => {
                let (stream, _) = listener.accept().await?;
                Ok((NetStream::Unix(stream), None))
            }
        }
    }

    /// The address actually bound (`host:port` with port 0 resolved), or
    /// the socket's file name.
    pub fn local_address(&self) -> io::Result<String> {
        match self {
            NetListener::Tcp(listener) => listener.local_addr().map(|a| a.to_string()),
            NetListener::Unix { path, .. } => Ok(path.display().to_string()),
        }
    }

    /// Whether this is a Unix domain socket.
    pub fn is_unix(&self) -> bool {
        matches!(self, NetListener::Unix { .. })
    }
}

impl Drop for NetListener {
    fn drop(&mut self) {
        if let NetListener::Unix { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A connection of either kind.
#[derive(Debug)]
pub enum NetStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl NetStream {
    /// Dials `address` (`host:port`, or a socket file for a Unix scheme).
    pub async fn connect(unix: bool, address: &str) -> io::Result<NetStream> {
        if unix {
            Ok(NetStream::Unix(UnixStream::connect(address).await?))
        } else {
            Ok(NetStream::Tcp(TcpStream::connect(address).await?))
        }
    }

    /// Sends small writes at once (TCP only; a Unix socket has no Nagle).
    pub fn set_nodelay(&self) -> io::Result<()> {
        match self {
            NetStream::Tcp(stream) => stream.set_nodelay(true),
            NetStream::Unix(_) => Ok(()),
        }
    }

    /// The TCP socket, for `TCP_INFO` (round-trip times); `None` for Unix.
    pub fn tcp_fd(&self) -> Option<RawFd> {
        match self {
            NetStream::Tcp(stream) => Some(stream.as_raw_fd()),
            NetStream::Unix(_) => None,
        }
    }

    /// Reads the first bytes without consuming them.
    pub async fn peek(&self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            NetStream::Tcp(stream) => stream.peek(buffer).await,
            NetStream::Unix(stream) => loop {
                stream.readable().await?;
                let fd = stream.as_raw_fd();
                match stream.try_io(tokio::io::Interest::READABLE, || {
                    // SAFETY: `fd` is this stream's open socket and `buffer`
                    // is valid for `buffer.len()` bytes of writes.
                    let read = unsafe {
                        libc::recv(fd, buffer.as_mut_ptr().cast(), buffer.len(), libc::MSG_PEEK)
                    };
                    if read < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(read as usize)
                    }
                }) {
                    Ok(read) => return Ok(read),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(error) => return Err(error),
                }
            },
        }
    }
}

impl AsyncRead for NetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            NetStream::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for NetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            NetStream::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            NetStream::Unix(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            NetStream::Tcp(stream) => stream.is_write_vectored(),
            NetStream::Unix(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            NetStream::Unix(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            NetStream::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_unix_socket_is_bound_peeked_and_removed() {
        let dir = std::env::temp_dir().join(format!("cairn-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("localhost:2379");
        // A stale file of that name is replaced.
        std::fs::write(&path, b"stale").unwrap();
        let address = path.display().to_string();
        let listener = NetListener::bind(true, &address).await.unwrap();
        assert_eq!(listener.local_address().unwrap(), address);
        let dial = tokio::spawn({
            let address = address.clone();
            async move {
                let mut stream = NetStream::connect(true, &address).await.unwrap();
                stream.write_all(b"\x16hello").await.unwrap();
                stream.flush().await.unwrap();
                stream
            }
        });
        let (mut accepted, remote) = listener.accept().await.unwrap();
        assert!(remote.is_none());
        let _dialed = dial.await.unwrap();
        let mut first = [0u8; 1];
        assert_eq!(accepted.peek(&mut first).await.unwrap(), 1);
        assert_eq!(first[0], 0x16);
        let mut all = [0u8; 6];
        accepted.read_exact(&mut all).await.unwrap();
        assert_eq!(&all, b"\x16hello");
        drop(listener);
        assert!(!path.exists(), "the socket file is removed on close");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
