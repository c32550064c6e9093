//! The offer/answer state of one call (RFC 3264 8): our capabilities and the version of the last
//! description we sent, what the peer last described, and the media negotiated from both. Re-INVITEs and
//! UPDATEs from either side go through here: hold and resume, codec changes, session refreshes.

use crate::sdp::{self, AudioDescription, Direction, Negotiated, Offer, SdpError};

/// Our side of the session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Our capabilities, read from the first description we sent; `None` when it could not be read, and
    /// then offers from the peer are refused (488) rather than answered with something made up.
    local: Option<Offer>,
    /// Version of our `o=` line; it grows with every change we make.
    version: u64,
    /// The last description we sent, re-sent unchanged by session refreshes.
    last_local: Vec<u8>,
    /// Whether we hold the call (we offer `sendonly`).
    hold: bool,
    /// The media in use, once negotiated.
    current: Option<Negotiated>,
    /// The `o=` version of the peer's last description, to spot an unchanged re-offer.
    remote_version: Option<u64>,
}

/// What an offer from the peer led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answered {
    /// Our answer.
    pub sdp: Vec<u8>,
    /// The new media, when it differs from what was in use.
    pub changed: Option<Negotiated>,
}

impl Session {
    /// The session of a call whose first description is ours (`sdp`: our offer, or our answer to an
    /// inbound INVITE).
    pub fn new(sdp: &[u8]) -> Self {
        let parsed = sdp::parse_audio(sdp).ok();
        let version = parsed
            .as_ref()
            .and_then(|a| a.origin.as_ref())
            .map_or(1, |o| o.version);
        Self {
            local: Offer::from_sdp(sdp).ok(),
            version,
            last_local: sdp.to_vec(),
            hold: false,
            current: None,
            remote_version: None,
        }
    }

    /// The last description we sent.
    pub fn last_local(&self) -> &[u8] {
        &self.last_local
    }

    /// The media in use, once negotiated.
    #[cfg(test)]
    pub fn current(&self) -> Option<&Negotiated> {
        self.current.as_ref()
    }

    /// Records media negotiated outside this type (an inbound call answered by the application).
    pub fn set_current(&mut self, media: Negotiated, remote_version: Option<u64>) {
        self.current = Some(media);
        self.remote_version = remote_version;
    }

    /// The peer answered an offer of ours. Returns the media, and whether it changed.
    pub fn on_answer(&mut self, body: &[u8]) -> Result<(Negotiated, bool), SdpError> {
        let remote = sdp::parse_audio(body)?;
        let local = self.local.as_ref().ok_or(SdpError::NoAudio)?;
        let media = sdp::negotiate(local, &remote)?;
        self.remote_version = remote.origin.map(|o| o.version);
        let changed = self.current.as_ref() != Some(&media);
        self.current = Some(media.clone());
        Ok((media, changed))
    }

    /// The peer made an offer (re-INVITE, UPDATE, or an INVITE's first offer): our answer. An offer with
    /// the same `o=` version as the last is a session refresh and gets our last description unchanged.
    pub fn on_offer(&mut self, body: &[u8]) -> Result<Answered, SdpError> {
        let remote = sdp::parse_audio(body)?;
        let version = remote.origin.as_ref().map(|o| o.version);
        if version.is_some() && version == self.remote_version && self.current.is_some() {
            return Ok(Answered {
                sdp: self.last_local.clone(),
                changed: None,
            });
        }
        self.answer(&remote, version)
    }

    fn answer(&mut self, remote: &AudioDescription, version: Option<u64>) -> Result<Answered, SdpError> {
        let local = self.local.as_ref().ok_or(SdpError::NoAudio)?;
        let wanted = if self.hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let prefer = self.current.as_ref().map(|m| &m.codec);
        let (text, media) = sdp::answer(local, self.version + 1, remote, prefer, wanted)?;
        let changed = self.current.as_ref() != Some(&media);
        // A new version only when our side of the description changed (RFC 3264 8).
        let sdp = if changed || self.last_local.is_empty() {
            self.version += 1;
            text.into_bytes()
        } else {
            let (same, _) = sdp::answer(local, self.version, remote, prefer, wanted)?;
            same.into_bytes()
        };
        self.last_local.clone_from(&sdp);
        self.remote_version = version;
        self.current = Some(media.clone());
        Ok(Answered {
            sdp,
            changed: changed.then_some(media),
        })
    }

