//! The bodies of the fuzz targets in `fuzz/` that go past the message parser, here so the saved
//! corpora replay as plain tests (`tests/fuzz_corpus.rs`) through exactly the code the fuzzer ran.
//! Each takes arbitrary bytes and must return without panicking; where an invariant is cheap to
//! state (a bounded table, a round trip through our own output) it is asserted, so breaking it is
//! a crash too.

mod endpoint;

pub use endpoint::{Reached, endpoint};

use crate::digest::{self, Authorization, Challenge, Credentials, RequestParts};
use crate::message::{self, Limits};
use crate::sdp::{self, Crypto, Direction, Format, Offer};
use crate::transport::{StreamFramer, StreamItem};

/// The stream framer (TCP and TLS): the first byte seeds the sizes of the reads the input is cut
/// into, as a socket would cut it; every message framed goes to the parser as the driver sends it
/// to the endpoint. A framing error closes the connection, so it ends the run.
pub fn stream_framer(data: &[u8]) {
    let Some((&seed, mut rest)) = data.split_first() else {
        return;
    };
    // Small enough that the size checks are reached by inputs the fuzzer can make.
    let limits = Limits {
        max_message_bytes: 2048,
        ..Limits::default()
    };
    let mut framer = StreamFramer::default();
    let mut k = 0usize;
    while !rest.is_empty() {
        // Read sizes 1..=64, varying with the seed and the read's number.
        let size = 1 + (usize::from(seed).wrapping_mul(31) ^ k.wrapping_mul(17)) % 64;
        let (read, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        k += 1;
        if framer.push(read, &limits).is_err() {
            return;
        }
        loop {
            match framer.next(&limits) {
                Ok(Some(StreamItem::Message(bytes))) => {
                    assert!(
                        bytes.len() <= limits.max_message_bytes,
                        "a framed message over the limit"
                    );
                    let _ = message::frame(&bytes, &limits);
                }
                Ok(Some(StreamItem::Ping | StreamItem::Pong)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        // What stays buffered is one incomplete message head (or body), never more than that.
        assert!(
            framer.buffered() <= limits.max_message_bytes + 64 + crate::transport::PING.len(),
            "the framer buffers {} bytes",
            framer.buffered()
        );
    }
}

/// The digest header parsers: the input as a challenge (`WWW-Authenticate`,
/// `Proxy-Authenticate`) and as an answer (`Authorization`). A challenge that parses is answered
/// as the registration and call clients answer it, and the answer must parse back and verify
/// against the same password, as the trunk would check it.
pub fn digest(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(answer) = Authorization::parse(&text) {
        let _ = answer.verify("INVITE", "secret");
    }
    let Ok(challenge) = Challenge::parse(&text) else {
        return;
    };
    let creds = Credentials {
        username: "alice",
        password: "secret",
    };
    let request = RequestParts {
        method: "REGISTER",
        uri: "sip:example.com",
    };
    let value = digest::authorization(&challenge, creds, request, 1, "0a4f113b");
    let answer = match Authorization::parse(&value) {
        Ok(answer) => answer,
        Err(err) => panic!("our answer to {challenge:?} does not parse: {err} ({value:?})"),
    };
    assert_eq!(answer.realm, challenge.realm, "realm survives the round trip");
    assert_eq!(answer.nonce, challenge.nonce, "nonce survives the round trip");
    assert!(
        answer.verify(request.method, creds.password),
        "our answer to {challenge:?} does not verify"
    );
}

/// The SDP answer path with SRTP: the input as a remote offer, answered from an offer of ours that
/// carries an SDES key (PCMU, PCMA, Opus, telephone-event), keeping a codec and holding or not;
/// our answer must parse back. The input is also taken as the answer to our offer (negotiate).
/// Returns the `a=crypto` values the SDP layer passed on (the remote's and the negotiated ones),
/// for the media layer's key parser (`media_core::fuzzing::sdes_attribute`).
pub fn sdp_answer(data: &[u8]) -> Vec<String> {
    let Ok(remote) = sdp::parse_audio(data) else {
        return Vec::new();
    };
    let pcmu = Format::new(0, "PCMU", 8000);
    let ours = Offer {
        session_id: 7,
        address: std::net::IpAddr::from([192, 0, 2, 10]),
        port: 40_000,
        formats: vec![
            Format::new(111, "opus", 48_000)
                .with_channels(2)
                .with_fmtp("maxplaybackrate=8000;useinbandfec=1"),
            pcmu.clone(),
            Format::new(8, "PCMA", 8000),
            Format::new(101, "telephone-event", 8000),
            Format::new(110, "telephone-event", 48_000),
        ],
        ptime: 20,
        crypto: vec![Crypto {
            tag: 1,
            suite: "AES_CM_128_HMAC_SHA1_80".to_owned(),
            params: "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz".to_owned(),
        }],
    };
    let mut keys: Vec<String> = remote.crypto.iter().map(Crypto::to_value).collect();
    for (prefer, wanted) in [(None, Direction::SendRecv), (Some(&pcmu), Direction::SendOnly)] {
        if let Ok((sdp, negotiated)) = sdp::answer(&ours, 2, &remote, prefer, wanted) {
            if let Err(err) = sdp::parse_audio(sdp.as_bytes()) {
                panic!("our answer does not parse: {err}\n{sdp}");
            }
            keys.extend(negotiated.crypto.map(|c| c.remote.to_value()));
        }
    }
    if let Ok(negotiated) = sdp::negotiate(&ours, &remote) {
        keys.extend(negotiated.crypto.map(|c| c.remote.to_value()));
    }
    keys
}
