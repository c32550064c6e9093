//! baresip's `ctrl_tcp` protocol: netstring-framed JSON commands, responses and events.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;

use crate::phone::{EventKind, PhoneEvent};
use crate::{Result, TestbedError};

/// Longest netstring we accept; baresip's messages are a few hundred bytes.
const MAX_FRAME: usize = 1 << 20;

/// Splits a byte stream into netstring payloads (`<len>:<payload>,`).
#[derive(Debug, Default)]
pub(crate) struct NetstringDecoder {
    buf: Vec<u8>,
}

impl NetstringDecoder {
    /// Appends received bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete payload, `Ok(None)` if more bytes are needed, or an error for a broken stream.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Vec<u8>>, String> {
        let Some(colon) = self.buf.iter().position(|&b| b == b':') else {
            if self.buf.len() > 20 || !self.buf.iter().all(u8::is_ascii_digit) {
                return Err(format!(
                    "bad netstring length prefix {:?}",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
            return Ok(None);
        };
        let digits = &self.buf[..colon];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(format!(
                "bad netstring length {:?}",
                String::from_utf8_lossy(digits)
            ));
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&len| len <= MAX_FRAME)
            .ok_or_else(|| format!("netstring length {} too large", String::from_utf8_lossy(digits)))?;
        let end = colon + 1 + len;
        if self.buf.len() <= end {
            return Ok(None);
        }
        if self.buf[end] != b',' {
            return Err("netstring not terminated by ','".to_owned());
        }
        let payload = self.buf[colon + 1..end].to_vec();
        self.buf.drain(..=end);
        Ok(Some(payload))
    }
}

/// Frames `payload` as a netstring.
pub(crate) fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out.push(b',');
    out
}

/// baresip's answer to a command.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    token: Option<String>,
    ok: bool,
    data: String,
}

/// One message from baresip.
#[derive(Debug)]
pub(crate) enum Message {
    Event(PhoneEvent),
    Response(Response),
}

/// Classifies one JSON payload.
pub(crate) fn parse_message(payload: &[u8]) -> Result<Message, String> {
    let json: Value = serde_json::from_slice(payload)
        .map_err(|err| format!("{err} in {:?}", String::from_utf8_lossy(payload)))?;
    let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
    if json.get("event").and_then(Value::as_bool) == Some(true) {
        let kind = EventKind::from_wire(&text("type").unwrap_or_default());
        return Ok(Message::Event(PhoneEvent {
            kind,
            param: text("param").unwrap_or_default(),
            peer_uri: text("peeruri"),
            call_id: text("id"),
            json,
        }));
    }
    if json.get("response").and_then(Value::as_bool) == Some(true) {
        return Ok(Message::Response(Response {
            token: text("token"),
            ok: json.get("ok").and_then(Value::as_bool).unwrap_or(false),
            data: text("data").unwrap_or_default(),
        }));
    }
    Err(format!("neither event nor response: {json}"))
}

/// What the reader task has received so far.
#[derive(Debug, Default)]
pub(crate) struct CtrlState {
    pub(crate) events: Vec<PhoneEvent>,
    responses: Vec<Response>,
    pub(crate) closed: bool,
}

/// A connection to baresip's `ctrl_tcp`: a reader task collecting events and responses, and a writer.
#[derive(Debug)]
pub(crate) struct Ctrl {
    addr: SocketAddr,
    writer: Mutex<OwnedWriteHalf>,
    state: watch::Receiver<CtrlState>,
    next_token: AtomicU64,
    // Dropping the set aborts the reader task.
    _reader: JoinSet<()>,
}