    /// A new offer of ours: every codec we support, the next version, `sendonly` when holding. `hold`
    /// changes the hold state; `replace` replaces our capabilities (a new port or codec list). `None`
    /// when our description could not be read.
    pub fn offer(&mut self, hold: Option<bool>, replace: Option<Offer>) -> Option<Vec<u8>> {
        if let Some(local) = replace {
            self.local = Some(local);
        }
        let local = self.local.as_ref()?;
        if let Some(hold) = hold {
            self.hold = hold;
        }
        let direction = if self.hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        self.version += 1;
        let sdp = local.render(self.version, &local.formats, direction).into_bytes();
        self.last_local.clone_from(&sdp);
        Some(sdp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::Format;

    const OURS: &str = "v=0\r\no=ringback 7 7 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

    fn theirs(version: u64, pts: &str, direction: &str) -> Vec<u8> {
        format!(
            "v=0\r\no=- 1 {version} IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
m=audio 5000 RTP/AVP {pts}\r\na=rtpmap:96 telephone-event/8000\r\na={direction}\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn hold_resume_and_codec_change_from_the_peer() {
        let mut s = Session::new(OURS.as_bytes());
        let (media, changed) = s.on_answer(&theirs(1, "0 96", "sendrecv")).expect("answer");
        assert!(changed && media.codec.encoding == "PCMU" && media.telephone_event == Some(96));

        // The same offer again (same version): a refresh, answered with our last description.
        let before = s.last_local().to_vec();
        let refresh = s.on_offer(&theirs(1, "0 96", "sendrecv")).expect("refresh");
        assert_eq!((refresh.sdp, refresh.changed), (before, None));

        // Hold: sendonly gets recvonly, at a new version.
        let hold = s.on_offer(&theirs(2, "0 8 96", "sendonly")).expect("hold");
        let text = String::from_utf8(hold.sdp).expect("text");
        assert!(
            text.contains("a=recvonly") && text.contains("o=ringback 7 8 "),
            "{text}"
        );
        assert!(
            text.contains("m=audio 4000 RTP/AVP 0 96\r\n"),
            "the codec in use is kept: {text}"
        );
        assert_eq!(hold.changed.map(|m| m.direction), Some(Direction::SendOnly));

        // Codec change: only PCMA offered now.
        let pcma = s.on_offer(&theirs(3, "8", "sendrecv")).expect("pcma");
        let media = pcma.changed.expect("changed");
        assert_eq!(media.codec, Format::new(8, "PCMA", 8000));
        assert_eq!(media.telephone_event, None);

        // Nothing we support: refused, the call keeps its media.
        assert_eq!(
            s.on_offer(&theirs(4, "18", "sendrecv")).map(|_| ()),
            Err(SdpError::NoCommonCodec)
        );
        assert_eq!(s.current().map(|m| m.codec.payload_type), Some(8));
    }

    #[test]
    fn our_hold_offers_sendonly_with_a_growing_version() {
        let mut s = Session::new(OURS.as_bytes());
        let hold = String::from_utf8(s.offer(Some(true), None).expect("offer")).expect("text");
        assert!(
            hold.contains("a=sendonly") && hold.contains("o=ringback 7 8 "),
            "{hold}"
        );
        let resume = String::from_utf8(s.offer(Some(false), None).expect("offer")).expect("text");
        assert!(
            resume.contains("a=sendrecv") && resume.contains("o=ringback 7 9 "),
            "{resume}"
        );
        let mut unreadable = Session::new(b"v=0\r\n");
        assert_eq!(unreadable.offer(Some(true), None), None);
        assert!(unreadable.on_offer(&theirs(1, "0", "sendrecv")).is_err());
    }
}
