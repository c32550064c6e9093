//! What we name ourselves in Via and Contact when bound to the unspecified address: the route towards
//! each peer, then what a registrar reports (NAT), never 0.0.0.0. Sans-IO in virtual time, and one
//! driver on real loopback sockets.
#![allow(clippy::disallowed_methods)] // virtual time needs an arbitrary origin
#![allow(clippy::unwrap_used)]

use sip_stack::message::{Incoming, IncomingRequest, Limits, Method, header_values, parse};
use sip_stack::{
    CallHandle, Endpoint, EndpointConfig, Event, InviteParams, RegistrationStatus, TrunkConfig,
    TrunkCredentials, TrunkId,
};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const SDP: &str = "v=0\r\no=t 1 1 IN IP4 10.77.0.2\r\ns=-\r\nc=IN IP4 10.77.0.2\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";

fn registering_trunk(proxy: &str) -> TrunkConfig {
    TrunkConfig {
        domain: "trunk.test".into(),
        credentials: Some(TrunkCredentials {
            username: "agent".into(),
            auth_username: None,
            password: "agentpw".into(),
        }),
        register: true,
        register_expires: 60,
        ..TrunkConfig::new("carrier", proxy.parse().unwrap())
    }
}

fn endpoint(t0: Instant, bound: &str, trunk: TrunkConfig) -> Endpoint {
    let mut config = EndpointConfig::new(bound.parse().unwrap());
    config.seed = Some(7);
    Endpoint::new(t0, config, vec![trunk])
}

fn requests(ep: &mut Endpoint) -> Vec<IncomingRequest> {
    std::iter::from_fn(|| ep.poll_transmit())
        .filter_map(|t| match parse(&t.payload, &Limits::default()) {
            Ok(Incoming::Request(r)) => Some(r),
            _ => None,
        })
        .collect()
}

fn header(req: &IncomingRequest, name: &str) -> Vec<String> {
    header_values(&req.msg.headers, name)
}

/// The registrar's 200, its top Via carrying `via_params` as a registrar behind our NAT would add.
fn ok(req: &IncomingRequest, via_params: &str) -> Vec<u8> {
    let h = |name| header(req, name).join(", ");
    let contact = header(req, "contact")
        .into_iter()
        .find(|c| !c.contains("expires=0"))
        .unwrap();
    format!(
        "SIP/2.0 200 OK\r\nVia: {}{via_params}\r\nFrom: {}\r\nTo: {};tag=reg\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: {contact};expires=60\r\nContent-Length: 0\r\n\r\n",
        h("via").replace(";rport", ""),
        h("from"),
        h("to"),
        h("call-id"),
        h("cseq"),
    )
    .into_bytes()
}

#[test]
fn an_unspecified_bind_names_the_route_then_the_address_the_registrar_reports() {
    let t0 = Instant::now();
    let proxy: SocketAddr = "198.51.100.1:5060".parse().unwrap();
    let mut ep = endpoint(t0, "0.0.0.0:5080", registering_trunk("198.51.100.1:5060"));
    assert!(ep.needs_route(proxy.ip()));
    ep.learn_route(proxy.ip(), "10.77.0.2".parse().unwrap());
    assert!(!ep.needs_route(proxy.ip()));

    ep.handle_timeout(t0);
    let first = requests(&mut ep).remove(0);
    assert_eq!(first.msg.method, Method::Register);
    assert!(header(&first, "via")[0].starts_with("SIP/2.0/UDP 10.77.0.2:5080;"));
    assert_eq!(header(&first, "contact"), vec!["<sip:agent@10.77.0.2:5080>"]);

    // Behind NAT: the registrar saw the REGISTER come from 192.0.2.50:40000.
    ep.handle_datagram(t0, proxy, &ok(&first, ";received=192.0.2.50;rport=40000"));
    let events: Vec<Event> = std::iter::from_fn(|| ep.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Registration {
            status: RegistrationStatus::Registered { .. },
            ..
        }
    )));
    // At once a REGISTER that binds the reported address and removes the old binding.
    ep.handle_timeout(t0 + Duration::from_millis(1));
    let rebind = requests(&mut ep).remove(0);
    assert_eq!(rebind.msg.method, Method::Register);
    assert!(header(&rebind, "via")[0].starts_with("SIP/2.0/UDP 192.0.2.50:40000;"));
    assert_eq!(
        header(&rebind, "contact"),
        vec![
            "<sip:agent@192.0.2.50:40000>".to_owned(),
            "<sip:agent@10.77.0.2:5080>;expires=0".to_owned()
        ]
    );
    // The registrar now sees what we say: nothing more to change.
    ep.handle_datagram(t0, proxy, &ok(&rebind, ";rport=40000"));
    ep.handle_timeout(t0 + Duration::from_millis(2));
    assert!(requests(&mut ep).is_empty(), "no further REGISTER");

    // A call through that trunk names the reported address too.
    ep.invite(
        t0 + Duration::from_millis(3),
        InviteParams {
            from_user: None,
            headers: Vec::new(),
            trunk: TrunkId(0),
            to_user: "+15550100".into(),
            sdp_offer: SDP.as_bytes().to_vec(),
        },
    )
    .unwrap();
    let invite = requests(&mut ep).remove(0);
    assert_eq!(invite.msg.method, Method::Invite);
    assert!(header(&invite, "via")[0].starts_with("SIP/2.0/UDP 192.0.2.50:40000;"));
    assert_eq!(header(&invite, "contact"), vec!["<sip:agent@192.0.2.50:40000>"]);
}

