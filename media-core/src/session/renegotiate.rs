//! Following a renegotiation (a re-INVITE or UPDATE from either side, answered): the remote
//! address, the payload types and the codec may change, and the peer may put us on hold. The
//! stream itself goes on: same SSRC, sequence and timestamps, same recording.

use std::net::SocketAddr;

use super::{MediaSession, Remote, SessionError};
use crate::codec::{Codec, Decoder, Encoder};
use crate::opus::OpusParams;
use crate::rtp::PayloadType;

/// What a renegotiation settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaUpdate {
    /// Where to send RTP from now on.
    pub remote: SocketAddr,
    /// The codec, with the payload type the peer uses for it.
    pub codec: Codec,
    /// The payload type.
    pub payload_type: PayloadType,
    /// The telephone-event payload type, if the peer still takes RFC 4733.
    pub telephone_event_pt: Option<PayloadType>,
    /// Whether the peer wants our audio (`false` when it put us on hold: sendonly or inactive).
    pub sending: bool,
}

impl MediaSession {
    /// Applies a renegotiated description. A new address is the remote's media source from now on,
    /// confirmed (or latched, as the policy allows) by its first packets as at the start; a
    /// codec change is taken at the same clock rate only (PCMU and PCMA, say), since the jitter
    /// buffer and the recording run at it. Refused changes leave the session as it was.
    pub fn update_media(&mut self, update: MediaUpdate) -> Result<(), SessionError> {
        if update.telephone_event_pt == Some(update.payload_type) {
            return Err(SessionError::PayloadTypeClash(update.payload_type));
        }
        if update.codec != self.codec {
            if update.codec.clock_rate() != self.codec.clock_rate() {
                return Err(SessionError::CodecChange {
                    from: self.codec,
                    to: update.codec,
                });
            }
            self.decoder = Decoder::new(update.codec)?;
            self.encoder = Encoder::new(update.codec, &OpusParams::default())?;
            self.codec = update.codec;
        }
        // A refresh that names the same address keeps the source as it is (a NAT source latched
        // earlier stays, and no new latching window opens for anyone else).
        if self.signalled != update.remote {
            self.signalled = update.remote;
            // Only signalling moves media: the new side's first packets confirm it (an SSRC
            // change is handled by the receive path, as for any stream).
            self.remote = Remote::signalled(update.remote);
        }
        self.payload_type = update.payload_type;
        self.packetizer.set_payload_type(update.payload_type);
        self.telephone_event_pt = update.telephone_event_pt;
        self.sending = update.sending;
        Ok(())
    }
}
