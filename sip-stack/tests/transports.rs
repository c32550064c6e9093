//! Two endpoint drivers on real loopback sockets call each other over TCP and over TLS (rustls with a
//! certificate made by `openssl` for this test): one is the other's trunk. The callee takes the calls
//! as inbound calls from a configured trunk source, both calls share one connection, and hang-ups
//! travel back. Runs in the nextest `real-time` group.
#![allow(clippy::unwrap_used)]

use sip_stack::driver::{self, DriverOptions, Sockets, tls};
use sip_stack::{CallEvent, EndpointConfig, HangupBy, InviteParams, TrunkConfig, TrunkId};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

const SDP: &str = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (apt openssl; run deploy/setup): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a certificate for 127.0.0.1 signed by it: (ca.pem, leaf.pem, leaf.key).
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ringback test CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
}

async fn next<T>(rx: &mut mpsc::Receiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("in time")
        .expect("open")
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<CallEvent>) -> CallEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("in time")
        .expect("open")
}

async fn calls_between_two_drivers(transport: sip_stack::Transport) {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());

    // The callee listens on UDP, TCP and TLS.
    let callee_udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let caller_udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let caller_addr = caller_udp.local_addr().unwrap();
    let acceptor = tls::acceptor(&dir.path().join("leaf.pem"), &dir.path().join("leaf.key")).unwrap();
    let callee_sockets = Sockets {
        udp: callee_udp,
        tcp: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        tls: Some((TcpListener::bind("127.0.0.1:0").await.unwrap(), acceptor)),
    };
    let callee_config = EndpointConfig::new(callee_sockets.udp.local_addr().unwrap());
    // The caller is the callee's trunk: calls from its address are taken.
    let callee_trunks = vec![TrunkConfig::new("caller", caller_addr)];
    let mut callee = driver::start(
        callee_sockets,
        DriverOptions::default(),
        callee_config,
        callee_trunks,
    );
    let target: SocketAddr = match transport {
        sip_stack::Transport::Tls => callee.local.tls.unwrap(),
        _ => callee.local.tcp.unwrap(),
    };

    let mut trunk = TrunkConfig::new("callee", target);
    trunk.transport = transport;
    let options = DriverOptions {
        tls_client: Some(tls::connector(Some(&dir.path().join("ca.pem"))).unwrap()),
        ..DriverOptions::default()
    };
    let caller_sockets = Sockets {
        udp: caller_udp,
        tcp: None,
        tls: None,
    };
    let caller = driver::start(
        caller_sockets,
        options,
        EndpointConfig::new(caller_addr),
        vec![trunk],
    );

    let mut sources = Vec::new();
    for n in 0..2 {
        let mut placed = caller
            .handle
            .invite(InviteParams {
                from_user: None,
                headers: Vec::new(),
                trunk: TrunkId(0),
                to_user: format!("+4930123456{n}"),
                sdp_offer: SDP.as_bytes().to_vec(),
            })
            .await
            .unwrap();
        let mut incoming = next(&mut callee.incoming).await;
        assert_eq!(incoming.info.trunk, TrunkId(0));
        assert_eq!(incoming.info.to_user, format!("+4930123456{n}"));
        assert_eq!(
            incoming.info.source.transport, transport,
            "the INVITE came over {transport}"
        );
        sources.push(incoming.info.source.addr);
        callee
            .handle
            .accept(incoming.info.call, SDP.as_bytes().to_vec())
            .await
            .unwrap();
        let answered = loop {
            match next_event(&mut placed.events).await {
                CallEvent::Progress { .. } => {}
                other => break other,
            }
        };
        assert!(matches!(answered, CallEvent::Answered { .. }), "{answered:?}");
        assert!(matches!(
            next_event(&mut incoming.events).await,
            CallEvent::Answered { .. }
        ));

        // The callee hangs up; the caller hears of it as a remote hang-up.
        callee.handle.hangup(incoming.info.call).await.unwrap();
        let CallEvent::Ended(cause) = next_event(&mut placed.events).await else {
            panic!("the caller's call ended")
        };
        assert_eq!(cause.by, HangupBy::Remote);
        let CallEvent::Ended(cause) = next_event(&mut incoming.events).await else {
            panic!("the callee's call ended")
        };
        assert_eq!(cause.by, HangupBy::Local);
    }
    assert_eq!(sources[0], sources[1], "both calls went over one connection");

    caller.handle.shutdown().await;
    callee.handle.shutdown().await;
    for task in [caller.task, callee.task] {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_tcp_reuse_one_connection() {
    calls_between_two_drivers(sip_stack::Transport::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_tls_with_a_certificate_from_config() {
    calls_between_two_drivers(sip_stack::Transport::Tls).await;
}
