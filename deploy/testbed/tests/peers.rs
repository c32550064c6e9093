//! The testbed's peers on loopback: kamailio as the trunk, baresip as the phones.
//!
//! These start real processes (installed by `deploy/setup`); each test picks its own ports.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions, speech};
use tokio::time::Instant;

const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

async fn trunk() -> Kamailio {
    let started = Instant::now();
    let trunk = Kamailio::start(KamailioOptions::default()).await.unwrap();
    eprintln!("kamailio ready on {} in {:?}", trunk.addr(), started.elapsed());
    trunk
}

async fn phone(trunk: &Kamailio, user: &str, password: &str, audio: &std::path::Path) -> Phone {
    let started = Instant::now();
    let options = PhoneOptions::new(trunk.addr(), audio).account(user, password);
    let phone = Phone::start(options).await.unwrap();
    eprintln!(
        "baresip {user} registered on {} in {:?}",
        phone.sip_addr(),
        started.elapsed()
    );
    phone
}

#[tokio::test]
async fn kamailio_starts_answers_options_and_stops_on_drop() {
    let trunk = trunk().await;
    assert_eq!(trunk.ping(Duration::from_secs(2)).await.unwrap(), 200);
    assert!(trunk.count("REQ OPTIONS") >= 2, "{}", trunk.log());
    assert!(
        trunk.run_dir().join("kamailio_ctl").exists(),
        "per-instance ctl socket"
    );

    let addr = trunk.addr();
    drop(trunk);
    UdpSocket::bind(addr).expect("the port is free again once the trunk is dropped");
}

#[tokio::test]
async fn two_trunks_run_side_by_side() {
    let (a, b) = tokio::join!(trunk(), trunk());
    assert_ne!(a.addr(), b.addr());
    assert_eq!(a.ping(Duration::from_secs(2)).await.unwrap(), 200);
    assert_eq!(b.ping(Duration::from_secs(2)).await.unwrap(), 200);
    drop(a);
    assert_eq!(b.ping(Duration::from_secs(2)).await.unwrap(), 200);
}

#[tokio::test]
async fn kamailio_on_a_taken_port_fails_with_its_log() {
    let taken = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let options = KamailioOptions {
        port: Some(taken.local_addr().unwrap().port()),
        ..Default::default()
    };
    let err = Kamailio::start(options).await.unwrap_err().to_string();
    assert!(err.contains("kamailio exited during start-up"), "{err}");
    assert!(err.contains("bind"), "the error carries the log tail: {err}");
}

#[tokio::test]
async fn phone_registers_through_kamailio_with_a_digest_challenge() {
    let trunk = trunk().await;
    let alice = phone(&trunk, "alice", "alicepw", &speech::silence(60.0).unwrap()).await;

    let log = trunk.log();
    let challenge = log
        .find("AUTH-CHALLENGE REGISTER from alice")
        .expect("401 challenge logged");
    let ok = log
        .find("AUTH-OK REGISTER from alice")
        .expect("authenticated REGISTER logged");
    assert!(challenge < ok, "challenge before success:\n{log}");
    assert_eq!(trunk.count("AUTH-OK REGISTER from alice"), 1);
    assert_eq!(alice.user(), "alice");
    assert!(alice.heard_wav().is_none(), "no call yet");
}

#[tokio::test]
async fn phone_with_a_wrong_password_is_refused() {
    let trunk = trunk().await;
    let options = PhoneOptions::new(trunk.addr(), speech::silence(60.0).unwrap()).account("alice", "wrong");
    let err = Phone::start(options).await.unwrap_err();
    assert!(
        matches!(err, ringback_testbed::TestbedError::RegisterFailed { .. }),
        "unexpected error: {err}"
    );
    assert_eq!(trunk.count("AUTH-OK REGISTER from alice"), 0);
}

