//! The driver's caps on real sockets: stream connections over the cap (all of them, or from one
//! address) are closed at once while the connections already open keep being served, and a freed
//! slot is taken again; strangers stop short of the connections kept for trunks, so their idle
//! connections cannot lock a trunk out; an INVITE over the call cap is refused with 503 (sent by
//! sipp as the trunk) while the call in progress carries on to its BYE, and once it ends calls are
//! taken again. Runs in the nextest `real-time` group.
#![allow(clippy::unwrap_used)]

mod support;

use sip_stack::driver::{self, DriverOptions, SipHandle, Sockets, tls};
use sip_stack::{CallEvent, EndpointConfig, IpNet, TrunkConfig};
use std::net::SocketAddr;
use std::time::Duration;
use support::sipp::{Sipp, free_udp_port};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const TIMEOUT: Duration = Duration::from_secs(10);

const OFFER: &str = "v=0\r\no=ringback 1 1 IN IP4 127.0.0.1\r\ns=ringback\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

/// A driver listening on UDP, TCP and TLS with the given connection caps, nothing kept for trunks.
async fn listening(
    certs: &ringback_testbed::TestCertificates,
    max_connections: usize,
    per_ip: usize,
) -> driver::Driver {
    listening_with(certs, max_connections, per_ip, 0, Vec::new()).await
}

/// [`listening`] with `reserved` connections kept for `trunks`.
async fn listening_with(
    certs: &ringback_testbed::TestCertificates,
    max_connections: usize,
    per_ip: usize,
    reserved: usize,
    trunks: Vec<TrunkConfig>,
) -> driver::Driver {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = EndpointConfig::new(udp.local_addr().unwrap());
    let sockets = Sockets {
        udp,
        tcp: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        tls: Some((
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            tls::acceptor(&certs.cert, &certs.key).unwrap(),
        )),
    };
    let options = DriverOptions {
        max_connections,
        max_connections_per_ip: per_ip,
        trunk_connections: reserved,
        ..DriverOptions::default()
    };
    driver::start(sockets, options, config, trunks)
}

/// Sends an OPTIONS on a connection and returns the status of the answer, or `None` when the
/// connection is closed (or refuses the request) instead. Branches are unique per connection and
/// request, as RFC 3261 wants: the server matches transactions by branch.
async fn options<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    local: SocketAddr,
    transport: &str,
    seq: u32,
) -> Option<u16> {
    let request = format!(
        "OPTIONS sip:ringback@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bKcap{seq}x{port}\r\n\
Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=cap{seq}\r\nTo: <sip:ringback@127.0.0.1>\r\n\
Call-ID: cap-{seq}-{port}@test\r\nCSeq: {seq} OPTIONS\r\nContent-Length: 0\r\n\r\n",
        port = local.port()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    stream.flush().await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    tokio::time::timeout(TIMEOUT, async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&got).into_owned();
        head.split(' ').nth(1)?.parse().ok()
    })
    .await
    .expect("an answer or a close in time")
}

/// Whether the peer closes a connection (EOF or reset) without a word.
async fn closed<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(TIMEOUT, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn tls_connect(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
) -> std::io::Result<(tokio_rustls::client::TlsStream<TcpStream>, SocketAddr)> {
    tls_connect_from(connector, addr, "127.0.0.1").await
}

/// A TCP connection from a chosen loopback address (any 127/8 address is ours on Linux).
async fn connect_from(addr: SocketAddr, from: &str) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from.parse().unwrap(), 0))?;
    socket.connect(addr).await
}

async fn tls_connect_from(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    from: &str,
) -> std::io::Result<(tokio_rustls::client::TlsStream<TcpStream>, SocketAddr)> {
    let tcp = connect_from(addr, from).await?;
    let local = tcp.local_addr()?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    Ok((connector.connect(name, tcp).await?, local))
}