#[test]
fn a_configured_public_address_is_never_replaced() {
    let t0 = Instant::now();
    let proxy: SocketAddr = "198.51.100.1:5060".parse().unwrap();
    let mut config = EndpointConfig::new("0.0.0.0:5080".parse().unwrap());
    config.public_addr = Some("203.0.113.7:5080".parse().unwrap());
    config.seed = Some(7);
    let mut ep = Endpoint::new(t0, config, vec![registering_trunk("198.51.100.1:5060")]);
    assert!(!ep.needs_route(proxy.ip()));
    ep.handle_timeout(t0);
    let first = requests(&mut ep).remove(0);
    assert_eq!(header(&first, "contact"), vec!["<sip:agent@203.0.113.7:5080>"]);
    ep.handle_datagram(t0, proxy, &ok(&first, ";received=192.0.2.50;rport=40000"));
    ep.handle_timeout(t0 + Duration::from_millis(1));
    assert!(requests(&mut ep).is_empty(), "the operator's address stands");
}

#[test]
fn a_loopback_peer_is_told_loopback_even_before_its_route_is_known() {
    let t0 = Instant::now();
    let mut ep = endpoint(
        t0,
        "0.0.0.0:5080",
        TrunkConfig::new("lo", "127.0.0.1:5060".parse().unwrap()),
    );
    let handle: CallHandle = ep
        .invite(
            t0,
            InviteParams {
                from_user: None,
                headers: Vec::new(),
                trunk: TrunkId(0),
                to_user: "+15550100".into(),
                sdp_offer: SDP.as_bytes().to_vec(),
            },
        )
        .unwrap();
    let invite = requests(&mut ep).remove(0);
    assert!(
        header(&invite, "via")[0].starts_with("SIP/2.0/UDP 127.0.0.1:5080;"),
        "{handle}"
    );
    assert_eq!(header(&invite, "contact"), vec!["<sip:ringback@127.0.0.1:5080>"]);
}

/// The driver, bound to 0.0.0.0 on a real socket, calls a trunk on 127.0.0.1: the INVITE it sends
/// names 127.0.0.1 and the bound port, never 0.0.0.0.
#[tokio::test]
async fn the_driver_bound_to_the_unspecified_address_names_loopback_to_a_loopback_trunk() {
    let trunk_socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let trunk_addr = trunk_socket.local_addr().unwrap();
    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let config = EndpointConfig::new(socket.local_addr().unwrap());
    let trunks = vec![TrunkConfig::new("lo", trunk_addr)];
    sip_stack::driver::check_addresses(&config, &trunks).unwrap();
    let (sip, task) = sip_stack::driver::spawn(socket, config, trunks);
    assert_eq!(sip.trunk_addr(TrunkId(0)).await.unwrap(), trunk_addr);
    let _call = sip
        .invite(InviteParams {
            from_user: None,
            headers: Vec::new(),
            trunk: TrunkId(0),
            to_user: "+15550100".into(),
            sdp_offer: SDP.as_bytes().to_vec(),
        })
        .await
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    let (len, from) = tokio::time::timeout(Duration::from_secs(5), trunk_socket.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..len]).into_owned();
    assert_eq!(from.ip(), IpAddr::from([127, 0, 0, 1]));
    assert!(text.starts_with("INVITE "), "{text}");
    assert!(!text.contains("0.0.0.0"), "{text}");
    assert!(
        text.contains(&format!("Via: SIP/2.0/UDP 127.0.0.1:{port};")),
        "{text}"
    );
    assert!(
        text.contains(&format!("<sip:ringback@127.0.0.1:{port}>")),
        "{text}"
    );
    sip.shutdown().await;
    task.abort();
}
