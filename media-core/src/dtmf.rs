//! RFC 4733 telephone-events (DTMF digits sent as RTP packets), receive side.
//!
//! Enough for the skeleton: parse the 4-byte event block so these packets never reach the
//! audio decoder, and report each digit once when its end arrives. RFC 4733 section 2.5.1.4
//! has senders repeat the end packet (usually three times) with the same timestamp, so the
//! timestamp of the last reported end de-duplicates them. A digit whose end packets are all
//! lost goes unreported; timing out a started event is a later refinement.

use crate::rtp::RtpTimestamp;

/// Why a telephone-event payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// The payload is shorter than one 4-byte event block.
    #[error("telephone-event payload of {len} bytes is shorter than 4")]
    TooShort {
        /// Payload length.
        len: usize,
    },
}

/// One RFC 4733 event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0-9, 10 `*`, 11 `#`, 12-15 `A`-`D`, 16 flash, others non-DTMF.
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0..=63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event block of a payload.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::TooShort { len: payload.len() });
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The DTMF character of this event, if it is one.
    pub fn digit(&self) -> Option<char> {
        match self.event {
            0..=9 => Some(char::from(b'0' + self.event)),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.event - 12)),
            _ => None,
        }
    }
}

/// A digit that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digit {
    /// The DTMF character.
    pub digit: char,
    /// How long it was held, in timestamp units.
    pub duration: u16,
}

/// Turns a stream of telephone-event packets into one report per digit.
#[derive(Debug, Clone, Copy, Default)]
pub struct DtmfReceiver {
    last_end: Option<RtpTimestamp>,
}

impl DtmfReceiver {
    /// Feeds one packet; returns the digit when this packet is the first end packet of a DTMF
    /// event.
    pub fn on_packet(&mut self, timestamp: RtpTimestamp, payload: &[u8]) -> Result<Option<Digit>, DtmfError> {
        let event = TelephoneEvent::parse(payload)?;
        if !event.end || self.last_end == Some(timestamp) {
            return Ok(None);
        }
        self.last_end = Some(timestamp);
        Ok(event.digit().map(|digit| Digit {
            digit,
            duration: event.duration,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [event, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    }

    #[test]
    fn parses_the_event_block() {
        let ev = TelephoneEvent::parse(&block(11, true, 800)).expect("valid");
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort { len: 3 })
        );
    }

    #[test]
    fn maps_events_to_characters() {
        let chars: String = (0..=16)
            .filter_map(|e| {
                TelephoneEvent {
                    event: e,
                    end: true,
                    volume: 0,
                    duration: 0,
                }
                .digit()
            })
            .collect();
        assert_eq!(chars, "0123456789*#ABCD");
    }

    #[test]
    fn reports_each_digit_once_despite_repeated_end_packets() {
        let mut rx = DtmfReceiver::default();
        let mut digits = Vec::new();
        // Digit 5 at timestamp 1000: three progress packets, three end packets.
        for (dur, end) in [
            (160, false),
            (320, false),
            (480, false),
            (640, true),
            (640, true),
            (640, true),
        ] {
            if let Some(d) = rx
                .on_packet(RtpTimestamp(1000), &block(5, end, dur))
                .expect("valid")
            {
                digits.push(d);
            }
        }
        // Digit # at a new timestamp.
        for _ in 0..3 {
            if let Some(d) = rx
                .on_packet(RtpTimestamp(3000), &block(11, true, 800))
                .expect("valid")
            {
                digits.push(d);
            }
        }
        assert_eq!(
            digits,
            vec![
                Digit {
                    digit: '5',
                    duration: 640
                },
                Digit {
                    digit: '#',
                    duration: 800
                }
            ]
        );
    }

    #[test]
    fn non_dtmf_events_are_not_digits() {
        let mut rx = DtmfReceiver::default();
        assert_eq!(rx.on_packet(RtpTimestamp(1), &block(16, true, 100)), Ok(None));
    }
}
