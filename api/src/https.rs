//! HTTPS for the API: a listener that hands axum connections only once their TLS handshake is done.
//!
//! Why a listener of our own rather than a TLS front: the API carries bearer keys, recordings and
//! transcripts, and an on-prem operator should not need a reverse proxy to keep them off the wire in
//! clear. rustls (ring, as the SIP TLS transport) terminates TLS in process; the certificate and key
//! are read with the same loader as SIP's (`sip_stack::driver::tls::acceptor`), so both refuse an
//! unreadable or invalid PEM the same way, naming the file.
//!
//! Handshakes run as tasks in the listener's own `JoinSet`, not inline in `accept`: a client that
//! opens a connection and says nothing must not hold up everyone else's. They are bounded (at most
//! [`MAX_HANDSHAKES`] at once, each at most [`HANDSHAKE_TIMEOUT`]); past the bound, new connections
//! wait in the kernel's backlog. Dropping the listener (graceful shutdown) aborts handshakes in flight.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// TLS handshakes in progress at once.
pub const MAX_HANDSHAKES: usize = 256;

/// The longest a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose accepted connections are TLS streams, for `axum::serve`.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Serves TLS with `acceptor` on a bound listener.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Self {
            tcp,
            acceptor,
            handshakes: JoinSet::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                // Plain HTTP on the TLS port, scanners, clients that distrust our certificate: the
                // connection closes; nothing to answer.
                Ok(Err(err)) => {
                    tracing::debug!(%peer, %err, "HTTPS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "HTTPS handshake timed out");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            let accepted = tokio::select! {
                accepted = self.tcp.accept(), if room => accepted,
                Some(done) = self.handshakes.join_next() => {
                    if let Ok(Some(ready)) = done {
                        return ready;
                    }
                    continue;
                }
            };
            match accepted {
                Ok((stream, peer)) => self.start_handshake(stream, peer),
                Err(err) => accept_failed(err).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// As axum's own TCP listener does: a peer that gave up is nothing; anything else (out of file
/// descriptors) is logged and waited out a second, rather than spinning.
async fn accept_failed(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%err, "HTTPS accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
