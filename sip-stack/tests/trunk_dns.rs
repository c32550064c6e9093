//! Trunks named by host name reach a real registrar (kamailio from `deploy/testbed`) through real
//! resolver paths: `localhost` through /etc/hosts (the system resolver), and a name without a port
//! through SRV then A records served by a small DNS server the test runs on 127.0.0.1 (`dns_server`).
//! When the registrar a name points to fails, the driver looks the name up again and follows it to
//! where it moved. A TLS trunk named without a port is found by `_sips._tcp` and its certificate is
//! checked against the configured name. Runs in the nextest `real-time` group.
#![allow(clippy::unwrap_used)]

mod support;

use ringback_testbed::{Kamailio, KamailioOptions};
use sip_stack::driver::{self, DriverOptions, SipHandle, Sockets, tls};
use sip_stack::{EndpointConfig, RegistrationStatus, Transport, TrunkConfig, TrunkCredentials};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use support::dns::{A, DnsServer, Record, SRV};
use tokio::net::UdpSocket;

const REGISTER_TIMEOUT: Duration = Duration::from_secs(15);

fn agent_trunk(proxy: &str) -> TrunkConfig {
    let mut trunk = TrunkConfig::with_host("kamailio", proxy.parse().unwrap(), Transport::Udp);
    trunk.credentials = Some(TrunkCredentials {
        username: "agent".into(),
        auth_username: None,
        password: "agentpw".into(),
    });
    trunk.register = true;
    trunk.register_expires = 60;
    trunk
}

async fn start(trunk: TrunkConfig, dns_server: Option<SocketAddr>) -> SipHandle {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = EndpointConfig::new(udp.local_addr().unwrap());
    let sockets = Sockets {
        udp,
        tcp: None,
        tls: None,
    };
    let options = DriverOptions {
        dns_server,
        ..DriverOptions::default()
    };
    driver::start(sockets, options, config, vec![trunk]).handle
}

