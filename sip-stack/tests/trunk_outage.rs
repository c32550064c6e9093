//! A real trunk (kamailio from `deploy/testbed`) goes away and comes back on the same port with an
//! empty location table: the keep-alive OPTIONS notice the outage and the return, and the driver
//! registers again at once instead of waiting for its refresh or back-off. Runs in the nextest
//! `real-time` group.
#![allow(clippy::unwrap_used)]

use ringback_testbed::{Kamailio, KamailioOptions};
use sip_stack::driver::{self, DriverOptions, Sockets};
use sip_stack::timer::TimerConfig;
use sip_stack::{EndpointConfig, RegistrationStatus, TrunkConfig, TrunkCredentials};
use std::time::Duration;
use tokio::net::UdpSocket;

const TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_trunk_restarts_we_register_again() {
    let first = Kamailio::start(KamailioOptions::default()).await.unwrap();
    let port = first.addr().port();

    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut config = EndpointConfig::new(udp.local_addr().unwrap());
    // T1 100 ms: an unanswered OPTIONS times out after 6.4 s rather than 32 s.
    config.timers = TimerConfig {
        t1: Duration::from_millis(100),
        ..TimerConfig::default()
    };
    let mut trunk = TrunkConfig::new("kamailio", first.addr());
    trunk.domain = "trunk.test".into();
    trunk.credentials = Some(TrunkCredentials {
        username: "agent".into(),
        auth_username: None,
        password: "agentpw".into(),
    });
    trunk.register = true;
    // Long enough that no refresh falls inside the test: only the recovery can register again.
    trunk.register_expires = 3600;
    trunk.keepalive = Some(Duration::from_secs(1));
    let sockets = Sockets {
        udp,
        tcp: None,
        tls: None,
    };
    let sip = driver::start(sockets, DriverOptions::default(), config, vec![trunk]).handle;
    let mut registrations = sip.registrations();
    let mut health = sip.health();
    tokio::time::timeout(
        TIMEOUT,
        registrations.wait_for(|s| matches!(s[0], RegistrationStatus::Registered { .. })),
    )
    .await
    .expect("registered with the first kamailio")
    .unwrap();
    tokio::time::timeout(TIMEOUT, health.wait_for(|h| h[0] == Some(true)))
        .await
        .expect("the trunk answers OPTIONS")
        .unwrap();
    assert_eq!(first.count("AUTH-OK REGISTER from agent"), 1);

    // The trunk goes away: the keep-alive notices.
    drop(first);
    tokio::time::timeout(TIMEOUT, health.wait_for(|h| h[0] == Some(false)))
        .await
        .expect("the outage is noticed")
        .unwrap();

    // It comes back on the same port, knowing nobody: we register again.
    let second = Kamailio::start(KamailioOptions {
        port: Some(port),
        ..KamailioOptions::default()
    })
    .await
    .unwrap();
    tokio::time::timeout(TIMEOUT, health.wait_for(|h| h[0] == Some(true)))
        .await
        .expect("the return is noticed")
        .unwrap();
    let registered_again = tokio::time::timeout(TIMEOUT, async {
        while second.count("AUTH-OK REGISTER from agent") == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        registered_again.is_ok(),
        "no REGISTER reached the restarted trunk:\n{}",
        second.log()
    );
    tokio::time::timeout(
        TIMEOUT,
        registrations.wait_for(|s| matches!(s[0], RegistrationStatus::Registered { .. })),
    )
    .await
    .expect("registered again")
    .unwrap();
    sip.shutdown().await;
}