async fn connections(sip: &SipHandle) -> usize {
    sip.stats().await.unwrap().connections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_and_open_ones_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let certs = ringback_testbed::certs::generate(dir.path()).unwrap();
    let driver = listening(&certs, 2, 32).await;
    let (tcp_addr, tls_addr) = (driver.local.tcp.unwrap(), driver.local.tls.unwrap());
    let connector = tls::connector(Some(&certs.ca)).unwrap();

    // Two connections, one of each, fill the cap.
    let mut first = TcpStream::connect(tcp_addr).await.unwrap();
    let first_local = first.local_addr().unwrap();
    assert_eq!(options(&mut first, first_local, "TCP", 1).await, Some(200));
    let (mut second, second_local) = tls_connect(&connector, tls_addr).await.unwrap();
    assert_eq!(options(&mut second, second_local, "TLS", 1).await, Some(200));
    assert_eq!(connections(&driver.handle).await, 2);

    // A third over TCP is closed; one over TLS never completes its handshake, or is closed.
    let mut third = TcpStream::connect(tcp_addr).await.unwrap();
    let third_local = third.local_addr().unwrap();
    assert_eq!(
        options(&mut third, third_local, "TCP", 1).await,
        None,
        "over the cap"
    );
    match tls_connect(&connector, tls_addr).await {
        Err(_) => {}
        Ok((mut fourth, _)) => assert!(closed(&mut fourth).await, "TLS over the cap"),
    }

    // The open ones are still served.
    assert_eq!(options(&mut first, first_local, "TCP", 2).await, Some(200));
    assert_eq!(options(&mut second, second_local, "TLS", 2).await, Some(200));
    assert_eq!(connections(&driver.handle).await, 2);

    // Closing one frees its slot for a newcomer.
    drop(first);
    tokio::time::timeout(TIMEOUT, async {
        while connections(&driver.handle).await != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the closed connection is forgotten");
    let mut fifth = TcpStream::connect(tcp_addr).await.unwrap();
    let fifth_local = fifth.local_addr().unwrap();
    assert_eq!(options(&mut fifth, fifth_local, "TCP", 1).await, Some(200));
    driver.handle.shutdown().await;
}

/// Strangers' idle connections cannot lock a TCP or TLS trunk out: the last slots are the trunks'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_cannot_take_the_connections_kept_for_trunks() {
    let dir = tempfile::tempdir().unwrap();
    let certs = ringback_testbed::certs::generate(dir.path()).unwrap();
    // The trunk is 127.0.0.2; strangers come from 127.0.0.1. Four slots, two kept for the trunk.
    let trunk = TrunkConfig::new("carrier", "127.0.0.2:5060".parse().unwrap());
    let driver = listening_with(&certs, 4, 32, 2, vec![trunk]).await;
    let (tcp_addr, tls_addr) = (driver.local.tcp.unwrap(), driver.local.tls.unwrap());
    let connector = tls::connector(Some(&certs.ca)).unwrap();

    // Strangers open connections and sit on them: two are taken, the rest closed.
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(tcp_addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        assert_eq!(options(&mut stream, local, "TCP", 1).await, Some(200));
        idle.push(stream);
    }
    for _ in 0..3 {
        let mut stream = TcpStream::connect(tcp_addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        assert_eq!(
            options(&mut stream, local, "TCP", 1).await,
            None,
            "a stranger took a trunk's slot"
        );
    }
    assert_eq!(connections(&driver.handle).await, 2);

    // The trunk still gets in, over TCP and over TLS.
    let mut trunk_tcp = connect_from(tcp_addr, "127.0.0.2").await.unwrap();
    let local = trunk_tcp.local_addr().unwrap();
    assert_eq!(options(&mut trunk_tcp, local, "TCP", 1).await, Some(200));
    let (mut trunk_tls, local) = tls_connect_from(&connector, tls_addr, "127.0.0.2").await.unwrap();
    assert_eq!(options(&mut trunk_tls, local, "TLS", 1).await, Some(200));
    assert_eq!(connections(&driver.handle).await, 4);
    // The strangers' connections are still served.
    for stream in &mut idle {
        let local = stream.local_addr().unwrap();
        assert_eq!(options(stream, local, "TCP", 2).await, Some(200));
    }
    driver.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_more_than_its_share_of_connections() {
    let dir = tempfile::tempdir().unwrap();
    let certs = ringback_testbed::certs::generate(dir.path()).unwrap();
    let driver = listening(&certs, 100, 1).await;
    let tcp_addr = driver.local.tcp.unwrap();

    let mut first = TcpStream::connect(tcp_addr).await.unwrap();
    let first_local = first.local_addr().unwrap();
    assert_eq!(options(&mut first, first_local, "TCP", 1).await, Some(200));
    let mut second = TcpStream::connect(tcp_addr).await.unwrap();
    assert!(
        closed(&mut second).await,
        "a second connection from 127.0.0.1 is closed"
    );
    assert_eq!(options(&mut first, first_local, "TCP", 2).await, Some(200));
    driver.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_over_the_call_cap_gets_503_while_the_call_in_progress_carries_on() {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut config = EndpointConfig::new(udp.local_addr().unwrap());
    config.max_calls = 1;
    let first_port = free_udp_port();
    let mut trunk = TrunkConfig::new("sipp", SocketAddr::from(([127, 0, 0, 1], first_port)));
    // Every sipp of the test, whatever its port, is the trunk.
    trunk.inbound.sources = vec!["127.0.0.1/32".parse::<IpNet>().unwrap()];
    let sockets = Sockets {
        udp,
        tcp: None,
        tls: None,
    };
    let mut driver = driver::start(sockets, DriverOptions::default(), config, vec![trunk]);
    let sip = driver.handle.clone();
    let ours = driver.local.udp;

    // The application answers every call it is offered and reports each answered one.
    let (answered_tx, mut answered) = tokio::sync::mpsc::unbounded_channel();
    let app_sip = sip.clone();
    let app = tokio::spawn(async move {
        let mut offered = 0;
        while let Some(mut incoming) = driver.incoming.recv().await {
            offered += 1;
            app_sip
                .accept(incoming.info.call, OFFER.as_bytes().to_vec())
                .await
                .unwrap();
            let answered_tx = answered_tx.clone();
            tokio::spawn(async move {
                while let Some(event) = incoming.events.recv().await {
                    if matches!(event, CallEvent::Answered { .. }) {
                        let _ = answered_tx.send(());
                    }
                }
            });
        }
        offered
    });

    // One call up (it lasts 4 s, then sipp hangs up).
    let long = Sipp::start("uac_long_call.xml", first_port, Some(ours), 1, 1);
    tokio::time::timeout(TIMEOUT, answered.recv())
        .await
        .expect("the first call is answered")
        .unwrap();
    // Another trunk call meanwhile: 503, and the application never sees it.
    let (code, output) = Sipp::start("uac_expect_503.xml", free_udp_port(), Some(ours), 1, 1)
        .finish()
        .await;
    assert_eq!(
        code, 0,
        "the INVITE over the cap was not refused with 503:\n{output}"
    );
    assert_eq!(sip.stats().await.unwrap().endpoint.calls, 1);
    // The first call carries on to its BYE, answered with 200.
    let (code, output) = long.finish().await;
    assert_eq!(code, 0, "the call in progress was disturbed:\n{output}");

    // Its slot is free again: a new call is taken (and holds and resumes, checked by sipp).
    let (code, output) = Sipp::start("uac_hold.xml", free_udp_port(), Some(ours), 1, 1)
        .finish()
        .await;
    assert_eq!(code, 0, "a call after the first ended was not taken:\n{output}");

    sip.shutdown().await;
    let offered = tokio::time::timeout(TIMEOUT, app).await.unwrap().unwrap();
    assert_eq!(offered, 2, "the refused INVITE never reached the application");
}