impl Ctrl {
    /// Connects to `addr` and starts reading.
    pub(crate) async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        let (tx, rx) = watch::channel(CtrlState::default());
        let mut reader = JoinSet::new();
        reader.spawn(read_loop(read, tx));
        Ok(Self {
            addr,
            writer: Mutex::new(write),
            state: rx,
            next_token: AtomicU64::new(1),
            _reader: reader,
        })
    }

    /// A receiver of the collected state, to wait on.
    pub(crate) fn state(&self) -> watch::Receiver<CtrlState> {
        self.state.clone()
    }

    /// Sends a command and waits for its response; the response's `data` if it is `ok`.
    pub(crate) async fn command(&self, command: &str, params: &str, timeout: Duration) -> Result<String> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed).to_string();
        let payload = serde_json::json!({ "command": command, "params": params, "token": token });
        let frame = encode(payload.to_string().as_bytes());
        self.writer
            .lock()
            .await
            .write_all(&frame)
            .await
            .map_err(|source| TestbedError::Control {
                addr: self.addr,
                source,
            })?;

        let mut state = self.state();
        let found = tokio::time::timeout(
            timeout,
            state.wait_for(|s| s.closed || s.responses.iter().any(|r| r.token.as_deref() == Some(&token))),
        )
        .await;
        let command_line = format!("{command} {params}").trim_end().to_owned();
        let state = match found {
            Err(_elapsed) => {
                return Err(TestbedError::CommandTimeout {
                    command: command_line,
                    waited: timeout,
                });
            }
            Ok(Err(_sender_gone)) => return Err(TestbedError::ControlClosed),
            Ok(Ok(state)) => state,
        };
        match state
            .responses
            .iter()
            .find(|r| r.token.as_deref() == Some(&token))
        {
            Some(response) if response.ok => Ok(response.data.clone()),
            Some(response) => Err(TestbedError::CommandFailed {
                command: command_line,
                reason: response.data.trim().to_owned(),
            }),
            None => Err(TestbedError::ControlClosed),
        }
    }

    /// Best effort, without blocking: asks baresip to quit (for `Drop`).
    pub(crate) fn try_quit(&self) -> bool {
        let frame = encode(br#"{"command":"quit","params":"","token":"quit"}"#);
        match self.writer.try_lock() {
            Ok(writer) => matches!(writer.try_write(&frame), Ok(n) if n == frame.len()),
            Err(_) => false,
        }
    }
}

async fn read_loop(mut read: OwnedReadHalf, state: watch::Sender<CtrlState>) {
    let mut decoder = NetstringDecoder::default();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match read.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) => {
                tracing::debug!(%err, "baresip control connection failed");
                break;
            }
        };
        decoder.push(&buf[..n]);
        loop {
            match decoder
                .next_frame()
                .and_then(|frame| frame.map(|f| parse_message(&f)).transpose())
            {
                Ok(None) => break,
                Ok(Some(Message::Event(event))) => {
                    tracing::debug!(kind = ?event.kind, param = %event.param, "baresip event");
                    state.send_modify(|s| s.events.push(event));
                }
                Ok(Some(Message::Response(response))) => state.send_modify(|s| s.responses.push(response)),
                Err(err) => {
                    tracing::warn!(%err, "bad message from baresip; closing the control connection");
                    state.send_modify(|s| s.closed = true);
                    return;
                }
            }
        }
    }
    state.send_modify(|s| s.closed = true);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_frames_split_across_reads() {
        let mut d = NetstringDecoder::default();
        d.push(b"5:hel");
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(b"lo,2:ab,1");
        assert_eq!(d.next_frame().unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(d.next_frame().unwrap().as_deref(), Some(&b"ab"[..]));
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(b":x,");
        assert_eq!(d.next_frame().unwrap().as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn rejects_broken_streams() {
        let mut d = NetstringDecoder::default();
        d.push(b"3:abc;");
        assert!(d.next_frame().is_err());
        let mut d = NetstringDecoder::default();
        d.push(b"x:");
        assert!(d.next_frame().is_err());
        let mut d = NetstringDecoder::default();
        d.push(b"99999999999:");
        assert!(d.next_frame().is_err());
    }

    #[test]
    fn encodes_netstrings() {
        assert_eq!(encode(b"hi"), b"2:hi,");
    }

    #[test]
    fn parses_events_and_responses() {
        let event = br#"{"event":true,"type":"CALL_CLOSED","class":"call","peeruri":"sip:bob@127.0.0.1:5099","id":"64ec","param":"486 Busy Here"}"#;
        let Message::Event(event) = parse_message(event).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(event.kind, EventKind::CallClosed);
        assert_eq!(event.param, "486 Busy Here");
        assert_eq!(event.peer_uri.as_deref(), Some("sip:bob@127.0.0.1:5099"));

        let response = br#"{"response":true,"ok":false,"data":"command not found (ua)\n","token":"7"}"#;
        let Message::Response(response) = parse_message(response).unwrap() else {
            panic!("not a response")
        };
        assert_eq!(response.token.as_deref(), Some("7"));
        assert!(!response.ok);

        assert!(parse_message(b"{}").is_err());
        assert!(parse_message(b"not json").is_err());
    }
}
