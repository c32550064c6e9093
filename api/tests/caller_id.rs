//! Caller ID and headers a carrier expects, read from what a real kamailio trunk received: the
//! `from` of a call (or the trunk's default) in From, or in P-Asserted-Identity with `Privacy: id`
//! as the trunk says; numbers the trunk does not own refused before anything is dialled; the
//! allow-listed `X-` headers from a call's metadata on its INVITE and nothing else of it.

mod common;

use common::{config, send, trunk_section};
use reqwest::Method;
use ringback::config::IdentityChoice;
use ringback::server::Server;
use ringback_testbed::{Kamailio, KamailioOptions};
use serde_json::{Value, json};

/// The numbers the trunks own.
const OWNED: [&str; 2] = ["+15557650000", "+15557650001"];

/// The INVITE kamailio accepted for the call just finalized, as it logged it (see kamailio.cfg.in).
fn last_invite(log: &str) -> String {
    let start = log.rfind("INVITE-MESSAGE").expect("kamailio logged an INVITE");
    let end = log[start..].find("END-INVITE").map_or(log.len(), |i| start + i);
    log[start..end].to_owned()
}

/// Places a call to the testbed's busy number on `trunk` and waits for it to end; the call object.
async fn busy_call(server: &Server, key: &str, trunk: &str, extra: Value) -> Value {
    let mut body = json!({
        "to": "+15550000486",
        "prompt": "Ask whether they are free on Tuesday.",
        "trunk": trunk,
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let (status, _, created) = send(server, Method::POST, "/v1/calls", Some(key), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["call_id"].as_str().expect("call_id");
    let call = common::finalized(server, key, id).await;
    assert_eq!(call["outcome"], "busy", "{call:#}");
    call
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_id_identity_and_x_headers_reach_the_trunk_as_configured() {
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio");
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = config(data.path(), trunk.addr());
    let mut asserted = trunk_section("asserted", trunk.addr(), Some("agentpw"));
    asserted.numbers = OWNED.iter().map(|n| (*n).to_owned()).collect();
    asserted.from_number = Some(OWNED[0].to_owned());
    asserted.identity = IdentityChoice::Asserted;
    asserted.forward_headers = vec!["X-Campaign-Id".to_owned()];
    let mut withheld = trunk_section("withheld", trunk.addr(), Some("agentpw"));
    withheld.identity = IdentityChoice::Withheld;
    config.trunks = vec![asserted, withheld];
    let server = Server::start(config).await.expect("server");
    let key = common::key(&server).await;

    // A number of the trunk's own, with metadata of which one key is allow-listed.
    let call = busy_call(
        &server,
        &key,
        "asserted",
        json!({
            "from": "+1 (555) 765-0001",
            "metadata": {"X-Campaign-Id": "spring-27", "X-Internal": "secret", "crm_id": 7},
        }),
    )
    .await;
    assert_eq!(call["from"], OWNED[1], "{call:#}");
    let invite = last_invite(&trunk.log());
    for wanted in [
        "From: <sip:+15557650001@trunk.test>;tag=",
        "P-Asserted-Identity: <sip:+15557650001@trunk.test>",
        "X-Campaign-Id: spring-27",
        "Contact: <sip:agent@",
    ] {
        assert!(invite.contains(wanted), "{wanted:?} in\n{invite}");
    }
    for unwanted in ["X-Internal", "secret", "crm_id", "Privacy:"] {
        assert!(!invite.contains(unwanted), "{unwanted:?} in\n{invite}");
    }

    // No `from`: the trunk's default.
    let call = busy_call(&server, &key, "asserted", json!({})).await;
    assert_eq!(call["from"], OWNED[0]);
    let invite = last_invite(&trunk.log());
    assert!(
        invite.contains("From: <sip:+15557650000@trunk.test>;tag=")
            && invite.contains("P-Asserted-Identity: <sip:+15557650000@trunk.test>")
            && !invite.contains("X-Campaign-Id"),
        "{invite}"
    );

    // Withheld: the carrier gets the number in P-Asserted-Identity, the callee an anonymous From.
    busy_call(&server, &key, "withheld", json!({"from": "+15557659999"})).await;
    let invite = last_invite(&trunk.log());
    for wanted in [
        "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=",
        "P-Asserted-Identity: <sip:+15557659999@trunk.test>",
        "Privacy: id",
    ] {
        assert!(invite.contains(wanted), "{wanted:?} in\n{invite}");
    }

    // The fire-and-poll face takes `from` too.
    let (status, _, created) = send(
        &server,
        Method::POST,
        "/call",
        Some(&key),
        Some(json!({"to": "+15550000486", "task": "Ask how they are.", "from": OWNED[1]})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let call = common::finalized(&server, &key, created["call_id"].as_str().expect("id")).await;
    assert_eq!(call["from"], OWNED[1]);
    assert!(last_invite(&trunk.log()).contains("From: <sip:+15557650001@trunk.test>;tag="));

    // Refused before anything is dialled: a number the trunk does not own, and one that is not a
    // number at all.
    let invites = trunk.count("INVITE-MESSAGE");
    for (from, status, code) in [
        ("+15559990000", 403, "from_not_allowed"),
        ("anonymous", 400, "invalid_from"),
    ] {
        let (got, _, body) = send(
            &server,
            Method::POST,
            "/v1/calls",
            Some(&key),
            Some(json!({
                "to": "+15550000486",
                "prompt": "Ask whether they are free on Tuesday.",
                "trunk": "asserted",
                "from": from,
            })),
        )
        .await;
        assert_eq!(got, status, "{from}: {body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["error"]["field"], "from", "{body}");
    }
    let (_, _, list) = send(&server, Method::GET, "/v1/calls", Some(&key), None).await;
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(4),
        "no call was stored for the refused requests: {list:#}"
    );
    assert_eq!(trunk.count("INVITE-MESSAGE"), invites, "nothing was dialled");
    server.shutdown().await;
}

#[test]
fn a_trunk_whose_default_caller_id_it_does_not_own_is_refused_at_start() {
    for (toml, named) in [
        (
            "[[trunks]]\nproxy = \"127.0.0.1:5060\"\nnumbers = [\"+15557650000\"]\nfrom_number = \"+15557651111\"\n",
            "from_number",
        ),
        (
            "[[trunks]]\nproxy = \"127.0.0.1:5060\"\nnumbers = [\"555-0000\"]\n",
            "number",
        ),
        (
            "[[trunks]]\nproxy = \"127.0.0.1:5060\"\nforward_headers = [\"Authorization\"]\n",
            "forward_headers",
        ),
        (
            "[[trunks]]\nproxy = \"127.0.0.1:5060\"\nidentity = \"pai\"\n",
            "identity",
        ),
    ] {
        let err = ringback::config::Config::from_toml(toml)
            .expect_err(toml)
            .to_string();
        assert!(err.contains(named), "{toml}: {err}");
    }
}