#[tokio::test]
async fn trunk_answers_outcome_numbers_with_their_codes() {
    let trunk = trunk().await;
    let bob = phone(&trunk, "bob", "bobpw", &speech::silence(60.0).unwrap()).await;
    let host = trunk.addr();
    for (number, code) in [
        ("+15550000486", "486"),
        ("+15550000603", "603"),
        ("+15550000480", "480"),
        ("+15550000404", "404"),
        // numbers outside the test ranges are looked up as users: nobody by that name
        ("+15990001234", "404"),
        // alice is not registered in this test
        ("+15551234567", "404"),
    ] {
        bob.dial(&format!("sip:{number}@{host}")).await.unwrap();
        let closed = bob
            .wait_for_event(EventKind::CallClosed, EVENT_TIMEOUT)
            .await
            .unwrap();
        assert!(closed.param.starts_with(code), "{number}: {closed:?}");
    }
    assert_eq!(trunk.count("AUTH-CHALLENGE INVITE from bob"), 6);
    assert_eq!(trunk.count("AUTH-OK INVITE from bob"), 6);

    // +15550000408 rings and never answers; the caller gives up with CANCEL.
    bob.dial(&format!("sip:+15550000408@{host}")).await.unwrap();
    bob.wait_for_event(EventKind::CallRinging, EVENT_TIMEOUT)
        .await
        .unwrap();
    bob.hangup().await.unwrap();
    bob.wait_for_event(EventKind::CallClosed, EVENT_TIMEOUT)
        .await
        .unwrap();
    let cancels = || trunk.count("REQ CANCEL sip:+15550000408");
    let deadline = Instant::now() + Duration::from_secs(2);
    while cancels() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cancels(),
        1,
        "one CANCEL, answered at once (no retransmissions):\n{}",
        trunk.log()
    );
}

/// The whole harness end to end: bob calls a +1555 number, the trunk challenges him and rings alice, both
/// phones play Piper speech, and each one's recording transcribes to the other's words.
#[tokio::test]
async fn call_between_two_phones_carries_speech_both_ways() {
    let bob_words = "The quick brown fox jumps over the lazy dog.";
    let alice_words = "Hello, this is Alice speaking.";
    let bob_audio = speech::render_phone_audio(&[(0.5, bob_words)], 30.0)
        .await
        .unwrap();
    let alice_audio = speech::render_phone_audio(&[(0.5, alice_words)], 30.0)
        .await
        .unwrap();
    let trunk = trunk().await;
    let alice = phone(&trunk, "alice", "alicepw", &alice_audio).await;
    let bob = phone(&trunk, "bob", "bobpw", &bob_audio).await;

    let dialled = Instant::now();
    bob.dial(&format!("sip:+15551234567@{}", trunk.addr()))
        .await
        .unwrap();
    let established = alice
        .wait_for_event(EventKind::CallEstablished, EVENT_TIMEOUT)
        .await
        .unwrap();
    bob.wait_for_event(EventKind::CallEstablished, EVENT_TIMEOUT)
        .await
        .unwrap();
    eprintln!("call set up in {:?}", dialled.elapsed());
    assert!(established.peer_uri.unwrap().contains("bob@"));
    assert_eq!(trunk.count("AUTH-CHALLENGE INVITE from bob"), 1);
    assert_eq!(trunk.count("AUTH-OK INVITE from bob"), 1);

    // Both sentences are about 3 s long after 0.5 s of silence; this is real-time audio.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        alice.heard_wav().is_none(),
        "the recording is complete only when the call ends"
    );
    bob.send_dtmf('5').await.unwrap();
    let dtmf = alice
        .wait_for_event(EventKind::CallDtmfStart, EVENT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(dtmf.param, "5");

    bob.hangup().await.unwrap();
    alice
        .wait_for_event(EventKind::CallClosed, EVENT_TIMEOUT)
        .await
        .unwrap();
    bob.wait_for_event(EventKind::CallClosed, EVENT_TIMEOUT)
        .await
        .unwrap();

    for (listener, expected) in [(&alice, bob_words), (&bob, alice_words)] {
        let deadline = Instant::now() + Duration::from_secs(2);
        let heard = loop {
            if let Some(heard) = listener.heard_wav() {
                break heard;
            }
            assert!(
                Instant::now() < deadline,
                "no complete recording in {:?}",
                listener.record_dir()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            speech::channel_rms(&heard, 0).unwrap() > 0.01,
            "{} heard speech",
            listener.user()
        );
        let text = speech::transcribe(&heard).await.unwrap();
        eprintln!("{} heard: {text}", listener.user());
        assert_eq!(
            speech::normalize(&text),
            speech::normalize(expected),
            "{} heard {text:?}",
            listener.user()
        );
    }
}

#[test]
fn handles_can_be_shared_across_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Kamailio>();
    send_sync::<Phone>();
}
