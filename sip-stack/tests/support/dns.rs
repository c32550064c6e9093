//! A tiny authoritative DNS server on 127.0.0.1 for tests: answers A, AAAA and SRV questions from a
//! table the test can change while it runs, and records every question it was asked. Enough of RFC
//! 1035 for a stub resolver: one question per query, answers with TTL 0 (nothing cached), NXDOMAIN for
//! names it does not know.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Record types we answer.
pub const A: u16 = 1;
/// IPv6 address.
pub const AAAA: u16 = 28;
/// Service location (RFC 2782).
pub const SRV: u16 = 33;

/// One answer record's data.
#[derive(Debug, Clone)]
pub enum Record {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// priority, weight, port, target.
    Srv(u16, u16, u16, String),
}

impl Record {
    fn kind(&self) -> u16 {
        match self {
            Record::A(_) => A,
            Record::Srv(..) => SRV,
        }
    }
}

/// The zone: lower-case names without the final dot, each with its records.
pub type Zone = Arc<Mutex<HashMap<String, Vec<Record>>>>;

/// A running server.
pub struct DnsServer {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    /// Its records; change them to move a name.
    pub zone: Zone,
    /// Every question so far: (name, type).
    pub asked: Arc<Mutex<Vec<(String, u16)>>>,
    task: JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    /// Starts on a free UDP port of 127.0.0.1.
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone: Zone = Arc::default();
        let asked: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
        let (z, a) = (zone.clone(), asked.clone());
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Some((name, qtype, question_end)) = question(&buf[..len]) else {
                    continue;
                };
                a.lock().unwrap().push((name.clone(), qtype));
                let records = z.lock().unwrap().get(&name).cloned();
                let reply = answer(&buf[..question_end], records.as_deref(), qtype);
                let _ = socket.send_to(&reply, from).await;
            }
        });
        Self {
            addr,
            zone,
            asked,
            task,
        }
    }

    /// Replaces a name's records.
    pub fn set(&self, name: &str, records: Vec<Record>) {
        self.zone.lock().unwrap().insert(name.to_owned(), records);
    }

    /// How many times `name` was asked with `qtype`.
    pub fn asked(&self, name: &str, qtype: u16) -> usize {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, t)| n == name && *t == qtype)
            .count()
    }
}

/// The first question of a query: its name (lower case, no final dot), type, and where it ends.
fn question(msg: &[u8]) -> Option<(String, u16, usize)> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 || u16::from_be_bytes([msg[4], msg[5]]) == 0 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(
            std::str::from_utf8(msg.get(at..at + len)?)
                .ok()?
                .to_ascii_lowercase(),
        );
        at += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
    Some((labels.join("."), qtype, at + 4))
}

fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// The response to a query whose header and question are `query`.
fn answer(query: &[u8], records: Option<&[Record]>, qtype: u16) -> Vec<u8> {
    let matching: Vec<&Record> = records
        .unwrap_or_default()
        .iter()
        .filter(|r| r.kind() == qtype)
        .collect();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[..2]); // id
    let rd = query[2] & 0x01;
    out.push(0x84 | rd); // QR, AA, RD copied
    out.push(if records.is_none() { 0x03 } else { 0x00 }); // NXDOMAIN for unknown names
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(matching.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..]);
    for record in matching {
        out.extend_from_slice(&[0xC0, 0x0C]); // the question's name
        out.extend_from_slice(&record.kind().to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&0u32.to_be_bytes()); // TTL 0: never cached
        let mut data = Vec::new();
        match record {
            Record::A(ip) => data.extend_from_slice(&ip.octets()),
            Record::Srv(priority, weight, port, target) => {
                data.extend_from_slice(&priority.to_be_bytes());
                data.extend_from_slice(&weight.to_be_bytes());
                data.extend_from_slice(&port.to_be_bytes());
                encode_name(&mut data, target);
            }
        }
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}
