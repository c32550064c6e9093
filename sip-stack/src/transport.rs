//! Transports as data: which one a message travels on, and the sans-IO framing of stream transports
//! (TCP, TLS), where messages are delimited by their Content-Length (RFC 3261 18.3) and a blank line
//! pair is a keep-alive ping answered by a single CRLF pong (RFC 5626 3.5.1).

use crate::message::{Limits, ParseError, grammar};
use std::fmt;
use std::net::SocketAddr;

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Transport {
    /// UDP: unreliable, one message per datagram, retransmissions by the transaction layer.
    #[default]
    Udp,
    /// TCP: reliable stream.
    Tcp,
    /// TLS over TCP: reliable, encrypted stream.
    Tls,
}

impl Transport {
    /// The name in a Via header (`SIP/2.0/UDP`).
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The `transport` URI parameter for Contact and Request-URIs (empty for UDP, the default).
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        }
    }

    /// Whether the transport delivers reliably, so timers A, E and G never retransmit (RFC 3261 17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The default port (RFC 3261 19.1.2): 5061 for TLS, 5060 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            _ => 5060,
        }
    }

    /// Reads a transport name as written in config or a Via (`udp`, `TCP`, `tls`).
    pub fn from_name(name: &str) -> Option<Self> {
        [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .find(|t| t.via_name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_name())
    }
}

/// One end of a message's path: the transport and the remote address. For stream transports this names
/// the connection (the driver keeps at most one per remote address and transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    /// Transport.
    pub transport: Transport,
    /// Remote address.
    pub addr: SocketAddr,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Self {
        Self {
            transport: Transport::Udp,
            addr,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// What a stream carried next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// One whole SIP message (start line, headers and exactly Content-Length body bytes).
    Message(Vec<u8>),
    /// A keep-alive ping (CRLFCRLF): answer with [`PONG`].
    Ping,
    /// A keep-alive pong (a lone CRLF).
    Pong,
}

/// The keep-alive ping a client sends on an idle connection (RFC 5626 3.5.1).
pub const PING: &[u8] = b"\r\n\r\n";
/// The answer to a ping.
pub const PONG: &[u8] = b"\r\n";

/// Splits a byte stream into SIP messages. Feed it what the socket read with [`push`](Self::push), then
/// call [`next`](Self::next) until it returns `None`. A framing error is fatal for the connection
/// (there is no way to find the next message boundary), so the driver closes it.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    /// Appends received bytes. Fails when the buffered part of one message exceeds the limit, so a
    /// peer cannot make us buffer without bound.
    pub fn push(&mut self, bytes: &[u8], limits: &Limits) -> Result<(), ParseError> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > limits.max_message_bytes + PING.len() {
            // Whole messages may be waiting; only an incomplete head this large is an error.
            if find_head_end(&self.buf).is_none() {
                return Err(ParseError::TooLarge {
                    len: self.buf.len(),
                    max: limits.max_message_bytes,
                });
            }
        }
        Ok(())
    }

    /// The next complete item, `Ok(None)` when more bytes are needed.
    pub fn next(&mut self, limits: &Limits) -> Result<Option<StreamItem>, ParseError> {
        if self.buf.starts_with(PING) {
            self.buf.drain(..PING.len());
            return Ok(Some(StreamItem::Ping));
        }
        if self.buf.starts_with(PONG) {
            // Either a pong, or the start of a ping whose second half is still on its way.
            if self.buf.len() < PING.len() && PING.starts_with(&self.buf) {
                return Ok(None);
            }
            self.buf.drain(..PONG.len());
            return Ok(Some(StreamItem::Pong));
        }
        if self.buf.first() == Some(&b'\n') {
            // A bare LF between messages is tolerated like the CRLF of RFC 3261 7.5.
            self.buf.drain(..1);
            return Ok(Some(StreamItem::Pong));
        }
        let Some(head_end) = find_head_end(&self.buf) else {
            if self.buf.len() > limits.max_message_bytes {
                return Err(ParseError::TooLarge {
                    len: self.buf.len(),
                    max: limits.max_message_bytes,
                });
            }
            return Ok(None);
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| ParseError::NotUtf8)?;
        // Content-Length is mandatory on streams (RFC 3261 18.3, 20.14).
        let length = content_length(head)?.ok_or(ParseError::MissingHeader("Content-Length"))?;
        let total = head_end
            .checked_add(length)
            .filter(|t| *t <= limits.max_message_bytes)
            .ok_or(ParseError::TooLarge {
                len: head_end.saturating_add(length),
                max: limits.max_message_bytes,
            })?;
        if self.buf.len() < total {
            return Ok(None);
        }
        let message: Vec<u8> = self.buf.drain(..total).collect();
        Ok(Some(StreamItem::Message(message)))
    }

    /// Bytes buffered but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Where the head ends: the index just past the blank line.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The Content-Length of a message head (full or compact name `l`), if present.
