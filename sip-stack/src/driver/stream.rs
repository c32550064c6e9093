//! Stream connections (TCP and TLS): one task per connection owns the socket, frames what it reads
//! into SIP messages for the driver, writes what the driver queues for it, answers keep-alive pings,
//! and pings an idle connection it opened (RFC 5626 3.5.1). The driver keeps one sender per
//! connection, keyed by transport and remote address, so responses and later requests reuse it.

use crate::message::Limits;
use crate::transport::{PING, PONG, Peer, StreamFramer, StreamItem, Transport};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// What a connection tells the driver.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    /// One framed message.
    Message { peer: Peer, bytes: Vec<u8> },
    /// The connection is gone (or could not be opened: `failed`).
    Closed { peer: Peer, id: u64, failed: bool },
}

/// How long opening a connection (TCP and the TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection task needs besides its socket.
pub(crate) struct Conn {
    pub peer: Peer,
    pub id: u64,
    pub limits: Limits,
    pub outgoing: mpsc::Receiver<Vec<u8>>,
    pub events: mpsc::Sender<StreamEvent>,
    /// Ping when idle this long (connections we opened); `None` for accepted ones.
    pub ping: Option<Duration>,
    /// Close when idle this long (nothing read or written).
    pub idle_timeout: Duration,
}

/// Opens a connection to `conn.peer` (TCP, then TLS with `server_name` when the transport is TLS) and
/// serves it.
pub(crate) async fn connect(conn: Conn, tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>) {
    let (peer, id, events) = (conn.peer, conn.id, conn.events.clone());
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let tcp = TcpStream::connect(peer.addr).await?;
        tcp.set_nodelay(true)?;
        Ok::<_, std::io::Error>(tcp)
    })
    .await;
    let tcp = match opened {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(err)) => {
            tracing::info!(%peer, %err, "SIP connection failed");
            let _ = events
                .send(StreamEvent::Closed {
                    peer,
                    id,
                    failed: true,
                })
                .await;
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "SIP connection timed out");
            let _ = events
                .send(StreamEvent::Closed {
                    peer,
                    id,
                    failed: true,
                })
                .await;
            return;
        }
    };
    match (peer.transport, tls) {
        (Transport::Tls, Some((connector, name))) => {
            match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
                Ok(Ok(stream)) => serve(stream, conn).await,
                Ok(Err(err)) => {
                    tracing::warn!(%peer, %err, "TLS handshake failed");
                    let _ = events
                        .send(StreamEvent::Closed {
                            peer,
                            id,
                            failed: true,
                        })
                        .await;
                }
                Err(_) => {
                    tracing::warn!(%peer, "TLS handshake timed out");
                    let _ = events
                        .send(StreamEvent::Closed {
                            peer,
                            id,
                            failed: true,
                        })
                        .await;
                }
            }
        }
        (Transport::Tls, None) => {
            tracing::warn!(%peer, "no TLS client configuration");
            let _ = events
                .send(StreamEvent::Closed {
                    peer,
                    id,
                    failed: true,
                })
                .await;
        }
        _ => serve(tcp, conn).await,
    }
}

/// Serves a connection a peer opened to our listener (after the TLS handshake for TLS).
pub(crate) async fn accepted(tcp: TcpStream, conn: Conn, tls: Option<TlsAcceptor>) {
    let _ = tcp.set_nodelay(true);
    let (peer, id, events) = (conn.peer, conn.id, conn.events.clone());
    match tls {
        Some(acceptor) => match tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => serve(stream, conn).await,
            _ => {
                tracing::debug!(%peer, "TLS handshake with a client failed");
                let _ = events
                    .send(StreamEvent::Closed {
                        peer,
                        id,
                        failed: true,
                    })
                    .await;
            }
        },
        None => serve(tcp, conn).await,
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, mut conn: Conn) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut framer = StreamFramer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let peer = conn.peer;
    let ping_every = conn.ping.unwrap_or(Duration::from_secs(3600));
    let mut last_activity = tokio::time::Instant::now();
    let mut last_write = last_activity;
    let failed = loop {
        let ping_at = last_write + ping_every;
        let idle_at = last_activity + conn.idle_timeout;
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) => break false,
                    Ok(n) => n,
                    Err(err) => {
                        tracing::debug!(%peer, %err, "SIP connection read error");
                        break true;
                    }
                };
                last_activity = tokio::time::Instant::now();
                if let Err(err) = framer.push(&buf[..n], &conn.limits) {
                    tracing::info!(%peer, %err, "closing a SIP connection that sent an unframeable stream");
                    break true;
                }
                let mut pong = false;
                loop {
                    match framer.next(&conn.limits) {
                        Ok(Some(StreamItem::Message(bytes))) => {
                            if conn.events.send(StreamEvent::Message { peer, bytes }).await.is_err() {
                                return;
                            }
                        }
                        Ok(Some(StreamItem::Ping)) => pong = true,
                        Ok(Some(StreamItem::Pong)) => {}
                        Ok(None) => break,
                        Err(err) => {
                            tracing::info!(%peer, %err, "closing a SIP connection that broke framing");
                            let _ = conn.events.send(StreamEvent::Closed { peer, id: conn.id, failed: true }).await;
                            return;
                        }
                    }
                }
                if pong && writer.write_all(PONG).await.is_err() {
                    break true;
                }
            }
            out = conn.outgoing.recv() => {
                let Some(bytes) = out else {
                    // The driver dropped us (shutdown, or a cap): close quietly.
                    let _ = writer.shutdown().await;
                    break false;
                };
                if let Err(err) = writer.write_all(&bytes).await {
                    tracing::debug!(%peer, %err, "SIP connection write error");
                    break true;
                }
                last_write = tokio::time::Instant::now();
                last_activity = last_write;
            }
            () = tokio::time::sleep_until(ping_at), if conn.ping.is_some() => {
                if writer.write_all(PING).await.is_err() {
                    break true;
                }
                last_write = tokio::time::Instant::now();
            }
            () = tokio::time::sleep_until(idle_at) => {
                tracing::debug!(%peer, "closing an idle SIP connection");
                let _ = writer.shutdown().await;
                break false;
            }
        }
    };
    let _ = conn
        .events
        .send(StreamEvent::Closed {
            peer,
            id: conn.id,
            failed,
        })
        .await;
}
