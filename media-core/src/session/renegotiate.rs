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
    /// Applies a renegotiated description. A new address is latched afresh (symmetric RTP); a
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
        if self.remote.addr() != update.remote {
            // Latched afresh by the first packet from the new side (an SSRC change is handled
            // by the receive path, as for any stream).
            self.remote = Remote::Signalled(update.remote);
        }
        self.payload_type = update.payload_type;
        self.packetizer.set_payload_type(update.payload_type);
        self.telephone_event_pt = update.telephone_event_pt;
        self.sending = update.sending;
        Ok(())
    }
}