fn content_length(head: &str) -> Result<Option<usize>, ParseError> {
    let mut found = None;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let n = grammar::small_number(value.trim(), u64::from(u32::MAX))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(ParseError::BadContentLength)?;
            if found.is_some_and(|f| f != n) {
                return Err(ParseError::BadContentLength);
            }
            found = Some(n);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbody";

    fn drain(framer: &mut StreamFramer) -> Vec<StreamItem> {
        std::iter::from_fn(|| framer.next(&Limits::default()).expect("frames")).collect()
    }

    #[test]
    fn messages_split_at_content_length_whatever_the_read_boundaries() {
        let mut stream = Vec::new();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(PING);
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(PONG);
        // A lone CRLF at the very end could still be the first half of a ping, so the test ends with
        // a message that settles it (see `a_trailing_crlf_waits_to_tell_ping_from_pong`).
        stream.extend_from_slice(MSG);
        for chunk in [1, 3, 7, stream.len()] {
            let mut framer = StreamFramer::default();
            let mut items = Vec::new();
            for piece in stream.chunks(chunk) {
                framer.push(piece, &Limits::default()).expect("fits");
                items.extend(drain(&mut framer));
            }
            assert_eq!(
                items,
                vec![
                    StreamItem::Message(MSG.to_vec()),
                    StreamItem::Ping,
                    StreamItem::Message(MSG.to_vec()),
                    StreamItem::Pong,
                    StreamItem::Message(MSG.to_vec()),
                ],
                "chunks of {chunk}"
            );
            assert_eq!(framer.buffered(), 0);
        }
    }

    #[test]
    fn a_trailing_crlf_waits_to_tell_ping_from_pong() {
        let mut framer = StreamFramer::default();
        framer.push(PONG, &Limits::default()).expect("fits");
        assert_eq!(drain(&mut framer), vec![]);
        assert_eq!(framer.buffered(), 2);
        framer.push(PONG, &Limits::default()).expect("fits");
        assert_eq!(drain(&mut framer), vec![StreamItem::Ping]);
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn missing_or_bad_content_length_is_fatal() {
        let mut framer = StreamFramer::default();
        framer
            .push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", &Limits::default())
            .expect("fits");
        assert_eq!(
            framer.next(&Limits::default()),
            Err(ParseError::MissingHeader("Content-Length"))
        );
        let mut framer = StreamFramer::default();
        framer
            .push(
                b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n",
                &Limits::default(),
            )
            .expect("fits");
        assert_eq!(framer.next(&Limits::default()), Err(ParseError::BadContentLength));
    }

    #[test]
    fn a_head_that_never_ends_is_refused_at_the_limit() {
        let limits = Limits {
            max_message_bytes: 64,
            ..Limits::default()
        };
        let mut framer = StreamFramer::default();
        let err = (0..100).find_map(|_| framer.push(b"Subject: xxxxxxxx\r\n", &limits).err());
        assert!(matches!(err, Some(ParseError::TooLarge { .. })));
        let mut framer = StreamFramer::default();
        framer
            .push(
                b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 4000\r\n\r\n",
                &limits,
            )
            .expect("head fits");
        assert!(matches!(framer.next(&limits), Err(ParseError::TooLarge { .. })));
    }

    #[test]
    fn transport_names() {
        assert_eq!(Transport::from_name("tcp"), Some(Transport::Tcp));
        assert_eq!(Transport::from_name("TLS"), Some(Transport::Tls));
        assert_eq!(Transport::from_name("sctp"), None);
        assert_eq!(Transport::Tls.default_port(), 5061);
        assert!(!Transport::Udp.is_reliable() && Transport::Tcp.is_reliable());
    }
}