/// Waits until the trunk is registered; every status seen on the way.
async fn registered(sip: &SipHandle) -> Vec<RegistrationStatus> {
    let mut statuses = sip.registrations();
    let mut seen = Vec::new();
    tokio::time::timeout(REGISTER_TIMEOUT, async {
        loop {
            let status = statuses.borrow_and_update()[0].clone();
            if seen.last() != Some(&status) {
                seen.push(status.clone());
            }
            if matches!(status, RegistrationStatus::Registered { .. }) {
                return;
            }
            statuses.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not registered in time; statuses: {seen:?}"));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_named_localhost_registers_through_the_system_resolver() {
    let trunk = Kamailio::start(KamailioOptions::default()).await.unwrap();
    let sip = start(agent_trunk(&format!("localhost:{}", trunk.addr().port())), None).await;
    registered(&sip).await;
    assert_eq!(trunk.count("AUTH-OK REGISTER from agent"), 1, "{}", trunk.log());
    sip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_without_a_port_is_found_by_srv_then_a() {
    let trunk = Kamailio::start(KamailioOptions::default()).await.unwrap();
    let dns = DnsServer::start().await;
    dns.set(
        "_sip._udp.trunk.test",
        vec![
            // The lower priority wins; the other target does not even exist.
            Record::Srv(20, 0, 5999, "backup.trunk.test".into()),
            Record::Srv(10, 0, trunk.addr().port(), "pbx.trunk.test".into()),
        ],
    );
    dns.set("pbx.trunk.test", vec![Record::A(Ipv4Addr::LOCALHOST)]);
    let sip = start(agent_trunk("trunk.test"), Some(dns.addr)).await;
    registered(&sip).await;
    assert_eq!(trunk.count("AUTH-OK REGISTER from agent"), 1, "{}", trunk.log());
    assert!(dns.asked("_sip._udp.trunk.test", SRV) >= 1);
    assert!(dns.asked("pbx.trunk.test", A) >= 1);
    // The domain is the configured name, not the address it resolved to.
    assert!(
        trunk.log().contains("REQ REGISTER sip:trunk.test"),
        "{}",
        trunk.log()
    );
    sip.shutdown().await;
}

/// A registrar that is going away: answers every REGISTER with 503 and `Retry-After: 1`.
async fn failing_registrar() -> (SocketAddr, tokio::task::JoinHandle<usize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        let mut registers = 0;
        while let Ok(Ok((len, from))) =
            tokio::time::timeout(Duration::from_secs(4), socket.recv_from(&mut buf)).await
        {
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            if !text.starts_with("REGISTER ") {
                continue;
            }
            registers += 1;
            let copied: String = text
                .lines()
                .filter(|l| {
                    let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
                    ["via", "from", "to", "call-id", "cseq"].contains(&name.as_str())
                })
                .map(|l| format!("{l}\r\n"))
                .collect();
            let reply = format!(
                "SIP/2.0 503 Service Unavailable\r\n{copied}Retry-After: 1\r\nContent-Length: 0\r\n\r\n"
            );
            socket.send_to(reply.as_bytes(), from).await.unwrap();
        }
        registers
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_registrar_makes_the_driver_look_again_and_follow_the_name() {
    let trunk = Kamailio::start(KamailioOptions::default()).await.unwrap();
    let (dying, dying_task) = failing_registrar().await;
    let dns = DnsServer::start().await;
    dns.set(
        "_sip._udp.trunk.test",
        vec![Record::Srv(10, 0, dying.port(), "pbx.trunk.test".into())],
    );
    dns.set("pbx.trunk.test", vec![Record::A(Ipv4Addr::LOCALHOST)]);
    let sip = start(agent_trunk("trunk.test"), Some(dns.addr)).await;

    // Wait for the failure, then move the name to kamailio.
    let mut statuses = sip.registrations();
    tokio::time::timeout(
        REGISTER_TIMEOUT,
        statuses.wait_for(|s| {
            matches!(
                s[0],
                RegistrationStatus::Failed {
                    status: Some(503),
                    ..
                }
            )
        }),
    )
    .await
    .expect("the dying registrar refuses")
    .unwrap();
    let asked_before = dns.asked("_sip._udp.trunk.test", SRV);
    dns.set(
        "_sip._udp.trunk.test",
        vec![Record::Srv(10, 0, trunk.addr().port(), "pbx.trunk.test".into())],
    );
    // The lookup right after the failure may have raced the move and found the dying registrar
    // again; then its next 503 makes the driver look once more. Either way it ends at kamailio.
    registered(&sip).await;
    assert!(
        dns.asked("_sip._udp.trunk.test", SRV) > asked_before,
        "looked up after the failure"
    );
    assert_eq!(trunk.count("AUTH-OK REGISTER from agent"), 1, "{}", trunk.log());
    assert!(
        dns.asked("_sip._udp.trunk.test", SRV) >= 2,
        "one lookup at start, one after the failure"
    );
    let refused = dying_task.await.unwrap();
    assert!(refused >= 1, "the first REGISTER went to the old address");
    sip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_trunk_without_a_port_is_found_by_sips_srv() {
    let trunk = Kamailio::start(KamailioOptions {
        tls: true,
        ..KamailioOptions::default()
    })
    .await
    .unwrap();
    let dns = DnsServer::start().await;
    dns.set(
        "_sips._tcp.trunk.test",
        vec![Record::Srv(
            10,
            0,
            trunk.tls_addr().unwrap().port(),
            "pbx.trunk.test".into(),
        )],
    );
    dns.set("pbx.trunk.test", vec![Record::A(Ipv4Addr::LOCALHOST)]);
    // A UDP record that leads nowhere: taking it would be the wrong service.
    dns.set(
        "_sip._udp.trunk.test",
        vec![Record::Srv(10, 0, 5999, "pbx.trunk.test".into())],
    );

    let mut config = agent_trunk("trunk.test");
    config.transport = Transport::Tls;
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let endpoint = EndpointConfig::new(udp.local_addr().unwrap());
    let sockets = Sockets {
        udp,
        tcp: None,
        tls: None,
    };
    let options = DriverOptions {
        dns_server: Some(dns.addr),
        // The certificate names trunk.test, the name we were given (not pbx.trunk.test or the IP).
        tls_client: Some(tls::connector(Some(&trunk.certificates().unwrap().ca)).unwrap()),
        ..DriverOptions::default()
    };
    let sip = driver::start(sockets, options, endpoint, vec![config]).handle;
    registered(&sip).await;
    assert!(dns.asked("_sips._tcp.trunk.test", SRV) >= 1);
    assert_eq!(dns.asked("_sip._udp.trunk.test", SRV), 0);
    assert!(
        trunk
            .log()
            .contains("REQ REGISTER sip:trunk.test from sip:agent@trunk.test")
            && trunk.log().contains(") over tls"),
        "{}",
        trunk.log()
    );
    sip.shutdown().await;
}
